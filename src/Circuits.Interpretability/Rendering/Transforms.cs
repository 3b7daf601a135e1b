using Circuits.Interpretability.Core;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// A differentiable image transformation applied before each forward pass, so that the visualization must be
/// robust to it (transformation robustness). Random choices come from the <see cref="Random"/> the render
/// loop seeds, so a seed fixes them. Transforms run on the image's device.
/// </summary>
public interface IImageTransform
{
    /// <summary>A readable name such as <c>jitter(8)</c>.</summary>
    string Name { get; }

    /// <summary>Transforms a batch N x C x H x W.</summary>
    Tensor Apply(Tensor image, Random random);
}

/// <summary>The transformations of feature visualization, and Lucid's standard stack.</summary>
public static partial class Transforms
{
    /// <summary>Pads every side by <paramref name="pixels"/> with a constant (grey 0.5 by default).</summary>
    public static IImageTransform Pad(int pixels, double value = 0.5) => new PadTransform(pixels, value);

    /// <summary>Crops a random (H - d) x (W - d) window: a random translation by 0 to d - 1 pixels on each axis.</summary>
    public static IImageTransform Jitter(int d) => new JitterTransform(d);

    /// <summary>Resizes (bilinearly) by one of <paramref name="scales"/>, chosen at random.</summary>
    public static IImageTransform RandomScale(IReadOnlyList<double> scales) => new ScaleTransform(scales);

    /// <summary>Rotates about the centre by one of <paramref name="degrees"/>, chosen at random (bilinear; outside is 0).</summary>
    public static IImageTransform RandomRotate(IReadOnlyList<double> degrees) => new RotateTransform(degrees);

    /// <summary>
    /// Lucid's standard stack: pad 12 (grey), jitter 8, scale by one of 1 + (i - 5)/50 for i = 0..10, rotate by one
    /// of -10..10 degrees (0 five times more often), jitter 4.
    /// </summary>
    public static IReadOnlyList<IImageTransform> Standard() => new[]
    {
        Pad(12),
        Jitter(8),
        RandomScale(Enumerable.Range(0, 11).Select(i => 1 + ((i - 5) / 50.0)).ToArray()),
        RandomRotate(Enumerable.Range(-10, 21).Select(d => (double)d).Concat(Enumerable.Repeat(0.0, 5)).ToArray()),
        Jitter(4),
    };

