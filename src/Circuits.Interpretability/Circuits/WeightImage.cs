using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Numerics;
using MathNet.Numerics.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits;

/// <summary>
/// Renders expanded weights as images, as the Visualizing Weights article does: one connection as a map with
/// positive and negative weights in two colours, or a whole set of connections with the source channels
/// reduced to three NMF factors shown as red, green and blue. Images are 1 x 3 x H x W (or N x 3 x H x W)
/// tensors in [0, 1], writable with <see cref="Imaging.ImageIO.SavePng"/>.
/// </summary>
public static class WeightImage
{
    /// <summary>The default colour of positive weights (blue).</summary>
    public static readonly Rgb PositiveColor = new(0.12f, 0.37f, 0.75f);

    /// <summary>The default colour of negative weights (red).</summary>
    public static readonly Rgb NegativeColor = new(0.75f, 0.22f, 0.17f);

    /// <summary>
    /// Renders a spatial map (kh x kw) on white: a weight w becomes white blended toward the positive or negative
    /// colour by |w| / <paramref name="maxAbs"/> (the map's largest magnitude when null); each weight is a
    /// <paramref name="scale"/> x <paramref name="scale"/> block.
    /// </summary>
    /// <exception cref="CircuitsException">The map is not 2-D, or scale is not positive.</exception>
    public static Tensor Render(Tensor map, int scale = 8, double? maxAbs = null, Rgb? positive = null, Rgb? negative = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (map.dim() != 2 || scale <= 0)
        {
            throw new CircuitsException($"A weight map of shape [{string.Join(", ", map.shape)}] with scale {scale} cannot be rendered; expected a 2-D map (kh x kw) and a positive scale.");
        }

        using var scope = NewDisposeScope();
        Tensor w = map.detach().to(ScalarType.Float32).cpu();
        double max = maxAbs ?? w.abs().max().item<float>();
        Tensor t = max > 0 ? w.div(max).clamp(-1, 1) : zeros_like(w);
        Rgb p = positive ?? PositiveColor;
        Rgb n = negative ?? NegativeColor;
        Tensor pos = t.clamp_min(0);
        Tensor neg = t.neg().clamp_min(0);
        Tensor Channel(float pc, float nc) => ones_like(w).sub(pos.mul(1 - pc)).sub(neg.mul(1 - nc));
        Tensor image = stack(new[] { Channel(p.R, n.R), Channel(p.G, n.G), Channel(p.B, n.B) }).unsqueeze(0);
        return Upscale(image, scale).DetachFromDisposeScope();
    }

    /// <summary>Renders the connection from <paramref name="sourceChannel"/> to <paramref name="targetChannel"/> of a set.</summary>
    public static Tensor Render(ExpandedWeightSet weights, int targetChannel, int sourceChannel, int scale = 8)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return Render(weights.Get(targetChannel, sourceChannel), scale);
    }

    /// <summary>
    /// Writes the connection from <paramref name="sourceChannel"/> to <paramref name="targetChannel"/> as a PNG figure
    /// for a file: the map in <see cref="PositiveColor"/> and <see cref="NegativeColor"/> with a title naming both units,
    /// offsets on the axes and a colour bar with the scale (blue excites, red inhibits). See <see cref="SignedMapPlot"/>.
    /// </summary>
    /// <param name="weights">The expanded weights.</param>
    /// <param name="targetChannel">The target channel.</param>
    /// <param name="sourceChannel">The source channel.</param>
    /// <param name="path">The PNG file to write (atomically).</param>
    /// <param name="maxAbs">The magnitude at full colour (to share a scale between figures); null: this map's largest.</param>
    public static void SaveFigure(ExpandedWeightSet weights, int targetChannel, int sourceChannel, string path, double? maxAbs = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        SignedMapPlot.SavePng(path, weights.Map(targetChannel, sourceChannel), new SignedMapPlotOptions
        {
            Title = $"{weights.SourceLayer}:{sourceChannel} \u2192 {weights.TargetLayer}:{targetChannel} (expanded weights)",
            ColorBarLabel = $"weight: blue excites, red inhibits {weights.TargetLayer}:{targetChannel}",
            MaxAbs = maxAbs,
            Positive = PositiveColor,
            Negative = NegativeColor,
        });
    }

    /// <summary>
    /// Reduces the source channels of a set of expanded weights to <paramref name="factors"/> (3 for RGB) with NMF
    /// and renders each target channel's weights in those colours. The data matrix has a row per (target, y, x)
    /// and a column per source channel's positive part and negative part (NMF needs non-negative data); each
    /// image pixel is its row of the left factor, divided by that factor's largest value overall.
    /// </summary>
    /// <exception cref="CircuitsException">factors is not 1 to 3, or the NMF arguments are not valid.</exception>
    public static WeightFactors RenderNmf(ExpandedWeightSet weights, int factors = 3, int scale = 8, int iterations = 500, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (factors is < 1 or > 3)
        {
            throw new CircuitsException($"{factors} NMF factors cannot be shown as RGB; expected 1 to 3.");
        }

        using var scope = NewDisposeScope();
        Tensor w = weights.Weights;
        long nT = w.shape[0], nS = w.shape[1], k = w.shape[2];
        // rows (t, y, x), columns: positive parts of the sources, then negative parts.
        Tensor rows = w.permute(0, 2, 3, 1).reshape(nT * k * k, nS);
        Tensor data = cat(new[] { rows.clamp_min(0), rows.neg().clamp_min(0) }, 1).to(ScalarType.Float64).contiguous();
        double[] values = data.data<double>().ToArray();
        Matrix<double> matrix = Matrix<double>.Build.Dense((int)data.shape[0], (int)data.shape[1], (r, c) => values[(r * data.shape[1]) + c]);
        NmfResult result = Nmf.Factorize(matrix, factors, iterations, seed);
        var pixels = new float[nT * 3 * k * k];
        for (int f = 0; f < factors; f++)
        {
            double max = Math.Max(result.W.Column(f).Maximum(), 1e-12);
            for (int r = 0; r < result.W.RowCount; r++)
            {
                long t = r / (k * k), yx = r % (k * k);
                pixels[(((t * 3) + f) * k * k) + yx] = (float)(result.W[r, f] / max);
            }
        }

        Tensor images = Upscale(tensor(pixels).reshape(nT, 3, k, k), scale).DetachFromDisposeScope();
        return new WeightFactors(images, result.H, result);
    }

    private static Tensor Upscale(Tensor image, int scale) =>
        scale == 1 ? image.contiguous() : image.repeat_interleave(scale, 2).repeat_interleave(scale, 3).contiguous();
}
