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
        Geometry g = Geometry.Probe(path, sourceLayer, targetLayer, inputShape, options);
        using var scope = NewDisposeScope();

        int phases = g.StrideY * g.StrideX;
        int nS = g.Sources.Count;
        long batch = 2 + ((long)phases * nS);
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
                    impulses[((batch - 1) * itemSize) + offset] = mix[s];
                }
            }
        }

        Tensor source = tensor(impulses).reshape(batch, g.CA, g.HA, g.WA);
        Tensor output = path.RunOnZeros(inputShape, batch, real => Impulses(real, source, sourceLayer), keepGraph: false);
        Tensor response = output.sub(output.narrow(0, 0, 1)).to(ScalarType.Float32).cpu();
        Tensor single = response.narrow(0, 1, batch - 2);
        CheckLinear(path, sourceLayer, targetLayer, single.narrow(0, 0, nS), response[batch - 1], tensor(mix));

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

        return Finish(sourceLayer, targetLayer, g, weights, options.Part);
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

    private static Tensor Impulses(Tensor real, Tensor replacement, string sourceLayer)
    {
        if (!real.shape.Skip(1).SequenceEqual(replacement.shape.Skip(1)))
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
