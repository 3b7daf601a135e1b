using Circuits.Interpretability.Imaging;
namespace Circuits.Interpretability.Analysis.Stimuli;

/// <summary>
/// A straight line through the stimulus centre. <see cref="StimulusOptions.Orientation"/> is the direction
/// the line runs (0 horizontal, 90 vertical; 180 is the same line as 0).
/// </summary>
public sealed record LineStimulus : StimulusOptions
{
    /// <summary>Length in pixels; null (default) runs across the whole image.</summary>
    public double? Length { get; init; }

    /// <summary>Stroke width in pixels. Default 1.5.</summary>
    public double Thickness { get; init; } = 1.5;

    /// <summary>Stroke colour. Default black.</summary>
    public Rgb Foreground { get; init; } = Rgb.Black;

    internal override void Validate()
    {
        base.Validate();
        if (Length is double length)
        {
            Positive(length, nameof(Length));
        }

        Positive(Thickness, nameof(Thickness));
        Foreground.Validate(nameof(Foreground));
    }
}
