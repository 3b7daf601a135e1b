using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Imaging;

/// <summary>A colour as red, green and blue in [0, 1].</summary>
/// <param name="R">Red.</param>
/// <param name="G">Green.</param>
/// <param name="B">Blue.</param>
public readonly record struct Rgb(float R, float G, float B)
{
    /// <summary>Black (0, 0, 0).</summary>
    public static Rgb Black => new(0, 0, 0);

    /// <summary>White (1, 1, 1).</summary>
    public static Rgb White => new(1, 1, 1);

    /// <summary>Mid grey (0.5, 0.5, 0.5).</summary>
    public static Rgb Grey => new(0.5f, 0.5f, 0.5f);

    /// <summary>Red (1, 0, 0).</summary>
    public static Rgb Red => new(1, 0, 0);

    /// <summary>Green (0, 1, 0).</summary>
    public static Rgb Green => new(0, 1, 0);

    /// <summary>Blue (0, 0, 1).</summary>
    public static Rgb Blue => new(0, 0, 1);

    /// <summary>Component <paramref name="channel"/> (0 red, 1 green, 2 blue).</summary>
    public float this[int channel] => channel switch
    {
        0 => R,
        1 => G,
        2 => B,
        _ => throw new ArgumentOutOfRangeException(nameof(channel), $"Channel {channel} does not exist; expected 0 (red), 1 (green) or 2 (blue)."),
    };

    /// <summary>The colour <paramref name="t"/> of the way from <paramref name="a"/> to <paramref name="b"/>.</summary>
    public static Rgb Mix(Rgb a, Rgb b, double t) =>
        new((float)(a.R + ((b.R - a.R) * t)), (float)(a.G + ((b.G - a.G) * t)), (float)(a.B + ((b.B - a.B) * t)));

    internal void Validate(string name)
    {
        foreach (float v in new[] { R, G, B })
        {
            if (!(v >= 0 && v <= 1))
            {
                throw new CircuitsException($"{name} is ({R}, {G}, {B}); every component must lie in [0, 1].");
            }
        }
    }
}
