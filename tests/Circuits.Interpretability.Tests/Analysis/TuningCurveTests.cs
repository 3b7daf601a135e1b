using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Analysis;

public class TuningCurveTests
{
    private readonly ITestOutputHelper _output;

    public TuningCurveTests(ITestOutputHelper output) => _output = output;

    private static double CircularDistance(double a, double b)
    {
        double d = Math.Abs(a - b) % 360;
        return Math.Min(d, 360 - d);
    }

    [Fact]
    public void Every_curve_unit_orientation_tuning_peaks_within_15_degrees_of_its_design_measured_at_most_2_5()
    {
        using var model = new CurveCircuit();
        var sweep = StimulusSweep.Orientation(new CurveStimulus { Width = 48, Height = 48 }, stepDegrees: 5);
        var units = Enumerable.Range(0, 16).Select(k => CurveCircuit.CurveUnit(k)).ToList();
        var curves = TuningCurves.MeasureMany(model, units, sweep);

        curves.Should().HaveCount(16);
        var errors = curves.Select((c, k) => CircularDistance(c.PeakValue, model.CurveOrientations[k])).ToList();
        for (int k = 0; k < 16; k++)
        {
            _output.WriteLine($"unit {k}: designed {model.CurveOrientations[k],6:F1}, peak {curves[k].PeakValue,6:F1} (response {curves[k].PeakResponse:F3}), " +
                              $"half-max width {curves[k].Responses.Count(r => r >= curves[k].PeakResponse / 2) * 5} deg");
        }

        errors.Should().OnlyContain(e => e <= 15);
        errors.Max().Should().BeLessThanOrEqualTo(2.5, "every peak falls on the sweep value nearest the designed angle (5-degree steps; 22.5° lies between two)");
        curves.Select(c => c.Values.Count).Should().OnlyContain(n => n == 72);
    }

    [Fact]
    public void Curvature_tuning_of_a_curve_unit_peaks_at_its_designed_curvature_0_2_and_a_straight_segment_gives_under_20_percent()
    {
        using var model = new CurveCircuit();
        double[] curvatures = Enumerable.Range(0, 13).Select(i => i * 0.05).ToArray(); // 0 .. 0.6
        var sweep = StimulusSweep.Curvature(new CurveStimulus { Width = 48, Height = 48, Orientation = 90 }, curvatures);
        TuningCurve curve = TuningCurves.Measure(model, CurveCircuit.CurveUnit(4), sweep);
        _output.WriteLine(curve.ToText());

        curve.PeakValue.Should().BeApproximately(0.2, 1e-9, "the designed radius is 5 pixels");
        curve.Responses[0].Should().BeLessThan(0.2 * curve.PeakResponse, "a straight segment matches the arc only in part (measured 14 %)");
    }

