namespace Circuits.Interpretability.Circuits;

/// <summary>Which method computed a set of expanded weights (docs/circuits.md). All of them give the same, exact weights.</summary>
public enum ExpandedWeightMethod
{
    /// <summary>Kernel composition: the path's convolution, pooling, padding and scaling kernels composed analytically, verified against the model on a small map.</summary>
    KernelComposition,

    /// <summary>Packed impulses: one-hot impulses as tiles of shared maps, checked for translation invariance and linearity.</summary>
    PackedImpulses,

    /// <summary>One impulse per batch item on the caller's map: the fallback when the model rejects other map sizes or the packed checks fail.</summary>
    ImpulsesOnCallersMap,

    /// <summary>One autograd backward pass per target channel: the reference, and the fallback when the path is not translation invariant.</summary>
    AutogradReference,
}
