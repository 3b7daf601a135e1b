using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

// Padding by reflection, symmetric reflection and replication (Lucid's pad(mode=...)).
public static partial class Transforms
{
    /// <summary>
    /// Pads every side by <paramref name="pixels"/> in the given <paramref name="mode"/> (<paramref name="value"/>
    /// is used by <see cref="PadMode.Constant"/> only). Reflection folds back and forth as often as needed, so the
    /// padding may exceed the image size (PyTorch's own <c>reflect</c> refuses that).
    /// </summary>
    public static IImageTransform Pad(int pixels, PadMode mode, double value = 0.5) => new ModePadTransform(pixels, mode, value);

    /// <summary>Pads an N x C x H x W batch by the given amounts on each side, differentiably.</summary>
    /// <param name="image">The batch.</param>
    /// <param name="top">Rows added above.</param>
    /// <param name="bottom">Rows added below.</param>
    /// <param name="left">Columns added on the left.</param>
    /// <param name="right">Columns added on the right.</param>
    /// <param name="mode">How the border is filled.</param>
    /// <param name="value">The fill value of <see cref="PadMode.Constant"/>.</param>
    public static Tensor Pad(Tensor image, int top, int bottom, int left, int right, PadMode mode, double value = 0.5)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (top < 0 || bottom < 0 || left < 0 || right < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(top), $"Padding must not be negative; got top {top}, bottom {bottom}, left {left}, right {right}.");
        }

        if (image.dim() != 4)
        {
            throw new ArgumentException($"Padding needs an N x C x H x W batch; got [{string.Join(", ", image.shape)}].", nameof(image));
        }

        if (mode == PadMode.Constant)
        {
            return nn.functional.pad(image, new long[] { left, right, top, bottom }, PaddingModes.Constant, value);
        }

        using var scope = NewDisposeScope();
        return PadDimension(PadDimension(image, 2, top, bottom, mode), 3, left, right, mode).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The index of the source element that padding in <paramref name="mode"/> puts at position
    /// <paramref name="i"/> (which may lie outside 0..n − 1) of a dimension of size <paramref name="n"/>.
    /// </summary>
    public static long PadSourceIndex(long i, long n, PadMode mode)
    {
        if (n <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(n), $"A dimension to pad must not be empty; got size {n}.");
        }

        if (i >= 0 && i < n)
        {
            return i;
        }

        switch (mode)
        {
            case PadMode.Replicate:
                return Math.Clamp(i, 0, n - 1);
            case PadMode.Reflect:
            {
                if (n == 1)
                {
                    return 0;
                }

                long period = 2 * (n - 1);
                long m = ((i % period) + period) % period;
                return m < n ? m : period - m;
            }

            case PadMode.Symmetric:
            {
                long period = 2 * n;
                long m = ((i % period) + period) % period;
                return m < n ? m : period - 1 - m;
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(mode), $"Padding mode {mode} has no source index (a constant has no source).");
        }
    }

    /// <summary>Pads dimension <paramref name="dim"/> of any tensor by gathering the source indices of <paramref name="mode"/>.</summary>
    internal static Tensor PadDimension(Tensor t, int dim, long before, long after, PadMode mode)
    {
        if (before == 0 && after == 0)
        {
            return t.alias();
        }

        long n = t.shape[dim];
        var indices = new long[n + before + after];
        for (long i = 0; i < indices.Length; i++)
        {
            indices[i] = PadSourceIndex(i - before, n, mode);
        }

        using Tensor index = tensor(indices, device: t.device);
        return t.index_select(dim, index);
    }

    private sealed class ModePadTransform : IImageTransform
    {
        private readonly int _pixels;
        private readonly PadMode _mode;
        private readonly double _value;

        public ModePadTransform(int pixels, PadMode mode, double value)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(pixels);
            if (!Enum.IsDefined(mode))
            {
                throw new ArgumentOutOfRangeException(nameof(mode), $"Unknown padding mode {mode}; expected one of {string.Join(", ", Enum.GetNames<PadMode>())}.");
            }

            _pixels = pixels;
            _mode = mode;
            _value = value;
        }

        public string Name => $"pad({_pixels}, {_mode.ToString().ToLowerInvariant()})";

        public Tensor Apply(Tensor image, Random random) =>
            _pixels == 0 ? image : Pad(image, _pixels, _pixels, _pixels, _pixels, _mode, _value);
    }
}
