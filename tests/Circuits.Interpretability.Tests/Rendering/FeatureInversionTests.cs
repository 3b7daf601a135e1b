using Circuits.Interpretability.Core;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

/// <summary>Feature inversion and caricatures (Lucid's caricature recipe) on layers whose answer is known.</summary>
public class FeatureInversionTests
{
    private readonly ITestOutputHelper _output;

    public FeatureInversionTests(ITestOutputHelper output) => _output = output;

    /// <summary>A smooth test photo with values in [0.15, 0.85]: blobs of colour, as a real photo would have.</summary>
    private static Tensor Photo(int size, int seed)
    {
        using var scope = NewDisposeScope();
        Tensor coarse = rand(new long[] { 1, 3, 4, 4 }, generator: new Generator((ulong)seed));
        return ((nn.functional.interpolate(coarse, new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false) * 0.7) + 0.15)[0].MoveToOuterDisposeScope();
    }

    /// <summary>A 1 x 1 convolution computing weight · rgb + bias at every pixel.</summary>
    private static TorchSharp.Modules.Sequential ColourLayer(float[] weight, float[] bias)
    {
        var conv = nn.Conv2d(3, 3, 1);
        using (no_grad())
        {
            conv.weight!.copy_(tensor(weight).reshape(3, 3, 1, 1));
            conv.bias!.copy_(tensor(bias));
        }

        return nn.Sequential(("seen", conv));
    }

    private (double Max, double Mean) Error(RenderResult result, Tensor photo, string what)
    {
        using Tensor diff = (result.Images[0] - photo).abs();
        var (max, mean) = (diff.max().item<float>(), diff.mean().item<float>());
        _output.WriteLine($"{what}: max {max:F4} ({max * 255:F2}/255), mean {mean:F5}, final objective {result.FinalObjective:G3}");
        return (max, mean);
    }

    /// <summary>One trainable value per pixel, colours not decorrelated: every pixel moves on its own.</summary>
    private static ImageParameterization Pixels(int batch, int h, int w, int seed) =>
        new PixelImage(batch, h, w, seed, new ParameterizationOptions { Decorrelate = false });

    /// <summary>Inverts <paramref name="photo"/> (16 x 16) at an identity layer, without transforms, seed 0.</summary>
    private static RenderResult InvertIdentity(Tensor photo, RenderOptions render)
    {
        using var model = nn.Sequential(("seen", nn.Identity()));
        return FeatureInversion.Render(model, photo, "seen", new FeatureInversionOptions
        {
            Mode = InversionMode.Inversion,
            Render = render with { ImageSize = 16, Seed = 0, Transforms = Array.Empty<IImageTransform>() },
        });
    }

    /// <summary>
    /// The known answer: an identity layer loses nothing, so the only image with the photo's activations is the
    /// photo. With one parameter per pixel, the render must reach it to within one grey level of an 8-bit image at
    /// every pixel (what a PNG can show), for each of three photos.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Inversion_of_an_identity_layer_reproduces_the_photo(int photoSeed)
    {
        using Tensor photo = Photo(16, photoSeed);
        using RenderResult result = InvertIdentity(photo, new RenderOptions { Steps = 200, Parameterization = Pixels, Thresholds = new[] { 10 } });

        var (max, _) = Error(result, photo, $"identity, pixels, photo {photoSeed}");
        max.Should().BeLessThan(1 / 255.0);
        result.Images.shape.Should().Equal(1, 3, 16, 16);
        result.Snapshots.Should().ContainSingle().Which.Images.shape.Should().Equal(1, 3, 16, 16);
        result.ObjectiveHistory.Should().HaveCount(200);
        result.Objective.Name.Should().Be("-activation_diff(seen, 0, 1)");
    }

    /// <summary>
    /// The same known answer with the recipe's default image (Fourier, colours decorrelated as ImageNet's, sigmoid).
    /// That basis moves the weakest ImageNet colour axis (its column is 0.135 of the largest) and the highest
    /// frequencies slowest, so random colours like these photos' converge last: after 400 steps the error must be
    /// under 2 grey levels on average and 8 at the worst pixel, and a quarter or less of what it was at step 100.
    /// </summary>
    [Theory]
    [Trait("Category", "Slow")]
    [InlineData(1)]
    [InlineData(2)]
    public void Inversion_with_the_default_fourier_image_converges_to_the_photo(int photoSeed)
    {
        using Tensor photo = Photo(16, photoSeed);
        using RenderResult result = InvertIdentity(photo, new RenderOptions { Steps = 400, Thresholds = new[] { 100 } });

        var (max, mean) = Error(result, photo, $"identity, Fourier, photo {photoSeed}");
        double early = (result.Snapshots[0].Images[0] - photo).abs().mean().item<float>();
        _output.WriteLine($"mean error at step 100: {early:F5}");
        max.Should().BeLessThan(8 / 255.0);
        mean.Should().BeLessThan(2 / 255.0);
        mean.Should().BeLessThan(early / 4);
    }

