using System.Globalization;
using Circuits.Interpretability.Analysis.Equivariance;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Rendering;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>"Naturally Occurring Equivariance": do the curve detectors' feature visualizations map onto each other under rotation?</summary>
public static class EquivarianceSample
{
    /// <summary>
    /// Renders the centre neuron of each unit, crops the centre, rotates each crop by --step degrees (default 360 / N,
    /// assuming the units roughly tile the circle) and matches it against every unit; writes similarity.csv and report.html.
    /// </summary>
    public static void Run(SampleContext context)
    {
        IReadOnlyList<int> units = context.Options.Units ?? CurveDetectors.DefaultUnits;
        if (units.Count < 2)
        {
            throw new CircuitsException("equivariance needs at least 2 units (--units a,b).");
        }

        double step = context.Options.OrientationStep == new SampleOptions().OrientationStep ? 360.0 / units.Count : context.Options.OrientationStep;
        int crop = Math.Max(8, context.Options.Size / 2);
        context.Log.WriteLine($"rendering {units.Count} centre neurons of {CurveDetectors.Layer}, crop {crop} px, rotation step {step:0.##} deg");
        var render = context.Render(units.Count) with { Transforms = Array.Empty<Rendering.IImageTransform>() };
        var (matching, crops) = Equivariance.MatchRenderedRotations(context.Model, CurveDetectors.Layer, units, step, crop, render);
        using (crops)
        {
            ImageIO.SavePng(ImageGrid.Make(crops, columns: Math.Min(5, units.Count)), context.PathFor("crops.png"));
            var lines = new List<string> { "rotated unit," + string.Join(",", units) };
            for (int i = 0; i < units.Count; i++)
            {
                lines.Add(units[i].ToString(CultureInfo.InvariantCulture) + "," + string.Join(",", Enumerable.Range(0, units.Count).Select(j => SampleHelpers.F(matching.Similarity[i, j]))));
            }

            File.WriteAllText(context.PathFor("similarity.csv"), string.Join("\n", lines) + "\n");
            context.Log.WriteLine($"  shift {matching.Shift}, consistency {matching.Consistency:F2}, mean best score {matching.MeanScore:F3}");
            var report = SampleHelpers.Report(context, "Rotation equivariance of the curve detectors", "Naturally Occurring Equivariance in Neural Networks");
            report.Paragraph($"Each unit's centre-neuron visualization, rotated by {step:0.##} degrees, correlated with every unit's (inside the inscribed disc). Units in the order given: {string.Join(", ", units)}.");
            report.Image(ImageGrid.Make(crops, columns: Math.Min(5, units.Count)), "centre crops", displayWidth: 640);
            report.Table(new[] { "unit", "best match", "score" }, matching.Matches.Select(m => (IReadOnlyList<string>)new[] { units[m.Unit].ToString(CultureInfo.InvariantCulture), units[m.Match].ToString(CultureInfo.InvariantCulture), SampleHelpers.F(m.Score) }));
            report.Preformatted(matching.ToText());
            SampleHelpers.Save(context, report);
        }
    }
}
