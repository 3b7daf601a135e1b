using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits;

/// <summary>
/// Expanded weights: the linear effect of every channel of a source layer on every channel of a target
/// layer, adjacent or not, with the path between them linearized (rectifiers as identity, max-pooling as
/// average pooling, local response normalization as its Jacobian at zero, biases removed). See
/// docs/circuits.md for the maths and how each op is treated.
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
    /// Computes expanded weights by pushing one-hot impulses (one per source channel and stride phase) through the
    /// linearized path in one batched forward pass, in place of the source layer's output, and reading the target's
    /// responses back as kernels. Impulses are packed as tiles into shared maps, spaced by the measured reach of a
    /// response, so that the work grows with the number of source channels and not with the map's size; checks
    /// in the same batch confirm that the tiles respond exactly as on the caller's map and that the path is linear.
    /// </summary>
    /// <param name="model">Any model whose layers are invoked with <c>call()</c>.</param>
    /// <param name="sourceLayer">The earlier layer's module path.</param>
    /// <param name="targetLayer">The later layer's module path.</param>
    /// <param name="inputShape">The shape of one model input without the batch axis, e.g. [3, 224, 224]; it sets the size of both layers' maps, which must hold the crop.</param>
    /// <param name="options">Channels, crop size, part; defaults when null.</param>
    /// <exception cref="UnknownLayerException">A layer does not exist.</exception>
    /// <exception cref="NonlinearPathException">An op on the path cannot be linearized; the message names it.</exception>
    /// <exception cref="UnitOutOfRangeException">A channel does not exist in its layer.</exception>
    /// <exception cref="CircuitsException">The maps are too small for the crop, or the layers are in the wrong order.</exception>
    public static ExpandedWeightSet Compute(nn.Module<Tensor, Tensor> model, string sourceLayer, string targetLayer, long[] inputShape, ExpandedWeightsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        options ??= new ExpandedWeightsOptions();
        using var freeze = ModelFreeze.Apply(model);
        using var path = LinearizedPath.Attach(model, sourceLayer, targetLayer);
        using var scope = NewDisposeScope();
        Geometry.Validate(inputShape, options);
        Tensor? probeMix = null;
        long[] a = Array.Empty<long>();

        // Speculatively, the geometry and the probe in one pass: for the common stride-1 path with equal maps,
        // p0 = q0 = the source map's centre, so the probe can be placed before the target's shape is known.
        Tensor first = path.RunOnZeros(inputShape, 2, real =>
        {
            a = real.shape;
            if (a.Length != 4)
            {
                return zeros(new[] { 2L }.Concat(a.Skip(1)).ToArray(), real.dtype, real.device);
            }

            probeMix = AllChannelMix(a[1], options.Seed);
            Tensor speculative = zeros(2, a[1], a[2], a[3]);
            speculative[1, TensorIndex.Colon, a[2] / 2, a[3] / 2] = probeMix;
            return speculative.to(real.dtype, real.device);
        }, keepGraph: false);
        Geometry g = Geometry.FromShapes(path, sourceLayer, targetLayer, inputShape, options, a, first.shape);
        probeMix ??= AllChannelMix(g.CA, options.Seed);
        int phases = g.StrideY * g.StrideX;
        Tensor supports;
        if (phases == 1 && g.P0Y == g.HA / 2 && g.P0X == g.WA / 2)
        {
            supports = first.narrow(0, 1, 1).sub(first.narrow(0, 0, 1)).to(ScalarType.Float32).cpu();
        }
        else
        {
            // The response to all source channels at once, one item per stride phase after a zero item, on the
            // caller's map: its support says how far responses reach. The zero item rides in the same batch so that
            // rounding cancels exactly.
            Tensor probe = zeros(phases + 1, g.CA, g.HA, g.WA);
            for (int u = 0; u < phases; u++)
            {
                probe[u + 1, TensorIndex.Colon, g.P0Y + (u / g.StrideX), g.P0X + (u % g.StrideX)] = probeMix;
            }

            Tensor probeOut = path.RunOnZeros(inputShape, phases + 1, real => Impulses(real, probe, sourceLayer), keepGraph: false);
            supports = probeOut.narrow(0, 1, phases).sub(probeOut.narrow(0, 0, 1)).to(ScalarType.Float32).cpu();
        }

        Tensor? weights = Packed(path, inputShape, sourceLayer, targetLayer, g, options, supports, probeMix, out string method);
        if (weights is null)
        {
            weights = Impulse(path, inputShape, sourceLayer, targetLayer, g, options, supports[0]);
            method = "impulses on the caller's map";
        }

        if (weights is null)
        {
            // Not translation invariant around q0 (a position-dependent op): only the reference is exact there.
            weights = Reference(path, inputShape, sourceLayer, g);
            method = "autograd reference (the path is not translation invariant)";
        }

        return Finish(sourceLayer, targetLayer, g, weights, options.Part, method);
    }

    /// <summary>
    /// The fallback: forward passes on the caller's map with one impulse per batch item (one per source channel and
    /// stride phase), in chunks of at most <see cref="ExpandedWeightsOptions.ChunkElements"/> source elements, each with its own zero item
    /// for the biases (so rounding cancels exactly). The last chunk also carries a random combination that checks
    /// linearity (on a random projection of the target channels) and the all-channel probe moved by one target
    /// pixel, whose response must be <paramref name="support"/> moved the same way (translation invariance, which
    /// reading offsets from one impulse relies on). Null when it is not.
    /// </summary>
    private static Tensor? Impulse(LinearizedPath path, long[] inputShape, string sourceLayer, string targetLayer, Geometry g, ExpandedWeightsOptions options, Tensor support)
    {
        int phases = g.StrideY * g.StrideX;
        int nS = g.Sources.Count;
        long singles = (long)phases * nS;
        long plane = g.HA * g.WA;
        long itemSize = g.CA * plane;
        long chunk = Math.Max(1, (options.ChunkElements / itemSize) - 3);
        var random = new Random(options.Seed);
        float[] mix = Enumerable.Range(0, nS).Select(_ => (float)((2 * random.NextDouble()) - 1)).ToArray();
        var projectionRandom = new Random(options.Seed + 2);
        Tensor projection = tensor(Enumerable.Range(0, (int)support.shape[0]).Select(_ => (float)((2 * projectionRandom.NextDouble()) - 1)).ToArray());

        // One target pixel down and right (or up and left when that does not fit): s source pixels.
        int shiftY = g.P0Y + g.StrideY < g.HA && g.Q0Y + 1 < g.HB ? 1 : -1, shiftX = g.P0X + g.StrideX < g.WA && g.Q0X + 1 < g.WB ? 1 : -1;
        long movedY = g.P0Y + (shiftY * g.StrideY), movedX = g.P0X + (shiftX * g.StrideX);
        bool canMove = movedY >= 0 && movedY < g.HA && movedX >= 0 && movedX < g.WA && g.HB > 1 && g.WB > 1;
        float[] probeMix = AllChannelMix(g.CA, options.Seed).data<float>().ToArray();

        var targetIndex = tensor(g.Targets.Select(t => (long)t).ToArray());
        var weights = zeros(g.Targets.Count, nS, g.Crop, g.Crop);
        Tensor projectedSingles = zeros(nS, g.HB * g.WB);
        Tensor? projectedCombo = null, moved = null;
        int r = g.Crop / 2;
        for (long first = 0; first < singles; first += chunk)
        {
            using var step = chunk >= singles ? null : NewDisposeScope();
            long count = Math.Min(chunk, singles - first);
            bool last = first + count == singles;
            long batch = 1 + count + (last ? 2 : 0);
            var at = new List<long>((int)count + (last ? nS + (int)g.CA : 0));
            var values = new List<float>(at.Capacity);
            void Put(long item, long channel, long y, long x, float value)
            {
                at.Add((item * itemSize) + (channel * plane) + (y * g.WA) + x);
                values.Add(value);
            }

            for (long k = 0; k < count; k++)
            {
                long t = first + k;
                int u = (int)(t / nS), s = (int)(t % nS);
                Put(1 + k, g.Sources[s], g.P0Y + (u / g.StrideX), g.P0X + (u % g.StrideX), 1f);
            }

            if (last)
            {
                for (int s = 0; s < nS; s++)
                {
                    Put(batch - 2, g.Sources[s], g.P0Y, g.P0X, mix[s]);
                }

                for (long c = 0; c < g.CA && canMove; c++)
                {
                    Put(batch - 1, c, movedY, movedX, probeMix[c]);
                }
            }

            Tensor source = zeros(batch * itemSize);
            source.index_put_(tensor(values.ToArray()), tensor(at.ToArray()));
            source = source.reshape(batch, g.CA, g.HA, g.WA);
            Tensor output = path.RunOnZeros(inputShape, batch, real => Impulses(real, source, sourceLayer), keepGraph: false);
            Tensor response = output.narrow(0, 1, batch - 1).sub(output.narrow(0, 0, 1)).to(ScalarType.Float32).cpu();
            long cb = response.shape[1];
            Tensor Project(Tensor items) => projection.unsqueeze(0).matmul(items.reshape(items.shape[0], cb, -1)).squeeze(1);

            // The kernels: singles are ordered phase-major, so this chunk's items of phase u are sources [sa, sb).
            Tensor selected = response.narrow(0, 0, count).index_select(1, targetIndex);
            for (int u = (int)(first / nS); u <= (int)((first + count - 1) / nS); u++)
            {
                long sa = Math.Max(first, (long)u * nS) - ((long)u * nS), sb = Math.Min(first + count, (long)(u + 1) * nS) - ((long)u * nS);
                Tensor items = selected.narrow(0, ((long)u * nS) + sa - first, sb - sa);
                if (u == 0)
                {
                    projectedSingles.narrow(0, sa, sb - sa).copy_(Project(response.narrow(0, sa - first, sb - sa)));
                }

                for (int i = 0; i < g.Crop; i++)
                {
                    var (uy, qy) = Phase(i - r, g.StrideY, g.Q0Y);
                    for (int j = 0; j < g.Crop; j++)
                    {
                        var (ux, qx) = Phase(j - r, g.StrideX, g.Q0X);
                        if ((uy * g.StrideX) + ux == u)
                        {
                            weights.narrow(1, sa, sb - sa)[TensorIndex.Colon, TensorIndex.Colon, i, j] = items[TensorIndex.Colon, TensorIndex.Colon, qy, qx].t();
                        }
                    }
                }
            }

            if (last)
            {
                projectedCombo = Project(response.narrow(0, count, 1)).squeeze(0).DetachFromDisposeScope();
                moved = response[count + 1].DetachFromDisposeScope();
            }
        }

        using (projectedCombo)
        using (moved)
        {
            CheckLinear(path, sourceLayer, targetLayer, projectedSingles, projectedCombo!, tensor(mix));
            return canMove && !SameShifted(moved!, support, shiftY, shiftX) ? null : weights;
        }
    }

    /// <summary>
    /// The packed method: every (source channel, phase) impulse is a tile of a shared map. Tiles are spaced so that
    /// no response reaches a neighbour's read window (the reach is measured by the all-channel probe,
    /// <paramref name="supports"/>, one per phase), with a spare pixel at the map's border (pooling windows there
    /// are clipped). Map 0 is the zero source (biases); after the impulse tiles come the checks: one tile with a
    /// random signed combination of the phase-0 impulses (linearity, compared on a random projection of the target
    /// channels), and one all-channel probe tile per phase, whose responses must equal <paramref name="supports"/>
    /// (translation invariance on this map). The grid (ky x kx tiles per map) is the one with the fewest source pixels. Returns null when the model rejects the map,
    /// a check fails, or packing would not save work; the caller then falls back to <see cref="Impulse"/>.
    /// </summary>
    private static Tensor? Packed(LinearizedPath path, long[] inputShape, string sourceLayer, string targetLayer, Geometry g, ExpandedWeightsOptions options, Tensor supports, Tensor probeMix, out string method)
    {
        method = string.Empty;
        int phases = g.StrideY * g.StrideX;
        int nS = g.Sources.Count;
        int r = g.Crop / 2;
        var (reachY, reachX) = Reach(supports, g, r);
        long dy = (2 * reachY) + 1, dx = (2 * reachX) + 1;
        const long margin = 1;
        long tiles = (long)phases * nS;

        // Global slots: the impulse tiles (u * nS + s), then the linearity tile, then one translation tile per
        // phase; item 0 is the zero source. The grid of ky x kx tiles per map that needs the fewest source pixels.
        // Maps run in chunks of at most options.ChunkElements source elements, each chunk with its own zero map.
        long slots = tiles + 1 + phases;
        long Chunked(long maps, long mapPixels)
        {
            long perChunk = Math.Max(1, (options.ChunkElements / Math.Max(1, g.CA * mapPixels)) - 1);
            return (maps + ((maps + perChunk - 1) / perChunk)) * mapPixels;
        }

        long bestCost = Chunked(tiles + 2, g.HA * g.WA);
        int ky = 0, kx = 0;
        int kLimit = (int)Math.Min(64, slots);
        for (int y = 1; y <= kLimit; y++)
        {
            for (int x = 1; x <= kLimit && (long)y * x <= 2 * slots; x++)
            {
                long hb = (2 * margin) + (y * dy), wb = (2 * margin) + (x * dx);
                long ha = g.HA + ((hb - g.HB) * g.StrideY), wa = g.WA + ((wb - g.WB) * g.StrideX);
                long count = (slots + ((long)y * x) - 1) / ((long)y * x);
                long cost = ha > 0 && wa > 0 ? Chunked(count, ha * wa) : long.MaxValue;
                if (cost < bestCost)
                {
                    (bestCost, ky, kx) = (cost, y, x);
                }
            }
        }

        if (ky == 0)
        {
            return null;
        }

        long perMap = (long)ky * kx;
        long hbP = (2 * margin) + (ky * dy), wbP = (2 * margin) + (kx * dx);
        long haP = g.HA + ((hbP - g.HB) * g.StrideY), waP = g.WA + ((wbP - g.WB) * g.StrideX);
        long batch = 1 + ((slots + perMap - 1) / perMap);

        // Global slot -> map item and tile centre in the target map; the aligned impulse position in the source map (phase u).
        (long Item, long Y, long X) Centre(long slot)
        {
            long local = slot % perMap;
            return (1 + (slot / perMap), margin + reachY + ((local / kx) * dy), margin + reachX + ((local % kx) * dx));
        }

        (long Item, long Y, long X) Impulse(long slot, int u)
        {
            var (item, cy, cx) = Centre(slot);
            return (item, g.P0Y + ((cy - g.Q0Y) * g.StrideY) + (u / g.StrideX), g.P0X + ((cx - g.Q0X) * g.StrideX) + (u % g.StrideX));
        }

        long Tile(int s, int u) => ((long)u * nS) + s;
        long linearSlot = tiles;
        long TranslationSlot(int u) => tiles + 1 + u;

        var random = new Random(options.Seed);
        float[] mix = Enumerable.Range(0, nS).Select(_ => (float)((2 * random.NextDouble()) - 1)).ToArray();
        float[] all = probeMix.data<float>().ToArray();
        long plane = haP * waP;

        // What goes into the maps: (map, channel, y, x, value), in map order.
        var entries = new List<(long Item, long Channel, long Y, long X, float Value)>((int)(tiles + nS + (phases * g.CA)));
        void Put(long channel, (long Item, long Y, long X) p, float value) => entries.Add((p.Item, channel, p.Y, p.X, value));
        for (int u = 0; u < phases; u++)
        {
            for (int s = 0; s < nS; s++)
            {
                Put(g.Sources[s], Impulse(Tile(s, u), u), 1f);
            }

            for (long c = 0; c < g.CA; c++)
            {
                Put(c, Impulse(TranslationSlot(u), u), all[c]);
            }
        }

        for (int s = 0; s < nS; s++)
        {
            Put(g.Sources[s], Impulse(linearSlot, 0), mix[s]);
        }

        if (entries.Any(e => e.Y < 0 || e.Y >= haP || e.X < 0 || e.X >= waP))
        {
            return null;
        }

        entries.Sort((a, b) => a.Item.CompareTo(b.Item));

        // What is read back: whole rows of target channels for the kernels and the translation check, and their
        // projection on a random direction for the linearity check.
        List<(long Item, long Y, long X)> Window((long Item, long Y, long X) centre)
        {
            var list = new List<(long, long, long)>((int)(dy * dx));
            for (long y = -reachY; y <= reachY; y++)
            {
                for (long x = -reachX; x <= reachX; x++)
                {
                    list.Add((centre.Item, centre.Y + y, centre.X + x));
                }
            }

            return list;
        }

        var rowReads = new List<(long Item, long Y, long X)>();
        for (int s = 0; s < nS; s++)
        {
            for (int i = 0; i < g.Crop; i++)
            {
                var (uy, my) = Phase(i - r, g.StrideY, 0);
                for (int j = 0; j < g.Crop; j++)
                {
                    // Offset d = u + s m of source s is read from its phase-u tile at centre - m.
                    var (ux, mx) = Phase(j - r, g.StrideX, 0);
                    var (item, cy, cx) = Centre(Tile(s, (int)((uy * g.StrideX) + ux)));
                    rowReads.Add((item, cy + my, cx + mx));
                }
            }
        }

        int kernelReads = rowReads.Count;
        for (int u = 0; u < phases; u++)
        {
            rowReads.AddRange(Window(Centre(TranslationSlot(u))));
        }

        var projectedReads = new List<(long Item, long Y, long X)>();
        for (int s = 0; s < nS; s++)
        {
            projectedReads.AddRange(Window(Centre(Tile(s, 0))));
        }

        projectedReads.AddRange(Window(Centre(linearSlot)));
        long cb = supports.shape[1];
        var projectionRandom = new Random(options.Seed + 2);
        Tensor projection = tensor(Enumerable.Range(0, (int)cb).Select(_ => (float)((2 * projectionRandom.NextDouble()) - 1)).ToArray());
        Tensor rows = zeros(rowReads.Count, cb);
        Tensor projected = zeros(projectedReads.Count);

        long maps = batch - 1;
        long perChunk = Math.Max(1, (options.ChunkElements / (g.CA * plane)) - 1);
        int next = 0;
        for (long m0 = 1; m0 <= maps; m0 += perChunk)
        {
            // A scope per chunk bounds memory; with one chunk the caller's scope does (a nested scope costs ~20% here).
            using var step = perChunk >= maps ? null : NewDisposeScope();
            long m1 = Math.Min(maps + 1, m0 + perChunk);
            long chunkBatch = 1 + (m1 - m0);
            var at = new List<long>();
            var values = new List<float>();
            for (; next < entries.Count && entries[next].Item < m1; next++)
            {
                var e = entries[next];
                at.Add(((((e.Item - m0 + 1) * g.CA) + e.Channel) * plane) + (e.Y * waP) + e.X);
                values.Add(e.Value);
            }

            Tensor source = zeros(chunkBatch * g.CA * plane);
            source.index_put_(tensor(values.ToArray()), tensor(at.ToArray()));
            source = source.reshape(chunkBatch, g.CA, haP, waP);
            Tensor output;
            try
            {
                output = path.RunOnZeros(inputShape, chunkBatch, real => Impulses(real, source, sourceLayer, sameSize: false), keepGraph: false);
            }
            catch (Exception e) when (e is not CircuitsException)
            {
                return null; // the model does not accept this map size (e.g. a concatenation with something that bypasses the source)
            }

            if (output.dim() != 4 || output.shape[0] != chunkBatch || output.shape[1] != cb || output.shape[2] != hbP || output.shape[3] != wbP)
            {
                return null;
            }

            // Rows of (map, y, x) x channel, minus the chunk's zero map, into the reads of this chunk.
            Tensor flat = output.narrow(0, 1, chunkBatch - 1).sub(output.narrow(0, 0, 1)).to(ScalarType.Float32).cpu().permute(0, 2, 3, 1).contiguous().view(-1, cb);
            Tensor Take(Tensor values, IReadOnlyList<(long Item, long Y, long X)> reads, out Tensor destination)
            {
                var mine = new List<long>(reads.Count);
                var index = new List<long>(reads.Count);
                for (int k = 0; k < reads.Count; k++)
                {
                    var (item, y, x) = reads[k];
                    if (item >= m0 && item < m1)
                    {
                        mine.Add(k);
                        index.Add(((((item - m0) * hbP) + y) * wbP) + x);
                    }
                }

                destination = tensor(mine.ToArray());
                return values.index_select(0, tensor(index.ToArray()));
            }

            Tensor taken = Take(flat, rowReads, out Tensor rowDestination);
            rows.index_copy_(0, rowDestination, taken);
            Tensor takenProjected = Take(flat.matmul(projection), projectedReads, out Tensor projectedDestination);
            projected.index_copy_(0, projectedDestination, takenProjected);
        }

        // Translation check: each phase's all-channel tile equals the caller's map's response around q0.
        long win = dy * dx;
        for (int u = 0; u < phases; u++)
        {
            Tensor packed = rows.narrow(0, kernelReads + (u * win), win).t().reshape(cb, dy, dx);
            if (!SameResponse(packed, supports[u], g, reachY, reachX))
            {
                return null;
            }
        }

        // Linearity check: the combination's tile equals the same combination of the single impulses' tiles.
        CheckLinear(path, sourceLayer, targetLayer, projected.narrow(0, 0, nS * win).reshape(nS, win), projected.narrow(0, nS * win, win), tensor(mix));

        bool allTargets = g.Targets.Count == cb && g.Targets.Select((t, i) => t == i).All(x => x);
        Tensor kernels = rows.narrow(0, 0, kernelReads);
        if (!allTargets)
        {
            kernels = kernels.index_select(1, tensor(g.Targets.Select(t => (long)t).ToArray()));
        }

        long chunks = (maps + perChunk - 1) / perChunk;
        method = $"packed impulses ({ky} x {kx} tiles {dy} x {dx} apart on {maps} maps of {haP} x {waP}{(chunks > 1 ? $", in {chunks} passes" : string.Empty)})";
        return kernels.t().reshape(g.Targets.Count, nS, g.Crop, g.Crop);
    }

    /// <summary>
    /// How far (in target pixels, per axis) a response reaches from its centre: the support of the all-channel probe
    /// around q0 over every phase, and at least the crop's reach ceil(r / stride).
    /// </summary>
    private static (long Y, long X) Reach(Tensor supports, Geometry g, int r)
    {
        using var scope = NewDisposeScope();
        long reachY = (r + g.StrideY - 1) / g.StrideY, reachX = (r + g.StrideX - 1) / g.StrideX;
        Tensor magnitude = supports.abs().amax(new long[] { 0, 1 });
        double scale = magnitude.max().item<float>();
        if (scale > 0)
        {
            Tensor rows = magnitude.amax(1).gt(scale * 1e-6).nonzero();
            Tensor cols = magnitude.amax(0).gt(scale * 1e-6).nonzero();
            reachY = Math.Max(reachY, Math.Max(g.Q0Y - rows.min().item<long>(), rows.max().item<long>() - g.Q0Y));
            reachX = Math.Max(reachX, Math.Max(g.Q0X - cols.min().item<long>(), cols.max().item<long>() - g.Q0X));
        }

        return (reachY, reachX);
    }

    /// <summary>
    /// True when <paramref name="moved"/> (the all-channel probe's response with the probe moved by one target pixel
    /// per axis, in direction <paramref name="dy"/>, <paramref name="dx"/>) equals <paramref name="support"/> moved
    /// the same way, and neither has anything where the other cannot be compared.
    /// </summary>
    private static bool SameShifted(Tensor moved, Tensor support, int dy, int dx)
    {
        using var scope = NewDisposeScope();
        long h = support.shape[1] - 1, w = support.shape[2] - 1;
        Tensor a = moved.narrow(1, dy > 0 ? 1 : 0, h).narrow(2, dx > 0 ? 1 : 0, w);
        Tensor b = support.narrow(1, dy > 0 ? 0 : 1, h).narrow(2, dx > 0 ? 0 : 1, w);
        double size = b.abs().max().item<float>();
        double tolerance = (1e-4 * size) + 1e-7;
        double error = a.sub(b).abs().max().item<float>();
        double strayA = moved.abs().sum().item<float>() - a.abs().sum().item<float>();
        double strayB = support.abs().sum().item<float>() - b.abs().sum().item<float>();
        return error <= tolerance && strayA <= tolerance * support.shape[0] && strayB <= tolerance * support.shape[0];
    }

    private static Tensor AllChannelMix(long channels, int seed)
    {
        var random = new Random(seed + 1);
        return tensor(Enumerable.Range(0, (int)channels).Select(_ => (float)(0.5 + random.NextDouble())).ToArray());
    }

    /// <summary>
    /// True when a tile's response (channels x (2 reachY + 1) x (2 reachX + 1), centred on the tile) equals the
    /// caller's map's <paramref name="support"/> around q0, and the support has nothing outside that window.
    /// </summary>
    private static bool SameResponse(Tensor tile, Tensor support, Geometry g, long reachY, long reachX)
    {
        using var scope = NewDisposeScope();
        long y0 = Math.Max(0, g.Q0Y - reachY), y1 = Math.Min(g.HB - 1, g.Q0Y + reachY);
        long x0 = Math.Max(0, g.Q0X - reachX), x1 = Math.Min(g.WB - 1, g.Q0X + reachX);
        Tensor b = support.narrow(1, y0, y1 - y0 + 1).narrow(2, x0, x1 - x0 + 1);
        Tensor a = tile.narrow(1, y0 - (g.Q0Y - reachY), y1 - y0 + 1).narrow(2, x0 - (g.Q0X - reachX), x1 - x0 + 1);
        double size = b.abs().max().item<float>();
        double error = a.sub(b).abs().max().item<float>();
        double outside = support.abs().sum().item<float>() - b.abs().sum().item<float>();
        double stray = tile.abs().sum().item<float>() - a.abs().sum().item<float>();
        double tolerance = (1e-4 * size) + 1e-7;
        return error <= tolerance && outside <= tolerance && stray <= tolerance * tile.shape[0];
    }

    /// <summary>
    /// The reference method: one autograd backward pass per target channel, from the target's centre position
    /// to the whole source map, through the same linearized path. Slow (one backward per target channel) but
    /// free of any assumption about translation invariance; tests compare <see cref="Compute"/> with it.
    /// </summary>
    /// <inheritdoc cref="Compute" path="/param"/>
    /// <inheritdoc cref="Compute" path="/exception"/>
    public static ExpandedWeightSet ComputeReference(nn.Module<Tensor, Tensor> model, string sourceLayer, string targetLayer, long[] inputShape, ExpandedWeightsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        options ??= new ExpandedWeightsOptions();
        using var freeze = ModelFreeze.Apply(model);
        using var path = LinearizedPath.Attach(model, sourceLayer, targetLayer);
        using var scope = NewDisposeScope();
        Geometry g = Geometry.Probe(path, sourceLayer, targetLayer, inputShape, options);
        Tensor weights = Reference(path, inputShape, sourceLayer, g);
        return Finish(sourceLayer, targetLayer, g, weights, options.Part, "autograd reference");
    }

    /// <summary>One backward pass per target channel from B[t, q0] to the whole source map, cropped around p0.</summary>
    private static Tensor Reference(LinearizedPath path, long[] inputShape, string sourceLayer, Geometry g)
    {
        Tensor leaf = zeros(1, g.CA, g.HA, g.WA).requires_grad_(true);
        Tensor output = path.RunOnZeros(inputShape, 1, real => Impulses(real, leaf, sourceLayer), keepGraph: true);
        int r = g.Crop / 2;
        var sourceIndex = tensor(g.Sources.Select(s => (long)s).ToArray());
        Tensor weights = zeros(g.Targets.Count, g.Sources.Count, g.Crop, g.Crop);
        for (int t = 0; t < g.Targets.Count; t++)
        {
            using var step = NewDisposeScope();
            Tensor unit = output[0, g.Targets[t], g.Q0Y, g.Q0X];
            Tensor grad = torch.autograd.grad(new[] { unit }, new[] { leaf }, retain_graph: true, allow_unused: true)[0];
            if (grad.IsInvalid)
            {
                continue; // the target does not depend on the source at all
            }

            weights[t] = grad[0].index_select(0, sourceIndex)
                .narrow(1, g.P0Y - r, g.Crop)
                .narrow(2, g.P0X - r, g.Crop)
                .detach().cpu();
        }

        return weights;
    }

    /// <summary>
    /// Brute-force composition of a chain of stride-1 convolution kernels, by explicit loops: the kernel of the
    /// single convolution equal to applying <paramref name="kernels"/>[0], then [1], and so on (biases and
    /// padding aside). Each kernel is out x in x kh x kw; the result is out_last x in_first x (sum(kh - 1) + 1) x (sum(kw - 1) + 1).
    /// With "same" padding throughout, it equals the expanded weights of the chain with that crop size.
    /// </summary>
    /// <exception cref="CircuitsException">The kernels are not 4-D, or a kernel's input channels differ from the previous one's outputs.</exception>
    public static Tensor ComposeConvKernels(IReadOnlyList<Tensor> kernels)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        if (kernels.Count == 0)
        {
            throw new CircuitsException("Composing conv kernels needs at least one kernel; got none.");
        }

        float[] current = Values(kernels[0], 0, out long outC, out long inC, out long kh, out long kw);
        for (int n = 1; n < kernels.Count; n++)
        {
            float[] next = Values(kernels[n], n, out long o2, out long i2, out long h2, out long w2);
            if (i2 != outC)
            {
                throw new CircuitsException($"Kernel {n} takes {i2} input channels but kernel {n - 1} gives {outC}; expected consecutive kernels to agree.");
            }

            long h = kh + h2 - 1;
            long w = kw + w2 - 1;
            var composed = new float[o2 * inC * h * w];
            for (long o = 0; o < o2; o++)
            {
                for (long m = 0; m < outC; m++)
                {
                    for (long a = 0; a < h2; a++)
                    {
                        for (long b = 0; b < w2; b++)
                        {
                            float outer = next[(((o * i2) + m) * h2 * w2) + (a * w2) + b];
                            for (long c = 0; c < inC; c++)
                            {
                                for (long y = 0; y < kh; y++)
                                {
                                    for (long x = 0; x < kw; x++)
                                    {
                                        composed[(((o * inC) + c) * h * w) + ((a + y) * w) + b + x] +=
                                            outer * current[(((m * inC) + c) * kh * kw) + (y * kw) + x];
                                    }
                                }
                            }
                        }
                    }
                }
            }

            (current, outC, kh, kw) = (composed, o2, h, w);
        }

        return tensor(current).reshape(outC, inC, kh, kw);
    }

    private static float[] Values(Tensor kernel, int index, out long outC, out long inC, out long kh, out long kw)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (kernel.dim() != 4)
        {
            throw new CircuitsException($"Kernel {index} has shape [{string.Join(", ", kernel.shape)}]; expected 4 axes (out, in, kh, kw).");
        }

        (outC, inC, kh, kw) = (kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3]);
        return kernel.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
    }

    /// <summary>Offset d from p0 is phase u = d mod s of the impulses, read at target position q0 - (d - u) / s.</summary>
    private static (long Phase, long Position) Phase(int offset, int stride, long q0)
    {
        int u = ((offset % stride) + stride) % stride;
        return (u, q0 - ((offset - u) / stride));
    }

    private static Tensor Impulses(Tensor real, Tensor replacement, string sourceLayer, bool sameSize = true)
    {
        if (sameSize ? !real.shape.Skip(1).SequenceEqual(replacement.shape.Skip(1)) : real.shape[1] != replacement.shape[1])
        {
            throw new CircuitsException($"Layer '{sourceLayer}' changed shape from [{string.Join(", ", replacement.shape.Skip(1))}] to [{string.Join(", ", real.shape.Skip(1))}] between passes; expected the same input shape to give the same shapes.");
        }

        return replacement.to(real.dtype, real.device).alias();
    }

    private static void CheckLinear(LinearizedPath path, string source, string target, Tensor single, Tensor combined, Tensor mix)
    {
        using var scope = NewDisposeScope();
        Tensor expected = single.reshape(single.shape[0], -1).t().matmul(mix).reshape(combined.shape);
        double error = expected.sub(combined).abs().max().item<float>();
        double size = expected.abs().max().item<float>() + combined.abs().max().item<float>();
        if (error > (1e-3 * size) + 1e-6)
        {
            string composites = path.Composites.Count == 0 ? "(none recorded)" : string.Join(", ", path.Composites.Distinct().Select(c => $"'{c}'"));
            throw new NonlinearPathException(path.Composites.Count > 0 ? path.Composites[^1] : target,
                $"The path from '{source}' to '{target}' is not linear after linearizing its modules: a combination of impulses differs from the combination of their responses by {error:G3} (scale {size:G3}). " +
                $"A nonlinear op is called as a function inside a module's forward rather than as a module; modules with their own forward code on the path: {composites}. " +
                "Register the nonlinearity as a module (e.g. nn.ReLU) so that it can be linearized, or choose other layers.");
        }
    }

    private static ExpandedWeightSet Finish(string source, string target, Geometry g, Tensor weights, ExpandedWeightPart part, string method)
    {
        Tensor result = part switch
        {
            ExpandedWeightPart.Positive => weights.clamp_min(0),
            ExpandedWeightPart.Negative => weights.neg().clamp_min(0),
            _ => weights,
        };
        return new ExpandedWeightSet(source, target, g.Sources, g.Targets, result.contiguous().DetachFromDisposeScope(), g.StrideY, g.StrideX, method);
    }

    /// <summary>Shapes, channels, alignment and stride of a source-target pair, validated.</summary>
    private sealed record Geometry(
        long CA, long HA, long WA, long HB, long WB, IReadOnlyList<int> Sources, IReadOnlyList<int> Targets,
        int Crop, int StrideY, int StrideX, long Q0Y, long Q0X, long P0Y, long P0X)
    {
        public static Geometry Probe(LinearizedPath path, string source, string target, long[] inputShape, ExpandedWeightsOptions options)
        {
            Validate(inputShape, options);
            var (a, b) = Shapes(path, inputShape);
            return FromShapes(path, source, target, inputShape, options, a, b);
        }

        /// <summary>Throws when the input shape, crop size or stride option cannot be used.</summary>
        public static void Validate(long[] inputShape, ExpandedWeightsOptions options)
        {
            if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
            {
                throw new CircuitsException($"Input shape [{string.Join(", ", inputShape)}] is not valid; expected the positive sizes of one input without the batch axis, e.g. [3, 224, 224].");
            }

            if (options.CropSize <= 0 || options.CropSize % 2 == 0)
            {
                throw new CircuitsException($"Crop size {options.CropSize} is not valid; expected a positive odd number such as 3, 5 or 7.");
            }

            if (options.Stride is <= 0)
            {
                throw new CircuitsException($"Stride {options.Stride} is not valid; expected a positive number, or null to infer it.");
            }
        }

        /// <summary>The geometry from the two layers' output shapes <paramref name="a"/> and <paramref name="b"/> (batch axis included).</summary>
        public static Geometry FromShapes(LinearizedPath path, string source, string target, long[] inputShape, ExpandedWeightsOptions options, long[] a, long[] b)
        {
            if (a.Length != 4 || b.Length != 4)
            {
                throw new CircuitsException($"Expanded weights need spatial maps (N x C x H x W) at both layers; '{source}' gives [{string.Join(", ", a)}] and '{target}' gives [{string.Join(", ", b)}].");
            }

            var sources = Channels(options.SourceChannels, a[1], source, "source");
            var targets = Channels(options.TargetChannels, b[1], target, "target");
            var (sy, sx) = options.Stride is int stride ? (stride, stride) : InferStride(path, inputShape, a, b);
            long q0y = b[2] / 2;
            long q0x = b[3] / 2;
            long p0y = (long)Math.Floor((q0y + 0.5) * a[2] / b[2]);
            long p0x = (long)Math.Floor((q0x + 0.5) * a[3] / b[3]);
            int r = options.CropSize / 2;
            bool fits = p0y - r >= 0 && p0y + Math.Max(r, sy - 1) < a[2] && p0x - r >= 0 && p0x + Math.Max(r, sx - 1) < a[3]
                && Phase(-r, sy, q0y).Position < b[2] && Phase(r, sy, q0y).Position >= 0
                && Phase(-r, sx, q0x).Position < b[3] && Phase(r, sx, q0x).Position >= 0;
            if (!fits)
            {
                throw new CircuitsException(
                    $"Input shape [{string.Join(", ", inputShape)}] gives '{source}' a {a[2]} x {a[3]} map and '{target}' a {b[2]} x {b[3]} map, too small for crop size {options.CropSize} " +
                    $"around source position ({p0y}, {p0x}) and target position ({q0y}, {q0x}). Use a larger input shape or a smaller CropSize.");
            }

            return new Geometry(a[1], a[2], a[3], b[2], b[3], sources, targets, options.CropSize, sy, sx, q0y, q0x, p0y, p0x);
        }

        private static (long[] Source, long[] Target) Shapes(LinearizedPath path, long[] inputShape)
        {
            long[] a = Array.Empty<long>();
            using var scope = NewDisposeScope();
            Tensor output = path.RunOnZeros(inputShape, 1, real =>
            {
                a = real.shape;
                return real.alias();
            }, keepGraph: false);
            return (a, output.shape);
        }

        /// <summary>
        /// The total stride per axis: the growth of the source map over the growth of the target map when the
        /// input's spatial size doubles (exact for "same" and "valid" padding alike, where the size ratio of
        /// one input is not: 12 -> 8 through two valid 3x3 convs has stride 1). Falls back to the rounded size
        /// ratio when the model does not accept the larger input.
        /// </summary>
        private static (int Y, int X) InferStride(LinearizedPath path, long[] inputShape, long[] a, long[] b)
        {
            static int Ratio(double source, double target) => (int)Math.Max(1, Math.Round(source / Math.Max(target, 1), MidpointRounding.AwayFromZero));
            if (a[2] == b[2] && a[3] == b[3])
            {
                return (1, 1);
            }

            long[] larger = inputShape.Select((d, i) => i == 0 && inputShape.Length > 1 ? d : 2 * d).ToArray();
            try
            {
                var (a2, b2) = Shapes(path, larger);
                return (Ratio(a2[2] - a[2], b2[2] - b[2]), Ratio(a2[3] - a[3], b2[3] - b[3]));
            }
            catch (Exception e) when (e is not CircuitsException)
            {
                return (Ratio(a[2], b[2]), Ratio(a[3], b[3]));
            }
        }

        private static IReadOnlyList<int> Channels(IReadOnlyList<int>? chosen, long count, string layer, string role)
        {
            if (chosen is null)
            {
                return Enumerable.Range(0, (int)count).ToList();
            }

            if (chosen.Count == 0)
            {
                throw new UnitOutOfRangeException($"No {role} channels of '{layer}' were chosen; expected channels from 0 to {count - 1}, or null for all.");
            }

            int bad = chosen.FirstOrDefault(c => c < 0 || c >= count, -1);
            if (chosen.Any(c => c < 0 || c >= count))
            {
                bad = chosen.First(c => c < 0 || c >= count);
                throw new UnitOutOfRangeException($"Channel {bad} is outside {role} layer '{layer}', which has channels 0 to {count - 1}.");
            }

            return chosen.ToList();
        }
    }
}
