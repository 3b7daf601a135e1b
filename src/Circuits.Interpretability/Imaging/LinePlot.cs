using Circuits.Interpretability.Core;
using System.Globalization;
using System.Text.RegularExpressions;
using ScottPlot;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Imaging;

/// <summary>
/// Line plots of an x-y series drawn by ScottPlot: a title, axis titles, readable ticks, the data as a line with
/// points, and the peak marked with its value in a legend (never clipped by the frame). PNG for files
/// (<see cref="RenderPng"/>, <see cref="Render"/> as a tensor) and SVG for HTML pages (<see cref="RenderSvg"/>: the
/// text stays crisp at any zoom). Text needs a font on the machine (any; DejaVu Sans is preferred).
/// </summary>
public static partial class LinePlot
{
    /// <summary>The font family asked for first; the system's default font stands in when it is missing.</summary>
    public const string FontFamily = "DejaVu Sans";

    /// <summary>The smallest width and height accepted, in pixels.</summary>
    public const int MinimumSize = 160;

    /// <summary>Draws <paramref name="y"/> over <paramref name="x"/> and encodes it as PNG.</summary>
    /// <exception cref="CircuitsException">The series are empty, differ in length, contain non-finite values, or the size is too small.</exception>
    public static byte[] RenderPng(IReadOnlyList<double> x, IReadOnlyList<double> y, LinePlotOptions? options = null)
    {
        options ??= new LinePlotOptions();
        Plot plot = Build(x, y, options);
        return plot.GetImageBytes(options.Width, options.Height, ImageFormat.Png);
    }

    /// <summary>Draws <paramref name="y"/> over <paramref name="x"/> as a 3 x H x W RGB image in [0, 1] (for notebooks and image grids).</summary>
    /// <exception cref="CircuitsException">See <see cref="RenderPng"/>.</exception>
    public static Tensor Render(IReadOnlyList<double> x, IReadOnlyList<double> y, LinePlotOptions? options = null) =>
        ImageIO.Decode(RenderPng(x, y, options), source: "the plot");

