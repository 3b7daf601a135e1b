namespace Circuits.Interpretability.Imaging;

/// <summary>Settings of <see cref="LinePlot"/>: size, title, axis titles (with units), ticks and the peak mark.</summary>
public sealed record LinePlotOptions
{
    /// <summary>Width in pixels (CSS pixels for SVG). Default 640.</summary>
    public int Width { get; init; } = 640;

    /// <summary>Height in pixels (CSS pixels for SVG). Default 400.</summary>
    public int Height { get; init; } = 400;

    /// <summary>The title above the plot; empty: none.</summary>
    public string Title { get; init; } = string.Empty;

    /// <summary>The x axis title, with its unit, for example <c>orientation (degrees)</c>; empty: none.</summary>
    public string XLabel { get; init; } = string.Empty;

    /// <summary>The y axis title, with its unit, for example <c>response (activation)</c>; empty: none.</summary>
    public string YLabel { get; init; } = string.Empty;

    /// <summary>What follows an x value in the peak's legend entry, for example <c>°</c>; empty: nothing.</summary>
    public string XUnitSuffix { get; init; } = string.Empty;

    /// <summary>Distance between x ticks; null (default): chosen by the plotting library for the plot's width.</summary>
    public double? XTickStep { get; init; }

    /// <summary>Left end of the x axis; null (default): the smallest x.</summary>
    public double? XMin { get; init; }

    /// <summary>Right end of the x axis; null (default): the largest x.</summary>
    public double? XMax { get; init; }

    /// <summary>Whether the y axis starts at 0 when every value is positive (and ends at 0 when every value is negative). Default true.</summary>
    public bool YFromZero { get; init; } = true;

    /// <summary>
    /// Whether to mark the largest value (a ring, a dashed drop line and a legend entry with its x value). Default
    /// true. A flat series (every value equal) has no peak and is never marked.
    /// </summary>
    public bool MarkPeak { get; init; } = true;

    /// <summary>A short note written across the middle of the plot (for example "never responded"); empty: none.</summary>
    public string Note { get; init; } = string.Empty;

    /// <summary>The name of the series in the legend; empty (default): no legend entry for the line.</summary>
    public string SeriesName { get; init; } = string.Empty;

    /// <summary>Colour of the line and points. Default a dark blue.</summary>
    public Rgb LineColor { get; init; } = new(0.12f, 0.35f, 0.75f);
}
