using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

/// <summary>The fused transform path (<see cref="Transforms.ApplyAll"/>) against the transforms applied one by one.</summary>
public class FusedTransformTests
{
    private static Tensor Unfused(IReadOnlyList<IImageTransform> transforms, Tensor image, Random random)
    {
        foreach (IImageTransform t in transforms)
        {
            image = t.Apply(image, random);
        }

        return image;
    }

    private static float MaxDifference(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Theory]
    [InlineData(-10.0)]
    [InlineData(7.0)]
    [InlineData(0.0)]
    public void A_rotation_computed_only_in_the_jitter_window_equals_rotating_then_cropping(double degrees)
    {
        using Tensor image = rand(new long[] { 2, 3, 30, 34 }, generator: new Generator(9));
        for (int dy = 0; dy < 4; dy++)
        {
            for (int dx = 0; dx < 4; dx++)
            {
                using Tensor full = Transforms.Rotate(image, degrees);
                using Tensor expected = Transforms.Shift(full, 4, dy, dx);
                using Tensor fused = Transforms.Rotate(image, degrees, (4, dy, dx));

                fused.shape.Should().Equal(expected.shape);
                MaxDifference(fused, expected).Should().BeLessThan(2e-5f, $"offset ({dy}, {dx})");
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Lucids_standard_stack_fused_equals_the_stack_applied_one_by_one(int seed)
    {
        using Tensor image = rand(new long[] { 2, 3, 40, 40 }, generator: new Generator((ulong)seed));
        IReadOnlyList<IImageTransform> standard = Transforms.Standard();
        var fusedRandom = new Random(seed);
        var plainRandom = new Random(seed);
        for (int step = 0; step < 12; step++)
        {
            using Tensor fused = Transforms.ApplyAll(standard, image, fusedRandom);
            using Tensor plain = Unfused(standard, image, plainRandom);

            fused.shape.Should().Equal(plain.shape);
            MaxDifference(fused, plain).Should().BeLessThan(2e-5f, $"seed {seed}, step {step}");
        }

        fusedRandom.Next().Should().Be(plainRandom.Next(), "both drew the same random choices");
    }

    [Fact]
    public void Gradients_through_the_fused_stack_equal_the_unfused_ones()
    {
        Tensor image = rand(new long[] { 1, 3, 40, 40 }, generator: new Generator(5));
        Tensor a = image.detach().requires_grad_(true), b = image.detach().requires_grad_(true);
        Tensor weights = randn(new long[] { 1, 3, 44, 44 }, generator: new Generator(6));
        IReadOnlyList<IImageTransform> stack = new[] { Transforms.Pad(4), Transforms.RandomRotate(new[] { 9.0 }), Transforms.Jitter(4) };

        Tensor fa = Transforms.ApplyAll(stack, a, new Random(1));
        Tensor fb = Unfused(stack, b, new Random(1));
        (fa * weights).sum().backward();
        (fb * weights).sum().backward();

        MaxDifference(a.grad!, b.grad!).Should().BeLessThan(2e-5f);
        a.grad!.abs().sum().item<float>().Should().BeGreaterThan(1f);
    }
}
