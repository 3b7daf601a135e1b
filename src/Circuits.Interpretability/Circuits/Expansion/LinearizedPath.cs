using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// A <see cref="ForwardRun"/> that runs a model with the path from a source layer to a target layer linearized: the
/// source's output is replaced by a tensor the caller chooses, every leaf module that runs after it is replaced by
/// its linear counterpart (see <see cref="PathLinearizer"/>), and the forward pass stops as soon as the target has run.
/// Biases are not touched: the linearized path is affine, so callers subtract the response to a zero source.
/// </summary>
internal sealed class LinearizedPath : IDisposable
{
    private readonly HashSet<nn.Module> _verified = new(ReferenceEqualityComparer.Instance);
    private readonly List<string> _composites = new();
    private readonly List<string> _open = new();
    private readonly Dictionary<nn.Module, Tensor> _emptyGuarded = new(ReferenceEqualityComparer.Instance);
    private readonly string _source;
    private readonly string _target;
    private ForwardRun? _run;
    private Func<Tensor, Tensor>? _inject;
    private long _injectedBatch;
    private int _phase;

    private LinearizedPath(string source, string target)
    {
        _source = source;
        _target = target;
    }

    /// <summary>Paths of the composite modules (modules with children) that ran between source and target in the last run.</summary>
    public IReadOnlyList<string> Composites => _composites;

    /// <summary>
    /// Told about every tensor on the path in the runs that follow (the replaced source, each leaf module's final output,
    /// the target's output), for <see cref="PathTrace"/>; null for none.
    /// </summary>
    public IPathObserver? Observer { get; set; }

    /// <summary>The device the model's inputs go to (the model's, or the one chosen).</summary>
    public Device Device => _run!.Device;

    /// <summary>Attaches the hooks (a <see cref="ForwardRun"/>). Nothing changes the model until <see cref="Run"/> is called.</summary>
    /// <exception cref="DeviceMismatchException"><paramref name="device"/> is not the model's device.</exception>
    public static LinearizedPath Attach(nn.Module<Tensor, Tensor> model, string source, string target, Device? device = null)
    {
        TorchBackend.EnsureAvailable();
        if (source == target)
        {
            throw new CircuitsException($"The source and target layers are both '{source}'; expected two different layers, the source running before the target.");
        }

        Device on = ModelDevice.Resolve(model, device, "ExpandedWeightsOptions.Device");
        HookHandle.AsTensorModule(ModelLayers.Find(model, source), source, "the source of a linearized path");
        HookHandle.AsTensorModule(ModelLayers.Find(model, target), target, "the target of a linearized path");
        var path = new LinearizedPath(source, target);
        var edits = new List<LayerEdit>();
        foreach (var (name, module) in model.named_modules())
        {
            if (name.Length == 0)
            {
                continue;
            }

            bool leaf = !module.children().Any();
            if (leaf && module is nn.Module<Tensor, Tensor> typed)
            {
                if (module is LocalResponseNorm)
                {
                    edits.Add(LayerEdit.Input(name, input => path.GuardEmptyBatch(typed, input)));
                }

                edits.Add(LayerEdit.Output(name, (input, output) => path.LeafRan(name, typed, input, output)));
            }
            else if (!leaf && module is nn.Module<Tensor, Tensor> && module is not Sequential)
            {
                // Composites with their own forward code: recorded when they are open while the path runs, to
                // name them if a nonlinearity hidden in that code (a functional call) breaks linearity.
                edits.Add(LayerEdit.Input(name, _ =>
                {
                    path._open.Add(name);
                    if (path._phase == 1)
                    {
                        path._composites.Add(name);
                    }

                    return null;
                }));
                edits.Add(LayerEdit.Output(name, (_, _) =>
                {
                    path._open.Remove(name);
                    return null;
                }));
            }
        }

        // After the linearization edits, so that these see (and replace) the linearized outputs.
        edits.Add(LayerEdit.Output(source, (_, output) => path.Inject(output)));
        edits.Add(LayerEdit.Output(target, (_, output) => path.CheckOrder(output)));
        path._run = ForwardRun.Attach(model, new ForwardRunOptions
        {
            Taps = new[] { target },
            Edits = edits,
            RequireAllTaps = false,
            Freeze = false,
            Device = on,
        });
        return path;
    }

    /// <summary>
    /// Runs the model on <paramref name="input"/> with the source's output replaced by <paramref name="inject"/>
    /// (given the real output) and returns the target's linearized output, on the CPU; the pass stops after the target. With
    /// <paramref name="keepGraph"/> the autograd graph is kept; otherwise the run is under no_grad.
    /// </summary>
    public Tensor Run(Tensor input, Func<Tensor, Tensor> inject, bool keepGraph)
    {
        _phase = 0;
        _inject = inject;
        _composites.Clear();
        _open.Clear();
        try
        {
            using CaptureResult result = _run!.Run(input, keepGraph);
            if (_phase == 0)
            {
                throw new HookNotFiredException(new[] { _source });
            }

            // The methods build their impulses and indices on the CPU (ReplaceSource moves a source to the model's
            // device); the target's response comes back to the CPU, inside the graph when it is kept.
            return result.TryGetValue(_target, out Tensor? captured)
                ? (captured.device_type == DeviceType.CPU ? captured.alias() : captured.cpu())
                : throw new HookNotFiredException(new[] { _target });
        }
        finally
        {
            _inject = null;
        }
    }

