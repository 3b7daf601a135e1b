using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Imaging;

/// <summary>Lays a batch of images out as one image, row by row.</summary>
public static class ImageGrid
{
    /// <summary>
    /// Tiles <paramref name="images"/> (N x C x H x W) into one C x H' x W' image with <paramref name="columns"/>
    /// columns (0: the smallest count that makes the grid about square), separated and surrounded by
    /// <paramref name="padding"/> pixels of <paramref name="padValue"/>. Image i goes to row i / columns,
    /// column i % columns.
    /// </summary>
    /// <exception cref="ImageFormatException">The batch is not N x C x H x W with N &gt; 0.</exception>
    public static Tensor Make(Tensor images, int columns = 0, int padding = 2, float padValue = 1f)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[0] == 0)
        {
            throw new ImageFormatException($"A grid needs a batch N x C x H x W with N > 0; got shape [{string.Join(", ", images.shape)}].");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        long n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        long cols = columns > 0 ? Math.Min(columns, n) : (long)Math.Ceiling(Math.Sqrt(n));
        long rows = (n + cols - 1) / cols;
        using var scope = NewDisposeScope();
        Tensor grid = full(new[] { c, padding + (rows * (h + padding)), padding + (cols * (w + padding)) }, padValue, images.dtype, images.device);
        using (no_grad())
        {
            for (long i = 0; i < n; i++)
            {
                long top = padding + ((i / cols) * (h + padding));
                long left = padding + ((i % cols) * (w + padding));
                grid[TensorIndex.Colon, TensorIndex.Slice(top, top + h), TensorIndex.Slice(left, left + w)] = images[i].detach();
            }
        }

        return grid.MoveToOuterDisposeScope();
    }
}
