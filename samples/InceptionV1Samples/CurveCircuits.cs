using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Reporting;
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
            new ExpandedWeightsOptions { TargetChannels = units, CropSize = 5 }, StepProgress.Expanded(context.Log, $"expanded weights {Source} -> {CurveDetectors.Layer}"));
        var report = SampleHelpers.Report(context, "Curve circuits (mixed3a to mixed3b)", "Curve Circuits");
        report.Paragraph($"For each curve detector of {CurveDetectors.Layer}, the units of {Source} that feed it most, each with its expanded weights: "
                         + "how that input, at each position around the curve detector, pushes it up (blue) or down (red).");
        var lines = new List<string> { "unit,rank,source,strength" };
        foreach (int unit in units)
        {
            var top = weights.TopSources(unit, context.Options.Top);
            double scale = top.Max(t => (double)weights.Get(unit, t.SourceChannel).abs().max().item<float>());
            for (int r = 0; r < top.Count; r++)
            {
                lines.Add($"{CurveDetectors.Layer}:{unit},{r + 1},{Source}:{top[r].SourceChannel},{SampleHelpers.F(top[r].Strength)}");
                string name = $"weights-{SafeFileName.From($"{CurveDetectors.Layer}:{unit}")}-{r + 1}-from-{SafeFileName.From($"{Source}:{top[r].SourceChannel}")}.png";
                WeightImage.SaveFigure(weights, unit, top[r].SourceChannel, context.PathFor(name), scale);
            }

            context.Log.WriteLine($"  {CurveDetectors.Layer}:{unit} top inputs: {string.Join(", ", top.Select(t => $"{t.SourceChannel} ({SampleHelpers.F(t.Strength)})"))}");
            new UnitReport(new NeuronAddress(CurveDetectors.Layer, unit))
                .AddInputs(weights, context.Options.Top)
                .WriteTo(report);
        }

        File.WriteAllText(context.PathFor("top-inputs.csv"), string.Join("\n", lines) + "\n");
        SampleHelpers.Save(context, report);
    }
}
