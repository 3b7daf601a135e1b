using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// The one way this library runs a model: a forward pass with layers to tap, edits of layers' outputs or inputs
/// (<see cref="Intervention"/>s and <see cref="LayerEdit"/>s), an optional stop right after the deepest tap, and
/// the autograd graph kept or not. Rendering, attribution, expanded weights, tuning curves, dataset examples,
/// layer tables and <see cref="ActivationCapture"/> all run models through it.
/// </summary>
/// <remarks>
/// <para>While attached, the run holds one hook per module it needs (ordered with every other hook of this
/// library, see <c>docs/architecture.md</c>) and, with <see cref="ForwardRunOptions.Freeze"/>, keeps the model in
/// eval mode with no parameter requiring gradients. Hooks act only inside <see cref="Run(Func{Tensor}, bool?)"/>:
/// a forward pass outside it sees the model unchanged. Dispose the run to remove the hooks and restore the
/// model's modes and <c>requires_grad</c> flags; a run attached with <c>using</c> does this also when a pass throws.</para>
/// <para>Per layer, the edits run first (interventions, then edits, each in the order given), then the tap, so
/// a tap sees its layer's edited output and later layers see the edited tensor. With
/// <see cref="ForwardRunOptions.StopAfterTaps"/>, the pass ends as soon as every tap has its activation (the
/// layers after the deepest tap never run) and the result has no output.</para>
/// </remarks>
/// <example>
/// <code>
/// using var run = ForwardRun.Attach(model, new ForwardRunOptions
/// {
///     Taps = ["mixed4a"],
///     Interventions = [Intervention.Zero("mixed3b:379")],
///     KeepGraph = true,
/// });
/// using CaptureResult taps = run.Run(image);          // stops after mixed4a
/// taps["mixed4a"][0, 10].mean().backward();
/// </code>
/// </example>
public sealed partial class ForwardRun : IDisposable
{
    private readonly nn.Module _model;
    private readonly ForwardRunOptions _options;
    private readonly List<HookHandle> _hooks = new();
    private readonly List<InterventionEditor> _editors = new();
    private readonly bool _checkDevice;
    private ModelFreeze? _freeze;
    private Pass? _pass;
    private bool _disposed;

    private ForwardRun(nn.Module model, ForwardRunOptions options, IReadOnlyList<string> taps, Device device, bool checkDevice)
    {
        _model = model;
        _options = options;
        Taps = taps;
        Device = device;
        _checkDevice = checkDevice;
    }

    /// <summary>The tapped layers' paths, in the order given.</summary>
    public IReadOnlyList<string> Taps { get; }

    /// <summary>The device the model's inputs go to: the model's, or the one chosen in the options.</summary>
    public Device Device { get; }

