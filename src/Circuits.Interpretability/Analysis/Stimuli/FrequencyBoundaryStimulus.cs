using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
namespace Circuits.Interpretability.Analysis.Stimuli;

/// <summary>
/// A boundary between high-frequency and low-frequency texture, as the high-low frequency detectors of
/// InceptionV1 prefer. The boundary passes through the stimulus centre; <see cref="StimulusOptions.Orientation"/>
/// is the direction in which the high-frequency half lies. Both halves are gratings whose stripes run
/// across the boundary (parallel to the orientation), so the boundary itself is not a stripe.
/// </summary>
public sealed record FrequencyBoundaryStimulus : StimulusOptions
{
    /// <summary>Frequency of the high side in cycles per pixel. Default 0.25.</summary>
    public double HighFrequency { get; init; } = 0.25;

    /// <summary>Frequency of the low side in cycles per pixel; 0 makes it flat (the mean colour). Default 0.</summary>
    public double LowFrequency { get; init; }

    /// <summary>Stripe colour. Default black.</summary>
    public Rgb Foreground { get; init; } = Rgb.Black;

    internal override void Validate()
    {
        base.Validate();
        foreach (var (value, name) in new[] { (HighFrequency, nameof(HighFrequency)), (LowFrequency, nameof(LowFrequency)) })
        {
            if (!(value >= 0 && value <= 0.5))
            {
                throw new CircuitsException($"{name} is {value} cycles per pixel; expected 0 to 0.5 (the Nyquist limit).");
            }
        }

        Foreground.Validate(nameof(Foreground));
    }
}
