using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// Composes the kernels of a linearized path backwards from the target: the derivative of B[t, q0] with respect to
/// every node of the path, for all targets t at once, kept only where it matters (positions that B[q0] depends on
/// and that the source's crop window reaches). Each op's backward step is the exact adjoint of the op on the real
/// map, borders included (positions in padding are dropped, pool divisors follow PyTorch's rules), so the result
/// is exact wherever the window sits.
/// </summary>
internal static class KernelBackprop
{
    /// <summary>
    /// The derivatives with respect to the source over its window: a block of rows (indices into the targets), source
    /// channels and the window's positions, or null when no target depends on the crop window.
    /// </summary>
    public static Block? Compose(PathTrace trace, LinearOp?[] ops, PathGeometry g, CancellationToken cancellationToken)
    {
        var intervals = Intervals(trace, ops, g);
        int target = trace.Target;
        if (intervals[target] is null)
        {
            return null;
        }

        var acc = new Block?[ops.Length];
        long[] channels = g.TargetChannels.Select(t => (long)t).ToArray();
        acc[target] = Block.Select(Enumerable.Range(0, channels.Length).Select(i => (long)i).ToArray(), channels, g.TargetChannelCount, g.TargetCentreY, g.TargetCentreX);
        for (int n = target; n > 0; n--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (acc[n] is not Block block || ops[n] is not LinearOp op)
            {
                continue;
            }

            acc[n] = null;
            for (int k = 0; k < op.Inputs.Length; k++)
            {
                int input = op.Inputs[k];
                if (intervals[input] is not Interval into)
                {
                    continue;
                }

                Block? pushed = Backward(op, k, block, trace, into);
                if (pushed?.Crop(into) is Block cropped)
                {
                    acc[input] = Block.Accumulate(acc[input], cropped, into, channels.Length);
                }
            }
        }

        return acc[0]?.Dense();
    }

    /// <summary>The adjoint of <paramref name="op"/> applied to <paramref name="block"/>, for its input number <paramref name="k"/>, on that input's coordinates (at least over <paramref name="into"/>, the positions that matter there).</summary>
    private static Block? Backward(LinearOp op, int k, Block block, PathTrace trace, Interval into)
    {
        switch (op)
        {
            case IdentityOp:
                return block.Shifted(0, 0);
            case PadOp pad:
                return block.Shifted(-pad.Top, -pad.Left);
            case ScaleOp scale:
                return block.Scaled(scale.Factors);
            case ConcatOp concat:
                long first = concat.Parts.Take(k).Sum(p => trace.Nodes[p].Shape[1]);
                return block.Channels(first, trace.Nodes[concat.Parts[k]].Shape[1]);
            case ConvOp conv:
                long loY = (conv.Strides[0] * block.LoY) - conv.Padding[0], loX = (conv.Strides[1] * block.LoX) - conv.Padding[1];
                if (block.IsSelector && conv.Groups == 1 && conv.Dilation.All(d => d == 1))
                {
                    return Block.FromDense(block.Rows, conv.Weight.index_select(0, block.SelectedChannels!).mul(block.Coefficients!.reshape(-1, 1, 1, 1)), loY, loX);
                }

                Tensor g = block.Dense().G;
                Tensor result = conv.Weight.shape[2] == 1 && conv.Weight.shape[3] == 1 && conv.Groups == 1 && conv.Strides.All(s => s == 1)
                    ? g.permute(0, 2, 3, 1).contiguous().matmul(conv.Weight.flatten(1)).permute(0, 3, 1, 2)
                    : nn.functional.conv_transpose2d(g, conv.Weight, null, conv.Strides, new long[] { 0, 0 }, new long[] { 0, 0 }, conv.Dilation, conv.Groups);
                return Block.FromDense(block.Rows, result, loY, loX);
            case PoolOp pool:
                Block dense = block.Dense();
                long[] inShape = trace.Nodes[op.Inputs[0]].Shape;
                Tensor divisors = pool.Divisor is long fixedDivisor
                    ? tensor(new[] { 1f / fixedDivisor })
                    : Divisors(pool, 0, dense.LoY, dense.G.shape[2], inShape[2]).unsqueeze(1).mul(Divisors(pool, 1, dense.LoX, dense.G.shape[3], inShape[3]).unsqueeze(0));
                // Positions first ([h, w, rows, channels]), so that every strided addition moves whole rows x channels planes.
                Tensor spatialFirst = dense.G.mul(divisors).permute(2, 3, 0, 1).contiguous();
                Tensor rowsSpread = Spread(spatialFirst, 0, dense.LoY, pool.Kernel[0], pool.Strides[0], pool.Padding[0], into.LoY, into.HiY);
                Tensor spread = Spread(rowsSpread, 1, dense.LoX, pool.Kernel[1], pool.Strides[1], pool.Padding[1], into.LoX, into.HiX);
                return Block.FromDense(block.Rows, spread.permute(2, 3, 0, 1), into.LoY, into.LoX);
            default:
                return null;
        }
    }

