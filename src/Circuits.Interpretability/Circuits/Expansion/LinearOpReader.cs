using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// Reads a <see cref="PathTrace"/> as <see cref="LinearOp"/>s: the ops the target depends on, each module by its type
/// (convolutions, pools, rectifiers, normalizations) or, for a module the library does not know (e.g. TensorFlow-style
/// SAME padding), by probing it once on a random input: a module whose linear part puts its input unchanged inside a
/// larger zero map is a pad, one that scales each channel is a scaling, and anything else cannot be composed.
/// </summary>
internal static class LinearOpReader
{
    /// <summary>
    /// The ops of every node the target depends on (null for the others), or null with a reason when one of them
    /// cannot be composed.
    /// </summary>
    public static LinearOp?[]? Read(PathTrace trace, out string reason)
    {
        reason = string.Empty;
        var ops = new LinearOp?[trace.Nodes.Count];
        if (trace.Target < 0)
        {
            reason = "the target did not run after the source";
            return null;
        }

        var needed = new bool[trace.Nodes.Count];
        needed[trace.Target] = true;
        for (int id = trace.Nodes.Count - 1; id >= 0; id--)
        {
            if (!needed[id])
            {
                continue;
            }

            TraceNode node = trace.Nodes[id];
            LinearOp? op = Read(node, trace.Nodes);
            if (op is null)
            {
                reason = $"'{node.Name}' ({(node.Module is null ? node.Kind.ToString() : node.Module.GetType().Name)}) is not an op kernels compose through";
                return null;
            }

            ops[id] = op;
            foreach (int input in op.Inputs)
            {
                needed[input] = true;
            }
        }

        return ops;
    }

    private static LinearOp? Read(TraceNode node, IReadOnlyList<TraceNode> nodes)
    {
        if (node.Kind == TraceNodeKind.Source)
        {
            return new SourceOp();
        }

        if (node.Kind == TraceNodeKind.FunctionalConcat)
        {
            return new ConcatOp(node.Inputs);
        }

        if (node.Kind == TraceNodeKind.Opaque || node.Module is null || node.Shape.Length != 4 || node.Inputs.Any(i => nodes[i].Shape.Length != 4))
        {
            return null;
        }

        string type = node.Module.GetType().Name;
        int input = node.Inputs[0];
        switch (node.Module)
        {
            case Conv2d conv when !conv.transposed && conv.padding_mode == PaddingModes.Zeros:
                long[] dilation = conv.dilation ?? new long[] { 1, 1 };
                long[] padding = conv.padding_type switch
                {
                    Padding.Valid => new long[] { 0, 0 },
                    Padding.Same => new[] { dilation[0] * (conv.kernel_size[0] - 1) / 2, dilation[1] * (conv.kernel_size[1] - 1) / 2 },
                    _ => conv.padding ?? new long[] { 0, 0 },
                };
                return new ConvOp(input, Cpu(conv.weight!), conv.stride ?? new long[] { 1, 1 }, Pair(padding), Pair(dilation), conv.groups);
            case MaxPool2d pool:
                return new PoolOp(input, Pair(pool.kernel_size), Pair(pool.stride ?? pool.kernel_size), Pair(pool.padding ?? new long[] { 0 }), pool.ceil_mode, false, null);
            case AvgPool2d pool:
                return new PoolOp(input, Pair(pool.kernel_size), Pair(pool.stride ?? pool.kernel_size), Pair(pool.padding ?? new long[] { 0 }), pool.ceil_mode, pool.count_include_pad, pool.divisor_override);
            case LocalResponseNorm lrn:
                return new ScaleOp(input, tensor(new[] { (float)Math.Pow(lrn.k, -lrn.beta) }));
            case BatchNorm2d norm when norm.running_var is not null:
                Tensor scale = norm.running_var.detach().to(ScalarType.Float32).cpu().add(norm.eps).rsqrt();
                return new ScaleOp(input, norm.weight is null ? scale : scale.mul(Cpu(norm.weight)));
        }

        if (PathLinearizer.Rectifiers.Contains(type) || type is "Identity" || type.StartsWith("Dropout", StringComparison.Ordinal) || type.EndsWith("Dropout", StringComparison.Ordinal))
        {
            return new IdentityOp(input);
        }

        return node.Module is nn.Module<Tensor, Tensor> other && !PathLinearizer.Nonlinear.Contains(type) ? Probe(other, input, nodes[input].Shape, node.Shape) : null;
    }

    /// <summary>A pad or a per-channel scaling, found by running the module on a random input (non-finite outputs set to 0, as the linearization does), or null.</summary>
    private static LinearOp? Probe(nn.Module<Tensor, Tensor> module, int input, long[] inShape, long[] outShape)
    {
        if (outShape[1] != inShape[1] || outShape[2] < inShape[2] || outShape[3] < inShape[3] || (outShape[2] - inShape[2] + 1) * (outShape[3] - inShape[3] + 1) > 64)
        {
            return null;
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor x = randn(new[] { 1, inShape[1], inShape[2], inShape[3] }, generator: new Generator(7));
        Tensor response;
        try
        {
            response = Finite(module.forward(x)).sub(Finite(module.forward(zeros_like(x))));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;
        }

        if (!response.shape.Skip(1).SequenceEqual(outShape.Skip(1)))
        {
            return null;
        }

        double tolerance = 1e-6 * x.abs().max().item<float>();
        for (long top = 0; top <= outShape[2] - inShape[2]; top++)
        {
            for (long left = 0; left <= outShape[3] - inShape[3]; left++)
            {
                var pad = new PadOp(input, top, left, outShape[2] - inShape[2] - top, outShape[3] - inShape[3] - left);
                if (pad.Apply(new[] { x }).sub(response).abs().max().item<float>() <= tolerance)
                {
                    return pad.Top + pad.Left + pad.Bottom + pad.Right == 0 ? new IdentityOp(input) : pad;
                }
            }
        }

        if (outShape[2] == inShape[2] && outShape[3] == inShape[3])
        {
            Tensor factors = response.mul(x).sum(new long[] { 0, 2, 3 }).div(x.square().sum(new long[] { 0, 2, 3 }));
            if (response.sub(x.mul(factors.reshape(1, -1, 1, 1))).abs().max().item<float>() <= 1e-5 * Math.Max(1e-12, response.abs().max().item<float>()))
            {
                return new ScaleOp(input, factors.MoveToOuterDisposeScope());
            }
        }

        return null;
    }

    private static Tensor Finite(Tensor t) => where(isfinite(t), t, zeros_like(t));

    private static Tensor Cpu(Tensor t) => t.detach().to(ScalarType.Float32).cpu().contiguous();

    private static long[] Pair(long[] values) => values.Length == 1 ? new[] { values[0], values[0] } : values;
}
