namespace Circuits.Interpretability.Imaging;

/// <summary>Settings of <see cref="LinePlot.Render"/>.</summary>
public sealed record LinePlotOptions
{
    /// <summary>Image width in pixels. Default 480.</summary>
    public int Width { get; init; } = 480;

    /// <summary>Image height in pixels. Default 320.</summary>
    public int Height { get; init; } = 320;

    /// <summary>Distance between x ticks; null (default): a "nice" step (1, 2, 2.5 or 5 times a power of ten) giving about 6 ticks.</summary>
    public double? XTickStep { get; init; }

    /// <summary>Left end of the x axis; null (default): the smallest x.</summary>
    public double? XMin { get; init; }

    /// <summary>Right end of the x axis; null (default): the largest x.</summary>
    public double? XMax { get; init; }

    /// <summary>Whether the y axis starts at 0 when every value is positive. Default true.</summary>
    public bool YFromZero { get; init; } = true;

    /// <summary>Whether to mark the largest value (a red dashed drop line, a ring and its x value). Default true.</summary>
    public bool MarkPeak { get; init; } = true;

    /// <summary>Colour of the line and points. Default a dark blue.</summary>
    public Rgb LineColor { get; init; } = new(0.12f, 0.35f, 0.75f);
}
