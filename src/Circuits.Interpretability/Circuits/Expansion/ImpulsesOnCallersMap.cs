using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// The impulse method on the caller's own map, one impulse per batch item (one per source channel and stride
/// phase): the fallback when the model rejects other map sizes or the packed tiles fail their checks. Each
/// impulse is a one-hot source map; reading its response at the right target positions gives every offset of
/// the kernel (docs/circuits.md). Runs in chunks of at most <see cref="ExpandedWeightsOptions.ChunkElements"/>
/// source elements, each chunk with its own zero item for the biases (so rounding cancels exactly).
/// </summary>
internal static class ImpulsesOnCallersMap
{
    /// <summary>
    /// The weights, targets x sources x crop x crop, on the CPU; or null when the path is not translation invariant
    /// around the centre (reading offsets from one impulse would then be wrong). The last chunk also carries a
    /// signed combination of the phase-0 impulses and its negation (linearity, compared on a random projection of the
    /// target channels) and the all-channel probe moved by one target pixel, whose response must be
    /// <paramref name="support"/> (the probe's response at the centre) moved the same way.
    /// </summary>
    /// <exception cref="NonlinearPathException">The linearity check fails.</exception>
    public static Tensor? Compute(LinearizedPath path, long[] inputShape, string sourceLayer, string targetLayer, PathGeometry g, ExpandedWeightsOptions options, Tensor support,
        IProgress<ExpandedWeightsProgress>? progress, CancellationToken cancellationToken)
    {
        int nS = g.SourceChannels.Count;
        long impulses = (long)g.Phases * nS;
        long plane = g.SourceHeight * g.SourceWidth;
        long itemSize = g.SourceChannelCount * plane;
        const long checkItems = 3;
        long chunk = Math.Max(1, (options.ChunkElements / itemSize) - 1 - checkItems);
        long chunks = (impulses + chunk - 1) / chunk;
        float[] mix = ImpulseChecks.SignedMix(nS, options.Seed);
        Tensor projection = ImpulseChecks.Projection(support.shape[0], options.Seed);

        // The moved probe: one target pixel down and right (or up and left when that does not fit), s source pixels.
        int shiftY = g.SourceCentreY + g.StrideY < g.SourceHeight && g.TargetCentreY + 1 < g.TargetHeight ? 1 : -1;
        int shiftX = g.SourceCentreX + g.StrideX < g.SourceWidth && g.TargetCentreX + 1 < g.TargetWidth ? 1 : -1;
        long movedY = g.SourceCentreY + (shiftY * g.StrideY), movedX = g.SourceCentreX + (shiftX * g.StrideX);
        bool canMove = movedY >= 0 && movedY < g.SourceHeight && movedX >= 0 && movedX < g.SourceWidth && g.TargetHeight > 1 && g.TargetWidth > 1;
        float[] probeMix = ImpulseChecks.AllChannelMix(g.SourceChannelCount, options.Seed).data<float>().ToArray();

        var targetIndex = tensor(g.TargetChannels.Select(t => (long)t).ToArray());
        var weights = zeros(g.TargetChannels.Count, nS, g.CropSize, g.CropSize);
        Tensor projectedSingles = zeros(nS, g.TargetHeight * g.TargetWidth);
        Tensor? projectedPlus = null, projectedMinus = null, moved = null;
        int r = g.CropReach;
        for (long first = 0, done = 0; first < impulses; first += chunk, done++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var step = chunk >= impulses ? null : NewDisposeScope();
            long count = Math.Min(chunk, impulses - first);
            bool last = first + count == impulses;
            long batch = 1 + count + (last ? checkItems : 0);
            var at = new List<long>((int)count + (last ? (2 * nS) + (int)g.SourceChannelCount : 0));
            var values = new List<float>(at.Capacity);
            void Put(long item, long channel, long y, long x, float value)
            {
                at.Add((item * itemSize) + (channel * plane) + (y * g.SourceWidth) + x);
                values.Add(value);
            }

            // Item 0 is the zero source; impulses are ordered phase-major (u * nS + s).
            for (long k = 0; k < count; k++)
            {
                long n = first + k;
                int u = (int)(n / nS), s = (int)(n % nS);
                Put(1 + k, g.SourceChannels[s], g.SourceCentreY + (u / g.StrideX), g.SourceCentreX + (u % g.StrideX), 1f);
            }

            if (last)
            {
                for (int s = 0; s < nS; s++)
                {
                    Put(batch - 3, g.SourceChannels[s], g.SourceCentreY, g.SourceCentreX, mix[s]);
                    Put(batch - 2, g.SourceChannels[s], g.SourceCentreY, g.SourceCentreX, -mix[s]);
                }

                for (long c = 0; c < g.SourceChannelCount && canMove; c++)
                {
                    Put(batch - 1, c, movedY, movedX, probeMix[c]);
                }
            }

            Tensor source = zeros(batch * itemSize);
            source.index_put_(tensor(values.ToArray()), tensor(at.ToArray()));
            source = source.reshape(batch, g.SourceChannelCount, g.SourceHeight, g.SourceWidth);
            Tensor output = path.RunOnZeros(inputShape, batch, real => LinearizedPath.ReplaceSource(real, source, sourceLayer), keepGraph: false);
            Tensor response = output.narrow(0, 1, batch - 1).sub(output.narrow(0, 0, 1)).to(ScalarType.Float32).cpu();
            long cb = response.shape[1];
            Tensor Project(Tensor items) => projection.unsqueeze(0).matmul(items.reshape(items.shape[0], cb, -1)).squeeze(1);

            // The kernels: this chunk's impulses of phase u are sources [sa, sb).
            Tensor selected = response.narrow(0, 0, count).index_select(1, targetIndex);
            for (int u = (int)(first / nS); u <= (int)((first + count - 1) / nS); u++)
            {
                long sa = Math.Max(first, (long)u * nS) - ((long)u * nS), sb = Math.Min(first + count, (long)(u + 1) * nS) - ((long)u * nS);
                Tensor items = selected.narrow(0, ((long)u * nS) + sa - first, sb - sa);
                if (u == 0)
                {
                    projectedSingles.narrow(0, sa, sb - sa).copy_(Project(response.narrow(0, sa - first, sb - sa)));
                }

                for (int i = 0; i < g.CropSize; i++)
                {
                    var (uy, qy) = PathGeometry.ReadAt(i - r, g.StrideY, g.TargetCentreY);
                    for (int j = 0; j < g.CropSize; j++)
                    {
                        var (ux, qx) = PathGeometry.ReadAt(j - r, g.StrideX, g.TargetCentreX);
                        if ((uy * g.StrideX) + ux == u)
                        {
                            weights.narrow(1, sa, sb - sa)[TensorIndex.Colon, TensorIndex.Colon, i, j] = items[TensorIndex.Colon, TensorIndex.Colon, qy, qx].t();
                        }
                    }
                }
            }

            if (last)
            {
                projectedPlus = Project(response.narrow(0, count, 1)).squeeze(0).DetachFromDisposeScope();
                projectedMinus = Project(response.narrow(0, count + 1, 1)).squeeze(0).DetachFromDisposeScope();
                moved = response[count + 2].DetachFromDisposeScope();
            }

            progress?.Report(new ExpandedWeightsProgress(ExpandedWeightMethod.ImpulsesOnCallersMap, (int)done + 1, (int)chunks));
        }

        using (projectedPlus)
        using (projectedMinus)
        using (moved)
        {
            ImpulseChecks.CheckLinear(path, sourceLayer, targetLayer, projectedSingles, projectedPlus!, projectedMinus!, mix);
            return canMove && !ImpulseChecks.SameShifted(moved!, support, shiftY, shiftX) ? null : weights;
        }
    }
}
