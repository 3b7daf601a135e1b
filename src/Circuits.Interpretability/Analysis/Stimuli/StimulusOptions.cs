using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
namespace Circuits.Interpretability.Analysis.Stimuli;

/// <summary>
/// What every synthetic stimulus shares: the canvas, its background, where the stimulus is centred and its
/// orientation. Coordinates are pixels (x to the right, y down, pixel (row r, column c) centred at (c, r));
/// angles are degrees, counter-clockwise as displayed, 0 pointing right. The derived records say what
/// <see cref="Orientation"/> means for each kind. Render one with <see cref="Stimuli.Render"/>.
/// </summary>
public abstract record StimulusOptions
{
    /// <summary>Image width in pixels. Default 64.</summary>
    public int Width { get; init; } = 64;

    /// <summary>Image height in pixels. Default 64.</summary>
    public int Height { get; init; } = 64;

    /// <summary>Column of the stimulus centre; null (default): Width / 2 (integer division), the column a centre neuron sees.</summary>
    public double? CenterX { get; init; }

    /// <summary>Row of the stimulus centre; null (default): Height / 2 (integer division).</summary>
    public double? CenterY { get; init; }

    /// <summary>Orientation in degrees (counter-clockwise as displayed, 0 pointing right). Default 0.</summary>
    public double Orientation { get; init; }

    /// <summary>Background colour. Default white.</summary>
    public Rgb Background { get; init; } = Rgb.White;

    internal double X => CenterX ?? (Width / 2);

    internal double Y => CenterY ?? (Height / 2);

    internal virtual void Validate()
    {
        if (Width <= 0 || Height <= 0)
        {
            throw new CircuitsException($"A stimulus of {Width} x {Height} pixels is empty; Width and Height must be positive.");
        }

        if (!double.IsFinite(Orientation))
        {
            throw new CircuitsException($"Orientation {Orientation} is not a finite number of degrees.");
        }

        Background.Validate(nameof(Background));
    }

    internal static void Positive(double value, string name, bool allowZero = false)
    {
        if (!double.IsFinite(value) || value < 0 || (!allowZero && value == 0))
        {
            throw new CircuitsException($"{name} is {value}; expected a {(allowZero ? "non-negative" : "positive")} finite number.");
        }
    }
}
