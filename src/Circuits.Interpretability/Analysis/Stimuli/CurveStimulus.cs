using Circuits.Interpretability.Imaging;
namespace Circuits.Interpretability.Analysis.Stimuli;

/// <summary>
/// An arc of a circle (a curve). <see cref="StimulusOptions.Orientation"/> is the direction its convex side
/// points. The arc is centred on the stimulus centre: the midpoint between its apex and the middle of its
/// chord lies there. The defaults match <see cref="Models.CurveCircuit"/>'s preferred curve: radius 5
/// (curvature 0.2), 150° of arc, 1.5 pixels thick, black on white.
/// </summary>
public sealed record CurveStimulus : StimulusOptions
{
    /// <summary>1 / radius, in 1/pixels; 0 draws a straight segment of the same length. Default 0.2.</summary>
    public double Curvature { get; init; } = 0.2;

    /// <summary>Length along the curve in pixels. Default 5 · 150° in radians ≈ 13.09.</summary>
    public double ArcLength { get; init; } = 5 * 150 * Math.PI / 180;

    /// <summary>Stroke width in pixels. Default 1.5.</summary>
    public double Thickness { get; init; } = 1.5;

    /// <summary>Stroke colour. Default black.</summary>
    public Rgb Foreground { get; init; } = Rgb.Black;

    internal override void Validate()
    {
        base.Validate();
        Positive(Curvature, nameof(Curvature), allowZero: true);
        Positive(ArcLength, nameof(ArcLength));
        Positive(Thickness, nameof(Thickness));
        Foreground.Validate(nameof(Foreground));
    }
}
