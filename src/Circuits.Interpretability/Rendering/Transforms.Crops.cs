using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

// Centre and random crops (Captum's CenterCrop, torchvision's RandomCrop).
public static partial class Transforms
{
    /// <summary>
    /// Crops the centre <paramref name="height"/> x <paramref name="width"/> window: rows from (H − height)/2 and
    /// columns from (W − width)/2, both rounded down (so an odd margin leaves the extra pixel at the bottom and right).
    /// </summary>
    public static IImageTransform CenterCrop(int height, int width) => new CropTransform(height, width, random: false);

    /// <summary>Crops a <paramref name="height"/> x <paramref name="width"/> window at a random position (every offset equally likely).</summary>
    public static IImageTransform RandomCrop(int height, int width) => new CropTransform(height, width, random: true);

    /// <summary>The centre <paramref name="height"/> x <paramref name="width"/> window of an N x C x H x W batch (see <see cref="CenterCrop(int, int)"/>).</summary>
    /// <exception cref="CircuitsException">The batch is smaller than the window.</exception>
    public static Tensor CenterCrop(Tensor image, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckCrop(image, height, width);
        return Crop(image, (image.shape[2] - height) / 2, (image.shape[3] - width) / 2, height, width);
    }

    private static void CheckCrop(Tensor image, int height, int width)
    {
        if (image.dim() != 4 || image.shape[2] < height || image.shape[3] < width)
        {
            throw new CircuitsException(
                $"Cannot crop a {height} x {width} window from a batch of shape [{string.Join(", ", image.shape)}]; expected N x C x H x W with H >= {height} and W >= {width}.");
        }
    }

    private static Tensor Crop(Tensor image, long top, long left, long height, long width) =>
        image[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(top, top + height), TensorIndex.Slice(left, left + width)];

    private sealed class CropTransform : IImageTransform
    {
        private readonly int _height;
        private readonly int _width;
        private readonly bool _random;

        public CropTransform(int height, int width, bool random)
        {
            if (height <= 0 || width <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(height), $"A crop must have a positive size; got {height} x {width}.");
            }

            _height = height;
            _width = width;
            _random = random;
        }

        public string Name => $"{(_random ? "random_crop" : "center_crop")}({_height}x{_width})";

        public Tensor Apply(Tensor image, Random random)
        {
            if (!_random)
            {
                return CenterCrop(image, _height, _width);
            }

            CheckCrop(image, _height, _width);
            long top = random.NextInt64(image.shape[2] - _height + 1);
            long left = random.NextInt64(image.shape[3] - _width + 1);
            return Crop(image, top, left, _height, _width);
        }
    }
}
