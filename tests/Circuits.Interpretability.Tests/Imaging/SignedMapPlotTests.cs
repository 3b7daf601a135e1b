using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Imaging;

public sealed class SignedMapPlotTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-signed-map-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Pixels of the figure's left 70 % (the map, not the colour bar) close to <paramref name="c"/>.</summary>
    private static Tensor Near(Tensor image, Rgb c)
    {
        long keep = (long)(image.shape[2] * 0.7);
        Tensor left = image[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(0, keep)];
        return (left[0] - c.R).abs().lt(0.04f).logical_and((left[1] - c.G).abs().lt(0.04f)).logical_and((left[2] - c.B).abs().lt(0.04f));
    }

    private static double MeanRow(Tensor mask) => mask.nonzero()[TensorIndex.Colon, 0].to(ScalarType.Float64).mean().item<double>();

    [Fact]
    public void The_top_row_is_drawn_on_top_in_the_positive_colour_and_the_bottom_row_in_the_negative()
    {
        // Row 0 (top, as in an image): +1 (full positive colour); row 2: -1 (full negative colour); the middle row 0 (white).
        var map = new float[,] { { 1, 1, 1 }, { 0, 0, 0 }, { -1, -1, -1 } };
        var options = new SignedMapPlotOptions { Title = "test map" };

        using Tensor image = ImageIO.Decode(SignedMapPlot.RenderPng(map, options));

        image.shape.Should().Equal(3, 460, 560);
        using Tensor blue = Near(image, options.Positive);
        using Tensor red = Near(image, options.Negative);
        blue.sum().item<long>().Should().BeGreaterThan(1000, "the positive row is a large block of full colour");
        red.sum().item<long>().Should().BeGreaterThan(1000);
        MeanRow(blue).Should().BeLessThan(MeanRow(red) - 50, "row 0 is on top");
    }

    [Fact]
    public void A_connection_figure_uses_the_weight_colours_and_a_shared_scale()
    {
        var values = new float[] { 0, 0, 0, 0, 2, 0, 0, 0, 0,  0, 0, 0, 0, -1, 0, 0, 0, 0 };
        using var set = new ExpandedWeightSet("a", "b", new[] { 3, 4 }, new[] { 7 }, tensor(values).reshape(1, 2, 3, 3), 1, 1, ExpandedWeightMethod.PackedImpulses, string.Empty);
        string strong = Path.Combine(_folder, "strong.png"), weak = Path.Combine(_folder, "weak.png");

        WeightImage.SaveFigure(set, 7, 3, strong, maxAbs: 2);
        WeightImage.SaveFigure(set, 7, 4, weak, maxAbs: 2);

        using Tensor a = ImageIO.Load(strong);
        using Tensor b = ImageIO.Load(weak);
        using Tensor full = Near(a, WeightImage.PositiveColor);
        full.sum().item<long>().Should().BeGreaterThan(500, "the +2 cell is drawn at full colour");
        var halfRed = Rgb.Mix(WeightImage.NegativeColor, Rgb.White, 0.5);
        using Tensor half = Near(b, halfRed);
        half.sum().item<long>().Should().BeGreaterThan(500, "-1 on a scale of 2 is halfway from red to white");
        using Tensor fullRed = Near(b, WeightImage.NegativeColor);
        fullRed.sum().item<long>().Should().BeLessThan(50, "only the colour bar (cut away) would hold full red");
        Directory.GetFiles(_folder).Should().HaveCount(2, "no temporary files are left");
    }

    [Fact]
    public void Bad_maps_are_refused_with_the_reason()
    {
        var empty = () => SignedMapPlot.RenderPng(new float[0, 3]);
        empty.Should().Throw<CircuitsException>().WithMessage("*0 x 3*at least one row*");
        var nan = () => SignedMapPlot.RenderPng(new float[,] { { 1, float.NaN } });
        nan.Should().Throw<CircuitsException>().WithMessage("*row 0, column 1*");
    }
}
