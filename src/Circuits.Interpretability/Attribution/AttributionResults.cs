using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Attribution;

/// <summary>Integrated gradients with the numbers needed to check them.</summary>
/// <param name="Attribution">The attribution, shaped like the input (or the layer's activation), batch 1.</param>
/// <param name="TargetAtInput">The target's value at the input.</param>
/// <param name="TargetAtBaseline">The target's value at the baseline.</param>
/// <param name="Steps">The number of interpolation steps.</param>
public sealed record IntegratedGradientsResult(Tensor Attribution, double TargetAtInput, double TargetAtBaseline, int Steps) : IDisposable
{
    /// <summary>The sum of all attributions, which completeness says equals <see cref="TargetAtInput"/> - <see cref="TargetAtBaseline"/>.</summary>
    public double Total => Attribution.sum().item<float>();

    /// <summary>|<see cref="Total"/> - (target at input - target at baseline)| relative to |target at input - target at baseline|.</summary>
    public double CompletenessError => Math.Abs(Total - (TargetAtInput - TargetAtBaseline)) / Math.Max(Math.Abs(TargetAtInput - TargetAtBaseline), 1e-12);

    /// <summary>Frees the attribution tensor.</summary>
    public void Dispose() => Attribution.Dispose();
}

/// <summary>The attribution of a neuron to every neuron of an earlier layer, for one input.</summary>
/// <param name="Target">The neuron explained.</param>
/// <param name="Layer">The earlier layer.</param>
/// <param name="Map">Gradient times activation, channels x height x width (or channels for a flat layer).</param>
public sealed record LayerAttribution(NeuronAddress Target, string Layer, Tensor Map) : IDisposable
{
    /// <summary>Each channel's total attribution (the sum of its spatial map).</summary>
    public IReadOnlyList<double> ChannelTotals { get; } = Totals(Map);

    /// <summary>The <paramref name="count"/> channels with the largest |total|, largest first.</summary>
    public IReadOnlyList<(int Channel, double Total)> Strongest(int count) =>
        ChannelTotals.Select((t, c) => (c, t)).OrderByDescending(p => Math.Abs(p.t)).ThenBy(p => p.c).Take(Math.Max(0, count)).ToList();

    /// <summary>Frees the map.</summary>
    public void Dispose() => Map.Dispose();

    private static double[] Totals(Tensor map)
    {
        using var scope = NewDisposeScope();
        Tensor flat = map.reshape(map.shape[0], -1).sum(1).to(ScalarType.Float64).cpu();
        return flat.data<double>().ToArray();
    }
}

/// <summary>One neuron of a path and its attribution.</summary>
/// <param name="Neuron">The neuron (layer and channel).</param>
/// <param name="Map">Its activation times the part of the target's gradient that flows only through the later neurons of the path, height x width.</param>
/// <param name="Total">The sum of <see cref="Map"/>.</param>
public sealed record PathStep(NeuronAddress Neuron, Tensor Map, double Total);

/// <summary>The attribution of a circuit's final neuron along the path of earlier neurons.</summary>
/// <param name="Target">The final neuron.</param>
/// <param name="TargetValue">Its value at the input.</param>
/// <param name="Steps">The earlier neurons, earliest first.</param>
public sealed record PathAttribution(NeuronAddress Target, double TargetValue, IReadOnlyList<PathStep> Steps) : IDisposable
{
    /// <summary>Frees the maps.</summary>
    public void Dispose()
    {
        foreach (PathStep step in Steps)
        {
            step.Map.Dispose();
        }
    }
}
