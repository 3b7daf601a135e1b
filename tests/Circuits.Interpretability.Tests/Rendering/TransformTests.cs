using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

public class TransformTests
{
    private static Tensor Pattern(int size = 12)
    {
        Tensor image = zeros(1, 3, size, size);
        image[0, 0, 5, 7] = tensor(1f);      // a red dot at row 5, column 7
        image[0, 2, 2, 3] = tensor(0.5f);    // a blue dot at row 2, column 3
        return image;
    }

    [Fact]
    public void Jitter_by_a_known_offset_moves_the_pattern_by_that_offset()
    {
        using Tensor image = Pattern();
        using Tensor shifted = Transforms.Shift(image, d: 4, dy: 3, dx: 1);

        shifted.shape.Should().Equal(1, 3, 8, 8);
        shifted[0, 0, 5 - 3, 7 - 1].item<float>().Should().Be(1f);
        shifted[0, 2, 2 - 3 + 3, 3 - 1].item<float>().Should().Be(0, "row 2 - 3 is outside the crop");
        shifted.sum().item<float>().Should().Be(1f);
        FluentActions.Invoking(() => Transforms.Shift(image, 4, 4, 0)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Random_jitter_is_a_crop_at_an_offset_below_d()
    {
        using Tensor image = arange(1 * 3 * 10 * 10).to(ScalarType.Float32).reshape(1, 3, 10, 10);
        var random = new Random(1);
        for (int i = 0; i < 20; i++)
        {
            using Tensor out1 = Transforms.Jitter(3).Apply(image, random);
            out1.shape.Should().Equal(1, 3, 7, 7);
            float corner = out1[0, 0, 0, 0].item<float>();
            int dy = (int)corner / 10, dx = (int)corner % 10;
            dy.Should().BeInRange(0, 2);
            dx.Should().BeInRange(0, 2);
        }
    }

    [Fact]
    public void Rotation_by_90_degrees_equals_transpose_plus_flip()
    {
        using Tensor image = rand(new long[] { 2, 3, 9, 9 }, generator: new Generator(2));
        using Tensor rotated = Transforms.Rotate(image, 90);
        // Counter-clockwise as displayed: the top row becomes the left column, read bottom to top.
        using Tensor expected = image.transpose(2, 3).flip(2);
        (rotated - expected).abs().max().item<float>().Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void Pad_and_scale_change_the_size_as_asked()
    {
        using Tensor image = ones(1, 3, 10, 10);
        using Tensor padded = Transforms.Pad(3).Apply(image, new Random(0));
        padded.shape.Should().Equal(1, 3, 16, 16);
        padded[0, 1, 0, 0].item<float>().Should().Be(0.5f);
        using Tensor scaled = Transforms.RandomScale(new[] { 1.5 }).Apply(image, new Random(0));
        scaled.shape.Should().Equal(1, 3, 15, 15);
    }

    [Fact]
    public void Gradients_flow_through_every_transform()
    {
        foreach (IImageTransform t in Transforms.Standard().Append(Transforms.RandomRotate(new[] { 30.0 })))
        {
            Tensor image = rand(1, 3, 32, 32).requires_grad_(true);
            t.Apply(image, new Random(3)).pow(2).sum().backward();
            image.grad!.abs().sum().item<float>().Should().BeGreaterThan(0, t.Name);
        }
    }

    [Fact]
    public void The_standard_stack_is_deterministic_for_a_seed()
    {
        using Tensor image = rand(new long[] { 1, 3, 40, 40 }, generator: new Generator(9));
        using Tensor a = Transforms.ApplyAll(Transforms.Standard(), image, new Random(5));
        using Tensor b = Transforms.ApplyAll(Transforms.Standard(), image, new Random(5));
        HandBuiltNet.Values(a).Should().Equal(HandBuiltNet.Values(b));
    }
}
