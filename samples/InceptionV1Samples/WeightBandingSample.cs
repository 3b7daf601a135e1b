using Circuits.Interpretability.Activations;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>"Weight Banding": the horizontal bands in the spatial weights of mixed5b, the layer before global average pooling.</summary>
public static class WeightBandingSample
{
    /// <summary>The layers compared: mixed5b (banded in the article) and mixed3a (a control).</summary>
    public static IReadOnlyList<string> DefaultLayers { get; } = new[] { "mixed5b", "mixed3a" };

    /// <summary>Measures band strength per unit of each layer's 3x3 and 5x5 convs, writes CSVs, and draws the most banded units with NMF colours.</summary>
    public static void Run(SampleContext context)
    {
        IReadOnlyList<string> layers = context.Options.Layers ?? DefaultLayers;
        var report = SampleHelpers.Report(context, "Weight banding", "Weight Banding");
        report.Paragraph("Band strength of a unit: the share of its kernels' spatial variance that the row means explain (each kernel centred by its mean; 1 = constant rows, horizontal bands). Random weights give (kh - 1) / (kh kw - 1): 0.25 for 3x3, 0.167 for 5x5. Vertical strength (column means) is the control.");
        var lines = new List<string> { "conv,unit,horizontal,vertical" };
        var summary = new List<IReadOnlyList<string>>();
        foreach (string layer in layers)
        {
            foreach (string conv in new[] { $"{layer}.conv_3x3", $"{layer}.conv_5x5" })
            {
                Tensor weight = ((TorchSharp.Modules.Conv2d)ModelLayers.Find(context.Model, conv)).weight!.detach();
                var bands = WeightBanding.Measure(weight);
                lines.AddRange(bands.Select(b => $"{conv},{b.Unit},{SampleHelpers.F(b.Horizontal)},{SampleHelpers.F(b.Vertical)}"));
                double expected = WeightBanding.RandomExpectation((int)weight.shape[2], (int)weight.shape[3]);
                double mean = bands.Average(b => b.Horizontal), vertical = bands.Average(b => b.Vertical);
                double banded = bands.Count(b => b.Horizontal > 0.5) / (double)bands.Count;
                summary.Add(new[] { conv, $"{weight.shape[2]}x{weight.shape[3]}", SampleHelpers.F(mean), SampleHelpers.F(vertical), SampleHelpers.F(expected), SampleHelpers.F(banded) });
                context.Log.WriteLine($"  {conv}: mean horizontal {mean:F3}, vertical {vertical:F3} (random {expected:F3}); {banded:P0} of units above 0.5");
                Draw(context, report, conv, weight, bands);
            }
        }

        report.Heading("Summary");
        report.Table(new[] { "conv", "kernel", "mean horizontal", "mean vertical", "random weights", "units above 0.5" }, summary);
        File.WriteAllText(context.PathFor("band-strength.csv"), string.Join("\n", lines) + "\n");
        SampleHelpers.Save(context, report);
    }

    /// <summary>The --top most banded units' kernels, reduced over input channels to 3 NMF factors (positive and negative parts) and drawn as RGB.</summary>
    private static void Draw(SampleContext context, Reporting.HtmlReport report, string conv, Tensor weight, IReadOnlyList<BandStrength> bands)
    {
        using var scope = NewDisposeScope();
        var top = bands.OrderByDescending(b => b.Horizontal).ThenBy(b => b.Unit).Take(context.Options.Top).ToList();
        Tensor kernels = weight.index_select(0, tensor(top.Select(b => (long)b.Unit).ToArray()));    // units x in x kh x kw
        using var reducer = new ChannelReducer(Math.Min(3, (int)kernels.shape[1]), ReductionMethod.Nmf, new ChannelReducerOptions { PosNeg = true, Iterations = 300, Seed = context.Options.Seed });
        Tensor factors = reducer.FitTransform(kernels);                                             // units x 3 x kh x kw
        int scale = 96 / (int)kernels.shape[2];
        var images = Enumerable.Range(0, top.Count).Select(i => FactorMap.Render(factors[i], (int)kernels.shape[2] * scale, (int)kernels.shape[3] * scale, smooth: false)).ToList();
        Tensor grid = ImageGrid.Make(stack(images, 0), columns: Math.Min(8, images.Count));
        ImageIO.SavePng(grid, context.PathFor($"banding-{conv}.png"));
        report.Heading(conv);
        report.Images(top.Select((b, i) => (images[i], $"unit {b.Unit}: {SampleHelpers.F(Math.Round(b.Horizontal, 3))}")), displayWidth: 96);
    }
}
