using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Imaging;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>"High-Low Frequency Detectors": mixed3a units that fire on a boundary between fine and coarse texture.</summary>
public static class HighLowFrequency
{
    /// <summary>The layer.</summary>
    public const string Layer = "mixed3a";

    /// <summary>mixed3a units from the article's list of high-low frequency detectors; pass --units to study others.</summary>
    public static IReadOnlyList<int> DefaultUnits { get; } = new[] { 136, 108, 132, 88, 110, 180, 153, 106, 112, 186 };

    /// <summary>Renders the units and measures their tuning to the orientation of a high/low frequency boundary.</summary>
    public static void Run(SampleContext context)
    {
        IReadOnlyList<int> units = context.Options.Units ?? DefaultUnits;
        var images = SampleHelpers.RenderUnits(context, Layer, units);
        int s = context.Options.StimulusSize;
        var boundary = new FrequencyBoundaryStimulus { Width = s, Height = s, HighFrequency = 0.25, LowFrequency = 0 };
        var curves = SampleHelpers.OrientationTuning(context, Layer, units, boundary, "frequency-boundary");
        var report = SampleHelpers.Report(context, "High-low frequency detectors (mixed3a)", "High-Low Frequency Detectors");
        report.Heading("Feature visualizations");
        report.Image(ImageGrid.Make(images, columns: Math.Min(5, units.Count)), string.Join(", ", units.Select(u => $"{Layer}:{u}")), displayWidth: 640);
        report.Paragraph("Stimulus orientation: the direction in which the high-frequency half lies.");
        report.Image(Stimuli.FrequencyBoundary(boundary), "the frequency-boundary stimulus at 0 degrees", displayWidth: 160);
        SampleHelpers.AddTuning(report, curves, "Tuning to the boundary's orientation");
        SampleHelpers.Save(context, report);
    }
}
