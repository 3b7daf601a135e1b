using Circuits.Interpretability.Activations;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Rendering;
using Circuits.Interpretability.Tests.Browser;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Activations;

public sealed class SemanticDictionaryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("circuits-sd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// Unit 0 reads red, 1 green, 2 blue, 3 half the brightness; a 2 x 2 average pool gives four positions. On an image
    /// whose quadrants are red, green, blue and grey, the strongest unit of each position is designed: 0, 1, 2, 3.
    /// </summary>
    private static (nn.Module<Tensor, Tensor> Model, Tensor Image) Designed()
    {
        var conv = nn.Conv2d(3, 4, 1, bias: false);
        using (no_grad())
        {
            conv.weight!.copy_(tensor(new[] { 1f, 0, 0, 0, 1, 0, 0, 0, 1, 0.5f, 0.5f, 0.5f }).reshape(4, 3, 1, 1));
        }

        var model = nn.Sequential(("units", conv), ("pool", nn.AvgPool2d(2)));
        Tensor image = zeros(1, 3, 4, 4);
        image[0, 0, TensorIndex.Slice(0, 2), TensorIndex.Slice(0, 2)] = tensor(1f);   // red
        image[0, 1, TensorIndex.Slice(0, 2), TensorIndex.Slice(2, 4)] = tensor(1f);   // green
        image[0, 2, TensorIndex.Slice(2, 4), TensorIndex.Slice(0, 2)] = tensor(1f);   // blue
        image[0, TensorIndex.Colon, TensorIndex.Slice(2, 4), TensorIndex.Slice(2, 4)] = tensor(0.5f);   // grey: unit 3 gives 0.75
        return (model, image);
    }

    [Fact]
    public void Each_position_lists_its_designed_strongest_units_with_their_activations()
    {
        var (model, image) = Designed();

        using var sd = SemanticDictionary.Build(model, image, "pool", new SemanticDictionaryOptions { TopK = 2, RenderIcons = false });

        sd.Height.Should().Be(2);
        sd.Width.Should().Be(2);
        sd.At(0, 0).Top.Should().Equal((0, 1.0), (3, 0.5));
        sd.At(0, 1).Top.Should().Equal((1, 1.0), (3, 0.5));
        sd.At(1, 0).Top.Should().Equal((2, 1.0), (3, 0.5));
        sd.At(1, 1).Top[0].Should().Be((3, 0.75));
        sd.At(1, 1).Top[1].Channel.Should().Be(0, "ties among 0.5 go to the lowest channel");
        sd.At(0, 0).Magnitude.Should().BeApproximately(Math.Sqrt(1.25), 1e-6);
        sd.Icons.Should().BeEmpty();
        FluentActions.Invoking(() => sd.At(2, 0)).Should().Throw<UnitOutOfRangeException>().WithMessage("*2 x 2 positions*");
        FluentActions.Invoking(() => SemanticDictionary.Build(model, image, "pool", new SemanticDictionaryOptions { TopK = 5 })).Should().Throw<CircuitsException>().WithMessage("TopK 5 is out of range*4 channels*");
    }

    [BrowserFact]
    [Trait("Category", "Slow")]
    public async Task Icons_are_rendered_for_every_listed_unit_and_the_page_shows_them_in_a_browser()
    {
        var (model, image) = Designed();
        var options = new SemanticDictionaryOptions
        {
            TopK = 2,
            IconRender = new RenderOptions { Steps = 64, ImageSize = 16, BatchSize = 4, Transforms = Array.Empty<IImageTransform>() },
        };

        using var sd = SemanticDictionary.Build(model, image, "pool", options);

        sd.Icons.Keys.Order().Should().Equal(0, 1, 2, 3);
        // The icon of the red unit is red-dominated, of the green unit green-dominated: the renders mean something.
        Tensor red = sd.Icons[0].mean(new long[] { 1, 2 }), green = sd.Icons[1].mean(new long[] { 1, 2 });
        red.argmax().item<long>().Should().Be(0);
        green.argmax().item<long>().Should().Be(1);
        using Tensor figure = sd.Figure(cellSize: 24);
        figure.shape.Should().Equal(3, 48, (2 * 2 * 24) + 3);

        string page = sd.SaveHtml(Path.Combine(_dir, "sd.html"));
        await using var browser = await BrowserHarness.LaunchAsync();
        PageCheck check = await browser.CheckAsync(page, "semantic-dictionary.png");

        check.Errors.Should().BeEmpty();
        check.Images.Should().OnlyContain(i => i.NaturalWidth > 0, "every embedded image decodes");
        // The strongest position is shown on load: grey, |(0.5, 0.5, 0.5, 0.75)| = 1.146 beats |(1, 0, 0, 0.5)| = 1.118.
        check.Headings.Should().Contain("pool @ 1,1");
        check.Text.Should().Contain("unit 3: 0.750").And.Contain("unit 0: 0.500");
        check.Images.Select(i => i.Alt).Should().Contain(new[] { "input image", "unit 3", "unit 0", "semantic dictionary grid" });
        check.Images.Single(i => i.Alt == "input image").ShownWidth.Should().Be(448);
    }
}