    /// <summary>
    /// Resolves every layer the options name and attaches the hooks. A bad name or module type leaves the model
    /// untouched.
    /// </summary>
    /// <exception cref="UnknownLayerException">A layer does not exist; the message lists the closest names.</exception>
    /// <exception cref="UnsupportedLayerException">A tapped or edited layer is not a one-tensor-in, one-tensor-out module.</exception>
    /// <exception cref="DeviceMismatchException"><see cref="ForwardRunOptions.Device"/> is not the model's device.</exception>
    public static ForwardRun Attach(nn.Module model, ForwardRunOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        TorchBackend.EnsureAvailable();
        var (device, checkDevice) = DeviceFor(model, options.Device);
        List<string> taps = options.Taps.Select(t => NeuronAddress.Parse(t).Layer).Distinct().ToList();

        // Resolve every name before attaching anything.
        var byName = new Dictionary<string, nn.Module>();
        foreach (var (name, module) in model.named_modules())
        {
            if (name.Length > 0)
            {
                byName.TryAdd(name, module);
            }
        }

        nn.Module Find(string path) => byName.TryGetValue(path, out nn.Module? m) ? m : ModelLayers.Find(model, path);
        var slots = new Dictionary<string, Slot>();
        var order = new List<Slot>();
        Slot SlotFor(string path, string purpose)
        {
            if (!slots.TryGetValue(path, out Slot? slot))
            {
                slot = new Slot(path, HookHandle.AsTensorModule(Find(path), path, purpose));
                slots.Add(path, slot);
                order.Add(slot);
            }

            return slot;
        }

        var run = new ForwardRun(model, options, taps, device, checkDevice);
        foreach (Intervention intervention in options.Interventions)
        {
            Slot slot = SlotFor(intervention.Layer, "an intervention");
            var editor = new InterventionEditor(intervention);
            run._editors.Add(editor);
            if (intervention.Site == InterventionSite.Output)
            {
                slot.Post.Add((_, output) => editor.Edit(output));
            }
            else
            {
                slot.Pre.Add(editor.Edit);
            }
        }

        foreach (LayerEdit edit in options.Edits)
        {
            Slot slot = SlotFor(edit.Layer, "an edit");
            if (edit.OutputEdit is not null)
            {
                slot.Post.Add(edit.OutputEdit);
            }
            else
            {
                slot.Pre.Add(edit.InputEdit!);
            }
        }

        foreach (string tap in taps)
        {
            SlotFor(tap, "a tap").Tap = true;
        }

        var watched = new List<(string Path, nn.Module Module)>();
        foreach (string path in options.Watch.Distinct())
        {
            nn.Module module = Find(path);
            if (module is nn.Module<Tensor, Tensor>)
            {
                SlotFor(path, "a watch");
            }
            else
            {
                watched.Add((path, module));
            }
        }

        try
        {
            foreach (Slot slot in order)
            {
                run._hooks.Add(HookHandle.Forward(slot.Module, (input, output) => run.OnOutput(slot, input, output)));
                if (slot.Pre.Count > 0)
                {
                    run._hooks.Add(HookHandle.Pre(slot.Module, input => run.OnInput(slot, input)));
                }
            }

            foreach (var (path, module) in watched)
            {
                if (HookHandle.Ran(module, () => run._pass?.Mark(path)) is HookHandle handle)
                {
                    run._hooks.Add(handle);
                }
            }

            run._freeze = options.Freeze ? ModelFreeze.Apply(model) : null;
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>Attaches, runs <paramref name="model"/> on <paramref name="input"/> once, and detaches (also when the pass throws).</summary>
    /// <inheritdoc cref="Attach" path="/exception"/>
    public static CaptureResult Once(nn.Module<Tensor, Tensor> model, Tensor input, ForwardRunOptions options)
    {
        using ForwardRun run = Attach(model, options);
        return run.Run(input);
    }

    /// <summary>Runs the model on <paramref name="input"/>, which must be on <see cref="Device"/>.</summary>
    /// <param name="input">The model's input.</param>
    /// <param name="keepGraph">Overrides <see cref="ForwardRunOptions.KeepGraph"/> for this pass.</param>
    /// <returns>The taps, the layers that ran, and the output when the pass ran to the end; the caller owns it.</returns>
    /// <exception cref="DeviceMismatchException">The input is not on the model's device.</exception>
    /// <exception cref="HookNotFiredException">A tapped layer did not run (with <see cref="ForwardRunOptions.RequireAllTaps"/>).</exception>
    /// <exception cref="UnsupportedLayerException">The model is not a one-tensor-in, one-tensor-out module; use <see cref="Run(Func{Tensor}, bool?)"/>.</exception>
    public CaptureResult Run(Tensor input, bool? keepGraph = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        var model = HookHandle.AsTensorModule(_model, "(model)", "Run(Tensor)");
        if (_checkDevice)
        {
            ModelDevice.Require(input, Device, "The input");
        }

        return Run(() => model.call(input), keepGraph);
    }

    /// <summary>
    /// Runs <paramref name="forward"/> (any code that calls the model, for models whose forward takes other
    /// arguments); the tensor it returns becomes the result's output, owned by the result.
    /// </summary>
    /// <inheritdoc cref="Run(Tensor, bool?)" path="/param[@name='keepGraph']"/>
    /// <exception cref="HookNotFiredException">A tapped layer did not run (with <see cref="ForwardRunOptions.RequireAllTaps"/>).</exception>
    public CaptureResult Run(Func<Tensor> forward, bool? keepGraph = null)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_pass is not null)
        {
            throw new CircuitsException("This ForwardRun is already running a pass; a run serves one forward pass at a time (attach another for nested passes).");
        }

        // A tensor made here belongs to the caller's dispose scope (if any). Taps are moved to that scope as they
        // are recorded, so a model whose forward opens its own dispose scope cannot free them.
        using Tensor scopeMarker = empty(0);
        var pass = new Pass(keepGraph ?? _options.KeepGraph, scopeMarker);
        _pass = pass;
        Tensor? output = null;
        try
        {
            using (pass.KeepGraph ? enable_grad() : no_grad())
            {
                try
                {
                    output = forward();
                }
                catch (StopForward)
                {
                }
            }

            if (_options.RequireAllTaps)
            {
                var missing = Taps.Where(t => !pass.Captured.ContainsKey(t)).ToList();
                if (missing.Count > 0)
                {
                    throw new HookNotFiredException(missing);
                }
            }

            return new CaptureResult(pass.Captured, output, pass.Ran);
        }
        catch
        {
            foreach (Tensor t in pass.Captured.Values)
            {
                t.Dispose();
            }

            output?.Dispose();
            throw;
        }
        finally
        {
            _pass = null;
        }
    }