    /// <summary>
    /// Runs with the upstream network on an empty batch (batch 0: every op before the source costs nothing, and the
    /// source's output is replaced anyway), then, if the model cannot combine that with the replaced source (something
    /// that bypasses the source), at batch 1 (anything it feeds around the source is the same for every batch item,
    /// so broadcasting it is exact), and last at the full <paramref name="batch"/>.
    /// </summary>
    public Tensor RunOnZeros(long[] inputShape, long batch, Func<Tensor, Tensor> inject, bool keepGraph)
    {
        var upstream = new List<long> { 0, 1 };
        if (batch > 1)
        {
            upstream.Add(batch);
        }

        for (int i = 0; ; i++)
        {
            try
            {
                using Tensor zero = zeros(new[] { upstream[i] }.Concat(inputShape).ToArray(), device: Device);
                Tensor output = Run(zero, inject, keepGraph);
                if (output.dim() > 0 && output.shape[0] != _injectedBatch)
                {
                    output.Dispose();
                    throw new InvalidOperationException("The target's batch differs from the replaced source's: a tensor that bypasses the source was broadcast with it.");
                }

                return output;
            }
            catch (Exception e) when (e is not CircuitsException && i + 1 < upstream.Count)
            {
            }
        }
    }

    /// <summary>
    /// The tensor that replaces the source layer's output <paramref name="real"/>, on its device and in its dtype.
    /// With <paramref name="sameSize"/> the replacement must have the real output's shape (batch aside); otherwise
    /// only its channels must agree (another map size).
    /// </summary>
    /// <exception cref="CircuitsException">The shapes disagree: the same input gave the source another shape than before.</exception>
    public static Tensor ReplaceSource(Tensor real, Tensor replacement, string sourceLayer, bool sameSize = true)
    {
        if (sameSize ? !real.shape.Skip(1).SequenceEqual(replacement.shape.Skip(1)) : real.shape[1] != replacement.shape[1])
        {
            throw new CircuitsException($"Layer '{sourceLayer}' changed shape from [{string.Join(", ", replacement.shape.Skip(1))}] to [{string.Join(", ", real.shape.Skip(1))}] between passes; expected the same input shape to give the same shapes.");
        }

        return replacement.to(real.dtype, real.device).alias();
    }

    /// <summary>Removes every hook.</summary>
    public void Dispose() => _run?.Dispose();

    private Tensor? Inject(Tensor output)
    {
        if (_phase != 0 || _inject is null)
        {
            return null;
        }

        Tensor replacement = _inject(output);
        _composites.AddRange(_open);
        _phase = 1;
        _injectedBatch = replacement.dim() > 0 ? replacement.shape[0] : 0;
        Observer?.SourceReplaced(replacement);
        return replacement;
    }

    private Tensor? CheckOrder(Tensor output)
    {
        if (_phase == 0)
        {
            throw new CircuitsException($"Layer '{_target}' ran before layer '{_source}'; expected the source layer to run first. Swap the two layers.");
        }

        if (_phase == 1)
        {
            Observer?.TargetReached(output);
        }

        _phase = 2;
        return null;
    }

    /// <summary>A leaf module ran: on the path, its linear counterpart (null keeps the output), which the observer is told about.</summary>
    private Tensor? LeafRan(string name, nn.Module<Tensor, Tensor> module, Tensor input, Tensor output)
    {
        if (_emptyGuarded.Remove(module, out Tensor? original))
        {
            // Ran on one pixel in place of an empty batch: the output is the empty batch (LRN keeps the shape).
            Tensor empty = zeros(original.shape, original.dtype, original.device);
            if (_phase == 1)
            {
                Observer?.LeafRan(name, module, new[] { original }, empty);
            }

            return empty;
        }

        if (_phase != 1)
        {
            return null;
        }

        Tensor? linear = PathLinearizer.Linearize(name, module, input, output, _verified);
        Observer?.LeafRan(name, module, new[] { input }, linear ?? output);
        return linear;
    }

    /// <summary>
    /// TorchSharp's local response normalization fails on an empty batch; such a module gets a one-pixel input
    /// instead, and its output is put back as an empty batch of the shape it would have had (the same as its input).
    /// </summary>
    private Tensor? GuardEmptyBatch(nn.Module module, Tensor input)
    {
        if (input.numel() != 0 || input.dim() < 2)
        {
            _emptyGuarded.Remove(module);
            return null;
        }

        _emptyGuarded[module] = input;
        return zeros(new[] { 1L, input.shape[1] }.Concat(Enumerable.Repeat(1L, (int)input.dim() - 2)).ToArray(), input.dtype, input.device);
    }
}
