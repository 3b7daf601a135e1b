using System.Globalization;
using Circuits.Interpretability.Analysis.DatasetExamples;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>"Zoom In: An Introduction to Circuits": a feature, its dataset examples and its circuit one layer back.</summary>
public static class ZoomIn
{
    /// <summary>The car detector's layer.</summary>
    public const string Layer = "mixed4c";

    /// <summary>The layer one back.</summary>
    public const string Source = "mixed4b";

    /// <summary>The article's car detector, mixed4c:447.</summary>
    public static IReadOnlyList<int> DefaultUnits { get; } = new[] { 447 };

    /// <summary>The article's inputs of the car detector in mixed4b: windows, car body, wheels.</summary>
    public static IReadOnlyList<(int Channel, string Name)> ArticleInputs { get; } = new[] { (237, "windows"), (491, "car body"), (373, "wheels") };

    /// <summary>
    /// The expanded weights from <paramref name="source"/> into <paramref name="unit"/> of <paramref name="layer"/> (any model)
    /// and the unit's strongest inputs by the L2 norm of their spatial maps. The caller owns the set.
    /// </summary>
    public static (ExpandedWeightSet Weights, IReadOnlyList<(int SourceChannel, double Strength)> Top) Circuit(
        nn.Module<Tensor, Tensor> model, string source, string layer, int unit, long[] inputShape, int crop, int top)
    {
        ExpandedWeightSet set = ExpandedWeights.Compute(model, source, layer, inputShape, new ExpandedWeightsOptions { TargetChannels = new[] { unit }, CropSize = crop });
        return (set, set.TopSources(unit, top));
    }

    /// <summary>Renders the unit, finds dataset examples (with --images), computes its circuit one layer back and writes report.html.</summary>
    public static void Run(SampleContext context)
    {
        IReadOnlyList<int> units = context.Options.Units ?? DefaultUnits;
        int size = context.Options.Size;
        int crop = context.Options.Crop ?? 5;
        var images = SampleHelpers.RenderUnits(context, Layer, units);
        var report = SampleHelpers.Report(context, $"Zoom in on {Layer}", "Zoom In: An Introduction to Circuits");
        report.Paragraph($"The article's car detector {Layer}:447 looks for windows ({Source}:237) at the top of its window, a car body ({Source}:491) and wheels ({Source}:373) at the bottom. Blue excites, red inhibits.");
        report.Heading("Feature visualizations");
        report.Image(ImageGrid.Make(images, columns: Math.Min(5, units.Count)), string.Join(", ", units.Select(u => $"{Layer}:{u}")), displayWidth: 256 * Math.Min(3, units.Count));
        var lines = new List<string> { "unit,rank,source,strength,article_name" };
        foreach (int unit in units)
        {
            context.Log.WriteLine($"expanded weights {Source} -> {Layer}:{unit} (input {size} px, {crop} x {crop} crop)");
            var (set, top) = Circuit(context.Model, Source, Layer, unit, new long[] { 3, size, size }, crop, context.Options.Top);
            using (set)
            {
                var ranked = Enumerable.Range(0, set.SourceChannels.Count).Select(s => (Channel: set.SourceChannels[s], Strength: set.Strength(unit, set.SourceChannels[s])))
                    .OrderByDescending(t => t.Strength).ThenBy(t => t.Channel).ToList();
                var rows = new List<IReadOnlyList<string>>();
                var tiles = new List<Tensor>();
                var shown = top.Select(t => t.SourceChannel).Concat(unit == 447 ? ArticleInputs.Select(a => a.Channel) : Array.Empty<int>()).Distinct().ToList();
                double maxAbs = shown.Max(s => (double)set.Get(unit, s).abs().max().item<float>());
                foreach (int s in shown)
                {
                    int rank = ranked.FindIndex(t => t.Channel == s) + 1;
                    string name = ArticleInputs.FirstOrDefault(a => a.Channel == s && unit == 447).Name ?? string.Empty;
                    double strength = set.Strength(unit, s);
                    lines.Add($"{Layer}:{unit},{rank},{Source}:{s},{SampleHelpers.F(strength)},{name}");
                    rows.Add(new[] { rank.ToString(CultureInfo.InvariantCulture), $"{Source}:{s}", SampleHelpers.F(strength), name });
                    tiles.Add(WeightImage.Render(set.Get(unit, s), scale: 12, maxAbs: maxAbs));
                }

                Tensor strip = ImageGrid.Make(cat(tiles, 0), columns: tiles.Count);
                ImageIO.SavePng(strip, context.PathFor($"circuit-{Layer}-{unit}.png"));
                context.Log.WriteLine($"  top inputs: {string.Join(", ", top.Select(t => $"{t.SourceChannel} ({SampleHelpers.F(t.Strength)})"))}");
                report.Heading($"{Layer}:{unit}: its inputs in {Source}");
                report.Table(new[] { "rank", "input", "strength", "article" }, rows);
                report.Image(strip, "expanded weights, one map per input (same order as the table), one scale", displayWidth: 90 * tiles.Count);
                report.Svg(Reporting.ColorLegend.Diverging(Math.Max(maxAbs, 1e-12), WeightImage.PositiveColor, WeightImage.NegativeColor, "expanded weight"), "colour legend");
            }

            DatasetExamplesFor(context, unit, report);
        }

        File.WriteAllText(context.PathFor("circuit.csv"), string.Join("\n", lines) + "\n");
        SampleHelpers.Save(context, report);
    }

    private static void DatasetExamplesFor(SampleContext context, int unit, Reporting.HtmlReport report)
    {
        if (context.Options.ImagesFolder is not { } folder)
        {
            report.Paragraph("Dataset examples: pass --images DIR (a folder of photos) to find the images that excite this unit most.");
            context.Log.WriteLine("  dataset examples: skipped (pass --images DIR)");
            return;
        }

        using DatasetExamplesResult result = DatasetExamples.Find(context.Model, new NeuronAddress(Layer, unit), folder,
            new DatasetExamplesOptions { TopK = 9, InputSize = context.Options.Size });
        string path = context.PathFor($"examples-{Layer}-{unit}.png");
        result.SaveGrid(path);
        context.Log.WriteLine($"  dataset examples: {result.Examples.Count} of {folder}");
        report.Heading($"{Layer}:{unit}: dataset examples");
        report.Image(ImageIO.Load(path), $"the {result.Examples.Count} crops of {folder} that excite {Layer}:{unit} most", displayWidth: 384);
    }
}
