using Circuits.Interpretability.Circuits.Expansion;
using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits;

/// <summary>
/// Expanded weights: the linear effect of every channel of a source layer on every channel of a target
/// layer, adjacent or not, with the path between them linearized (rectifiers as identity, max-pooling as
/// average pooling, local response normalization as its Jacobian at zero, biases removed). See
/// docs/circuits.md for the maths, how each op is treated and how each method works.
/// </summary>
/// <remarks>
/// Definition: with q0 the centre position of the target map (H_B / 2, W_B / 2) and p0 = floor((q0 + 1/2) H_A / H_B)
/// (per axis) the aligned source position, W[t, s, i, j] = d B[t, q0] / d A[s, p0 + (i - r, j - r)] of the
/// linearized path, r = (crop - 1) / 2. For a stride-1 path with "same" padding, p0 = q0 and W is the kernel
/// of the single convolution equivalent to the path.
/// </remarks>
public static class ExpandedWeights
{
    /// <summary>
    /// Computes expanded weights with the fastest exact method: one-hot impulses (one per source channel and stride
    /// phase) packed as tiles into shared maps and pushed through the linearized path, with checks in the same batch
    /// that the tiles respond exactly as on the caller's map and that the path is linear; then, if the model or the
    /// checks rule that out, impulses on the caller's map, then the autograd reference. <see cref="ExpandedWeightSet.Method"/>
    /// says which ran.
    /// </summary>
    /// <param name="model">Any model whose layers are invoked with <c>call()</c>.</param>
    /// <param name="sourceLayer">The earlier layer's module path.</param>
    /// <param name="targetLayer">The later layer's module path.</param>
    /// <param name="inputShape">The shape of one model input without the batch axis, e.g. [3, 224, 224]; it sets the size of both layers' maps, which must hold the crop.</param>
    /// <param name="options">Channels, crop size, part; defaults when null.</param>
    /// <param name="progress">Receives the passes of the method that is running.</param>
    /// <param name="cancellationToken">Stops between passes with <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="UnknownLayerException">A layer does not exist.</exception>
    /// <exception cref="NonlinearPathException">An op on the path cannot be linearized; the message names it.</exception>
    /// <exception cref="UnitOutOfRangeException">A channel does not exist in its layer.</exception>
    /// <exception cref="CircuitsException">The maps are too small for the crop, or the layers are in the wrong order.</exception>
    public static ExpandedWeightSet Compute(nn.Module<Tensor, Tensor> model, string sourceLayer, string targetLayer, long[] inputShape, ExpandedWeightsOptions? options = null,
        IProgress<ExpandedWeightsProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        options ??= new ExpandedWeightsOptions();
        cancellationToken.ThrowIfCancellationRequested();
        using var freeze = ModelFreeze.Apply(model);
        using var path = LinearizedPath.Attach(model, sourceLayer, targetLayer, options.Device);
        using var scope = NewDisposeScope();
        PathGeometry.Validate(inputShape, options);
        string? notComposed = null;
        if (options.Compose)
        {
            // One shape-only pass (empty batches) gives the geometry and a trace of the path's ops.
            var trace = new PathTrace();
            path.Observer = trace;
            var (a, b) = PathGeometry.Shapes(path, inputShape);
            path.Observer = null;
            PathGeometry shaped = PathGeometry.FromShapes(path, sourceLayer, targetLayer, inputShape, options, a, b);
            Tensor? composed = KernelComposition.Compute(path, inputShape, sourceLayer, targetLayer, shaped, trace, options, progress, cancellationToken, out notComposed);
            if (composed is not null)
            {
                return Finish(sourceLayer, targetLayer, shaped, composed, options.Part, ExpandedWeightMethod.KernelComposition, notComposed);
            }
        }

        var (g, supports) = PackedImpulses.Probe(path, inputShape, sourceLayer, targetLayer, options);
        Tensor? weights = PackedImpulses.Compute(path, inputShape, sourceLayer, targetLayer, g, options, supports, progress, cancellationToken, out string detail);
        if (weights is not null)
        {
            return Finish(sourceLayer, targetLayer, g, weights, options.Part, ExpandedWeightMethod.PackedImpulses, Because(detail, notComposed));
        }

        weights = ImpulsesOnCallersMap.Compute(path, inputShape, sourceLayer, targetLayer, g, options, supports[0], progress, cancellationToken);
        if (weights is not null)
        {
            return Finish(sourceLayer, targetLayer, g, weights, options.Part, ExpandedWeightMethod.ImpulsesOnCallersMap, Because("the model rejects other map sizes, or packed tiles respond differently", notComposed));
        }

        // Not translation invariant around q0 (a position-dependent op): only the reference is exact there.
        weights = AutogradReference.Compute(path, inputShape, sourceLayer, g, progress, cancellationToken);
        return Finish(sourceLayer, targetLayer, g, weights, options.Part, ExpandedWeightMethod.AutogradReference, Because("the path is not translation invariant", notComposed));
    }

