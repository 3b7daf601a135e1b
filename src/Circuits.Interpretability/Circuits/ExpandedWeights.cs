using Circuits.Interpretability.Hooks;
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
    /// Computes expanded weights with one forward pass: a batch of one-hot impulses (one per source channel
    /// and stride phase, plus a zero source whose response holds the biases) replaces the source layer's
    /// output, and the target's responses are read back as kernels. A random combination of the impulses rides
    /// in the same batch to check that the path really is linear.
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
        Geometry full = Geometry.Probe(path, sourceLayer, targetLayer, inputShape, options);
        using var scope = NewDisposeScope();

        // The response of all source channels at once (random positive weights, so that no exact cancellation
        // hides part of it), on the caller's map: its support says how small a map can hold every response exactly.
        Tensor probe = zeros(2, full.CA, full.HA, full.WA);
        Tensor probeMix = AllChannelMix(full.CA, options.Seed);
        probe[1, TensorIndex.Colon, full.P0Y, full.P0X] = probeMix;
        Tensor probeOut = path.RunOnZeros(inputShape, 2, real => Impulses(real, probe, sourceLayer, sameSize: true), keepGraph: false);
        Tensor support = probeOut[1].sub(probeOut[0]).to(ScalarType.Float32).cpu();

        Tensor? weights = null;
        Geometry? compact = Compact(path, inputShape, sourceLayer, full, support);
        if (compact is not null)
        {
            weights = Impulse(path, inputShape, sourceLayer, targetLayer, compact, options, full, support);
        }

        Geometry g = weights is null ? full : compact!;
        weights ??= Impulse(path, inputShape, sourceLayer, targetLayer, full, options, null, null)!;
        return Finish(sourceLayer, targetLayer, g, weights, options.Part);
    }

    /// <summary>
    /// One forward pass of impulses on geometry <paramref name="g"/>. When <paramref name="full"/> is given (a compact
    /// map), the all-channel impulse rides along and its response must match <paramref name="support"/>, the same
    /// response on the caller's map, or null is returned (the caller then uses the full map).
    /// </summary>
    private static Tensor? Impulse(LinearizedPath path, long[] inputShape, string sourceLayer, string targetLayer, Geometry g, ExpandedWeightsOptions options, Geometry? full, Tensor? support)
    {
        int phases = g.StrideY * g.StrideX;
        int nS = g.Sources.Count;
        bool verify = full is not null;
        long batch = 2 + ((long)phases * nS) + (verify ? 1 : 0);
        long combo = 1 + ((long)phases * nS);
        long plane = g.HA * g.WA;
        long itemSize = g.CA * plane;
        var impulses = new float[batch * itemSize];
        var random = new Random(options.Seed);
        var mix = new float[nS];
        for (int u = 0; u < phases; u++)
        {
            long y = g.P0Y + (u / g.StrideX);
            long x = g.P0X + (u % g.StrideX);
            for (int s = 0; s < nS; s++)
            {
                long offset = (g.Sources[s] * plane) + (y * g.WA) + x;
                impulses[((1 + ((long)u * nS) + s) * itemSize) + offset] = 1f;
                if (u == 0)
                {
                    mix[s] = (float)((2 * random.NextDouble()) - 1);
                    impulses[(combo * itemSize) + offset] = mix[s];
                }
            }
        }

        if (verify)
        {
            float[] probeMix = AllChannelMix(g.CA, options.Seed).data<float>().ToArray();
            for (long c = 0; c < g.CA; c++)
            {
                impulses[((batch - 1) * itemSize) + (c * plane) + (g.P0Y * g.WA) + g.P0X] = probeMix[c];
            }
        }

        Tensor source = tensor(impulses).reshape(batch, g.CA, g.HA, g.WA);
        Tensor output;
        try
        {
            output = path.RunOnZeros(inputShape, batch, real => Impulses(real, source, sourceLayer, sameSize: !verify), keepGraph: false);
        }
        catch (Exception e) when (verify && e is not CircuitsException)
        {
            return null; // the model does not accept a smaller map here (e.g. a concatenation around the source)
        }

        Tensor response = output.sub(output.narrow(0, 0, 1)).to(ScalarType.Float32).cpu();
        if (verify && !SameResponse(response[batch - 1], g, support!, full!))
        {
            return null;
        }

        Tensor single = response.narrow(0, 1, (long)phases * nS);
        CheckLinear(path, sourceLayer, targetLayer, single.narrow(0, 0, nS), response[combo], tensor(mix));
        var targetIndex = tensor(g.Targets.Select(t => (long)t).ToArray());
        Tensor selected = single.index_select(1, targetIndex).reshape(g.StrideY, g.StrideX, nS, g.Targets.Count, g.HB, g.WB);
        var weights = zeros(g.Targets.Count, nS, g.Crop, g.Crop);
        int r = g.Crop / 2;
        for (int i = 0; i < g.Crop; i++)
        {
            var (uy, qy) = Phase(i - r, g.StrideY, g.Q0Y);
            for (int j = 0; j < g.Crop; j++)
            {
                var (ux, qx) = Phase(j - r, g.StrideX, g.Q0X);
                weights[TensorIndex.Colon, TensorIndex.Colon, i, j] = selected[uy, ux, TensorIndex.Colon, TensorIndex.Colon, qy, qx].t();
            }
        }

        return weights;
    }

    /// <summary>
    /// The smallest source map (trimmed symmetrically by whole target pixels) whose target map still holds the
    /// all-channel response's support and the positions the crop reads, with one pixel to spare; null when no
    /// trimming is possible. The impulse keeps its offset p0 - s q0, so responses are the same translated.
    /// </summary>
    private static Geometry? Compact(LinearizedPath path, long[] inputShape, string sourceLayer, Geometry g, Tensor support)
    {
        Tensor nonzero = support.abs().amax(0);
        double scale = nonzero.max().item<float>();
        Tensor rows = nonzero.amax(1).gt(scale * 1e-6).nonzero();
        Tensor cols = nonzero.amax(0).gt(scale * 1e-6).nonzero();
        if (scale <= 0 || rows.numel() == 0)
        {
            return null;
        }

        int r = g.Crop / 2;
        long Need(Tensor idx, long q0, int stride)
        {
            long first = idx.min().item<long>(), last = idx.max().item<long>();
            long reach = Math.Max(Math.Max(q0 - first, last - q0), (r + stride - 1) / stride); // crop reads q0 - m, |m| <= ceil(r / s)
            return reach + 1; // one spare pixel: pooling windows at the border are clipped
        }

        long needY = Need(rows, g.Q0Y, g.StrideY), needX = Need(cols, g.Q0X, g.StrideX);
        long trimY = Math.Max(0, Math.Min(g.Q0Y - needY, g.HB - 1 - g.Q0Y - needY));
        long trimX = Math.Max(0, Math.Min(g.Q0X - needX, g.WB - 1 - g.Q0X - needX));
        if (trimY == 0 && trimX == 0)
        {
            return null;
        }

        long ha = g.HA - (2 * trimY * g.StrideY), wa = g.WA - (2 * trimX * g.StrideX);
        long[] b;
        try
        {
            using var scope = NewDisposeScope();
            Tensor zero = zeros(1, g.CA, ha, wa);
            b = path.RunOnZeros(inputShape, 1, real => Impulses(real, zero, sourceLayer, sameSize: false), keepGraph: false).shape;
        }
        catch (Exception e) when (e is not CircuitsException)
        {
            return null;
        }

        long q0y = b[2] / 2, q0x = b[3] / 2;
        long p0y = g.P0Y - (g.StrideY * (g.Q0Y - q0y)), p0x = g.P0X - (g.StrideX * (g.Q0X - q0x));
        bool fits = p0y - r >= 0 && p0y + Math.Max(r, g.StrideY - 1) < ha && p0x - r >= 0 && p0x + Math.Max(r, g.StrideX - 1) < wa
            && q0y - needY >= 0 && q0y + needY < b[2] && q0x - needX >= 0 && q0x + needX < b[3];
        return fits ? g with { HA = ha, WA = wa, HB = b[2], WB = b[3], Q0Y = q0y, Q0X = q0x, P0Y = p0y, P0X = p0x } : null;
    }

    private static Tensor AllChannelMix(long channels, int seed)
    {
        var random = new Random(seed + 1);
        return tensor(Enumerable.Range(0, (int)channels).Select(_ => (float)(0.5 + random.NextDouble())).ToArray());
    }

    /// <summary>True when the compact map's all-channel response equals the caller's map's, aligned on q0.</summary>
    private static bool SameResponse(Tensor compact, Geometry g, Tensor support, Geometry full)
    {
        using var scope = NewDisposeScope();
        long hy = Math.Min(g.Q0Y, full.Q0Y), hx = Math.Min(g.Q0X, full.Q0X);
        long ly = Math.Min(g.HB - g.Q0Y, full.HB - full.Q0Y), lx = Math.Min(g.WB - g.Q0X, full.WB - full.Q0X);
        Tensor a = compact.narrow(1, g.Q0Y - hy, hy + ly).narrow(2, g.Q0X - hx, hx + lx);
        Tensor b = support.narrow(1, full.Q0Y - hy, hy + ly).narrow(2, full.Q0X - hx, hx + lx);
        double error = a.sub(b).abs().max().item<float>();
        double size = b.abs().max().item<float>();
        // Everything of the full response outside the compared window must be zero too.
        double outside = support.abs().sum().item<float>() - b.abs().sum().item<float>();
        return error <= (1e-4 * size) + 1e-7 && outside <= 1e-4 * Math.Max(size, 1e-12);
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
        Geometry g = Geometry.Probe(path, sourceLayer, targetLayer, inputShape, options);
        using var scope = NewDisposeScope();
        Tensor leaf = zeros(1, g.CA, g.HA, g.WA).requires_grad_(true);
        Tensor output = path.RunOnZeros(inputShape, 1, real => Impulses(real, leaf, sourceLayer), keepGraph: true);
        int r = g.Crop / 2;
        var sourceIndex = tensor(g.Sources.Select(s => (long)s).ToArray());
        var weights = zeros(g.Targets.Count, g.Sources.Count, g.Crop, g.Crop);
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

        return Finish(sourceLayer, targetLayer, g, weights, options.Part);
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

    private static ExpandedWeightSet Finish(string source, string target, Geometry g, Tensor weights, ExpandedWeightPart part)
    {
        Tensor result = part switch
        {
            ExpandedWeightPart.Positive => weights.clamp_min(0),
            ExpandedWeightPart.Negative => weights.neg().clamp_min(0),
            _ => weights,
        };
        return new ExpandedWeightSet(source, target, g.Sources, g.Targets, result.contiguous().DetachFromDisposeScope(), g.StrideY, g.StrideX);
    }

    /// <summary>Shapes, channels, alignment and stride of a source-target pair, validated.</summary>
    private sealed record Geometry(
        long CA, long HA, long WA, long HB, long WB, IReadOnlyList<int> Sources, IReadOnlyList<int> Targets,
        int Crop, int StrideY, int StrideX, long Q0Y, long Q0X, long P0Y, long P0X)
    {
        public static Geometry Probe(LinearizedPath path, string source, string target, long[] inputShape, ExpandedWeightsOptions options)
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

            var (a, b) = Shapes(path, inputShape);
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
