using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits;

/// <summary>How banded one unit's spatial weights are.</summary>
/// <param name="Unit">The output channel.</param>
/// <param name="Horizontal">The share of the weights' spatial variance explained by their row means (1: every row constant, horizontal bands).</param>
/// <param name="Vertical">The same for column means (vertical bands), the control.</param>
public sealed record BandStrength(int Unit, double Horizontal, double Vertical);

/// <summary>
/// Measures weight banding (the Circuits thread's "Weight Banding": the last conv layers before global average pooling
/// grow weights whose spatial pattern is constant along rows). For a unit with kernels K_i (one per input channel,
/// kh x kw), each centred by its own mean, the horizontal band strength is
/// sum_i kw · sum_r (mean of row r of K_i)^2 / sum_i sum (K_i)^2: the fraction of spatial variance that the row means
/// explain. Rows constant give 1; columns constant give 0; independent random weights give (kh - 1) / (kh · kw - 1)
/// on average (1/6 for 5 x 5, 1/4 for 3 x 3). The vertical strength uses column means.
/// </summary>
public static class WeightBanding
{
    /// <summary>Measures every output unit of conv weights (out x in x kh x kw), or of a single kh x kw / in x kh x kw unit.</summary>
    /// <exception cref="CircuitsException">The weights are not 2- to 4-D or have a 1 x 1 kernel.</exception>
    public static IReadOnlyList<BandStrength> Measure(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Tensor w = weights.dim() switch
        {
            2 => weights.reshape(1, 1, weights.shape[0], weights.shape[1]),
            3 => weights.unsqueeze(0),
            4 => weights,
            _ => throw new CircuitsException($"Weights of shape [{string.Join(", ", weights.shape)}] are not kernels; expected kh x kw, in x kh x kw or out x in x kh x kw."),
        };
        if (w.shape[2] * w.shape[3] < 2)
        {
            throw new CircuitsException($"A {w.shape[2]} x {w.shape[3]} kernel has no spatial pattern to measure; expected a kernel larger than 1 x 1.");
        }

        using var scope = NewDisposeScope();
        Tensor k = w.detach().to(ScalarType.Float64).cpu();
        Tensor centred = k.sub(k.mean(new long[] { 2, 3 }, keepdim: true));
        Tensor total = centred.pow(2).sum(new long[] { 1, 2, 3 });
        Tensor rows = centred.mean(new long[] { 3 }).pow(2).sum(new long[] { 1, 2 }).mul(k.shape[3]);
        Tensor cols = centred.mean(new long[] { 2 }).pow(2).sum(new long[] { 1, 2 }).mul(k.shape[2]);
        double[] t = total.data<double>().ToArray(), r = rows.data<double>().ToArray(), c = cols.data<double>().ToArray();
        return Enumerable.Range(0, t.Length).Select(u => new BandStrength(u, t[u] > 0 ? r[u] / t[u] : 0, t[u] > 0 ? c[u] / t[u] : 0)).ToList();
    }

    /// <summary>The mean band strength expected of independent random kh x kw weights: (kh - 1) / (kh · kw - 1).</summary>
    public static double RandomExpectation(int kh, int kw) => kh * kw < 2 ? 0 : (kh - 1.0) / ((kh * kw) - 1.0);
}
