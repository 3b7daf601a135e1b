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
    private readonly ForwardRun _run;

    private ActivationCapture(ForwardRun run) => _run = run;

    /// <summary>The captured layers' paths.</summary>
    public IReadOnlyList<string> Layers => _run.Taps;

    /// <summary>
    /// Attaches capture hooks to <paramref name="layers"/> of <paramref name="model"/>. A layer may be given as
    /// any address (<c>conv2:3</c> captures <c>conv2</c>). The model's mode and flags are left as they are, and
    /// every pass runs to the end (use <see cref="ForwardRun"/> to stop after the deepest layer, edit or freeze).
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

        options ??= CaptureOptions.Default;
        return new ActivationCapture(ForwardRun.Attach(model, new ForwardRunOptions
        {
            Taps = paths,
            StopAfterTaps = false,
            KeepGraph = options.KeepGraph,
            Freeze = false,
            RequireAllTaps = options.RequireAllLayers,
        }));
    }

    /// <summary>Attaches, runs <paramref name="model"/> on <paramref name="input"/> once, and detaches.</summary>
    public static CaptureResult Capture(nn.Module<Tensor, Tensor> model, Tensor input, IEnumerable<string> layers, CaptureOptions? options = null)
    {
        using var capture = Attach(model, layers, options);
        return capture.Run(input);
    }

    /// <summary>Runs the model on <paramref name="input"/> and returns the captured activations and the output.</summary>
    /// <exception cref="UnsupportedLayerException">The model is not a one-tensor-in, one-tensor-out module; use <see cref="Run(Func{Tensor})"/>.</exception>
    /// <exception cref="DeviceMismatchException">The input is not on the model's device.</exception>
    public CaptureResult Run(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Guard(() => _run.Run(input));
    }

    /// <summary>
    /// Runs <paramref name="forward"/> (any code that calls the model, for models whose forward takes other
    /// arguments) and returns the captured activations, with the tensor it returns as the output.
    /// </summary>
    public CaptureResult Run(Func<Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        return Guard(() => _run.Run(forward));
    }

    /// <summary>Removes every hook this capture attached. Safe to call more than once.</summary>
    public void Dispose() => _run.Dispose();

    /// <summary>Runs a pass; when it throws, the hooks are removed before the exception goes on.</summary>
    private CaptureResult Guard(Func<CaptureResult> pass)
    {
        try
        {
            return pass();
        }
        catch
        {
            Dispose();
            throw;
        }
    }
}
