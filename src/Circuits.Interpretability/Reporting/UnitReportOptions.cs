using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting;

/// <summary>How <see cref="UnitReport.WriteTo"/> lays a unit out.</summary>
public sealed record UnitReportOptions
{
    /// <summary>Whether the section starts with the unit's name (and family) as a heading; false when the page's own title says it (the atlas's unit pages). Default true.</summary>
    public bool ShowHeading { get; init; } = true;

    /// <summary>The level of the unit's heading (2 to 4); its parts get the next level. Default 3.</summary>
    public int HeadingLevel { get; init; } = 3;

    /// <summary>Width of each feature visualization on the page, in CSS pixels. Default 192.</summary>
    public int VisualizationWidth { get; init; } = 192;

    /// <summary>Width of each weight image on the page, in CSS pixels (pixels stay sharp squares). Default 120.</summary>
    public int WeightImageWidth { get; init; } = 120;

    /// <summary>Width of each dataset-example crop on the page, in CSS pixels (pixels stay sharp squares). Default 152 (8 x a 19 x 19 crop).</summary>
    public int ExampleWidth { get; init; } = 152;

    /// <summary>Width of each tuning plot, in CSS pixels (an SVG: text stays crisp). Default 560.</summary>
    public int PlotWidth { get; init; } = 560;

    /// <summary>
    /// Where another unit's page is, for links from its weight image and name (the atlas links along the circuit);
    /// null, or null for a unit: no link.
    /// </summary>
    public Func<NeuronAddress, string?>? Link { get; init; }
}
