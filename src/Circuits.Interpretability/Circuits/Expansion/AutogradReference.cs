using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// The reference method: the source map becomes a zero leaf tensor that requires grad, the linearized path runs
/// once, and one autograd backward pass per target channel goes from the target's centre position to the whole
/// source map, cropped around the aligned source position. It assumes no translation invariance, so it checks
/// every other method's bookkeeping (strides, phases, alignment); it costs one backward pass per target channel.
/// </summary>
internal static class AutogradReference
{
    /// <summary>The weights, targets x sources x crop x crop, on the CPU.</summary>
    public static Tensor Compute(LinearizedPath path, long[] inputShape, string sourceLayer, PathGeometry g, IProgress<ExpandedWeightsProgress>? progress, CancellationToken cancellationToken)
    {
        Tensor leaf = zeros(new long[] { 1, g.SourceChannelCount, g.SourceHeight, g.SourceWidth }, device: path.Device).requires_grad_(true);
        Tensor output = path.RunOnZeros(inputShape, 1, real => LinearizedPath.ReplaceSource(real, leaf, sourceLayer), keepGraph: true);
        int r = g.CropReach;
        var sourceIndex = tensor(g.SourceChannels.Select(s => (long)s).ToArray()).to(path.Device);
        Tensor weights = zeros(g.TargetChannels.Count, g.SourceChannels.Count, g.CropSize, g.CropSize);
        for (int t = 0; t < g.TargetChannels.Count; t++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using (NewDisposeScope())
            {
                Tensor unit = output[0, g.TargetChannels[t], g.TargetCentreY, g.TargetCentreX];
                Tensor grad = torch.autograd.grad(new[] { unit }, new[] { leaf }, retain_graph: true, allow_unused: true)[0];
                if (!grad.IsInvalid)
                {
                    // (An invalid gradient: the target does not depend on the source at all; its weights stay 0.)
                    weights[t] = grad[0].index_select(0, sourceIndex)
                        .narrow(1, g.SourceCentreY - r, g.CropSize)
                        .narrow(2, g.SourceCentreX - r, g.CropSize)
                        .detach().cpu();
                }
            }

            progress?.Report(new ExpandedWeightsProgress(ExpandedWeightMethod.AutogradReference, t + 1, g.TargetChannels.Count));
        }

        return weights;
    }
}
