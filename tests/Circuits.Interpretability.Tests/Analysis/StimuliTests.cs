using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Analysis;

public class StimuliTests
{
    private static float At(Tensor image, int channel, int row, int col) => image[0, channel, row, col].item<float>();

    [Fact]
    public void Every_generator_is_deterministic_RGB_in_0_1_of_the_asked_size()
    {
        StimulusOptions[] all =
        {
            new CurveStimulus { Orientation = 30 }, new LineStimulus { Orientation = 10, Length = 20 }, new EdgeStimulus { Orientation = 100 },
            new GratingStimulus { Orientation = 45, Phase = 30 }, new FrequencyBoundaryStimulus { Orientation = 60 },
            new ColorContrastStimulus { Orientation = 200, Radius = 12 },
        };
        foreach (StimulusOptions s in all)
        {
            using Tensor a = Stimuli.Render(s with { Width = 40, Height = 30 });
            using Tensor b = Stimuli.Render(s with { Width = 40, Height = 30 });
            a.shape.Should().Equal(1, 3, 30, 40);
            a.dtype.Should().Be(ScalarType.Float32);
            HandBuiltNet.Values(a).Should().Equal(HandBuiltNet.Values(b));
            a.min().item<float>().Should().BeGreaterThanOrEqualTo(0);
            a.max().item<float>().Should().BeLessThanOrEqualTo(1);
            (a.max() - a.min()).item<float>().Should().BeGreaterThan(0.5f, $"{s.GetType().Name} should draw something");
        }
    }

    [Fact]
    public void A_curve_of_orientation_0_bulges_right_with_its_apex_1_85_pixels_right_of_centre()
    {
        using Tensor curve = Stimuli.Curve(new CurveStimulus());
        // Radius 5, 150 degrees: the apex lies (1 - cos 75°) · 5 / 2 = 1.85 px right of the centre (32, 32).
        At(curve, 0, 32, 34).Should().BeLessThan(0.3f);
        At(curve, 0, 32, 30).Should().Be(1f);
        At(curve, 0, 32 - 5, 30).Should().BeLessThan(0.5f, "the arc's upper end lies up and to the left");
        At(curve, 0, 32 + 5, 30).Should().BeLessThan(0.5f, "and its lower end down and to the left");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    [InlineData(135)]
    public void Rotating_a_curve_by_90_degrees_gives_the_curve_of_orientation_plus_90(double orientation)
    {
        var spec = new CurveStimulus { Orientation = orientation, Width = 33, Height = 33, Thickness = 2 };
        using Tensor rotated = Transforms.Rotate(Stimuli.Curve(spec), 90);
        using Tensor expected = Stimuli.Curve(spec with { Orientation = orientation + 90 });
        using Tensor opposite = Stimuli.Curve(spec with { Orientation = orientation + 270 });
        double error = (rotated - expected).abs().max().item<float>();
        error.Should().BeLessThan(0.02, "orientation is counter-clockwise as displayed, like Transforms.Rotate");
        (rotated - opposite).abs().max().item<float>().Should().BeGreaterThan(0.5f);
    }

    [Fact]
    public void Lines_edges_and_gratings_are_where_their_orientation_says()
    {
        using Tensor horizontal = Stimuli.Line(new LineStimulus { Orientation = 0 });
        At(horizontal, 1, 32, 5).Should().Be(0f);
        At(horizontal, 1, 35, 5).Should().Be(1f);
        using Tensor vertical = Stimuli.Line(new LineStimulus { Orientation = 90, Length = 10 });
        At(vertical, 1, 30, 32).Should().Be(0f);
        At(vertical, 1, 10, 32).Should().Be(1f, "a 10-pixel line ends 5 pixels from the centre");

        using Tensor edge = Stimuli.Edge(new EdgeStimulus { Orientation = 0 });
        At(edge, 0, 10, 40).Should().Be(0f, "the foreground half lies toward the orientation (right)");
        At(edge, 0, 10, 20).Should().Be(1f);
        At(edge, 0, 10, 32).Should().Be(0.5f, "the boundary pixel is half covered");

        using Tensor grating = Stimuli.Grating(new GratingStimulus { Orientation = 0, Frequency = 0.125 });
        At(grating, 2, 32, 7).Should().BeApproximately(0f, 1e-6f, "a foreground stripe is centred on the centre");
        At(grating, 2, 36, 7).Should().BeApproximately(1f, 1e-6f, "half a period (4 px) away is background");
        At(grating, 2, 40, 7).Should().BeApproximately(0f, 1e-6f);
    }

    [Fact]
    public void A_frequency_boundary_has_texture_on_the_high_side_and_a_flat_low_side()
    {
        using Tensor image = Stimuli.FrequencyBoundary(new FrequencyBoundaryStimulus { Orientation = 90 });
        // Orientation 90: the high-frequency half lies upward (rows above the centre).
        using Tensor high = image[0, 0, TensorIndex.Slice(0, 28)];
        using Tensor low = image[0, 0, TensorIndex.Slice(36, 64)];
        high.std().item<float>().Should().BeGreaterThan(0.3f);
        low.std().item<float>().Should().BeLessThan(1e-6f);
    }

    [Fact]
    public void A_colour_contrast_patch_puts_the_first_colour_toward_the_orientation()
    {
        using Tensor patch = Stimuli.ColorContrast(new ColorContrastStimulus { Orientation = 0, Radius = 10, Background = Rgb.Grey });
        HandBuiltNet.Values(patch[0, TensorIndex.Colon, 32, 38]).Should().Equal(1f, 0f, 0f);
        HandBuiltNet.Values(patch[0, TensorIndex.Colon, 32, 26]).Should().Equal(0f, 1f, 0f);
        HandBuiltNet.Values(patch[0, TensorIndex.Colon, 5, 5]).Should().Equal(0.5f, 0.5f, 0.5f);
    }

    [Fact]
    public void Bad_options_name_the_value_and_the_valid_range()
    {
        var act = () => Stimuli.Render(new GratingStimulus { Frequency = 0.7 });
        act.Should().Throw<CircuitsException>().WithMessage("*0.7 cycles per pixel*0 to 0.5*");
        var act2 = () => Stimuli.Render(new CurveStimulus { Thickness = -1 });
        act2.Should().Throw<CircuitsException>().WithMessage("*Thickness is -1*positive*");
        var act3 = () => Stimuli.Render(new LineStimulus { Foreground = new Rgb(2, 0, 0) });
        act3.Should().Throw<CircuitsException>().WithMessage("*Foreground is (2, 0, 0)*[0, 1]*");
        var act4 = () => Stimuli.RenderBatch(new StimulusOptions[] { new LineStimulus(), new LineStimulus { Width = 10 } });
        act4.Should().Throw<CircuitsException>().WithMessage("*64 x 64 and 10 x 64*");
    }
}
