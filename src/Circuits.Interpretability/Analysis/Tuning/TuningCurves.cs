using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Analysis.Tuning;

// The renderer shares its name with its namespace; the alias keeps "Stimuli.RenderBatch" readable here.
using Stimuli = global::Circuits.Interpretability.Analysis.Stimuli.Stimuli;

/// <summary>
/// Measures tuning curves: a neuron's response over a sweep of one stimulus parameter, with the stimuli
/// batched through the model (<see cref="ForwardRun"/>: eval mode, no gradients, stopping after the deepest
/// measured layer). Stimuli are RGB in [0, 1]; the model's input convention is applied unless
/// <see cref="TuningOptions.Preprocess"/> overrides it, and they go to the model's device.
/// </summary>
/// <example>
/// <code>
/// using var model = new CurveCircuit();
/// TuningCurve curve = TuningCurves.Measure(model, "curves_relu:3", StimulusSweep.Orientation(new CurveStimulus()));
/// curve.SaveCsv("unit3.csv");
/// curve.SavePlot("unit3.png");   // peak near 67.5°
/// </code>
/// </example>
public static class TuningCurves
{
    /// <summary>The tuning curve of one neuron (<c>layer:channel</c>, optionally <c>@y,x</c>).</summary>
    /// <exception cref="InvalidAddressException">The address has no channel.</exception>
    /// <exception cref="UnknownLayerException">The model has no such layer.</exception>
    /// <exception cref="UnitOutOfRangeException">The channel or position lies outside the layer's activation.</exception>
    public static TuningCurve Measure(
        nn.Module<Tensor, Tensor> model,
        NeuronAddress neuron,
        StimulusSweep sweep,
        TuningOptions? options = null,
        IProgress<TuningProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        MeasureMany(model, new[] { neuron }, sweep, options, progress, cancellationToken)[0];

    /// <summary>
    /// The tuning curves of several neurons over one sweep; every stimulus runs through the model once.
    /// The neurons may lie in different layers.
    /// </summary>
    public static IReadOnlyList<TuningCurve> MeasureMany(
        nn.Module<Tensor, Tensor> model,
        IEnumerable<NeuronAddress> neurons,
        StimulusSweep sweep,
        TuningOptions? options = null,
        IProgress<TuningProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(neurons);
        ArgumentNullException.ThrowIfNull(sweep);
        options ??= new TuningOptions();
        if (options.BatchSize <= 0)
        {
            throw new CircuitsException($"TuningOptions.BatchSize is {options.BatchSize}; expected 1 or more.");
        }

        var units = neurons.ToList();
        if (units.Count == 0)
        {
            throw new CircuitsException("Name at least one neuron ('layer:channel') to measure.");
        }

        int missing = units.FindIndex(u => u.Channel is null);
        if (missing >= 0)
        {
            NeuronAddress unit = units[missing];
            throw new InvalidAddressException($"A tuning curve needs a channel: '{unit}' names a whole layer; write '{unit.Layer}:<channel>'.");
        }

        int total = sweep.Values.Count;
        var responses = units.Select(_ => new double[total]).ToList();
        Device device = ModelDevice.Resolve(model, options.Device, "TuningOptions.Device");
        Func<Tensor, Tensor> preprocess = Preprocessing.Resolve(model, options.Preprocess);
        using var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = units.Select(u => u.Layer).ToList(), Device = device });
        for (int start = 0; start < total; start += options.BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(options.BatchSize, total - start);
            using var scope = NewDisposeScope();
            Tensor batch = Stimuli.RenderBatch(Enumerable.Range(start, count).Select(i => sweep.Stimulus(sweep.Values[i]))).to(device);
            using CaptureResult result = run.Run(preprocess(batch));
            for (int u = 0; u < units.Count; u++)
            {
                float[] values = Read(result, units[u], options.Readout).to(ScalarType.Float32).cpu().data<float>().ToArray();
                for (int i = 0; i < count; i++)
                {
                    responses[u][start + i] = values[i];
                }
            }

            progress?.Report(new TuningProgress(start + count, total));
        }

        return units.Select((u, i) => new TuningCurve(u, options.Readout, sweep.Parameter, sweep.Values.ToArray(), responses[i], sweep.Unit)).ToList();
    }

    private static Tensor Read(CaptureResult result, NeuronAddress unit, TuningReadout readout)
    {
        Tensor layer = result[unit.Layer];
        int channel = unit.Channel!.Value;
        if (readout == TuningReadout.ChannelMean || layer.dim() == 2)
        {
            Tensor c = result.Get(new NeuronAddress(unit.Layer, channel));
            return c.dim() == 1 ? c : c.flatten(1).mean(new long[] { 1 });
        }

        if (layer.dim() != 4)
        {
            throw new UnitOutOfRangeException($"Layer '{unit.Layer}' has output shape [{string.Join(", ", layer.shape)}]; expected N x C or N x C x H x W.");
        }

        NeuronAddress at = unit.HasPosition ? unit : new NeuronAddress(unit.Layer, channel, (int)(layer.shape[2] / 2), (int)(layer.shape[3] / 2));
        return result.Get(at);
    }
}
