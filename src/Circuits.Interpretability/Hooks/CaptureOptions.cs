namespace Circuits.Interpretability.Hooks;

/// <summary>How <see cref="ActivationCapture"/> keeps what it captures.</summary>
public sealed record CaptureOptions
{
    /// <summary>The default: detached activations, forward pass without autograd.</summary>
    public static CaptureOptions Default { get; } = new();

    /// <summary>
    /// When true, the forward runs with autograd and each captured activation stays part of the graph, so
    /// gradients can be taken with respect to it and flow through it to the input. When false (the default)
    /// the forward runs under <c>torch.no_grad()</c> and the captured tensors are detached, which saves the
    /// memory the graph would hold.
    /// </summary>
    public bool KeepGraph { get; init; }

    /// <summary>
    /// When true (the default), a capture whose hook did not run during a forward throws
    /// <see cref="HookNotFiredException"/> instead of returning without that layer.
    /// </summary>
    public bool RequireAllLayers { get; init; } = true;
}