    /// <summary>
    /// Applies <paramref name="transforms"/> in order, drawing their random choices in that order. A rotation followed
    /// by a jitter runs as one grid sample whose output is the jitter's window (the pixels the crop would discard are
    /// never computed); the result is the same as applying them one by one, up to floating-point rounding of the
    /// sampling positions. (A scale and a rotation stay two resamplings: one would change the result.)
    /// </summary>
    public static Tensor ApplyAll(IEnumerable<IImageTransform> transforms, Tensor image, Random random)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        IReadOnlyList<IImageTransform> list = transforms as IReadOnlyList<IImageTransform> ?? transforms.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is RotateTransform rotate && i + 1 < list.Count && list[i + 1] is JitterTransform { D: > 1 } jitter)
            {
                double degrees = rotate.Draw(random);
                var (dy, dx) = jitter.Draw(image, random);
                image = degrees == 0 ? Shift(image, jitter.D, dy, dx) : Rotate(image, degrees, (jitter.D, dy, dx));
                i++;
            }
            else
            {
                image = list[i].Apply(image, random);
            }
        }

        return image;
    }

    /// <summary>Crops the window starting at (<paramref name="dy"/>, <paramref name="dx"/>) of size (H - d) x (W - d): jitter with a known offset.</summary>
    public static Tensor Shift(Tensor image, int d, int dy, int dx)
    {
        if (dy < 0 || dx < 0 || dy >= Math.Max(d, 1) || dx >= Math.Max(d, 1))
        {
            throw new ArgumentOutOfRangeException(nameof(dy), $"Offset ({dy}, {dx}) must lie in [0, {d}) on both axes.");
        }

        long h = image.shape[2] - d, w = image.shape[3] - d;
        return image[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(dy, dy + h), TensorIndex.Slice(dx, dx + w)];
    }

    /// <summary>Rotates N x C x H x W about its centre by <paramref name="degrees"/> (counter-clockwise as displayed), bilinearly.</summary>
    public static Tensor Rotate(Tensor image, double degrees) => Rotate(image, degrees, null);

    /// <summary>
    /// Rotates like <see cref="Rotate(Tensor, double)"/> and returns only the window that <see cref="Shift"/>(result, d,
    /// dy, dx) would keep, computing just those pixels: the window's normalized coordinates map affinely onto the full
    /// output's (x = x'·W'/W + (W' + 2dx)/W − 1 with W' = W − d, likewise for y), composed into the rotation's matrix.
    /// </summary>
    internal static Tensor Rotate(Tensor image, double degrees, (int D, int Dy, int Dx)? window)
    {
        double a = degrees * Math.PI / 180;
        double cos = Math.Cos(a), sin = Math.Sin(a);
        long h = image.shape[2], w = image.shape[3];
        double aspect = (double)w / h;
        // affine_grid works in normalized coordinates; scale the off-diagonal terms for non-square images.
        double[] m = { cos, -sin / aspect, 0, sin * aspect, cos, 0 };
        long outH = h, outW = w;
        if (window is var (d, dy, dx))
        {
            outH = h - d;
            outW = w - d;
            double sx = (double)outW / w, tx = ((outW + (2.0 * dx)) / w) - 1;
            double sy = (double)outH / h, ty = ((outH + (2.0 * dy)) / h) - 1;
            m = new[] { m[0] * sx, m[1] * sy, (m[0] * tx) + (m[1] * ty), m[3] * sx, m[4] * sy, (m[3] * tx) + (m[4] * ty) };
        }

        using var scope = NewDisposeScope();
        Tensor theta = tensor(m.Select(v => (float)v).ToArray(), image.dtype, image.device).reshape(1, 2, 3).expand(image.shape[0], 2, 3);
        Tensor grid = nn.functional.affine_grid(theta, new[] { image.shape[0], image.shape[1], outH, outW }, align_corners: false);
        return nn.functional.grid_sample(image, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Zeros, align_corners: false).MoveToOuterDisposeScope();
    }

    private static T Pick<T>(IReadOnlyList<T> choices, Random random) => choices[random.Next(choices.Count)];

    private sealed class PadTransform : IImageTransform
    {
        private readonly int _pixels;
        private readonly double _value;

        public PadTransform(int pixels, double value)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(pixels);
            _pixels = pixels;
            _value = value;
        }

        public string Name => $"pad({_pixels})";

        public Tensor Apply(Tensor image, Random random) =>
            _pixels == 0 ? image : nn.functional.pad(image, new long[] { _pixels, _pixels, _pixels, _pixels }, PaddingModes.Constant, _value);
    }

    private sealed class JitterTransform : IImageTransform
    {
        private readonly int _d;

        public JitterTransform(int d)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d);
            _d = d;
        }

        public string Name => $"jitter({_d})";

        public int D => _d;

        public Tensor Apply(Tensor image, Random random)
        {
            if (_d <= 1)
            {
                return image;
            }

            var (dy, dx) = Draw(image, random);
            return Shift(image, _d, dy, dx);
        }

        /// <summary>The window's offset, drawn as <see cref="Apply"/> draws it (for d &gt; 1).</summary>
        public (int Dy, int Dx) Draw(Tensor image, Random random)
        {
            if (image.shape[2] <= _d || image.shape[3] <= _d)
            {
                throw new CircuitsException($"jitter({_d}) needs an image larger than {_d} pixels; got {image.shape[2]} x {image.shape[3]}.");
            }

            int dy = random.Next(_d);
            return (dy, random.Next(_d));
        }
    }

    private sealed class ScaleTransform : IImageTransform
    {
        private readonly IReadOnlyList<double> _scales;

        public ScaleTransform(IReadOnlyList<double> scales)
        {
            if (scales is null || scales.Count == 0 || scales.Any(s => s <= 0))
            {
                throw new ArgumentException("Scales must be a non-empty list of positive factors.", nameof(scales));
            }

            _scales = scales;
        }

        public string Name => $"scale({string.Join(",", _scales.Distinct().Select(s => s.ToString("0.##", CultureInfo.InvariantCulture)))})";

        public Tensor Apply(Tensor image, Random random)
        {
            double s = Pick(_scales, random);
            long h = Math.Max(1, (long)Math.Round(image.shape[2] * s));
            long w = Math.Max(1, (long)Math.Round(image.shape[3] * s));
            return h == image.shape[2] && w == image.shape[3]
                ? image
                : nn.functional.interpolate(image, new[] { h, w }, mode: InterpolationMode.Bilinear, align_corners: false);
        }
    }

    private sealed class RotateTransform : IImageTransform
    {
        private readonly IReadOnlyList<double> _degrees;

        public RotateTransform(IReadOnlyList<double> degrees)
        {
            if (degrees is null || degrees.Count == 0)
            {
                throw new ArgumentException("Angles must be a non-empty list.", nameof(degrees));
            }

            _degrees = degrees;
        }

        public string Name => $"rotate({_degrees.Min():0.#}..{_degrees.Max():0.#} deg)";

        public Tensor Apply(Tensor image, Random random)
        {
            double d = Draw(random);
            return d == 0 ? image : Rotate(image, d);
        }

        /// <summary>The angle, drawn as <see cref="Apply"/> draws it.</summary>
        public double Draw(Random random) => Pick(_degrees, random);
    }
}