    /// <summary>
    /// The reference method: one autograd backward pass per target channel, from the target's centre position
    /// to the whole source map, through the same linearized path. Slow (one backward per target channel) but
    /// free of any assumption about translation invariance; tests compare <see cref="Compute"/> with it.
    /// </summary>
    /// <inheritdoc cref="Compute" path="/param"/>
    /// <inheritdoc cref="Compute" path="/exception"/>
    public static ExpandedWeightSet ComputeReference(nn.Module<Tensor, Tensor> model, string sourceLayer, string targetLayer, long[] inputShape, ExpandedWeightsOptions? options = null,
        IProgress<ExpandedWeightsProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        options ??= new ExpandedWeightsOptions();
        cancellationToken.ThrowIfCancellationRequested();
        using var freeze = ModelFreeze.Apply(model);
        using var path = LinearizedPath.Attach(model, sourceLayer, targetLayer, options.Device);
        using var scope = NewDisposeScope();
        PathGeometry g = PathGeometry.Probe(path, sourceLayer, targetLayer, inputShape, options);
        Tensor weights = AutogradReference.Compute(path, inputShape, sourceLayer, g, progress, cancellationToken);
        return Finish(sourceLayer, targetLayer, g, weights, options.Part, ExpandedWeightMethod.AutogradReference, string.Empty);
    }

    /// <summary>
    /// Brute-force composition of a chain of stride-1 convolution kernels, by explicit loops: the kernel of the
    /// single convolution equal to applying <paramref name="kernels"/>[0], then [1], and so on (biases and
    /// padding aside). Each kernel is out x in x kh x kw; the result is out_last x in_first x (sum(kh - 1) + 1) x (sum(kw - 1) + 1).
    /// With "same" padding throughout, it equals the expanded weights of the chain with that crop size.
    /// </summary>
    /// <exception cref="CircuitsException">The kernels are not 4-D, or a kernel's input channels differ from the previous one's outputs.</exception>
    public static Tensor ComposeConvKernels(IReadOnlyList<Tensor> kernels) => KernelLoops.Compose(kernels);

    /// <summary>The detail of an impulse method, with why kernel composition was not used.</summary>
    private static string Because(string detail, string? notComposed) => notComposed is null ? detail : $"{detail}; not composed: {notComposed}";

    private static ExpandedWeightSet Finish(string source, string target, PathGeometry g, Tensor weights, ExpandedWeightPart part, ExpandedWeightMethod method, string detail)
    {
        Tensor result = part switch
        {
            ExpandedWeightPart.Positive => weights.clamp_min(0),
            ExpandedWeightPart.Negative => weights.neg().clamp_min(0),
            _ => weights,
        };
        return new ExpandedWeightSet(source, target, g.SourceChannels, g.TargetChannels, result.contiguous().DetachFromDisposeScope(), g.StrideY, g.StrideX, method, detail);
    }
}
