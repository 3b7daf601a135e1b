using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// One op of a linearized path in a form kernels can be composed through: every op is translation invariant, and per
/// spatial axis output position u reads input positions <c>Stride u + Offset + [0, Extent)</c>. Weights are float32
/// on the CPU; biases and constants are left out (they cancel in the zero-source subtraction).
/// </summary>
internal abstract record LinearOp(int[] Inputs)
{
    /// <summary>Output position u reads input positions Stride[a] u + Offset[a] + [0, Extent[a]) on axis a (0: rows, 1: columns).</summary>
    public virtual long Stride(int axis) => 1;

    /// <summary>See <see cref="Stride"/>.</summary>
    public virtual long Offset(int axis) => 0;

    /// <summary>See <see cref="Stride"/>.</summary>
    public virtual long Extent(int axis) => 1;

    /// <summary>Applies the op (linear part only) to <paramref name="inputs"/>: the independent forward pass that verification compares with the model.</summary>
    public abstract Tensor Apply(IReadOnlyList<Tensor> inputs);
}

/// <summary>The source map itself.</summary>
internal sealed record SourceOp() : LinearOp(Array.Empty<int>())
{
    public override Tensor Apply(IReadOnlyList<Tensor> inputs) => throw new InvalidOperationException("The source has no inputs.");
}

/// <summary>Rectifiers linearized as the identity, dropout in eval mode, identity modules.</summary>
internal sealed record IdentityOp(int Input) : LinearOp(new[] { Input })
{
    public override Tensor Apply(IReadOnlyList<Tensor> inputs) => inputs[0].alias();
}

/// <summary>A per-channel (or, with one factor, uniform) scaling: local response normalization at zero, batch norm in eval mode, an affine module found to scale.</summary>
internal sealed record ScaleOp(int Input, Tensor Factors) : LinearOp(new[] { Input })
{
    public override Tensor Apply(IReadOnlyList<Tensor> inputs) => inputs[0].mul(Factors.reshape(1, -1, 1, 1));
}

/// <summary>A zero-padded convolution without bias.</summary>
internal sealed record ConvOp(int Input, Tensor Weight, long[] Strides, long[] Padding, long[] Dilation, long Groups) : LinearOp(new[] { Input })
{
    public override long Stride(int axis) => Strides[axis];

    public override long Offset(int axis) => -Padding[axis];

    public override long Extent(int axis) => (Dilation[axis] * (Weight.shape[2 + axis] - 1)) + 1;

    public override Tensor Apply(IReadOnlyList<Tensor> inputs) =>
        nn.functional.conv2d(inputs[0], Weight, null, Strides, Padding, Dilation, Groups);
}

/// <summary>Average pooling (max-pooling linearized: padding not counted), with PyTorch's divisor rules at the borders.</summary>
internal sealed record PoolOp(int Input, long[] Kernel, long[] Strides, long[] Padding, bool CeilMode, bool CountIncludePad, long? Divisor) : LinearOp(new[] { Input })
{
    public override long Stride(int axis) => Strides[axis];

    public override long Offset(int axis) => -Padding[axis];

    public override long Extent(int axis) => Kernel[axis];

    public override Tensor Apply(IReadOnlyList<Tensor> inputs) =>
        nn.functional.avg_pool2d(inputs[0], Kernel, Strides, Padding, CeilMode, CountIncludePad, Divisor);

    /// <summary>The divisor of output position <paramref name="u"/> on <paramref name="axis"/> for an input of <paramref name="size"/> (the full divisor is the product over both axes).</summary>
    public long AxisDivisor(int axis, long u, long size)
    {
        long start = (u * Strides[axis]) - Padding[axis];
        long end = Math.Min(start + Kernel[axis], size + Padding[axis]);
        return CountIncludePad ? end - start : Math.Min(end, size) - Math.Max(start, 0);
    }
}

/// <summary>Zero padding (a constant pad, whose constant cancels; a -inf pad before a max-pool becomes a zero pad).</summary>
internal sealed record PadOp(int Input, long Top, long Left, long Bottom, long Right) : LinearOp(new[] { Input })
{
    public override long Offset(int axis) => axis == 0 ? -Top : -Left;

    public override Tensor Apply(IReadOnlyList<Tensor> inputs) => nn.functional.pad(inputs[0], new[] { Left, Right, Top, Bottom });
}

/// <summary>Concatenation along channels (branches stacked).</summary>
internal sealed record ConcatOp(int[] Parts) : LinearOp(Parts)
{
    public override Tensor Apply(IReadOnlyList<Tensor> inputs) => cat(inputs.ToArray(), 1);
}
