using Circuits.Interpretability.Imaging;
namespace Circuits.Interpretability.Analysis.Stimuli;

/// <summary>
/// An edge through the stimulus centre between two half-planes. <see cref="StimulusOptions.Orientation"/> is
/// the direction in which the <see cref="Foreground"/> half lies (so the edge itself runs at Orientation + 90°);
/// the other half is the background.
/// </summary>
public sealed record EdgeStimulus : StimulusOptions
{
    /// <summary>Colour of the half toward the orientation. Default black.</summary>
    public Rgb Foreground { get; init; } = Rgb.Black;

    internal override void Validate()
    {
        base.Validate();
        Foreground.Validate(nameof(Foreground));
    }
}
