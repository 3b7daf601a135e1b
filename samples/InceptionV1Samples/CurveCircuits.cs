using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Imaging;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>"Curve Circuits": the expanded weights from mixed3a into the curve detectors, and their strongest inputs.</summary>
public static class CurveCircuits
{
    /// <summary>The source layer.</summary>
    public const string Source = "mixed3a";

    /// <summary>Computes the expanded weights, writes top-inputs.csv, a weight-image strip per unit and report.html.</summary>
    public static void Run(SampleContext context)
    {
        IReadOnlyList<int> units = context.Options.Units ?? CurveDetectors.DefaultUnits;
        int size = context.Options.Size;
        context.Log.WriteLine($"expanded weights {Source} -> {CurveDetectors.Layer} for {units.Count} units (input {size} px, 5 x 5 crop)");
        using ExpandedWeightSet weights = ExpandedWeights.Compute(context.Model, Source, CurveDetectors.Layer, new long[] { 3, size, size },
            new ExpandedWeightsOptions { TargetChannels = units, CropSize = 5 });
        var report = SampleHelpers.Report(context, "Curve circuits (mixed3a to mixed3b)", "Curve Circuits");
        report.Paragraph("Expanded weights: the path between the layers linearized (ReLU as identity, max pooling as average pooling). Blue excites, red inhibits.");
        var lines = new List<string> { "unit,rank,source,strength" };
        foreach (int unit in units)
        {
            var top = weights.TopSources(unit, context.Options.Top);
            var tiles = new List<Tensor>();
            var rows = new List<IReadOnlyList<string>>();
            for (int r = 0; r < top.Count; r++)
            {
                lines.Add($"{CurveDetectors.Layer}:{unit},{r + 1},{Source}:{top[r].SourceChannel},{SampleHelpers.F(top[r].Strength)}");
                rows.Add(new[] { (r + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), $"{Source}:{top[r].SourceChannel}", SampleHelpers.F(top[r].Strength) });
                tiles.Add(WeightImage.Render(weights, unit, top[r].SourceChannel, scale: 12));
            }

            Tensor strip = ImageGrid.Make(cat(tiles, 0), columns: tiles.Count);
            ImageIO.SavePng(strip, context.PathFor($"weights-{CurveDetectors.Layer}-{unit}.png"));
            context.Log.WriteLine($"  {CurveDetectors.Layer}:{unit} top inputs: {string.Join(", ", top.Select(t => $"{t.SourceChannel} ({SampleHelpers.F(t.Strength)})"))}");
            report.Heading($"{CurveDetectors.Layer}:{unit}");
            report.Table(new[] { "rank", "input", "strength" }, rows);
            report.Image(strip, $"expanded weights of the top {top.Count} inputs", displayWidth: 100 * tiles.Count);
        }

        File.WriteAllText(context.PathFor("top-inputs.csv"), string.Join("\n", lines) + "\n");
        SampleHelpers.Save(context, report);
    }
}
