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
    private readonly string _source;
    private readonly string _target;
    private ForwardRun? _run;
    private Func<Tensor, Tensor>? _inject;
    private int _phase;

    private LinearizedPath(string source, string target)
    {
        _source = source;
        _target = target;
    }

    /// <summary>Paths of the composite modules (modules with children) that ran between source and target in the last run.</summary>
    public IReadOnlyList<string> Composites => _composites;

    /// <summary>The device the model's inputs go to (the model's, or the one chosen).</summary>
    public Device Device => _run!.Device;

    /// <summary>Attaches the hooks (a <see cref="ForwardRun"/>). Nothing changes the model until <see cref="Run"/> is called.</summary>
    /// <exception cref="DeviceMismatchException"><paramref name="device"/> is not the model's device.</exception>
    public static LinearizedPath Attach(nn.Module<Tensor, Tensor> model, string source, string target, Device? device = null)
    {
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
                edits.Add(LayerEdit.Output(name, (input, output) => path._phase == 1 ? PathLinearizer.Linearize(name, typed, input, output, path._verified) : null));
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
        edits.Add(LayerEdit.Output(target, (_, _) => path.CheckOrder()));
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
    /// Runs with the upstream network at batch 1 (its output is replaced anyway; anything it feeds around the
    /// source is the same for every batch item, so broadcasting it is exact), falling back to a zero input of
    /// the full <paramref name="batch"/> when the model cannot combine batch sizes (a concatenation around the source).
    /// </summary>
    public Tensor RunOnZeros(long[] inputShape, long batch, Func<Tensor, Tensor> inject, bool keepGraph)
    {
        long[] one = new long[] { 1 }.Concat(inputShape).ToArray();
        try
        {
            using Tensor zero = zeros(one, device: Device);
            return Run(zero, inject, keepGraph);
        }
        catch (Exception e) when (e is not CircuitsException && batch > 1)
        {
            using Tensor zero = zeros(new[] { batch }.Concat(inputShape).ToArray(), device: Device);
            return Run(zero, inject, keepGraph);
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
        return replacement;
    }

    private Tensor? CheckOrder()
    {
        if (_phase == 0)
        {
            throw new CircuitsException($"Layer '{_target}' ran before layer '{_source}'; expected the source layer to run first. Swap the two layers.");
        }

        _phase = 2;
        return null;
    }
}
