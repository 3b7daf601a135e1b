using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// The packed impulse method (docs/circuits.md, "packed impulses"). Step 1, <see cref="Probe"/>: the response to an
/// all-channel probe on the caller's map says how far a response reaches. Step 2, <see cref="Compute"/>: every
/// (source channel, phase) impulse becomes a tile of a shared map, tiles spaced so that no response reaches a
/// neighbour's read window, so that the work grows with the number of source channels and not with the map's area.
/// </summary>
internal static class PackedImpulses
{
    /// <summary>Pixels kept free at each border of a packed map (pooling windows there are clipped).</summary>
    private const long Margin = 1;

    /// <summary>
    /// The geometry and the probe's responses, one per stride phase (target channels x target map), each minus the
    /// zero source's response. For the common stride-1 path with equal maps, p0 = q0 = the source map's centre is known
    /// before the target's shape is, so one pass measures the shapes and carries the probe.
    /// </summary>
    public static (PathGeometry Geometry, Tensor Supports) Probe(LinearizedPath path, long[] inputShape, string sourceLayer, string targetLayer, ExpandedWeightsOptions options)
    {
        Tensor? probeMix = null;
        long[] a = Array.Empty<long>();
        Tensor first = path.RunOnZeros(inputShape, 2, real =>
        {
            a = real.shape;
            if (a.Length != 4)
            {
                return zeros(new[] { 2L }.Concat(a.Skip(1)).ToArray(), real.dtype, real.device);
            }

            probeMix = ImpulseChecks.AllChannelMix(a[1], options.Seed);
            Tensor speculative = zeros(2, a[1], a[2], a[3]);
            speculative[1, TensorIndex.Colon, a[2] / 2, a[3] / 2] = probeMix;
            return speculative.to(real.dtype, real.device);
        }, keepGraph: false);
        PathGeometry g = PathGeometry.FromShapes(path, sourceLayer, targetLayer, inputShape, options, a, first.shape);
        if (g.Phases == 1 && g.SourceCentreY == g.SourceHeight / 2 && g.SourceCentreX == g.SourceWidth / 2)
        {
            return (g, first.narrow(0, 1, 1).sub(first.narrow(0, 0, 1)).to(ScalarType.Float32).cpu());
        }

        // One item per stride phase after a zero item, on the caller's map (the zero item rides in the same batch so
        // that rounding cancels exactly).
        Tensor mix = ImpulseChecks.AllChannelMix(g.SourceChannelCount, options.Seed);
        Tensor probe = zeros(g.Phases + 1, g.SourceChannelCount, g.SourceHeight, g.SourceWidth);
        for (int u = 0; u < g.Phases; u++)
        {
            probe[u + 1, TensorIndex.Colon, g.SourceCentreY + (u / g.StrideX), g.SourceCentreX + (u % g.StrideX)] = mix;
        }

        Tensor probeOut = path.RunOnZeros(inputShape, g.Phases + 1, real => LinearizedPath.ReplaceSource(real, probe, sourceLayer), keepGraph: false);
        return (g, probeOut.narrow(0, 1, g.Phases).sub(probeOut.narrow(0, 0, 1)).to(ScalarType.Float32).cpu());
    }

