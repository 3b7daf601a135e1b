using Circuits.Interpretability.Core;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

/// <summary>Reflect, symmetric and replicate padding, crops and Gaussian smoothing against naive loops and libtorch's own ops.</summary>
public class TransformMethodsTests
{
    /// <summary>Where padding puts source element i of n, found by walking back and forth, not by a formula.</summary>
    private static long NaiveSource(long i, long n, PadMode mode)
    {
        if (mode == PadMode.Replicate)
        {
            return Math.Clamp(i, 0, n - 1);
        }

        if (n == 1)
        {
            return 0;
        }

        while (i < 0 || i >= n)
        {
            if (i < 0)
            {
                i = mode == PadMode.Reflect ? -i : -i - 1;
            }
            else
            {
                i = mode == PadMode.Reflect ? (2 * (n - 1)) - i : (2 * n) - 1 - i;
            }
        }

        return i;
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && HandBuiltNet.Values(a).SequenceEqual(HandBuiltNet.Values(b));

    [Theory]
    [InlineData(PadMode.Reflect)]
    [InlineData(PadMode.Symmetric)]
    [InlineData(PadMode.Replicate)]
    public void Padding_puts_each_pixel_where_a_naive_index_walk_says_even_beyond_the_image_size(PadMode mode)
    {
        const int h = 4, w = 3;
        using Tensor image = arange(2 * 3 * h * w).to(ScalarType.Float32).reshape(2, 3, h, w);
        float[] src = HandBuiltNet.Values(image);
        (int top, int bottom, int left, int right) = (2, 9, 7, 1);
        using Tensor padded = Transforms.Pad(image, top, bottom, left, right, mode);
        padded.shape.Should().Equal(2, 3, h + top + bottom, w + left + right);
        float[] got = HandBuiltNet.Values(padded);
        int ph = h + top + bottom, pw = w + left + right;
        for (int n = 0; n < 2; n++)
        {
            for (int c = 0; c < 3; c++)
            {
                for (int y = 0; y < ph; y++)
                {
                    for (int x = 0; x < pw; x++)
                    {
                        long sy = NaiveSource(y - top, h, mode), sx = NaiveSource(x - left, w, mode);
                        got[(((((n * 3) + c) * ph) + y) * pw) + x].Should().Be(src[(((((n * 3) + c) * h) + sy) * w) + sx]);
                    }
                }
            }
        }
    }

    [Fact]
    public void Reflect_and_replicate_equal_libtorchs_padding_where_it_applies_and_symmetric_repeats_the_edge()
    {
        using Tensor image = rand(new long[] { 1, 3, 6, 7 }, generator: new Generator(3));
        foreach (var (mode, torchMode) in new[] { (PadMode.Reflect, PaddingModes.Reflect), (PadMode.Replicate, PaddingModes.Replicate) })
        {
            using Tensor ours = Transforms.Pad(image, 3, 2, 5, 4, mode);
            using Tensor theirs = nn.functional.pad(image, new long[] { 5, 4, 3, 2 }, torchMode);
            (ours - theirs).abs().max().item<float>().Should().Be(0, mode.ToString());
        }

        // a b c d, symmetric by 2: b a | a b c d | d c.
        using Tensor row = tensor(new float[] { 1, 2, 3, 4 }).reshape(1, 1, 1, 4);
        HandBuiltNet.Values(Transforms.Pad(row, 0, 0, 2, 2, PadMode.Symmetric)).Should().Equal(2, 1, 1, 2, 3, 4, 4, 3);
        HandBuiltNet.Values(Transforms.Pad(row, 0, 0, 2, 2, PadMode.Reflect)).Should().Equal(3, 2, 1, 2, 3, 4, 3, 2);
        HandBuiltNet.Values(Transforms.Pad(row, 0, 0, 1, 1, PadMode.Constant, 9)).Should().Equal(9, 1, 2, 3, 4, 9);
        Transforms.Pad(3, PadMode.Symmetric).Name.Should().Be("pad(3, symmetric)");
        Transforms.Pad(3, 0).Name.Should().Be("pad(3)", "a literal 0 is the constant fill value, not a padding mode");
        Transforms.Pad(3, PadMode.Reflect).Apply(image, new Random(0)).shape.Should().Equal(1, 3, 12, 13);
    }

    [Fact]
    public void Padding_passes_gradients_back_to_every_source_pixel_it_copies()
    {
        Tensor image = rand(1, 1, 3, 3).requires_grad_(true);
        Transforms.Pad(image, 1, 1, 1, 1, PadMode.Symmetric).sum().backward();
        // Symmetric by 1 on a 3 x 3: corners are copied 4 times, edge middles twice, the centre once.
        HandBuiltNet.Values(image.grad!).Should().Equal(4, 2, 4, 2, 1, 2, 4, 2, 4);
    }

    [Fact]
    public void Centre_and_random_crops_take_the_windows_they_promise()
    {
        using Tensor image = arange(1 * 1 * 7 * 8).to(ScalarType.Float32).reshape(1, 1, 7, 8);
        // (7 - 4) / 2 = 1 row and (8 - 3) / 2 = 2 columns, rounded down.
        using Tensor centre = Transforms.CenterCrop(image, 4, 3);
        centre[0, 0, 0, 0].item<float>().Should().Be((1 * 8) + 2);
        centre.shape.Should().Equal(1, 1, 4, 3);
        Same(Transforms.CenterCrop(4, 3).Apply(image, new Random(0)), centre).Should().BeTrue();

        var seen = new HashSet<(int, int)>();
        var random = new Random(5);
        for (int i = 0; i < 200; i++)
        {
            using Tensor crop = Transforms.RandomCrop(5, 6).Apply(image, random);
            crop.shape.Should().Equal(1, 1, 5, 6);
            int corner = (int)crop[0, 0, 0, 0].item<float>();
            int dy = corner / 8, dx = corner % 8;
            Same(crop, image[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(dy, dy + 5), TensorIndex.Slice(dx, dx + 6)]).Should().BeTrue();
            seen.Add((dy, dx));
        }

        seen.Should().BeEquivalentTo(new[] { (0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2) }, "every offset in 0..2 x 0..2 is drawn");
        FluentActions.Invoking(() => Transforms.CenterCrop(image, 8, 3)).Should().Throw<CircuitsException>().WithMessage("Cannot crop a 8 x 3 window*H >= 8*");
    }

    [Theory]
    [InlineData(5, 1.0)]
    [InlineData(4, 0.7)]
    [InlineData(7, 2.5)]
    public void The_gaussian_kernel_sums_to_one_and_equals_the_normalized_formula(int size, double sigma)
    {
        double[] g = Transforms.GaussianKernel(size, sigma);
        g.Sum().Should().BeApproximately(1, 1e-12);
        // Captum: the product of 1-D Gaussians normalized over the 2-D kernel; check every 2-D entry.
        double centre = (size - 1) / 2.0, total = 0;
        var raw = new double[size, size];
        for (int i = 0; i < size; i++)
        {
            for (int j = 0; j < size; j++)
            {
                raw[i, j] = Math.Exp(-(Math.Pow(i - centre, 2) + Math.Pow(j - centre, 2)) / (2 * sigma * sigma));
                total += raw[i, j];
            }
        }

        for (int i = 0; i < size; i++)
        {
            for (int j = 0; j < size; j++)
            {
                (g[i] * g[j]).Should().BeApproximately(raw[i, j] / total, 1e-12);
            }
        }

        g.Should().Equal(g.Reverse(), "the kernel is symmetric");
    }

    [Fact]
    public void Gaussian_smoothing_equals_a_naive_2d_convolution_and_keeps_constants()
    {
        const int size = 5, h = 9, w = 11;
        const double sigma = 1.3;
        using Tensor image = rand(new long[] { 2, 3, h, w }, generator: new Generator(4));
        float[] src = HandBuiltNet.Values(image);
        double[] g = Transforms.GaussianKernel(size, sigma);
        using Tensor smoothed = Transforms.GaussianSmoothing(size, sigma).Apply(image, new Random(0));
        smoothed.shape.Should().Equal(2, 3, h - size + 1, w - size + 1);
        float[] got = HandBuiltNet.Values(smoothed);
        int oh = h - size + 1, ow = w - size + 1;
        for (int nc = 0; nc < 6; nc++)
        {
            for (int y = 0; y < oh; y++)
            {
                for (int x = 0; x < ow; x++)
                {
                    double s = 0;
                    for (int i = 0; i < size; i++)
                    {
                        for (int j = 0; j < size; j++)
                        {
                            s += g[i] * g[j] * src[(nc * h * w) + ((y + i) * w) + x + j];
                        }
                    }

                    got[(nc * oh * ow) + (y * ow) + x].Should().BeApproximately((float)s, 1e-5f);
                }
            }
        }

        using Tensor grey = full(1, 3, 8, 8, 0.3f);
        using Tensor kept = Transforms.GaussianSmoothing(4, 2, PadMode.Reflect).Apply(grey, new Random(0));
        kept.shape.Should().Equal(1, 3, 8, 8);
        (kept - 0.3f).abs().max().item<float>().Should().BeLessThan(1e-6f);
        FluentActions.Invoking(() => Transforms.GaussianSmoothing(0, 1)).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => Transforms.GaussianSmoothing(9, 1).Apply(grey, new Random(0)))
            .Should().Throw<CircuitsException>().WithMessage("*at least 9 x 9 pixels*");
    }

    [Fact]
    public void Gradients_flow_through_the_new_transforms()
    {
        foreach (IImageTransform t in new[]
        {
            Transforms.Pad(4, PadMode.Reflect), Transforms.Pad(4, PadMode.Symmetric), Transforms.CenterCrop(10, 12),
            Transforms.RandomCrop(9, 9), Transforms.GaussianSmoothing(3, 1), Transforms.GaussianSmoothing(3, 1, PadMode.Replicate),
        })
        {
            Tensor image = rand(1, 3, 16, 16).requires_grad_(true);
            t.Apply(image, new Random(3)).pow(2).sum().backward();
            image.grad!.abs().sum().item<float>().Should().BeGreaterThan(0, t.Name);
        }
    }
}