    /// <summary>Writes the PNG to <paramref name="path"/> (atomically: a temporary file renamed over it).</summary>
    /// <exception cref="CircuitsException">See <see cref="RenderPng"/>.</exception>
    public static void SavePng(string path, IReadOnlyList<double> x, IReadOnlyList<double> y, LinePlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] png = RenderPng(x, y, options);
        AtomicFile.WriteAllBytes(Path.GetFullPath(path), png);
    }

    /// <summary>
    /// Draws <paramref name="y"/> over <paramref name="x"/> as an SVG element to put inline in HTML: text is SVG text
    /// (crisp, searchable), the element scales with its box (a viewBox of the plot's size), and it carries the
    /// title as its accessible name.
    /// </summary>
    /// <exception cref="CircuitsException">See <see cref="RenderPng"/>.</exception>
    public static string RenderSvg(IReadOnlyList<double> x, IReadOnlyList<double> y, LinePlotOptions? options = null)
    {
        options ??= new LinePlotOptions();
        Plot plot = Build(x, y, options);
        string svg = plot.GetSvgXml(options.Width, options.Height);
        int start = svg.IndexOf("<svg", StringComparison.Ordinal);
        svg = start > 0 ? svg[start..] : svg;
        string name = System.Net.WebUtility.HtmlEncode(options.Title.Length > 0 ? options.Title : "plot");
        string open = string.Create(CultureInfo.InvariantCulture,
            $"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {options.Width} {options.Height}\" width=\"{options.Width}\" height=\"{options.Height}\" role=\"img\" aria-label=\"{name}\" class=\"plot\"><title>{name}</title>");
        return StableIds(SvgOpenTag().Replace(svg, open, 1));
    }

    /// <summary>
    /// Skia's SVG canvas numbers clip paths with a counter shared by the whole process (in hex: <c>cl_e</c>, <c>cl_10</c>), so the same plot
    /// drawn twice differs, and two plots on one page could share ids. Renumber them from 0 in order of appearance and
    /// prefix them with a hash of the plot, so the SVG depends only on what it shows (the atlas's sharded builds compare
    /// pages byte for byte) and distinct plots on a page keep distinct ids.
    /// </summary>
    private static string StableIds(string svg)
    {
        var order = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match m in ClipId().Matches(svg))
        {
            order.TryAdd(m.Value, order.Count);
        }

        if (order.Count == 0)
        {
            return svg;
        }

        string local = ClipId().Replace(svg, m => string.Create(CultureInfo.InvariantCulture, $"cl_{order[m.Value]}"));
        string prefix = "p" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(local)), 0, 4).ToLowerInvariant();
        return ClipId().Replace(local, m => $"{prefix}-{m.Value}");
    }

    private static Plot Build(IReadOnlyList<double> x, IReadOnlyList<double> y, LinePlotOptions options)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(options);
        if (x.Count == 0 || x.Count != y.Count)
        {
            throw new CircuitsException($"A plot needs x and y of one non-zero length; got {x.Count} x values and {y.Count} y values.");
        }

        if (x.Concat(y).Any(v => !double.IsFinite(v)))
        {
            throw new CircuitsException("A plot needs finite values; the series contain NaN or infinity.");
        }

        if (options.Width < MinimumSize || options.Height < MinimumSize)
        {
            throw new CircuitsException($"A plot of {options.Width} x {options.Height} pixels is too small; expected at least {MinimumSize} x {MinimumSize}.");
        }

        var plot = new Plot();
        plot.Font.Set(FontFamily);
        Color line = ToColor(options.LineColor);
        double[] xs = x.ToArray(), ys = y.ToArray();
        var scatter = plot.Add.Scatter(xs, ys, line);
        scatter.LineWidth = 2;
        scatter.MarkerSize = xs.Length > 60 ? 4 : 6;
        if (options.SeriesName.Length > 0)
        {
            scatter.LegendText = options.SeriesName;
        }

        double xMin = options.XMin ?? xs.Min(), xMax = options.XMax ?? xs.Max();
        if (xMax <= xMin)
        {
            xMax = xMin + 1;
        }

        double yMin = ys.Min(), yMax = ys.Max();
        bool flat = yMax - yMin <= 1e-12 * Math.Max(1, Math.Abs(yMax));
        if (options.YFromZero)
        {
            yMin = Math.Min(yMin, 0);
            yMax = Math.Max(yMax, 0);
        }

        if (yMax - yMin < 1e-12)
        {
            yMax = yMin + (Math.Abs(yMin) > 0 ? Math.Abs(yMin) : 1);
        }

        double xPad = (xMax - xMin) * 0.03, yPad = (yMax - yMin) * 0.08;
        plot.Axes.SetLimits(xMin - xPad, xMax + xPad, options.YFromZero && yMin == 0 ? 0 : yMin - yPad, yMax + yPad);
        if (options.XTickStep is double step && step > 0)
        {
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(step);
        }

        if (options.MarkPeak && !flat)
        {
            int peak = Enumerable.Range(0, ys.Length).Aggregate((best, i) => ys[i] > ys[best] ? i : best);
            Color red = new(200, 30, 30);
            var drop = plot.Add.VerticalLine(xs[peak], 1.5f, red);
            drop.LinePattern = LinePattern.Dashed;
            var ring = plot.Add.Marker(xs[peak], ys[peak], MarkerShape.OpenCircle, 14, red);
            ring.MarkerLineWidth = 2;
            ring.LegendText = $"peak at {Format(xs[peak])}{options.XUnitSuffix} (response {Format(ys[peak])})";
        }

        if (options.Note.Length > 0)
        {
            var note = plot.Add.Annotation(options.Note, Alignment.MiddleCenter);
            note.LabelFontSize = 15;
            note.LabelBold = true;
            note.LabelFontColor = new Color(60, 60, 60);
            note.LabelBackgroundColor = new Color(245, 245, 245);
            note.LabelBorderColor = new Color(150, 150, 150);
            note.LabelShadowColor = Colors.Transparent;
        }

        if (options.Title.Length > 0)
        {
            plot.Title(options.Title, 16);
        }

        if (options.XLabel.Length > 0)
        {
            plot.XLabel(options.XLabel, 14);
        }

        if (options.YLabel.Length > 0)
        {
            plot.YLabel(options.YLabel, 14);
        }

        plot.Axes.Bottom.TickLabelStyle.FontSize = 13;
        plot.Axes.Left.TickLabelStyle.FontSize = 13;
        if (plot.GetPlottables().Any(p => p.LegendItems.Any(i => !string.IsNullOrEmpty(i.LabelText))))
        {
            plot.ShowLegend(Alignment.UpperRight);
            plot.Legend.FontSize = 13;
        }

        return plot;
    }

    internal static Color ToColor(Rgb c) =>
        new((byte)Math.Round(Math.Clamp(c.R, 0, 1) * 255), (byte)Math.Round(Math.Clamp(c.G, 0, 1) * 255), (byte)Math.Round(Math.Clamp(c.B, 0, 1) * 255));

    private static string Format(double value) =>
        Math.Abs(value) >= 1e4 || (value != 0 && Math.Abs(value) < 1e-3)
            ? value.ToString("G3", CultureInfo.InvariantCulture)
            : value.ToString("0.###", CultureInfo.InvariantCulture);

    [GeneratedRegex("<svg[^>]*>")]
    private static partial Regex SvgOpenTag();

    [GeneratedRegex(@"\bcl_[0-9a-fA-F]+\b")]
    private static partial Regex ClipId();
}