    /// <summary>
    /// An invertible colour mixing also loses nothing. Pad and jitter are applied to the render and the photo alike
    /// (one random crop per step for the whole batch), so the photo is still the answer, and the render reaches it.
    /// </summary>
    [Fact]
    public void Inversion_of_an_invertible_colour_layer_under_jitter_reproduces_the_photo()
    {
        using var model = ColourLayer(new float[] { 1, 0.5f, 0, -0.3f, 1, 0.2f, 0.1f, -0.4f, 1 }, new float[] { 0.1f, -0.2f, 0.3f });
        using Tensor photo = Photo(16, 2);
        using RenderResult result = FeatureInversion.Render(model, photo, "seen", new FeatureInversionOptions
        {
            Mode = InversionMode.Inversion,
            Render = new RenderOptions
            {
                Steps = 200, ImageSize = 16, Seed = 1, Parameterization = Pixels,
                Transforms = new[] { Transforms.Pad(4), Transforms.Jitter(4) },
            },
        });

        var (max, _) = Error(result, photo, "colour mixing, pad + jitter");
        max.Should().BeLessThan(1 / 255.0);
    }

    /// <summary>
    /// A caricature exaggerates: on a layer that computes rgb − 0.5, the dot product with the photo's activation
    /// grows by pushing every pixel away from grey on the side the photo is on. With the recipe's cossim_pow of 0
    /// the objective is linear in each pixel, and with one parameter per pixel each pixel moves on its own, so the
    /// known answer is the photo thresholded at grey, driven to the limits.
    /// </summary>
    [Fact]
    public void A_caricature_of_a_centred_identity_layer_is_the_photo_thresholded_at_grey()
    {
        using var model = ColourLayer(new float[] { 1, 0, 0, 0, 1, 0, 0, 0, 1 }, new float[] { -0.5f, -0.5f, -0.5f });
        using Tensor photo = Photo(16, 3);
        using RenderResult result = FeatureInversion.Render(model, photo, "seen", new FeatureInversionOptions
        {
            Render = new RenderOptions { Steps = 150, ImageSize = 16, Seed = 2, Transforms = Array.Empty<IImageTransform>(), Parameterization = Pixels },
        });

        float[] render = HandBuiltNet.Values(result.Images[0]);
        float[] real = HandBuiltNet.Values(photo);
        var clear = Enumerable.Range(0, real.Length).Where(i => Math.Abs(real[i] - 0.5) > 0.01).ToList();
        clear.Count.Should().BeGreaterThan(700);
        clear.Should().OnlyContain(i => Math.Sign(render[i] - 0.5) == Math.Sign(real[i] - 0.5) && Math.Abs(render[i] - 0.5) > 0.45);
        result.Objective.Name.Should().Be("dot_compare(seen, 1)");
    }

    [Fact]
    public void Inversions_and_their_parameterizations_free_every_tensor_they_make()
    {
        using var model = nn.Sequential(("seen", nn.Identity()));
        using Tensor photo = Photo(8, 4);
        void Invert()
        {
            using RenderResult r = FeatureInversion.Render(model, photo, "seen", new FeatureInversionOptions { Render = new RenderOptions { Steps = 2, ImageSize = 8, Thresholds = new[] { 1 } } });
        }

        Invert(); // warm-up
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 20; i++)
        {
            Invert();
        }

        long afterRenders = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var scope = NewDisposeScope())
        {
            using var stack = new StackImage(new SharedImage(2, 8, 8), rand(3, 8, 8));
            using var pyramid = LaplacianImage.FromImage(rand(3, 8, 8));
            stack.Image().sum().backward();
            pyramid.Image().sum().backward();
        }

        afterRenders.Should().Be(before, "20 inversions free every tensor they make");

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before);
    }

    [Fact]
    public void Fit_resizes_the_short_side_and_crops_the_centre_and_bad_inputs_are_clear_errors()
    {
        using Tensor wide = rand(new long[] { 3, 20, 40 }, generator: new Generator(4));
        using Tensor fitted = FeatureInversion.Fit(wide, 10);
        fitted.shape.Should().Equal(1, 3, 10, 10);
        using Tensor resized = nn.functional.interpolate(wide.unsqueeze(0), new long[] { 10, 20 }, mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
        (fitted - resized[TensorIndex.Ellipsis, TensorIndex.Slice(5, 15)]).abs().max().item<float>().Should().BeLessThan(1e-6f);

        using var model = nn.Sequential(("seen", nn.Identity()));
        FluentActions.Invoking(() => FeatureInversion.Render(model, rand(4, 8, 8), "seen"))
            .Should().Throw<CircuitsException>().WithMessage("*one RGB image*got [4, 8, 8]*");
        FluentActions.Invoking(() => FeatureInversion.Render(model, rand(3, 8, 8), "sen", new FeatureInversionOptions { Render = new RenderOptions { Steps = 1, ImageSize = 8 } }))
            .Should().Throw<UnknownLayerException>().WithMessage("*'sen'*seen*");
    }
}
