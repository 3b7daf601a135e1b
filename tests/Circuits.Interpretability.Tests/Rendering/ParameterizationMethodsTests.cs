using Circuits.Interpretability.Core;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

/// <summary>LowRes tensors, shared images, Laplacian pyramids and stacked images, each against an independent computation.</summary>
public class ParameterizationMethodsTests
{
    /// <summary>PyTorch's align_corners=False source position of output index i, with its two neighbours and weight.</summary>
    private static (long Lo, long Hi, double Lambda) Source(long i, long nIn, long nOut)
    {
        double s = ((i + 0.5) * nIn / nOut) - 0.5;
        if (s < 0)
        {
            s = 0;
        }

        long lo = (long)s;
        if (lo >= nIn - 1)
        {
            return (nIn - 1, nIn - 1, 0);
        }

        return (lo, lo + 1, s - lo);
    }

    [Fact]
    public void Lowres_resize_equals_a_naive_multilinear_loop_over_all_four_dimensions()
    {
        long[] from = { 2, 3, 3, 4 }, to = { 5, 4, 7, 9 };
        using Tensor t = randn(from, generator: new Generator(1));
        float[] src = HandBuiltNet.Values(t);
        float[] got = HandBuiltNet.Values(LowResTensor.Resize(t, to));
        long Index(long[] shape, long[] at) => (((((at[0] * shape[1]) + at[1]) * shape[2]) + at[2]) * shape[3]) + at[3];
        var at = new long[4];
        for (at[0] = 0; at[0] < to[0]; at[0]++)
        {
            for (at[1] = 0; at[1] < to[1]; at[1]++)
            {
                for (at[2] = 0; at[2] < to[2]; at[2]++)
                {
                    for (at[3] = 0; at[3] < to[3]; at[3]++)
                    {
                        var s = Enumerable.Range(0, 4).Select(d => Source(at[d], from[d], to[d])).ToArray();
                        double value = 0;
                        for (int corner = 0; corner < 16; corner++)
                        {
                            double weight = 1;
                            var index = new long[4];
                            for (int d = 0; d < 4; d++)
                            {
                                bool high = ((corner >> d) & 1) == 1;
                                weight *= high ? s[d].Lambda : 1 - s[d].Lambda;
                                index[d] = high ? s[d].Hi : s[d].Lo;
                            }

                            value += weight * src[Index(from, index)];
                        }

                        got[Index(to, at)].Should().BeApproximately((float)value, 1e-5f);
                    }
                }
            }
        }
    }

