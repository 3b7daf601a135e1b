using System.Globalization;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using Circuits.Interpretability.Reporting;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>Steps several subcommands share: batch renders, orientation tuning, CSV and reports.</summary>
public static class SampleHelpers
{
    /// <summary>Formats a number for CSV and tables.</summary>
    public static string F(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>
    /// Renders the channel objective of each of <paramref name="units"/> of <paramref name="layer"/>, one batch item per
    /// unit, saves &lt;layer&gt;-&lt;unit&gt;.png and a grid, and returns the images (N x 3 x S x S).
    /// </summary>
    public static Tensor RenderUnits(SampleContext context, string layer, IReadOnlyList<int> units)
    {
        var images = new List<Tensor>();
        foreach (int[] chunk in units.Chunk(context.Options.BatchSize))
        {
            context.Log.WriteLine($"rendering {layer}: {string.Join(", ", chunk)} ({context.Options.Steps} steps, {context.Options.Size} px)");
            using RenderResult result = FeatureVisualization.Render(context.Model, Objectives.ChannelsInBatch(layer, chunk), context.Render(chunk.Length),
                StepProgress.Render(context.Log, $"rendering {layer}"));
            for (int i = 0; i < chunk.Length; i++)
            {
                result.SavePng(context.PathFor($"{SafeFileName.From(layer)}-{chunk[i]}.png"), i);
            }

            images.Add(result.Images[TensorIndex.Colon, TensorIndex.Slice(0, 3)].detach().clone());
        }

        Tensor all = cat(images, 0);
        ImageIO.SavePng(ImageGrid.Make(all, columns: Math.Min(5, units.Count)), context.PathFor($"{SafeFileName.From(layer)}-grid.png"));
        return all;
    }

    /// <summary>
    /// Measures each unit's response to <paramref name="template"/> rotated through 360° (the unit at the centre of its
    /// map), writes one CSV with a column per unit and a plot per unit, and returns the curves.
    /// </summary>
    public static IReadOnlyList<TuningCurve> OrientationTuning(SampleContext context, string layer, IReadOnlyList<int> units, StimulusOptions template, string name)
    {
        var sweep = StimulusSweep.Orientation(template, context.Options.OrientationStep);
        context.Log.WriteLine($"tuning {layer} over {sweep.Values.Count} {name} orientations ({context.Options.StimulusSize} px)");
        var curves = TuningCurves.MeasureMany(context.Model, units.Select(u => new NeuronAddress(layer, u)), sweep,
            new TuningOptions { BatchSize = 12 }, StepProgress.Tuning(context.Log, $"tuning {layer}"));
        var lines = new List<string> { "orientation," + string.Join(",", units.Select(u => $"{layer}:{u}")) };
        for (int i = 0; i < sweep.Values.Count; i++)
        {
            lines.Add(F(sweep.Values[i]) + "," + string.Join(",", curves.Select(c => F(c.Responses[i]))));
        }

        File.WriteAllText(context.PathFor($"{name}-tuning.csv"), string.Join("\n", lines) + "\n");
        foreach (TuningCurve curve in curves)
        {
            curve.SavePlot(context.PathFor($"{name}-tuning-{SafeFileName.From(curve.Neuron.ToString())}.png"));
            context.Log.WriteLine($"  {curve.Neuron}: {curve.PeakSummary}");
        }

        return curves;
    }

    /// <summary>
    /// Adds a summary table of the tuning peaks, then one section per unit (see <see cref="UnitReport"/>): its feature
    /// visualization (row i of <paramref name="images"/>) and its tuning curve over <paramref name="stimulus"/>.
    /// </summary>
    public static void AddUnits(SampleContext context, HtmlReport report, Tensor images, IReadOnlyList<TuningCurve> curves, string stimulus)
    {
        report.Heading("Summary");
        report.Table(new[] { "unit", "tuning" }, curves.Select(c => (IReadOnlyList<string>)new[] { c.Neuron.ToString(), c.PeakSummary }));
        report.Heading("Units");
        for (int i = 0; i < curves.Count; i++)
        {
            var unit = new UnitReport(curves[i].Neuron);
            using (Tensor image = images[i])
            {
                unit.AddVisualization(image, $"channel objective, {context.Options.Steps} steps, {context.Options.Size} px");
            }

            unit.AddTuning(curves[i], $"{stimulus} rotated in {F(context.Options.OrientationStep)}° steps ({context.Options.StimulusSize} px, read at the centre position)")
                .AddMethodDetail($"Feature visualization: {context.Options.Steps} steps of Adam at {context.Options.Size} px, seed {context.Options.Seed}, Lucid's input convention and transforms.")
                .WriteTo(report);
        }
    }

    /// <summary>Starts a report with the weights note.</summary>
    public static HtmlReport Report(SampleContext context, string title, string article)
    {
        var report = new HtmlReport(title);
        report.Paragraph($"After the Circuits thread's article \"{article}\". {context.WeightsNote}");
        return report;
    }

    /// <summary>Saves the report as report.html and logs where.</summary>
    public static void Save(SampleContext context, HtmlReport report)
    {
        string path = report.Save(context.PathFor("report.html"));
        context.Log.WriteLine($"report: {path}");
    }

    /// <summary>A curve stimulus scaled to the stimulus size (radius a tenth of the image, 150° of arc).</summary>
    public static CurveStimulus Curve(SampleContext context)
    {
        int s = context.Options.StimulusSize;
        double radius = Math.Max(3, s / 10.0);
        return new CurveStimulus
        {
            Width = s,
            Height = s,
            Curvature = 1 / radius,
            ArcLength = radius * 150 * Math.PI / 180,
            Thickness = Math.Max(1.5, s / 56.0),
        };
    }
}