    /// <summary>
    /// The weights (targets x sources x crop x crop, on the CPU) from packed tiles. Map 0 is the zero source (biases);
    /// after the impulse tiles come the checks: a tile with a signed combination of the phase-0 impulses and one with
    /// its negation (linearity, compared on a random projection of the target channels), and one all-channel probe
    /// tile per phase, whose responses must equal <paramref name="supports"/> (translation invariance on this map).
    /// Returns null when the model rejects the map, the translation check fails, or packing would not save work.
    /// </summary>
    /// <exception cref="NonlinearPathException">The linearity check fails.</exception>
    public static Tensor? Compute(LinearizedPath path, long[] inputShape, string sourceLayer, string targetLayer, PathGeometry g, ExpandedWeightsOptions options, Tensor supports,
        IProgress<ExpandedWeightsProgress>? progress, CancellationToken cancellationToken, out string detail)
    {
        detail = string.Empty;
        int nS = g.SourceChannels.Count;
        var (reachY, reachX) = Reach(supports, g);
        var layout = TileLayout.Choose(g, nS, reachY, reachX, options.ChunkElements);
        if (layout is null)
        {
            return null;
        }

        float[] mix = ImpulseChecks.SignedMix(nS, options.Seed);
        float[] all = ImpulseChecks.AllChannelMix(g.SourceChannelCount, options.Seed).data<float>().ToArray();
        var entries = new List<(long Map, long Channel, long Y, long X, float Value)>((int)(layout.ImpulseTiles + (2 * nS) + (g.Phases * g.SourceChannelCount)));
        void Put(long channel, (long Map, long Y, long X) p, float value) => entries.Add((p.Map, channel, p.Y, p.X, value));
        for (int u = 0; u < g.Phases; u++)
        {
            for (int s = 0; s < nS; s++)
            {
                Put(g.SourceChannels[s], layout.ImpulseAt(layout.Tile(s, u), u), 1f);
            }

            for (long c = 0; c < g.SourceChannelCount; c++)
            {
                Put(c, layout.ImpulseAt(layout.TranslationTile(u), u), all[c]);
            }
        }

        for (int s = 0; s < nS; s++)
        {
            Put(g.SourceChannels[s], layout.ImpulseAt(layout.PlusTile, 0), mix[s]);
            Put(g.SourceChannels[s], layout.ImpulseAt(layout.MinusTile, 0), -mix[s]);
        }

        if (entries.Any(e => e.Y < 0 || e.Y >= layout.SourceHeight || e.X < 0 || e.X >= layout.SourceWidth))
        {
            return null;
        }

        entries.Sort((a, b) => a.Map.CompareTo(b.Map));

        // What is read back: whole rows of target channels for the kernels and the translation check, and their
        // projection on a random direction for the linearity check.
        int r = g.CropReach;
        var rowReads = new List<(long Map, long Y, long X)>();
        for (int s = 0; s < nS; s++)
        {
            for (int i = 0; i < g.CropSize; i++)
            {
                var (uy, my) = PathGeometry.ReadAt(i - r, g.StrideY, 0);
                for (int j = 0; j < g.CropSize; j++)
                {
                    // Offset d = u + s m of source s is read from its phase-u tile at centre - m.
                    var (ux, mx) = PathGeometry.ReadAt(j - r, g.StrideX, 0);
                    var (map, cy, cx) = layout.Centre(layout.Tile(s, (uy * g.StrideX) + ux));
                    rowReads.Add((map, cy + my, cx + mx));
                }
            }
        }

        int kernelReads = rowReads.Count;
        for (int u = 0; u < g.Phases; u++)
        {
            rowReads.AddRange(layout.Window(layout.TranslationTile(u)));
        }

        var projectedReads = new List<(long Map, long Y, long X)>();
        for (int s = 0; s < nS; s++)
        {
            projectedReads.AddRange(layout.Window(layout.Tile(s, 0)));
        }

        projectedReads.AddRange(layout.Window(layout.PlusTile));
        projectedReads.AddRange(layout.Window(layout.MinusTile));
        long cb = supports.shape[1];
        Tensor projection = ImpulseChecks.Projection(cb, options.Seed);
        Tensor rows = zeros(rowReads.Count, cb);
        Tensor projected = zeros(projectedReads.Count);

        int next = 0;
        long chunks = (layout.Maps + layout.MapsPerPass - 1) / layout.MapsPerPass;
        for (long m0 = 1, done = 0; m0 <= layout.Maps; m0 += layout.MapsPerPass, done++)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // A scope per chunk bounds memory; with one chunk the caller's scope does (a nested scope costs ~20% here).
            using var step = layout.MapsPerPass >= layout.Maps ? null : NewDisposeScope();
            long m1 = Math.Min(layout.Maps + 1, m0 + layout.MapsPerPass);
            long batch = 1 + (m1 - m0);
            long plane = layout.SourceHeight * layout.SourceWidth;
            var at = new List<long>();
            var values = new List<float>();
            for (; next < entries.Count && entries[next].Map < m1; next++)
            {
                var e = entries[next];
                at.Add(((((e.Map - m0 + 1) * g.SourceChannelCount) + e.Channel) * plane) + (e.Y * layout.SourceWidth) + e.X);
                values.Add(e.Value);
            }

            Tensor source = zeros(batch * g.SourceChannelCount * plane);
            source.index_put_(tensor(values.ToArray()), tensor(at.ToArray()));
            source = source.reshape(batch, g.SourceChannelCount, layout.SourceHeight, layout.SourceWidth);
            Tensor output;
            try
            {
                output = path.RunOnZeros(inputShape, batch, real => LinearizedPath.ReplaceSource(real, source, sourceLayer, sameSize: false), keepGraph: false);
            }
            catch (Exception e) when (e is not CircuitsException)
            {
                return null; // the model does not accept this map size (e.g. a concatenation with something that bypasses the source)
            }

            if (output.dim() != 4 || output.shape[0] != batch || output.shape[1] != cb || output.shape[2] != layout.TargetHeight || output.shape[3] != layout.TargetWidth)
            {
                return null;
            }

            // Rows of (map, y, x) x channel, minus the chunk's zero map, into the reads of this chunk.
            Tensor flat = output.narrow(0, 1, batch - 1).sub(output.narrow(0, 0, 1)).to(ScalarType.Float32).cpu().permute(0, 2, 3, 1).contiguous().view(-1, cb);
            Tensor Take(Tensor values, IReadOnlyList<(long Map, long Y, long X)> reads, out Tensor destination)
            {
                var mine = new List<long>(reads.Count);
                var index = new List<long>(reads.Count);
                for (int k = 0; k < reads.Count; k++)
                {
                    var (map, y, x) = reads[k];
                    if (map >= m0 && map < m1)
                    {
                        mine.Add(k);
                        index.Add(((((map - m0) * layout.TargetHeight) + y) * layout.TargetWidth) + x);
                    }
                }

                destination = tensor(mine.ToArray());
                return values.index_select(0, tensor(index.ToArray()));
            }

            Tensor taken = Take(flat, rowReads, out Tensor rowDestination);
            rows.index_copy_(0, rowDestination, taken);
            Tensor takenProjected = Take(flat.matmul(projection), projectedReads, out Tensor projectedDestination);
            projected.index_copy_(0, projectedDestination, takenProjected);
            progress?.Report(new ExpandedWeightsProgress(ExpandedWeightMethod.PackedImpulses, (int)done + 1, (int)chunks));
        }