    /// <summary>Removes every hook, frees the interventions' masks and restores the model's modes and flags. Safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (HookHandle hook in _hooks)
        {
            hook.Dispose();
        }

        foreach (InterventionEditor editor in _editors)
        {
            editor.Dispose();
        }

        _hooks.Clear();
        _editors.Clear();
        _freeze?.Dispose();
    }

    /// <summary>
    /// The device of a run: the chosen one (which must be the model's) or the model's, and whether inputs are checked
    /// against it (not for a model without parameters, nor for one spread over several devices with no choice made).
    /// </summary>
    private static (Device Device, bool Check) DeviceFor(nn.Module model, Device? chosen)
    {
        if (chosen is not null)
        {
            return (ModelDevice.Resolve(model, chosen, "ForwardRunOptions.Device"), true);
        }

        try
        {
            Device? own = ModelDevice.TryOf(model);
            return (own ?? CPU, own is not null);
        }
        catch (DeviceMismatchException)
        {
            return (CPU, false);
        }
    }

    private Tensor? OnOutput(Slot slot, Tensor input, Tensor output)
    {
        Pass? pass = _pass;
        if (pass is null)
        {
            return null; // the model ran outside Run(): the run changes nothing
        }

        Tensor current = slot.Post.Count == 0 ? output : Edited(output, edited =>
        {
            foreach (var edit in slot.Post)
            {
                edited = edit(input, edited) ?? edited;
            }

            return edited;
        });

        pass.Mark(slot.Path);
        if (slot.Tap)
        {
            pass.Record(slot.Path, current);
            if (_options.StopAfterTaps && pass.Captured.Count == Taps.Count)
            {
                throw new StopForward();
            }
        }

        return ReferenceEquals(current, output) ? null : current;
    }

    private Tensor? OnInput(Slot slot, Tensor input)
    {
        Pass? pass = _pass;
        if (pass is null)
        {
            return null;
        }

        pass.Mark(slot.Path);
        Tensor current = Edited(input, edited =>
        {
            foreach (var edit in slot.Pre)
            {
                edited = edit(edited) ?? edited;
            }

            return edited;
        });

        return ReferenceEquals(current, input) ? null : current;
    }

    /// <summary>
    /// Runs a layer's edits on <paramref name="original"/> and returns what the module passes on: the original, a
    /// tensor the edits made during this call, or a new handle (<c>alias()</c>) to any other tensor they returned.
    /// </summary>
    /// <remarks>
    /// What a hook returns is treated as the module's fresh result: containers free it (TorchSharp's
    /// <c>Sequential</c> disposes each intermediate output once the next module ran) and the model's output is owned by
    /// the <see cref="CaptureResult"/>. That is right for a tensor the edit made for the pass, and wrong for one it
    /// did not: a constant, the layer's input, the output of an earlier layer, or a leaf the caller keeps would be freed
    /// under its owner. Such a tensor stays its owner's; the model gets its own handle to the same native tensor (same
    /// values, same autograd node). The tensors the edits make are told apart with a dispose scope open only while they
    /// run; it frees nothing: on closing, everything registered with it goes to the scope that was current before.
    /// </remarks>
    private static Tensor Edited(Tensor original, Func<Tensor, Tensor> edits)
    {
        Tensor current;
        bool made;
        DisposeScope watch = NewDisposeScope();
        try
        {
            current = edits(original);
            made = watch.Contains(current);
        }
        finally
        {
            watch.MoveToOuter((IEnumerable<IDisposable>)watch.DisposablesView);
            watch.Dispose();
        }

        return made || ReferenceEquals(current, original) ? current : current.alias();
    }
}
