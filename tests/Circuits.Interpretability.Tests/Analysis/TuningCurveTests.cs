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

        using Tensor plot = curve.Plot();
        plot.shape.Should().Equal(3, 320, 480);
        // Red peak marker: pixels with red high, green and blue low.
        using Tensor red = (plot[0] > 0.7f).logical_and(plot[1] < 0.3f).logical_and(plot[2] < 0.3f);
        long redPixels = red.sum().item<long>();
        redPixels.Should().BeGreaterThan(40);
        // The marker sits at x = 45 of 0..360 on the axis from 56 to 464 px: column 56 + 45/360 * 408 = 107.
        using Tensor redColumns = red.any(0).nonzero().flatten().to(ScalarType.Float32);
        redColumns.mean().item<float>().Should().BeApproximately(107, 12);
        // Dark axis pixels along the bottom axis row.
        (plot[0, 284, TensorIndex.Slice(60, 460)] < 0.3f).sum().item<long>().Should().BeGreaterThan(350);

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
            loaded.shape.Should().Equal(3, 320, 480);
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
    public void Nice_steps_are_1_2_2_5_or_5_times_a_power_of_ten()
    {
        LinePlot.NiceStep(0.07).Should().BeApproximately(0.1, 1e-12);
        LinePlot.NiceStep(0.21).Should().BeApproximately(0.25, 1e-12);
        LinePlot.NiceStep(1.3).Should().Be(2);
        LinePlot.NiceStep(59).Should().Be(100);
        LinePlot.NiceStep(40).Should().Be(50);
    }

    private sealed class Recorder<T> : IProgress<T>
    {
        private readonly Action<T> _onReport;

        public Recorder(Action<T> onReport) => _onReport = onReport;

        public void Report(T value) => _onReport(value);
    }
}
