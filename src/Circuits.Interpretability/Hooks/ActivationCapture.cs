using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// Captures the outputs of any set of layers of any TorchSharp module in one forward pass, with no change
/// to the model's code. Hooks stay attached until the capture is disposed, so one capture can serve many
/// forward passes (an optimization loop); they are also removed when a forward pass throws.
/// </summary>
/// <example>
/// <code>
/// using var capture = ActivationCapture.Attach(model, ["features.conv1", "features.conv2"]);
/// using var result = capture.Run(images);
/// Tensor conv2 = result["features.conv2"];
/// Tensor unit = result.Get("features.conv2:5@3,3");
/// </code>
/// </example>
public sealed class ActivationCapture : IDisposable
{
    private readonly nn.Module _model;
    private readonly CaptureOptions _options;
    private readonly List<HookHandle> _hooks = new();
    private Dictionary<string, Tensor>? _current;
    private Tensor? _scopeMarker;
    private bool _disposed;

    private ActivationCapture(nn.Module model, IReadOnlyList<string> layers, CaptureOptions options)
    {
        _model = model;
        Layers = layers;
        _options = options;
    }

    /// <summary>The captured layers' paths.</summary>
    public IReadOnlyList<string> Layers { get; }

    /// <summary>
    /// Attaches capture hooks to <paramref name="layers"/> of <paramref name="model"/>. A layer may be given as
    /// any address (<c>conv2:3</c> captures <c>conv2</c>).
    /// </summary>
    /// <exception cref="UnknownLayerException">A layer does not exist; the message lists the closest names.</exception>
    /// <exception cref="UnsupportedLayerException">A layer is not a one-tensor-in, one-tensor-out module.</exception>
    public static ActivationCapture Attach(nn.Module model, IEnumerable<string> layers, CaptureOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(layers);
        List<string> paths = layers.Select(l => NeuronAddress.Parse(l).Layer).Distinct().ToList();
        if (paths.Count == 0)
        {
            throw new ArgumentException("Name at least one layer to capture.", nameof(layers));
        }

        // Resolve every name before attaching anything, so a bad name leaves the model untouched.
        var modules = paths.Select(p => HookHandle.AsTensorModule(ModelLayers.Find(model, p), p, "capturing its output")).ToList();
        var capture = new ActivationCapture(model, paths, options ?? CaptureOptions.Default);
        for (int i = 0; i < paths.Count; i++)
        {
            string path = paths[i];
            capture._hooks.Add(HookHandle.Forward(modules[i], (_, output) =>
            {
                capture.Record(path, output);
                return null;
            }));
        }

        return capture;
    }

    /// <summary>Attaches, runs <paramref name="model"/> on <paramref name="input"/> once, and detaches.</summary>
    public static CaptureResult Capture(nn.Module<Tensor, Tensor> model, Tensor input, IEnumerable<string> layers, CaptureOptions? options = null)
    {
        using var capture = Attach(model, layers, options);
        return capture.Run(input);
    }

    /// <summary>Runs the model on <paramref name="input"/> and returns the captured activations and the output.</summary>
    /// <exception cref="UnsupportedLayerException">The model is not a one-tensor-in, one-tensor-out module; use <see cref="Run(Func{Tensor})"/>.</exception>
    public CaptureResult Run(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var model = HookHandle.AsTensorModule(_model, "(model)", "Run(Tensor)");
        return Run(() => model.call(input));
    }

    /// <summary>
    /// Runs <paramref name="forward"/> (any code that calls the model, for models whose forward takes other
    /// arguments) and returns the captured activations, with the tensor it returns as the output.
    /// </summary>
    public CaptureResult Run(Func<Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var captured = new Dictionary<string, Tensor>();
        _current = captured;

        // A tensor made here belongs to the caller's dispose scope (if any). Captured handles are moved to that scope
        // as they are recorded, so a model whose forward opens its own dispose scope cannot free them.
        using Tensor scopeMarker = empty(0);
        _scopeMarker = scopeMarker;
        try
        {
            Tensor output;
            if (_options.KeepGraph)
            {
                output = forward();
            }
            else
            {
                using (no_grad())
                {
                    output = forward();
                }
            }

            if (_options.RequireAllLayers)
            {
                var missing = Layers.Where(l => !captured.ContainsKey(l)).ToList();
                if (missing.Count > 0)
                {
                    throw new HookNotFiredException(missing);
                }
            }

            return new CaptureResult(captured, output);
        }
        catch
        {
            foreach (Tensor t in captured.Values)
            {
                t.Dispose();
            }

            Dispose();
            throw;
        }
        finally
        {
            _current = null;
            _scopeMarker = null;
        }
    }

    /// <summary>Removes every hook this capture attached. Safe to call more than once.</summary>
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

        _hooks.Clear();
    }

    private void Record(string path, Tensor output)
    {
        Dictionary<string, Tensor>? captured = _current;
        if (captured is null)
        {
            return; // the model ran outside Run(): nothing to record
        }

        // A module called more than once in one pass (shared weights) keeps its last output.
        if (captured.Remove(path, out Tensor? previous))
        {
            previous.Dispose();
        }

        // alias() is a second handle to the same native tensor, so gradients with respect to it are
        // gradients with respect to the activation itself; detach() drops the graph.
        Tensor handle = _options.KeepGraph ? output.alias() : output.detach();
        captured[path] = _scopeMarker is null ? handle : handle.MoveToOtherDisposeScope(_scopeMarker);
    }
}
