using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
namespace Circuits.Interpretability.Analysis.Stimuli;

/// <summary>
/// A sinusoidal grating: stripes running in the direction <see cref="StimulusOptions.Orientation"/> (as for a
/// line), varying across it as 0.5 + 0.5 · cos(2π · f · d + phase), where d is the signed distance from the
/// stimulus centre across the stripes; 1 is <see cref="Foreground"/>, 0 the background.
/// </summary>
public sealed record GratingStimulus : StimulusOptions
{
    /// <summary>Spatial frequency in cycles per pixel (0 to 0.5). Default 0.125 (an 8-pixel period).</summary>
    public double Frequency { get; init; } = 0.125;

    /// <summary>Phase in degrees; 0 puts a foreground stripe's centre on the stimulus centre. Default 0.</summary>
    public double Phase { get; init; }

    /// <summary>Stripe colour. Default black.</summary>
    public Rgb Foreground { get; init; } = Rgb.Black;

    internal override void Validate()
    {
        base.Validate();
        if (!(Frequency >= 0 && Frequency <= 0.5))
        {
            throw new CircuitsException($"Frequency is {Frequency} cycles per pixel; expected 0 to 0.5 (the Nyquist limit).");
        }

        Positive(Math.Abs(Phase), nameof(Phase), allowZero: true);
        Foreground.Validate(nameof(Foreground));
    }
}
