using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Samples.InceptionV1Samples;
using Circuits.Interpretability.Tests.Cli;
using Circuits.Interpretability.Tests.Samples;
using Xunit.Abstractions;

namespace Circuits.Interpretability.Tests.Browser;

/// <summary>
/// The reports as a person meets them, in headless chromium: the quick start's report, a CLI report and two
/// InceptionV1 sample pages. Every image decodes, every plot has a title and axis titles with units, every weight
/// figure has a colour legend, method internals are folded away; screenshots go to <see cref="BrowserHarness.ScreenshotFolder"/>.
/// </summary>
[Collection(nameof(ConsoleCollection))]
[Trait("Category", "Slow")]
public sealed class ReportBrowserTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-browser-").FullName;
    private readonly ITestOutputHelper _log;

    public ReportBrowserTests(ITestOutputHelper log) => _log = log;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [BrowserFact]
    public async Task The_quick_start_report_reads_well_in_a_browser()
    {
        string? previous = Environment.GetEnvironmentVariable("CIRCUITS_CACHE");
        Environment.SetEnvironmentVariable("CIRCUITS_CACHE", Path.Combine(_folder, "empty-cache"));
        try
        {
            var (code, _, error) = QuickStartTests.Run("--units", "0,4,8", "--steps", "48", "--size", "48", "--out", _folder);
            code.Should().Be(0, error);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CIRCUITS_CACHE", previous);
        }

        PageCheck page = await Check(Path.Combine(_folder, "quickstart-report.html"), "quickstart-report.png");

        ExpectReadable(page, plots: 3, weightLegends: 3);
        page.Legends.Should().Contain(l => l.Contains("NMF factors"), "the NMF image's colours are explained too");
        page.Plots.Should().OnlyContain(p => p.Texts.Contains("orientation (degrees)") && p.Texts.Contains("response (activation)"));
        page.Plots[0].Texts.Should().Contain(t => t.StartsWith("peak at 0°"), "curves:0 was designed for 0°");
    }

    [BrowserFact]
    public async Task A_cli_report_reads_well_in_a_browser()
    {
        var (code, _, error) = await CliTests.Run("report", "--units", "curves:2,6", "--steps", "48", "--size", "48", "--top", "4", "--out", _folder);
        code.Should().Be(ExitCodes.Success, error);

        PageCheck page = await Check(Path.Combine(_folder, "report-curve-circuit.html"), "cli-report.png");

        ExpectReadable(page, plots: 2, weightLegends: 2);
        page.Images.Where(i => i.Alt.StartsWith("lines:")).Should().HaveCount(8, "4 weight images per unit");
    }

    [BrowserFact]
    public async Task A_dataset_examples_page_shows_labelled_crops_large_enough_to_see()
    {
        string images = Path.Combine(_folder, "images");
        Directory.CreateDirectory(images);
        for (int i = 0; i < 6; i++)
        {
            using var image = global::Circuits.Interpretability.Analysis.Stimuli.Stimuli.Render(
                new global::Circuits.Interpretability.Analysis.Stimuli.CurveStimulus { Orientation = i * 60, CenterX = 24 + (3 * i), CenterY = 30 });
            global::Circuits.Interpretability.Imaging.ImageIO.SavePng(image, Path.Combine(images, $"curve{i}.png"));
        }

        var (code, _, error) = await CliTests.Run("examples", "--unit", "curves:4", "--images", images, "--top", "4", "--out", _folder);
        code.Should().Be(ExitCodes.Success, error);

        PageCheck page = await Check(Path.Combine(_folder, "examples-curves_4.html"), "cli-examples.png");

        page.Errors.Should().BeEmpty();
        page.Images.Should().HaveCount(4).And.OnlyContain(i => i.NaturalWidth == 19 && i.ShownWidth >= 150, "19 x 19 crops are enlarged 8 times");
        page.Images.Should().OnlyContain(i => i.Caption.Contains("(y, x) = (") && i.Caption.Contains("activation") && i.Caption.Contains("curve"));
        page.Text.Should().Contain("position (y, x) in the layer");
    }

    [BrowserFact]
    public async Task InceptionV1_sample_pages_read_well_in_a_browser()
    {
        string detectors = Path.Combine(_folder, "curve-detectors");
        string circuits = Path.Combine(_folder, "curve-circuits");
        var log = new StringWriter();
        string[] tiny = { "--random-weights", "--steps", "8", "--size", "64", "--stimulus-size", "96", "--step", "30" };
        SampleRunner.Run(new[] { "curve-detectors", "--units", "379,406" }.Concat(tiny).Concat(new[] { "--out", detectors }).ToArray(), log, log).Should().Be(0, log.ToString());
        SampleRunner.Run(new[] { "curve-circuits", "--units", "379", "--top", "4" }.Concat(tiny).Concat(new[] { "--out", circuits }).ToArray(), log, log).Should().Be(0, log.ToString());

        PageCheck tuning = await Check(Path.Combine(detectors, "report.html"), "sample-curve-detectors.png");
        PageCheck weights = await Check(Path.Combine(circuits, "report.html"), "sample-curve-circuits.png");

        ExpectReadable(tuning, plots: 2, weightLegends: 0);
        ExpectReadable(weights, plots: 0, weightLegends: 1);
        tuning.Text.Should().Contain("Seeded random weights");
    }

    private async Task<PageCheck> Check(string html, string screenshot)
    {
        await using BrowserHarness browser = await BrowserHarness.LaunchAsync();
        PageCheck page = await browser.CheckAsync(html, screenshot, detailSelector: "section.unit");
        _log.WriteLine($"screenshot: {page.Screenshot}" + (page.DetailScreenshot is null ? string.Empty : $" (first unit: {page.DetailScreenshot})"));
        return page;
    }

    /// <summary>What every report must give a reader.</summary>
    private static void ExpectReadable(PageCheck page, int plots, int weightLegends)
    {
        page.Errors.Should().BeEmpty("the page loads without console errors");
        page.Images.Should().NotBeEmpty();
        page.Images.Should().OnlyContain(i => i.NaturalWidth > 0, "every image decodes");
        page.Images.Should().OnlyContain(i => i.Alt.Length > 0 && i.Caption.Length > 0, "every image says what it shows");
        page.Images.Should().OnlyContain(i => i.ShownWidth >= 96, "small renders and weight images are shown large enough to see");
        page.Plots.Should().HaveCount(plots);
        foreach (PagePlot plot in page.Plots)
        {
            plot.Label.Should().NotBeNullOrWhiteSpace();
            plot.Texts.Should().Contain(plot.Label, "the plot shows its title");
            plot.Texts.Should().Contain(t => t.Contains('(') && t.EndsWith(')') && t != plot.Label, "axis titles name their units");
            plot.Texts.Count(t => double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _))
                .Should().BeGreaterThan(5, "both axes have numbered ticks");
            plot.ShownWidth.Should().BeGreaterThanOrEqualTo(400, "ticks stay readable");
        }

        page.Legends.Count(l => l.Contains("excites") && l.Contains("inhibits")).Should().Be(weightLegends, "every set of weight images has its colour legend");
        page.Text.Should().NotContain("tiles", "method internals are folded into details elements, not in the reading text");
        if (weightLegends > 0)
        {
            page.Details.Should().BeGreaterThan(0);
        }
    }
}
