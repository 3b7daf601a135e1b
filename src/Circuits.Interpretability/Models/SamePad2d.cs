using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Models;

/// <summary>
/// TensorFlow's <c>SAME</c> padding as a module: pads the last two dimensions so that a following
/// convolution or pooling with this kernel and stride yields <c>ceil(size / stride)</c> outputs. The pads are
/// computed from each input's size; when the total is odd, the extra row or column goes after (bottom,
/// right), as TensorFlow does: e.g. (2, 3, 2, 3) before a 7x7 stride-2 conv on 224 pixels, (0, 1, 0, 1)
/// before a 3x3 stride-2 max-pool on an even size.
/// </summary>
public sealed class SamePad2d : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the padding for a square kernel and stride.</summary>
    /// <param name="kernelSize">The kernel size of the operation that follows.</param>
    /// <param name="stride">Its stride.</param>
    /// <param name="value">The fill value: 0 before convolutions, negative infinity before max-pools.</param>
    public SamePad2d(int kernelSize, int stride, double value = 0) : base(nameof(SamePad2d))
    {
        if (kernelSize <= 0 || stride <= 0)
        {
            throw new ArgumentOutOfRangeException(kernelSize <= 0 ? nameof(kernelSize) : nameof(stride), $"kernelSize ({kernelSize}) and stride ({stride}) must be positive.");
        }

        KernelSize = kernelSize;
        Stride = stride;
        Value = value;
    }

    /// <summary>The kernel size of the operation that follows.</summary>
    public int KernelSize { get; }

    /// <summary>The stride of the operation that follows.</summary>
    public int Stride { get; }

    /// <summary>The fill value.</summary>
    public double Value { get; }

    /// <summary>The (before, after) padding TensorFlow's SAME rule gives for one dimension of <paramref name="size"/>.</summary>
    public static (long Before, long After) Pads(long size, int kernelSize, int stride)
    {
        long outputs = (size + stride - 1) / stride;
        long total = Math.Max(((outputs - 1) * stride) + kernelSize - size, 0);
        return (total / 2, total - (total / 2));
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        var (top, bottom) = Pads(input.shape[^2], KernelSize, Stride);
        var (left, right) = Pads(input.shape[^1], KernelSize, Stride);
        return nn.functional.pad(input, new[] { left, right, top, bottom }, PaddingModes.Constant, Value);
    }
}
