using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>What a <see cref="ForwardRun"/> taps, edits and keeps, and where it stops.</summary>
public sealed record ForwardRunOptions
{
    /// <summary>
    /// Layers whose outputs the run returns (any address: <c>conv2:3</c> taps <c>conv2</c>). A tap sees its layer's
    /// output after the edits of that layer. Default: none.
    /// </summary>
    public IReadOnlyList<string> Taps { get; init; } = Array.Empty<string>();

    /// <summary>Interventions applied while the run's forward passes run, in the order given. Default: none.</summary>
    public IReadOnlyList<Intervention> Interventions { get; init; } = Array.Empty<Intervention>();

    /// <summary>
    /// Edits by function (replace or observe a layer's output or input), applied after the
    /// <see cref="Interventions"/> of the same layer, in the order given. Default: none.
    /// </summary>
    public IReadOnlyList<LayerEdit> Edits { get; init; } = Array.Empty<LayerEdit>();

    /// <summary>
    /// Layers of any module type (also ones that do not take and return one tensor) whose running is only
    /// recorded in <see cref="CaptureResult.Ran"/>. Default: none.
    /// </summary>
    public IReadOnlyList<string> Watch { get; init; } = Array.Empty<string>();

    /// <summary>
    /// When true (the default) and there is at least one tap, the forward pass ends as soon as every tap has its
    /// activation: the layers after the deepest tap do not run, and the result has no output. When false, the model
    /// runs to the end and the result's <see cref="CaptureResult.Output"/> is its output.
    /// </summary>
    public bool StopAfterTaps { get; init; } = true;

    /// <summary>
    /// When true, the forward runs with autograd and the taps stay part of the graph (gradients flow through
    /// them to the input). When false (the default), it runs under <c>torch.no_grad()</c> and taps are detached.
    /// </summary>
    public bool KeepGraph { get; init; }

    /// <summary>
    /// When true (the default), the model is put in eval mode with no parameter requiring gradients while the run
    /// is attached (<see cref="Core.ModelFreeze"/>); its modes and flags are restored when the run is disposed.
    /// </summary>
    public bool Freeze { get; init; } = true;

    /// <summary>When true (the default), a pass in which a tap's layer did not run throws <see cref="HookNotFiredException"/>.</summary>
    public bool RequireAllTaps { get; init; } = true;

    /// <summary>
    /// The device inputs must be on; null (default): the model's (<see cref="Core.ModelDevice.Resolve"/>). A device
    /// other than the model's is refused when the run is attached.
    /// </summary>
    public Device? Device { get; init; }
}
