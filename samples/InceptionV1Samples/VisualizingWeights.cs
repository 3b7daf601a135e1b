using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Reporting;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>"Visualizing Weights": expanded weights across a skipped layer, their NMF colours and weight images with a legend.</summary>
public static class VisualizingWeights
{
    /// <summary>The source layer (two layers before the target: mixed3a lies between).</summary>
    public const string Source = "conv2d2";

    /// <summary>Computes the expanded weights conv2d2 -> mixed3b of the units, renders each unit's strongest inputs and the NMF colouring of all of them.</summary>
    public static void Run(SampleContext context)
    {
        IReadOnlyList<int> units = context.Options.Units ?? CurveDetectors.DefaultUnits.Take(4).ToArray();
        int size = context.Options.Size;
        int crop = context.Options.Crop ?? 7;
        string target = CurveDetectors.Layer;
        context.Log.WriteLine($"expanded weights {Source} -> {target} (across mixed3a) for {units.Count} units (input {size} px, {crop} x {crop} crop)");
        using ExpandedWeightSet weights = ExpandedWeights.Compute(context.Model, Source, target, new long[] { 3, size, size },
            new ExpandedWeightsOptions { TargetChannels = units, CropSize = crop });
        context.Log.WriteLine($"  method: {weights.Method} ({weights.MethodDetail}); stride {weights.Stride.Y}");
        var report = SampleHelpers.Report(context, $"Visualizing weights: {Source} to {target}", "Visualizing Weights");
        report.Paragraph($"Expanded weights multiply out the path between two layers that are not adjacent (here across mixed3a, with ReLUs linearized and max pooling as average pooling): W[unit, input, y, x] is the linear effect of {Source}'s input channel at offset (y, x) on the unit. Method: {weights.Method} ({weights.MethodDetail}).");

        var lines = new List<string> { "unit,rank,source,strength" };
        foreach (int unit in units)
        {
            var top = weights.TopSources(unit, context.Options.Top);
            double maxAbs = top.Max(t => (double)weights.Get(unit, t.SourceChannel).abs().max().item<float>());
            var tiles = top.Select(t => WeightImage.Render(weights.Get(unit, t.SourceChannel), scale: 8, maxAbs: maxAbs)).ToList();
            for (int r = 0; r < top.Count; r++)
            {
                lines.Add($"{target}:{unit},{r + 1},{Source}:{top[r].SourceChannel},{SampleHelpers.F(top[r].Strength)}");
            }

            Tensor strip = ImageGrid.Make(cat(tiles, 0), columns: tiles.Count);
            ImageIO.SavePng(strip, context.PathFor($"weights-{target}-{unit}.png"));
            report.Heading($"{target}:{unit}");
            report.Paragraph("strongest inputs: " + string.Join(", ", top.Select(t => $"{Source}:{t.SourceChannel} ({SampleHelpers.F(t.Strength)})")));
            report.Image(strip, "expanded weights of the strongest inputs, one scale for the unit", displayWidth: 90 * tiles.Count);
            report.Svg(ColorLegend.Diverging(Math.Max(maxAbs, 1e-12), WeightImage.PositiveColor, WeightImage.NegativeColor, "expanded weight"), $"colour legend of {target}:{unit}'s maps");
        }

        File.WriteAllText(context.PathFor("top-inputs.csv"), string.Join("\n", lines) + "\n");
        context.Log.WriteLine("NMF of all the units' inputs (3 factors, positive and negative parts)");
        using WeightFactors factors = WeightImage.RenderNmf(weights, factors: 3, scale: 8, iterations: 300, seed: context.Options.Seed);
        ImageIO.SavePng(ImageGrid.Make(factors.Images, columns: Math.Min(5, units.Count)), context.PathFor("nmf.png"));
        report.Heading("NMF: the inputs reduced to three colours");
        report.Paragraph("The set's weights, as a matrix with a row per (unit, y, x) and a column per input's positive and negative part, factor into three non-negative parts shown as red, green and blue: units that use the same inputs share a colour.");
        report.Images(units.Select((u, i) => (factors.Images[i], $"{target}:{u}")), displayWidth: 120);
        var loadings = new List<IReadOnlyList<string>>();
        string[] colour = { "red", "green", "blue" };
        int sources = weights.SourceChannels.Count;
        for (int f = 0; f < factors.SourceLoadings.RowCount; f++)
        {
            var strongest = Enumerable.Range(0, 2 * sources).OrderByDescending(j => factors.SourceLoadings[f, j]).Take(4)
                .Select(j => $"{Source}:{weights.SourceChannels[j % sources]}{(j < sources ? "+" : "-")}");
            loadings.Add(new[] { colour[f], string.Join(", ", strongest) });
        }

        report.Table(new[] { "factor", "strongest inputs (+ excites, - inhibits)" }, loadings);
        File.WriteAllText(context.PathFor("nmf-factors.csv"), "factor,inputs\n" + string.Join("\n", loadings.Select(l => $"{l[0]},{l[1].Replace(", ", " ", StringComparison.Ordinal)}")) + "\n");
        SampleHelpers.Save(context, report);
    }
}