        // Translation check: each phase's all-channel tile equals the caller's map's response around q0.
        long win = layout.TileHeight * layout.TileWidth;
        for (int u = 0; u < g.Phases; u++)
        {
            Tensor packed = rows.narrow(0, kernelReads + (u * win), win).t().reshape(cb, layout.TileHeight, layout.TileWidth);
            if (!ImpulseChecks.SameResponse(packed, supports[u], g, reachY, reachX))
            {
                return null;
            }
        }

        // Linearity check: the mix's tile and its negation's equal plus and minus the same mix of the single impulses' tiles.
        ImpulseChecks.CheckLinear(path, sourceLayer, targetLayer, projected.narrow(0, 0, nS * win).reshape(nS, win),
            projected.narrow(0, nS * win, win), projected.narrow(0, (nS + 1) * win, win), mix);

        Tensor kernels = rows.narrow(0, 0, kernelReads);
        if (!g.AllTargets)
        {
            kernels = kernels.index_select(1, tensor(g.TargetChannels.Select(t => (long)t).ToArray()));
        }

        detail = $"{layout.TilesY} x {layout.TilesX} tiles {layout.TileHeight} x {layout.TileWidth} apart on {layout.Maps} maps of {layout.SourceHeight} x {layout.SourceWidth}{(chunks > 1 ? $", in {chunks} passes" : string.Empty)}";
        return kernels.t().reshape(g.TargetChannels.Count, nS, g.CropSize, g.CropSize);
    }

    /// <summary>
    /// How far (in target pixels, per axis) a response reaches from its centre: the support of the all-channel probe
    /// around q0 over every phase, and at least the crop's reach ceil(r / stride).
    /// </summary>
    private static (long Y, long X) Reach(Tensor supports, PathGeometry g)
    {
        using var scope = NewDisposeScope();
        int r = g.CropReach;
        long reachY = (r + g.StrideY - 1) / g.StrideY, reachX = (r + g.StrideX - 1) / g.StrideX;
        Tensor magnitude = supports.abs().amax(new long[] { 0, 1 });
        double scale = magnitude.max().item<float>();
        if (scale > 0)
        {
            Tensor rows = magnitude.amax(1).gt(scale * 1e-6).nonzero();
            Tensor cols = magnitude.amax(0).gt(scale * 1e-6).nonzero();
            reachY = Math.Max(reachY, Math.Max(g.TargetCentreY - rows.min().item<long>(), rows.max().item<long>() - g.TargetCentreY));
            reachX = Math.Max(reachX, Math.Max(g.TargetCentreX - cols.min().item<long>(), cols.max().item<long>() - g.TargetCentreX));
        }

        return (reachY, reachX);
    }

    /// <summary>
    /// Where the tiles go. Tiles sit <see cref="TileHeight"/> x <see cref="TileWidth"/> target pixels apart (2 reach + 1),
    /// <see cref="TilesY"/> x <see cref="TilesX"/> per map, with <see cref="Margin"/> spare pixels around; a map is the
    /// source map grown or shrunk by whole target pixels (stride source pixels each), which keeps the alignment.
    /// Tiles are numbered: impulses (u * sources + s), the signed mix, its negation, one translation probe per phase.
    /// </summary>
    private sealed record TileLayout(PathGeometry G, int Sources, long ReachY, long ReachX, int TilesY, int TilesX, long MapsPerPass)
    {
        public long TileHeight => (2 * ReachY) + 1;

        public long TileWidth => (2 * ReachX) + 1;

        public long ImpulseTiles => (long)G.Phases * Sources;

        public long PlusTile => ImpulseTiles;

        public long MinusTile => ImpulseTiles + 1;

        public long AllTiles => ImpulseTiles + 2 + G.Phases;

        public long PerMap => (long)TilesY * TilesX;

        public long Maps => (AllTiles + PerMap - 1) / PerMap;

        public long TargetHeight => (2 * Margin) + (TilesY * TileHeight);

        public long TargetWidth => (2 * Margin) + (TilesX * TileWidth);

        public long SourceHeight => G.SourceHeight + ((TargetHeight - G.TargetHeight) * G.StrideY);

        public long SourceWidth => G.SourceWidth + ((TargetWidth - G.TargetWidth) * G.StrideX);

        public long Tile(int source, int phase) => ((long)phase * Sources) + source;

        public long TranslationTile(int phase) => ImpulseTiles + 2 + phase;

        /// <summary>A tile's map (1-based: map 0 is the zero source) and centre in the target map.</summary>
        public (long Map, long Y, long X) Centre(long tile)
        {
            long local = tile % PerMap;
            return (1 + (tile / PerMap), Margin + ReachY + ((local / TilesX) * TileHeight), Margin + ReachX + ((local % TilesX) * TileWidth));
        }

        /// <summary>The source position of a tile's impulse of phase <paramref name="phase"/>, aligned with its centre as p0 is with q0.</summary>
        public (long Map, long Y, long X) ImpulseAt(long tile, int phase)
        {
            var (map, cy, cx) = Centre(tile);
            return (map, G.SourceCentreY + ((cy - G.TargetCentreY) * G.StrideY) + (phase / G.StrideX), G.SourceCentreX + ((cx - G.TargetCentreX) * G.StrideX) + (phase % G.StrideX));
        }

        /// <summary>The target pixels of a tile's read window, row by row.</summary>
        public List<(long Map, long Y, long X)> Window(long tile)
        {
            var (map, cy, cx) = Centre(tile);
            var list = new List<(long, long, long)>((int)(TileHeight * TileWidth));
            for (long y = -ReachY; y <= ReachY; y++)
            {
                for (long x = -ReachX; x <= ReachX; x++)
                {
                    list.Add((map, cy + y, cx + x));
                }
            }

            return list;
        }

        /// <summary>
        /// The grid with the fewest source pixels in all, counting one zero map per pass of at most
        /// <paramref name="chunkElements"/> source elements; null when no grid beats one caller's map per impulse.
        /// </summary>
        public static TileLayout? Choose(PathGeometry g, int sources, long reachY, long reachX, long chunkElements)
        {
            long PerPass(long mapPixels) => Math.Max(1, (chunkElements / Math.Max(1, g.SourceChannelCount * mapPixels)) - 1);
            long Cost(long maps, long mapPixels) => (maps + ((maps + PerPass(mapPixels) - 1) / PerPass(mapPixels))) * mapPixels;
            var probe = new TileLayout(g, sources, reachY, reachX, 1, 1, 1);
            long best = Cost(probe.ImpulseTiles + 2, g.SourceHeight * g.SourceWidth);
            TileLayout? chosen = null;
            int limit = (int)Math.Min(64, probe.AllTiles);
            for (int y = 1; y <= limit; y++)
            {
                for (int x = 1; x <= limit && (long)y * x <= 2 * probe.AllTiles; x++)
                {
                    var candidate = probe with { TilesY = y, TilesX = x };
                    long pixels = candidate.SourceHeight * candidate.SourceWidth;
                    long cost = candidate.SourceHeight > 0 && candidate.SourceWidth > 0 ? Cost(candidate.Maps, pixels) : long.MaxValue;
                    if (cost < best)
                    {
                        (best, chosen) = (cost, candidate with { MapsPerPass = PerPass(pixels) });
                    }
                }
            }

            return chosen;
        }
    }
}