    /// <summary>
    /// The adjoint of a box sum along one axis, on input positions <paramref name="from"/>, ..., <paramref name="to"/> only:
    /// output position u of <paramref name="g"/> (position <paramref name="lo"/> + u of the output map) goes to input
    /// positions stride (lo + u) - padding + [0, kernel). A box window is separable, so a pool's adjoint is this along rows,
    /// then along columns: 2 k strided additions into the window that matters (a depthwise transposed convolution over
    /// rows x channels tiny maps, then a crop, is two orders of magnitude slower).
    /// </summary>
    private static Tensor Spread(Tensor g, int axis, long lo, long kernel, long stride, long padding, long from, long to)
    {
        long count = g.shape[axis];
        long[] shape = g.shape.ToArray();
        shape[axis] = to - from + 1;
        Tensor result = zeros(shape);
        long first = (stride * lo) - padding;
        for (long j = 0; j < kernel; j++)
        {
            // Input position first + stride u + j lies in [from, to] for u in [u0, u1].
            long u0 = Math.Max(0, CeilDiv(from - first - j, stride)), u1 = Math.Min(count - 1, FloorDiv(to - first - j, stride));
            if (u1 < u0)
            {
                continue;
            }

            long x0 = first + (stride * u0) + j - from;
            var index = new TensorIndex[4];
            for (int a = 0; a < 4; a++)
            {
                index[a] = a == axis ? TensorIndex.Slice(x0, x0 + ((u1 - u0) * stride) + 1, stride) : TensorIndex.Colon;
            }

            result[index].add_(g.narrow(axis, u0, u1 - u0 + 1));
        }

        return result;
    }

    /// <summary>1 / divisor of each output position lo, ..., lo + count - 1 of <paramref name="pool"/> on one axis.</summary>
    private static Tensor Divisors(PoolOp pool, int axis, long lo, long count, long size) =>
        tensor(Enumerable.Range(0, (int)count).Select(i => 1f / Math.Max(1, pool.AxisDivisor(axis, lo + i, size))).ToArray());

    /// <summary>
    /// Per node, the positions that matter: those the target's centre depends on (backwards from the target, inside each
    /// node's map) and that the source's crop window reaches (forwards from the source); null where none do.
    /// </summary>
    public static Interval?[] Intervals(PathTrace trace, LinearOp?[] ops, PathGeometry g)
    {
        int count = ops.Length;
        var backward = new Interval?[count];
        backward[trace.Target] = new Interval(g.TargetCentreY, g.TargetCentreY, g.TargetCentreX, g.TargetCentreX);
        for (int n = trace.Target; n > 0; n--)
        {
            if (backward[n] is not Interval b || ops[n] is not LinearOp op)
            {
                continue;
            }

            foreach (int input in op.Inputs)
            {
                long[] shape = trace.Nodes[input].Shape;
                var reads = new Interval(
                    (op.Stride(0) * b.LoY) + op.Offset(0), (op.Stride(0) * b.HiY) + op.Offset(0) + op.Extent(0) - 1,
                    (op.Stride(1) * b.LoX) + op.Offset(1), (op.Stride(1) * b.HiX) + op.Offset(1) + op.Extent(1) - 1);
                backward[input] = Interval.Union(backward[input], reads.Within(shape[2], shape[3]));
            }
        }

        var forward = new Interval?[count];
        int r = g.CropReach;
        forward[0] = new Interval(g.SourceCentreY - r, g.SourceCentreY + r, g.SourceCentreX - r, g.SourceCentreX + r).Within(g.SourceHeight, g.SourceWidth);
        for (int n = 1; n < count; n++)
        {
            if (ops[n] is not LinearOp op || backward[n] is null)
            {
                continue;
            }

            long[] shape = trace.Nodes[n].Shape;
            foreach (int input in op.Inputs)
            {
                if (forward[input] is Interval a)
                {
                    var reached = new Interval(
                        CeilDiv(a.LoY - op.Offset(0) - op.Extent(0) + 1, op.Stride(0)), FloorDiv(a.HiY - op.Offset(0), op.Stride(0)),
                        CeilDiv(a.LoX - op.Offset(1) - op.Extent(1) + 1, op.Stride(1)), FloorDiv(a.HiX - op.Offset(1), op.Stride(1)));
                    forward[n] = Interval.Union(forward[n], reached.Within(shape[2], shape[3]));
                }
            }
        }

        return Enumerable.Range(0, count).Select(n => Interval.Intersect(backward[n], forward[n])).ToArray();
    }

    private static long FloorDiv(long a, long b) => (long)Math.Floor((double)a / b);

    private static long CeilDiv(long a, long b) => (long)Math.Ceiling((double)a / b);
}

/// <summary>A rectangle of positions, rows LoY..HiY and columns LoX..HiX (inclusive).</summary>
internal sealed record Interval(long LoY, long HiY, long LoX, long HiX)
{
    public long Height => HiY - LoY + 1;

    public long Width => HiX - LoX + 1;

    /// <summary>The part inside a map of the given size, or null.</summary>
    public Interval? Within(long height, long width) => Intersect(this, new Interval(0, height - 1, 0, width - 1));

    public static Interval? Union(Interval? a, Interval? b) =>
        a is null ? b : b is null ? a : new Interval(Math.Min(a.LoY, b.LoY), Math.Max(a.HiY, b.HiY), Math.Min(a.LoX, b.LoX), Math.Max(a.HiX, b.HiX));

    public static Interval? Intersect(Interval? a, Interval? b)
    {
        if (a is null || b is null)
        {
            return null;
        }

        var i = new Interval(Math.Max(a.LoY, b.LoY), Math.Min(a.HiY, b.HiY), Math.Max(a.LoX, b.LoX), Math.Min(a.HiX, b.HiX));
        return i.LoY <= i.HiY && i.LoX <= i.HiX ? i : null;
    }
}