    [Fact]
    public void Lowres_resize_equals_libtorchs_bilinear_and_trilinear_interpolation_growing_and_shrinking()
    {
        using Tensor t = randn(new long[] { 2, 3, 6, 5 }, generator: new Generator(2));
        foreach (long[] size in new[] { new long[] { 13, 11 }, new long[] { 4, 3 }, new long[] { 6, 12 } })
        {
            using Tensor ours = LowResTensor.Resize(t, new[] { 2, 3, size[0], size[1] });
            using Tensor theirs = nn.functional.interpolate(t, size, mode: InterpolationMode.Bilinear, align_corners: false);
            (ours - theirs).abs().max().item<float>().Should().BeLessThan(1e-5f);
        }

        using Tensor ours3 = LowResTensor.Resize(t, new long[] { 2, 7, 9, 10 });
        using Tensor theirs3 = nn.functional.interpolate(t.unsqueeze(0), new long[] { 7, 9, 10 }, mode: InterpolationMode.Trilinear, align_corners: false).squeeze(0);
        (ours3 - theirs3).abs().max().item<float>().Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void A_lowres_tensor_is_trainable_and_its_offset_shifts_with_a_mirrored_edge()
    {
        using var plain = new LowResTensor(new long[] { 1, 3, 8, 8 }, new long[] { 1, 3, 2, 2 }, seed: 3);
        using var shifted = new LowResTensor(new long[] { 1, 3, 8, 8 }, new long[] { 1, 3, 2, 2 }, seed: 3, offset: LowResTensor.HalfStepOffset(new long[] { 1, 3, 8, 8 }, new long[] { 1, 3, 2, 2 }));
        LowResTensor.HalfStepOffset(new long[] { 1, 3, 8, 8 }, new long[] { 1, 3, 2, 2 }).Should().Equal(0, 0, 2, 2);
        using Tensor a = plain.Value().detach(), b = shifted.Value().detach();
        // Row y of the shifted tensor is row y - 2 of the plain one; rows 0 and 1 mirror rows 1 and 0.
        (b[TensorIndex.Ellipsis, TensorIndex.Slice(2, null), TensorIndex.Slice(2, null)] - a[TensorIndex.Ellipsis, TensorIndex.Slice(0, 6), TensorIndex.Slice(0, 6)]).abs().max().item<float>().Should().Be(0);
        (b[0, 1, 0, 5] - a[0, 1, 1, 3]).abs().item<float>().Should().Be(0);
        (b[0, 1, 1, 5] - a[0, 1, 0, 3]).abs().item<float>().Should().Be(0);

        plain.Value().pow(2).sum().backward();
        plain.Parameter.grad!.abs().min().item<float>().Should().BeGreaterThan(0, "every underlying value reaches the full tensor");
        FluentActions.Invoking(() => new LowResTensor(new long[] { 1, 3, 4, 4 }, new long[] { 2, 3, 4, 4 }))
            .Should().Throw<ArgumentException>().WithMessage("*1 <= underlying <= full size*");
    }

    [Fact]
    public void Shared_components_are_identical_or_interpolated_across_the_batch()
    {
        var options = new ParameterizationOptions { Decorrelate = false, InitialScale = 1 };
        using var same = new SharedImage(4, 8, 8, seed: 1, sharedShapes: new[] { new long[] { 1, 3, 4, 4 } }, options: options);
        using var sweep = new SharedImage(5, 8, 8, seed: 1, sharedShapes: new[] { new long[] { 2, 3, 2, 2 } }, options: options);
        using (no_grad())
        {
            same.Parameters[0].zero_();
            sweep.Parameters[0].zero_();
        }

        using Tensor s = same.RawImage().detach();
        (s - s[0]).abs().max().item<float>().Should().Be(0, "a batch-1 component is the same for every item");
        s.abs().max().item<float>().Should().BeGreaterThan(0);

        // Batch 2 -> 5 reads 0, 0.1, 0.5, 0.9, 1 between the two underlying items: item 2 is the mean of items 0 and 4.
        using Tensor w = sweep.RawImage().detach();
        (w[2] - ((w[0] + w[4]) / 2)).abs().max().item<float>().Should().BeLessThan(1e-6f);
        (w[1] - ((0.9f * w[0]) + (0.1f * w[4]))).abs().max().item<float>().Should().BeLessThan(1e-6f);

        using var lucid = new SharedImage(6, 32, 32, seed: 2);
        lucid.Parameters.Should().HaveCount(7, "the Fourier spectrum and Lucid's six shared components");
        lucid.Shared.Select(c => string.Join("x", c.UnderlyingShape)).Should().Equal("1x3x16x16", "1x3x8x8", "1x3x4x4", "2x3x4x4", "1x3x2x2", "2x3x2x2");
        lucid.Image().sum().backward();
        lucid.Parameters.Select(p => p.grad is null ? 0f : p.grad.abs().sum().item<float>()).Should().OnlyContain(g => g > 0);
        new SharedImage(1, 16, 16).Shared.Should().OnlyContain(c => c.UnderlyingShape[0] == 1, "a one-image batch cannot hold two shared items");
    }

    [Theory]
    [InlineData(ColorSquash.Sigmoid, true, false)]
    [InlineData(ColorSquash.Clamp, false, false)]
    [InlineData(ColorSquash.Sigmoid, true, true)]
    public void A_laplacian_pyramid_from_an_image_reconstructs_it(ColorSquash squash, bool decorrelate, bool alpha)
    {
        var options = new ParameterizationOptions { Squash = squash, Decorrelate = decorrelate, Alpha = alpha };
        using Tensor image = (rand(new long[] { 2, alpha ? 4 : 3, 20, 13 }, generator: new Generator(5)) * 0.96) + 0.02;
        using var pyramid = LaplacianImage.FromImage(image, levels: 4, options: options);
        pyramid.Levels.Select(l => string.Join("x", l.shape.Skip(2))).Should().Equal("20x13", "10x6", "5x3", "2x1");
        using Tensor back = pyramid.Image().detach();
        (back - image).abs().max().item<float>().Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void A_constant_image_lives_in_the_coarsest_level_and_a_smooth_one_mostly_in_coarse_levels()
    {
        var options = new ParameterizationOptions { Squash = ColorSquash.Clamp, Decorrelate = false };
        using Tensor grey = full(1, 3, 16, 16, 0.4f);
        using var flat = LaplacianImage.FromImage(grey, levels: 5, options: options);
        for (int k = 0; k < 4; k++)
        {
            flat.Levels[k].abs().max().item<float>().Should().BeLessThan(1e-6f, $"level {k} of a constant image is empty");
        }

        (flat.Levels[4] - 0.4f).abs().max().item<float>().Should().BeLessThan(1e-6f);

        // A horizontal ramp: the finest level holds only a small residual of it.
        using Tensor ramp = linspace(0.1, 0.9, 16).reshape(1, 1, 1, 16).expand(1, 3, 16, 16).contiguous();
        using var smooth = LaplacianImage.FromImage(ramp, levels: 5, options: options);
        double finest = smooth.Levels[0].abs().max().item<float>();
        finest.Should().BeLessThan(0.1 * ramp.abs().max().item<float>());

        using var random = new LaplacianImage(2, 32, 24, seed: 3, levels: 6);
        random.Levels.Select(l => string.Join("x", l.shape)).Should().Equal("2x3x32x24", "2x3x16x12", "2x3x8x6", "2x3x4x3", "2x3x2x1", "2x3x1x1");
        random.Image().sum().backward();
        random.Parameters.Select(p => p.grad is null ? 0f : p.grad.abs().sum().item<float>()).Should().OnlyContain(g => g > 0);
        FluentActions.Invoking(() => LaplacianImage.FromImage(zeros(1, 4, 8, 8))).Should().Throw<CircuitsException>().WithMessage("*needs N x 3 x H x W*");
    }

    [Fact]
    public void A_stack_is_the_render_followed_by_the_fixed_image_which_gets_no_gradient()
    {
        using Tensor photo = rand(new long[] { 3, 8, 8 }, generator: new Generator(6));
        using var stack = new StackImage(new PixelImage(1, 8, 8, seed: 7), photo);
        stack.Batch.Should().Be(2);
        stack.Rendered.Should().Be(1);
        Tensor image = stack.Image();
        (image[1] - photo).abs().max().item<float>().Should().Be(0);
        image.sum().backward();
        stack.Parameters.Should().ContainSingle();
        stack.Parameters[0].grad!.abs().sum().item<float>().Should().BeGreaterThan(0);
        FluentActions.Invoking(() => new StackImage(new PixelImage(1, 8, 8), zeros(3, 8, 9)))
            .Should().Throw<CircuitsException>().WithMessage("*must match the rendered images: 3 x 8 x 8*");
    }
}