    [Fact]
    public void The_table_and_the_plot_show_the_curve_and_mark_the_peak()
    {
        using var model = new CurveCircuit();
        var sweep = StimulusSweep.Orientation(new CurveStimulus { Width = 40, Height = 40 }, stepDegrees: 15);
        TuningCurve curve = TuningCurves.Measure(model, "curves_relu:2", sweep);

        curve.PeakValue.Should().Be(45);
        string csv = curve.ToCsv();
        csv.Split('\n')[0].Should().Be("orientation,response");
        csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(25);
        csv.Split('\n')[4].Should().StartWith("45,");
        curve.ToText().Should().Contain("<- peak").And.Contain("curves_relu:2");

        string svg = curve.PlotSvg();
        svg.Should().StartWith("<svg").And.Contain("curves_relu:2: response over orientation").And.Contain("orientation (degrees)")
            .And.Contain("response (activation)").And.Contain("peak at 45°");
        // Ticks every 45°; the dashed peak line stands at the "45" tick's x.
        var tick = System.Text.RegularExpressions.Regex.Match(svg, @"translate\(([0-9.]+) [0-9.]+\)""[^>]*>\s*45\s*</text>");
        tick.Success.Should().BeTrue("the x axis has a tick labelled 45");
        double tickX = double.Parse(tick.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        using Tensor plot = curve.Plot();
        plot.shape.Should().Equal(3, 400, 640);
        // Red peak marks: the column holding the most red pixels (the dashed drop line) is the 45° tick's column.
        using Tensor red = (plot[0] > 0.6f).logical_and(plot[1] < 0.35f).logical_and(plot[2] < 0.35f);
        red.sum().item<long>().Should().BeGreaterThan(60);
        long column = red.sum(new long[] { 0 }).argmax().item<long>();
        ((double)column).Should().BeApproximately(tickX, 2.0);

        string folder = Directory.CreateTempSubdirectory("tuning").FullName;
        try
        {
            curve.SaveCsv(Path.Combine(folder, "unit2.csv"));
            curve.SavePlot(Path.Combine(folder, "unit2.png"));
            if (Environment.GetEnvironmentVariable("CIRCUITS_KEEP_PLOTS") is string keep)
            {
                File.Copy(Path.Combine(folder, "unit2.png"), Path.Combine(keep, "tuning-unit2.png"), true);
            }

            File.ReadAllText(Path.Combine(folder, "unit2.csv")).Should().Be(csv);
            using Tensor loaded = ImageIO.Load(Path.Combine(folder, "unit2.png"));
            loaded.shape.Should().Equal(3, 400, 640);
            Directory.GetFiles(folder).Should().HaveCount(2, "no temporary files are left");
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void Channel_mean_readout_batches_report_progress_and_cancel()
    {
        using var model = new CurveCircuit();
        var sweep = StimulusSweep.Orientation(new CurveStimulus { Width = 32, Height = 32 }, stepDegrees: 30);
        var reports = new List<TuningProgress>();
        TuningCurve mean = TuningCurves.Measure(model, "curves_relu:0", sweep, new TuningOptions { BatchSize = 5, Readout = TuningReadout.ChannelMean },
            new Recorder<TuningProgress>(reports.Add));
        reports.Should().Equal(new TuningProgress(5, 12), new TuningProgress(10, 12), new TuningProgress(12, 12));
        mean.Readout.Should().Be(TuningReadout.ChannelMean);
        using (Tensor first = Stimuli.Render(sweep.Stimulus(0)))
        using (var capture = ActivationCapture.Capture(model, first, new[] { "curves_relu" }))
        {
            mean.Responses[0].Should().BeApproximately(capture["curves_relu"][0, 0].mean().item<float>(), 1e-6);
        }

        using var cts = new CancellationTokenSource();
        var act = () => TuningCurves.Measure(model, "curves_relu:0", sweep, new TuningOptions { BatchSize = 5 },
            new Recorder<TuningProgress>(_ => cts.Cancel()), cts.Token);
        act.Should().Throw<OperationCanceledException>();

        var noChannel = () => TuningCurves.Measure(model, "curves_relu", sweep);
        noChannel.Should().Throw<InvalidAddressException>().WithMessage("*needs a channel*curves_relu:<channel>*");
        var outOfRange = () => TuningCurves.Measure(model, "curves_relu:16", sweep);
        outOfRange.Should().Throw<UnitOutOfRangeException>().WithMessage("*16 channels*");
    }

    [Fact]
    public void A_unit_that_never_responds_is_said_to_and_gets_no_peak_mark()
    {
        using var model = new CurveCircuit();
        // A blank white image (white curve on white) excites no curve detector after its ReLU.
        var blank = new StimulusSweep("orientation", new double[] { 0, 90, 180, 270 }, _ => new CurveStimulus { Width = 32, Height = 32, Foreground = Rgb.White }) { Unit = "degrees" };
        TuningCurve curve = TuningCurves.Measure(model, "curves_relu:3", blank);

        curve.Responses.Should().OnlyContain(r => r == 0);
        curve.NeverResponded.Should().BeTrue();
        curve.IsFlat.Should().BeTrue();
        curve.PeakSummary.Should().Be("never responded (0 at every orientation)");
        string svg = curve.PlotSvg();
        svg.Should().Contain("never responded").And.NotContain("peak at");
        using Tensor plot = curve.Plot();
        using Tensor red = (plot[0] > 0.6f).logical_and(plot[1] < 0.35f).logical_and(plot[2] < 0.35f);
        red.sum().item<long>().Should().Be(0, "nothing is marked as a peak");
    }

    [Fact]
    public void Plots_refuse_bad_series_and_sizes()
    {
        var empty = () => LinePlot.RenderPng(Array.Empty<double>(), Array.Empty<double>());
        empty.Should().Throw<CircuitsException>().WithMessage("*0 x values and 0 y values*");
        var nan = () => LinePlot.RenderSvg(new[] { 0.0, 1 }, new[] { 0.0, double.NaN });
        nan.Should().Throw<CircuitsException>().WithMessage("*NaN*");
        var small = () => LinePlot.RenderPng(new[] { 0.0, 1 }, new[] { 0.0, 1 }, new LinePlotOptions { Width = 40 });
        small.Should().Throw<CircuitsException>().WithMessage("*40 x 400 pixels is too small*");
        using Tensor flat = LinePlot.Render(new[] { 0.0, 1, 2 }, new[] { 2.0, 2, 2 }, new LinePlotOptions { Title = "flat" });
        using Tensor red = (flat[0] > 0.6f).logical_and(flat[1] < 0.35f).logical_and(flat[2] < 0.35f);
        red.sum().item<long>().Should().Be(0, "a flat series has no peak to mark");
    }

    [Fact]
    public void An_svg_plot_depends_only_on_what_it_shows()
    {
        // Skia numbers SVG clip paths with a process-wide counter (in hex: cl_e, cl_f, cl_10); the plot renumbers them, so a page made twice is the
        // same bytes (the atlas's sharded builds compare pages), and two different plots on one page keep distinct ids.
        var options = new LinePlotOptions { Title = "same" };
        string first = LinePlot.RenderSvg(new[] { 0.0, 1, 2 }, new[] { 0.0, 3, 1 }, options);
        string other = LinePlot.RenderSvg(new[] { 0.0, 1, 2 }, new[] { 1.0, 0, 2 }, options);
        string again = LinePlot.RenderSvg(new[] { 0.0, 1, 2 }, new[] { 0.0, 3, 1 }, options);

        again.Should().Be(first);
        static HashSet<string> Ids(string svg) => System.Text.RegularExpressions.Regex.Matches(svg, "id=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToHashSet();
        Ids(first).Should().NotBeEmpty().And.NotIntersectWith(Ids(other));
        foreach (string id in Ids(first))
        {
            first.Should().Contain($"url(#{id})", "every clip path is still used");
        }
    }

    private sealed class Recorder<T> : IProgress<T>
    {
        private readonly Action<T> _onReport;

        public Recorder(Action<T> onReport) => _onReport = onReport;

        public void Report(T value) => _onReport(value);
    }
}
