namespace Circuits.Interpretability.Imaging;

/// <summary>Settings of <see cref="SignedMapPlot"/>: size, titles, colours and the colour bar.</summary>
public sealed record SignedMapPlotOptions
{
    /// <summary>Width in pixels. Default 560.</summary>
    public int Width { get; init; } = 560;

    /// <summary>Height in pixels. Default 460.</summary>
    public int Height { get; init; } = 460;

    /// <summary>The title above the map; empty: none.</summary>
    public string Title { get; init; } = string.Empty;

    /// <summary>The x axis title. Default "x offset (positions)".</summary>
    public string XLabel { get; init; } = "x offset (positions)";

    /// <summary>The y axis title (offsets grow downward, as rows of an image do). Default "y offset (positions, down)".</summary>
    public string YLabel { get; init; } = "y offset (positions, down)";

    /// <summary>The colour bar's title. Default "weight (blue excites, red inhibits)".</summary>
    public string ColorBarLabel { get; init; } = "weight (blue excites, red inhibits)";

    /// <summary>The magnitude drawn at full colour; null (default): the map's largest magnitude.</summary>
    public double? MaxAbs { get; init; }

    /// <summary>Colour of positive values. Default the weight images' blue.</summary>
    public Rgb Positive { get; init; } = new(0.12f, 0.37f, 0.75f);

    /// <summary>Colour of negative values. Default the weight images' red.</summary>
    public Rgb Negative { get; init; } = new(0.75f, 0.22f, 0.17f);
}
