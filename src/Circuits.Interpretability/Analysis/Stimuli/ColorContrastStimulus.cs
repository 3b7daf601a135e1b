using Circuits.Interpretability.Imaging;
namespace Circuits.Interpretability.Analysis.Stimuli;

/// <summary>
/// A colour-contrast patch: a disc split through its centre into two colours. <see cref="StimulusOptions.Orientation"/>
/// is the direction in which the <see cref="First"/> half lies; outside the disc is the background.
/// </summary>
public sealed record ColorContrastStimulus : StimulusOptions
{
    /// <summary>Radius of the patch in pixels; null (default) fills the whole image.</summary>
    public double? Radius { get; init; }

    /// <summary>Colour of the half toward the orientation. Default red.</summary>
    public Rgb First { get; init; } = Rgb.Red;

    /// <summary>Colour of the other half. Default green.</summary>
    public Rgb Second { get; init; } = Rgb.Green;

    internal override void Validate()
    {
        base.Validate();
        if (Radius is double r)
        {
            Positive(r, nameof(Radius));
        }

        First.Validate(nameof(First));
        Second.Validate(nameof(Second));
    }
}
