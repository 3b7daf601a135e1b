using System.Globalization;
using System.Text;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;

namespace Circuits.Interpretability.Reporting;

/// <summary>Writes a <see cref="UnitReport"/> into an <see cref="HtmlReport"/>: one section, every figure with words saying what it shows.</summary>
internal static class UnitReportWriter
{
    public static void Write(UnitReport unit, HtmlReport report, UnitReportOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.HeadingLevel, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.HeadingLevel, 4);
        int h = options.HeadingLevel, sub = h + 1;
        string e(string text) => HtmlReport.Escape(text);
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<section class=\"unit\" id=\"{e(Anchor(unit.Unit))}\">\n");
        if (options.ShowHeading)
        {
            html.Append(CultureInfo.InvariantCulture, $"<h{h}>{e(unit.Unit.ToString())}");
            if (unit.Family.Length > 0)
            {
                html.Append("<span class=\"family\">").Append(e(unit.Family)).Append("</span>");
            }

            html.Append(CultureInfo.InvariantCulture, $"</h{h}>\n");
        }
        if (unit.Summary.Length > 0)
        {
            html.Append("<p>").Append(e(unit.Summary)).Append("</p>\n");
        }

        report.Raw(html.ToString() + "<div class=\"panels\">\n");
        if (unit.Visualizations.Count > 0)
        {
            report.Raw(string.Create(CultureInfo.InvariantCulture, $"<div class=\"panel\" style=\"width:{Math.Max(260, unit.Visualizations.Count * (Math.Max(options.VisualizationWidth, 160) + 20))}px\">"));
            report.Heading("Feature visualization", sub);
            report.Paragraph($"Images optimized to excite {unit.Unit} as much as possible: what the unit looks for.");
            report.Images(unit.Visualizations, options.VisualizationWidth);
            report.Raw("</div>\n");
        }

        foreach (UnitTuning tuning in unit.Tuning)
        {
            report.Raw(string.Create(CultureInfo.InvariantCulture, $"<div class=\"panel\" style=\"width:{options.PlotWidth}px\">"));
            WriteTuning(tuning, report, options, sub);
            report.Raw("</div>\n");
        }

        foreach (UnitConnections set in unit.Connections)
        {
            report.Raw("<div class=\"panel wide\">");
            WriteConnections(unit, set, report, options, sub);
            report.Raw("</div>\n");
        }

        if (unit.Examples is { } examples)
        {
            report.Raw("<div class=\"panel wide\">");
            WriteExamples(unit, examples, report, options, sub);
            report.Raw("</div>\n");
        }

        report.Raw("</div>\n");

        if (unit.Notes.Count > 0)
        {
            report.Heading("Notes", sub);
            report.Raw("<ul>" + string.Concat(unit.Notes.Select(n => $"<li>{e(n)}</li>")) + "</ul>\n");
        }

        if (unit.MethodDetails.Count > 0)
        {
            report.Details($"How the figures of {unit.Unit} were made", unit.MethodDetails);
        }

        report.Raw("</section>\n");
    }

    /// <summary>The element id of a unit's section, for links within a page: <c>unit-curves_4</c>.</summary>
    public static string Anchor(NeuronAddress unit) => "unit-" + SafeFileName.From(unit.ToString());

    private static void WriteConnections(UnitReport unit, UnitConnections set, HtmlReport report, UnitReportOptions options, int level)
    {
        bool inputs = set.Direction == ConnectionDirection.Inputs;
        report.Heading(inputs ? $"Strongest inputs from {set.OtherLayer}" : $"Strongest outputs to {set.OtherLayer}", level);
        if (set.Items.Count == 0)
        {
            report.Paragraph("No connections.");
            return;
        }

        report.Paragraph(inputs
            ? $"Each image is how one unit of {set.OtherLayer} at each position of a {set.CropSize} x {set.CropSize} window affects {unit.Unit} at the centre "
              + $"(expanded weights: the path between the layers made linear). Blue: activity there excites {unit.Unit}; red: it inhibits. Strongest first (strength: L2 norm of the weights)."
            : $"Each image is how {unit.Unit} at each position of a {set.CropSize} x {set.CropSize} window affects one unit of {set.OtherLayer} at the centre "
              + $"(expanded weights). Blue: {unit.Unit} excites that unit there; red: it inhibits it. Strongest first (strength: L2 norm of the weights).");
        var html = new StringBuilder("<div class=\"row\">");
        foreach (UnitConnection c in set.Items)
        {
            string? link = options.Link?.Invoke(c.Unit);
            string img = report.Img(c.Weights, options.WeightImageWidth);
            string name = HtmlReport.Escape(c.Label);
            string caption = $"{name}<br>strength {UnitReport.F(c.Strength)}";
            html.Append("<figure>")
                .Append(link is null ? img : $"<a href=\"{HtmlReport.Escape(link)}\">{img}</a>")
                .Append("<figcaption>").Append(link is null ? caption : $"<a href=\"{HtmlReport.Escape(link)}\">{name}</a><br>strength {UnitReport.F(c.Strength)}").Append("</figcaption></figure>");
        }

        html.Append("</div>\n");
        report.Raw(html.ToString());
        if (set.MaxAbs > 0)
        {
            report.Svg(ColorLegend.Diverging(set.MaxAbs, WeightImage.PositiveColor, WeightImage.NegativeColor, $"expanded weight, {set.OtherLayer} {(inputs ? "to" : "from")} {unit.Unit}"),
                "Colour scale of the weight images above (one scale for all of them): white is 0.");
        }

        report.Details("How these weights were computed", new[] { set.Method });
    }

    private static void WriteTuning(UnitTuning tuning, HtmlReport report, UnitReportOptions options, int level)
    {
        var curve = tuning.Curve;
        report.Heading($"Tuning: response over {curve.Parameter}", level);
        string note = tuning.Note.Length > 0 ? $"; {tuning.Note}" : string.Empty;
        report.Paragraph($"The response of {curve.Neuron} to {tuning.Stimulus}: {curve.PeakSummary}{note}.");
        int height = (int)Math.Round(options.PlotWidth * 0.625);
        report.Svg(curve.PlotSvg(new LinePlotOptions { Width = options.PlotWidth, Height = height }),
            curve.NeverResponded
                ? $"{curve.Neuron} never responded: its response is 0 for every {curve.Parameter} of the sweep, so there is no peak."
                : $"Response of {curve.Neuron} (y) for each {curve.ParameterLabel} (x); the red ring and dashed line mark the peak.");
    }

    private static void WriteExamples(UnitReport unit, UnitExamples examples, HtmlReport report, UnitReportOptions options, int level)
    {
        report.Heading("Dataset examples", level);
        if (examples.Items.Count == 0)
        {
            report.Paragraph($"None of the {examples.ImagesSearched} images in {examples.Folder} could be read.");
            return;
        }

        int side = examples.Items[0].Example.Size;
        report.Paragraph($"The {examples.Items.Count} images of {examples.Folder} ({examples.ImagesSearched} searched, {examples.Skipped} unreadable) that excite {unit.Unit} most. "
                         + $"Each crop is the {side} x {side} pixel patch of the input around the position where the unit was most active, enlarged {options.ExampleWidth / Math.Max(1, side)} times.");
        var html = new StringBuilder("<div class=\"row examples\">");
        foreach (UnitExample x in examples.Items)
        {
            html.Append("<figure>").Append(report.Img(x.Crop, options.ExampleWidth))
                .Append(CultureInfo.InvariantCulture, $"<figcaption>#{x.Rank} &middot; activation {UnitReport.F(x.Example.Activation)}<br>(y, x) = ({x.Example.Y}, {x.Example.X})<br>{HtmlReport.Escape(x.FileLabel)}</figcaption></figure>");
        }

        html.Append("</div>\n");
        report.Raw(html.ToString());
        report.Table(new[] { "rank", "activation", "position (y, x) in the layer", "crop (top, left, size) in the input", "file" },
            examples.Items.Select(x => (IReadOnlyList<string>)new[]
            {
                x.Rank.ToString(CultureInfo.InvariantCulture), UnitReport.F(x.Example.Activation), $"({x.Example.Y}, {x.Example.X})",
                $"({x.Example.Top}, {x.Example.Left}, {x.Example.Size})", x.FileLabel,
            }));
    }
}
