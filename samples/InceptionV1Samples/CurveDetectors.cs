namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>"Curve Detectors": feature visualizations and orientation tuning of mixed3b's curve detectors.</summary>
public static class CurveDetectors
{
    /// <summary>The layer of the curve detectors.</summary>
    public const string Layer = "mixed3b";

    /// <summary>The mixed3b curve detectors the article names.</summary>
    public static IReadOnlyList<int> DefaultUnits { get; } = new[] { 379, 406, 385, 343, 342, 388, 324, 340, 330, 349 };

    /// <summary>Renders the units, measures their orientation tuning over curve stimuli, writes PNG, CSV and report.html.</summary>
    public static void Run(SampleContext context)
    {
        IReadOnlyList<int> units = context.Options.Units ?? DefaultUnits;
        var images = SampleHelpers.RenderUnits(context, Layer, units);
        var curves = SampleHelpers.OrientationTuning(context, Layer, units, SampleHelpers.Curve(context), "curve");
        var report = SampleHelpers.Report(context, "Curve detectors (mixed3b)", "Curve Detectors");
        report.Paragraph("For each curve detector: the image that excites it most, and its response to a curve turned through every orientation. "
                         + "The article finds that each unit prefers one orientation and that together they cover the circle.");
        SampleHelpers.AddUnits(context, report, images, curves, "a synthetic curve");
        SampleHelpers.Save(context, report);
    }
}
