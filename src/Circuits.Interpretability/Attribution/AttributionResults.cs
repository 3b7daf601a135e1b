using Circuits.Interpretability.Core;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Attribution;

/// <summary>Integrated gradients with the numbers needed to check them. Owns <see cref="Attribution"/>: dispose it to free it.</summary>
public sealed class IntegratedGradientsResult : IDisposable
{
    internal IntegratedGradientsResult(Tensor attribution, double targetAtInput, double targetAtBaseline, int steps)
    {
        Attribution = attribution;
        TargetAtInput = targetAtInput;
        TargetAtBaseline = targetAtBaseline;
        Steps = steps;
        using (Tensor sum = attribution.sum())
        {
            Total = sum.to(ScalarType.Float64).item<double>();
        }
    }

    /// <summary>The attribution, shaped like the input (or the layer's activation), batch 1.</summary>
    public Tensor Attribution { get; }

    /// <summary>The target's value at the input.</summary>
    public double TargetAtInput { get; }

    /// <summary>The target's value at the baseline.</summary>
    public double TargetAtBaseline { get; }

    /// <summary>The number of interpolation steps.</summary>
    public int Steps { get; }

    /// <summary>The sum of all attributions (computed once), which completeness says equals <see cref="TargetAtInput"/> - <see cref="TargetAtBaseline"/>.</summary>
    public double Total { get; }

    /// <summary>|<see cref="Total"/> - (target at input - target at baseline)| relative to |target at input - target at baseline|.</summary>
    public double CompletenessError => Math.Abs(Total - (TargetAtInput - TargetAtBaseline)) / Math.Max(Math.Abs(TargetAtInput - TargetAtBaseline), 1e-12);

    /// <summary>Frees the attribution tensor. Safe to call more than once.</summary>
    public void Dispose() => Attribution.Dispose();
}

/// <summary>The attribution of a neuron to every neuron of an earlier layer, for one input. Owns <see cref="Map"/>: dispose it to free it.</summary>
public sealed class LayerAttribution : IDisposable
{
    internal LayerAttribution(NeuronAddress target, string layer, Tensor map)
    {
        Target = target;
        Layer = layer;
        Map = map;
        using var scope = NewDisposeScope();
        ChannelTotals = map.reshape(map.shape[0], -1).sum(1).to(ScalarType.Float64).cpu().data<double>().ToArray();
    }

    /// <summary>The neuron explained.</summary>
    public NeuronAddress Target { get; }

    /// <summary>The earlier layer.</summary>
    public string Layer { get; }

    /// <summary>Gradient times activation, channels x height x width (or channels for a flat layer).</summary>
    public Tensor Map { get; }

    /// <summary>Each channel's total attribution (the sum of its spatial map).</summary>
    public IReadOnlyList<double> ChannelTotals { get; }

    /// <summary>The <paramref name="count"/> channels with the largest |total|, largest first.</summary>
    public IReadOnlyList<(int Channel, double Total)> Strongest(int count) =>
        ChannelTotals.Select((t, c) => (c, t)).OrderByDescending(p => Math.Abs(p.t)).ThenBy(p => p.c).Take(Math.Max(0, count)).ToList();

    /// <summary>Frees the map. Safe to call more than once.</summary>
    public void Dispose() => Map.Dispose();
}

/// <summary>One neuron of a path and its attribution. Its map belongs to the <see cref="PathAttribution"/> that holds it.</summary>
public sealed class PathStep
{
    internal PathStep(NeuronAddress neuron, Tensor map, double total)
    {
        Neuron = neuron;
        Map = map;
        Total = total;
    }

    /// <summary>The neuron (layer and channel).</summary>
    public NeuronAddress Neuron { get; }

    /// <summary>Its activation times the part of the target's gradient that flows only through the later neurons of the path, height x width.</summary>
    public Tensor Map { get; }

    /// <summary>The sum of <see cref="Map"/>.</summary>
    public double Total { get; }
}

/// <summary>The attribution of a circuit's final neuron along the path of earlier neurons. Owns every step's map: dispose it to free them.</summary>
public sealed class PathAttribution : IDisposable
{
    internal PathAttribution(NeuronAddress target, double targetValue, IReadOnlyList<PathStep> steps)
    {
        Target = target;
        TargetValue = targetValue;
        Steps = steps;
    }

    /// <summary>The final neuron.</summary>
    public NeuronAddress Target { get; }

    /// <summary>Its value at the input.</summary>
    public double TargetValue { get; }

    /// <summary>The earlier neurons, earliest first.</summary>
    public IReadOnlyList<PathStep> Steps { get; }

    /// <summary>Frees the maps. Safe to call more than once.</summary>
    public void Dispose()
    {
        foreach (PathStep step in Steps)
        {
            step.Map.Dispose();
        }
    }
}
