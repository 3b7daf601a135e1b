using System.Text.Json;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Cli;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Cli;

/// <summary>The <c>report</c> and <c>examples</c> verbs on the curve circuit, whose right answers are known by design.</summary>
public sealed class CliReportAndExamplesTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-cli-report-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string P(params string[] parts) => Path.Combine(new[] { _folder }.Concat(parts).ToArray());

    [Fact]
    public async Task Report_writes_one_section_per_unit_with_the_designed_tuning_peaks_and_prints_its_path()
    {
        using var circuit = new CurveCircuit();
        var (code, output, error) = await CliTests.Run("report", "--units", "curves:0,4,10", "--steps", "24", "--size", "32", "--top", "3", "--out", P("out"), "--json");

        code.Should().Be(ExitCodes.Success, error);
        using var json = JsonDocument.Parse(output);
        string report = json.RootElement.GetProperty("report").GetString()!;
        report.Should().Be(P("out", "report-curve-circuit.html"));
        json.RootElement.GetProperty("source").GetString().Should().Be(CurveCircuit.LinesLayer);
        var units = json.RootElement.GetProperty("units").EnumerateArray().ToList();
        units.Select(u => u.GetProperty("unit").GetString()).Should().Equal("curves:0", "curves:4", "curves:10");
        foreach (var (unit, channel) in units.Zip(new[] { 0, 4, 10 }))
        {
            unit.GetProperty("tuningPeak").GetDouble().Should().BeApproximately(circuit.CurveOrientations[channel], 5.0, "the tuning peak is the designed orientation");
            var inputs = unit.GetProperty("inputs").EnumerateArray().ToList();
            inputs.Should().HaveCount(3);
            inputs.Select(i => i.GetProperty("strength").GetDouble()).Should().BeInDescendingOrder();
            inputs.Should().OnlyContain(i => i.GetProperty("unit").GetString()!.StartsWith("lines:"));
        }

        string html = File.ReadAllText(report);
        foreach (string unit in new[] { "curves:0", "curves:4", "curves:10" })
        {
            html.Should().Contain($"<h3>{unit}</h3>");
        }

        // Per unit: the visualization and 3 weight images embedded as PNG, the tuning plot and the weights' colour legend as SVG.
        System.Text.RegularExpressions.Regex.Matches(html, "<img src=\"data:image/png;base64,").Count.Should().Be(3 * 4);
        System.Text.RegularExpressions.Regex.Matches(html, "<svg[^>]*class=\"plot\"").Count.Should().Be(3);
        System.Text.RegularExpressions.Regex.Matches(html, "<svg[^>]*class=\"legend\"").Count.Should().Be(3);
        html.Should().Contain("orientation (degrees)").And.Contain("excites").And.Contain("inhibits");
        html.Should().MatchRegex("<details><summary>[^<]*</summary>[^/]*KernelComposition", "method internals are folded away");

        var text = await CliTests.Run("report", "--units", "curves:8", "--steps", "8", "--size", "32", "--out", P("text"));
        text.Code.Should().Be(ExitCodes.Success, text.Err);
        text.Out.Should().Contain("curves:8").And.Contain("peak at 180°").And.Contain($"Report: {P("text", "report-curve-circuit.html")}");
    }

    [Fact]
    public async Task Report_rejects_bad_units_and_options_clearly_and_writes_nothing()
    {
        var noChannel = await CliTests.Run("report", "--units", "curves", "--out", P("out"));
        noChannel.Code.Should().Be(ExitCodes.Usage);
        noChannel.Err.Should().Contain("'curves' is not layer:channel");

        var bare = await CliTests.Run("report", "--units", "3,4", "--out", P("out"));
        bare.Code.Should().Be(ExitCodes.Usage);
        bare.Err.Should().Contain("channel 3 comes before any layer");

        var unknown = await CliTests.Run("report", "--units", "curvez:1", "--steps", "4", "--out", P("out"));
        unknown.Code.Should().Be(ExitCodes.Usage);
        unknown.Err.Should().Contain("curvez").And.Contain("curves");

        var objective = await CliTests.Run("report", "--objective", "diversity", "--out", P("out"));
        objective.Code.Should().Be(ExitCodes.Usage);
        objective.Err.Should().Contain("--objective 'diversity' is not known; expected neuron or channel.");

        var noSource = await CliTests.Run("report", "--units", "lines:3", "--steps", "4", "--out", P("out"));
        noSource.Code.Should().Be(ExitCodes.Usage);
        noSource.Err.Should().Contain("--from");

        Directory.Exists(P("out")).Should().BeFalse("a failed report leaves nothing behind");
    }

    /// <summary>Twelve 64 x 64 curve images (orientation (i mod 4) x 90°, so 01, 05 and 09 are the 90° ones), a corrupt PNG, a text file.</summary>
    private string MakeImages()
    {
        string folder = P("images");
        Directory.CreateDirectory(folder);
        var random = new Random(5);
        for (int i = 0; i < 12; i++)
        {
            using Tensor image = Stimuli.Render(new CurveStimulus { Orientation = (i % 4) * 90, CenterX = random.Next(20, 44), CenterY = random.Next(20, 44) });
            ImageIO.SavePng(image, Path.Combine(folder, $"img{i:00}.png"));
        }

        File.WriteAllBytes(Path.Combine(folder, "broken.png"), new byte[] { 0x89, 0x50, 0x4E, 0x47, 9, 9 });
        File.WriteAllText(Path.Combine(folder, "readme.txt"), "not an image");
        return folder;
    }

    [Fact]
    public async Task Examples_finds_the_curves_a_unit_was_designed_for_and_writes_crops_grid_and_summary()
    {
        string images = MakeImages();
        var (code, output, error) = await CliTests.Run("examples", "--unit", "curves:4", "--images", images, "--top", "3", "--batch", "5", "--out", P("ex"), "--json");

        code.Should().Be(ExitCodes.Success, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        root.GetProperty("images").GetInt32().Should().Be(13, "12 curves and the corrupt PNG; the text file is not an image");
        var examples = root.GetProperty("examples").EnumerateArray().ToList();
        examples.Select(e => Path.GetFileName(e.GetProperty("path").GetString())).Should().BeEquivalentTo("img01.png", "img05.png", "img09.png");
        examples.Select(e => e.GetProperty("activation").GetDouble()).Should().BeInDescendingOrder();
        foreach (var e in examples)
        {
            string crop = e.GetProperty("crop").GetProperty("image").GetString()!;
            File.Exists(crop).Should().BeTrue();
            using Tensor loaded = ImageIO.Load(crop);
            loaded.shape.Should().Equal(3, 19, 19);
        }

        var skipped = root.GetProperty("skipped").EnumerateArray().ToList();
        skipped.Should().ContainSingle().Which.GetProperty("path").GetString().Should().EndWith("broken.png");
        using (Tensor grid = ImageIO.Load(root.GetProperty("grid").GetString()!))
        {
            // 3 crops of 19 px on a 2 x 2 grid with 2 px padding (44 px), enlarged 128 / 19 = 6 times to be seen.
            grid.shape.Should().Equal(3, 6 * 44, 6 * 44);
        }

        string page = File.ReadAllText(root.GetProperty("report").GetString()!);
        page.Should().Contain("<h3>Dataset examples</h3>").And.Contain("(y, x) = (").And.Contain("position (y, x) in the layer").And.Contain("img01.png");
        JsonDocument.Parse(File.ReadAllText(P("ex", "examples-curves_4.json"))).RootElement.GetProperty("unit").GetString().Should().Be("curves:4");

        var text = await CliTests.Run("examples", "--unit", "curves:12", "--images", images, "--top", "2", "--out", P("ex"));
        text.Code.Should().Be(ExitCodes.Success, text.Err);
        text.Out.Should().Contain("position (y, x)").And.Contain("top 2 of 13 images for curves:12").And.Contain("img03.png").And.Contain("skipped").And.Contain("broken.png");
    }

    [Fact]
    public async Task Examples_resumes_from_its_state_file_with_the_same_answer()
    {
        string images = MakeImages();
        string state = P("state.json");
        var first = await CliTests.Run("examples", "--unit", "curves:8", "--images", images, "--top", "3", "--batch", "4", "--state", state, "--out", P("a"), "--json");
        var again = await CliTests.Run("examples", "--unit", "curves:8", "--images", images, "--top", "3", "--batch", "4", "--state", state, "--out", P("b"), "--json");

        first.Code.Should().Be(ExitCodes.Success, first.Err);
        again.Code.Should().Be(ExitCodes.Success, again.Err);
        using var a = JsonDocument.Parse(first.Out);
        using var b = JsonDocument.Parse(again.Out);
        a.RootElement.GetProperty("resumedFrom").GetInt32().Should().Be(0);
        b.RootElement.GetProperty("resumedFrom").GetInt32().Should().Be(13, "the state file says every image was done");
        string Paths(JsonDocument d) => string.Join("|", d.RootElement.GetProperty("examples").EnumerateArray().Select(e => e.GetProperty("path").GetString()));
        Paths(b).Should().Be(Paths(a));
        Paths(a).Should().Contain("img02.png");
    }

    [Fact]
    public async Task Examples_rejects_a_missing_or_empty_folder_and_a_bad_unit()
    {
        var missing = await CliTests.Run("examples", "--unit", "curves:4", "--images", P("nowhere"), "--out", P("ex"));
        missing.Code.Should().Be(ExitCodes.Failure);
        missing.Err.Should().Contain("nowhere").And.Contain("is not a folder");

        Directory.CreateDirectory(P("empty"));
        var empty = await CliTests.Run("examples", "--unit", "curves:4", "--images", P("empty"), "--out", P("ex"));
        empty.Code.Should().Be(ExitCodes.Failure);
        empty.Err.Should().Contain("holds no .png, .jpg or .jpeg images");

        string images = MakeImages();
        var layer = await CliTests.Run("examples", "--unit", "curvez:4", "--images", images, "--out", P("ex"));
        layer.Code.Should().Be(ExitCodes.Usage);
        layer.Err.Should().Contain("curvez").And.Contain("curves");

        var usage = await CliTests.Run("examples", "--unit", "curves:4");
        usage.Code.Should().Be(ExitCodes.Usage);
        usage.Err.Should().Contain("--images");
        Directory.Exists(P("ex")).Should().BeFalse();
    }
}
