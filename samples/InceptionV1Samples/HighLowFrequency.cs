using Circuits.Interpretability.Analysis.Stimuli;

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
        report.Paragraph("The stimulus: fine stripes on one side of a boundary, flat grey on the other. Its orientation is the direction in which the fine half lies.");
        using (var stimulus = Stimuli.FrequencyBoundary(boundary))
        {
            report.Image(stimulus, "the frequency-boundary stimulus at 0°", displayWidth: 160);
        }

        SampleHelpers.AddUnits(context, report, images, curves, "a high/low frequency boundary");
        SampleHelpers.Save(context, report);
    }
}
