using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

// Gaussian smoothing (Captum's GaussianSmoothing).
public static partial class Transforms
{
    /// <summary>
    /// Smooths every channel with a <paramref name="kernelSize"/> x <paramref name="kernelSize"/> Gaussian of
    /// standard deviation <paramref name="sigma"/> pixels (<see cref="GaussianKernel"/> in each direction). As
    /// Captum's <c>GaussianSmoothing</c>, the default keeps only the valid positions, so the image shrinks by
    /// kernelSize − 1; with <paramref name="padding"/> the image is first padded by (kernelSize − 1)/2 (rounded
    /// down) before and the rest after, in that mode, and keeps its size.
    /// </summary>
    public static IImageTransform GaussianSmoothing(int kernelSize, double sigma, PadMode? padding = null) =>
        new GaussianTransform(kernelSize, sigma, padding);

    /// <summary>
    /// The normalized 1-D Gaussian of <paramref name="size"/> taps centred at (size − 1)/2:
    /// g_i = exp(−((i − (size − 1)/2) / σ)² / 2) / Σ_j g_j. The 2-D kernel of <see cref="GaussianSmoothing"/> is
    /// g_i · g_j, which equals Captum's product of Gaussians normalized over the whole kernel.
    /// </summary>
    public static double[] GaussianKernel(int size, double sigma)
    {
        if (size <= 0 || !(sigma > 0) || double.IsInfinity(sigma))
        {
            throw new ArgumentOutOfRangeException(nameof(size), $"A Gaussian kernel needs a positive size and a positive, finite sigma; got size {size}, sigma {sigma}.");
        }

        double centre = (size - 1) / 2.0;
        double[] g = Enumerable.Range(0, size).Select(i => Math.Exp(-0.5 * Math.Pow((i - centre) / sigma, 2))).ToArray();
        double total = g.Sum();
        return g.Select(v => v / total).ToArray();
    }

    private sealed class GaussianTransform : IImageTransform
    {
        private readonly int _size;
        private readonly double _sigma;
        private readonly PadMode? _padding;
        private readonly float[] _kernel;

        public GaussianTransform(int size, double sigma, PadMode? padding)
        {
            _kernel = GaussianKernel(size, sigma).Select(v => (float)v).ToArray();
            _size = size;
            _sigma = sigma;
            _padding = padding;
        }

        public string Name => $"gaussian({_size}, sigma={Objective.Format(_sigma)}{(_padding is PadMode p ? $", {p.ToString().ToLowerInvariant()}" : string.Empty)})";

        public Tensor Apply(Tensor image, Random random)
        {
            if (_padding is PadMode mode)
            {
                int before = (_size - 1) / 2, after = _size - 1 - before;
                image = Pad(image, before, after, before, after, mode);
            }

            if (image.shape[2] < _size || image.shape[3] < _size)
            {
                throw new CircuitsException(
                    $"{Name} needs an image of at least {_size} x {_size} pixels; got {image.shape[2]} x {image.shape[3]}. Pass a padding mode to keep small images whole.");
            }

            long c = image.shape[1];
            Tensor g = tensor(_kernel, image.dtype, image.device);
            Tensor vertical = g.reshape(1, 1, _size, 1).expand(c, 1, _size, 1);
            Tensor horizontal = g.reshape(1, 1, 1, _size).expand(c, 1, 1, _size);
            Tensor smoothed = nn.functional.conv2d(image, vertical, groups: c);
            return nn.functional.conv2d(smoothed, horizontal, groups: c);
        }
    }
}
