using System.Globalization;
using System.Net;
using System.Text;
using Circuits.Interpretability.Imaging;

namespace Circuits.Interpretability.Reporting;

/// <summary>
/// Colour legends as inline SVG for HTML reports: a diverging scale for weight images (which colour excites, which
/// inhibits, and the numbers at the ends and the middle) and swatches for categorical colours such as NMF factors.
/// </summary>
public static class ColorLegend
{
    /// <summary>
    /// A horizontal colour bar from <paramref name="negative"/> (at -<paramref name="maxAbs"/>) through white (0) to
    /// <paramref name="positive"/> (at +<paramref name="maxAbs"/>), with ticks at the ends, the middle and halfway, the
    /// words <paramref name="negativeLabel"/> and <paramref name="positiveLabel"/> over the ends, and a title.
    /// </summary>
    /// <param name="maxAbs">The magnitude shown at full colour; a positive finite number.</param>
    /// <param name="positive">The colour of positive values.</param>
    /// <param name="negative">The colour of negative values.</param>
    /// <param name="title">What the scale measures, for example "weight (expanded, lines to curves)".</param>
    /// <param name="positiveLabel">The meaning of positive values. Default "excites".</param>
    /// <param name="negativeLabel">The meaning of negative values. Default "inhibits".</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxAbs"/> is not positive and finite.</exception>
    public static string Diverging(double maxAbs, Rgb positive, Rgb negative, string title, string positiveLabel = "excites", string negativeLabel = "inhibits")
    {
        if (!(maxAbs > 0) || !double.IsFinite(maxAbs))
        {
            throw new ArgumentOutOfRangeException(nameof(maxAbs), maxAbs, "The legend's magnitude must be a positive finite number.");
        }

        ArgumentNullException.ThrowIfNull(title);
        const int width = 340, barLeft = 20, barWidth = 300, barTop = 38, barHeight = 14;
        var svg = new StringBuilder();
        string name = Escape($"{title}: {negativeLabel} {Hex(negative)} at -{Number(maxAbs)}, 0 white, {positiveLabel} {Hex(positive)} at +{Number(maxAbs)}");
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"legend\" width=\"{width}\" height=\"80\" viewBox=\"0 0 {width} 80\" role=\"img\" aria-label=\"{name}\"><title>{name}</title>");
        // The gradient's id depends only on the legend (never on the process: HashCode is seeded per process), so the
        // same legend gives the same bytes in every run, as the atlas's sharded builds require.
        string id = "g" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{maxAbs:R}|{Hex(positive)}|{Hex(negative)}|{title}"))), 0, 8).ToLowerInvariant();
        svg.Append(CultureInfo.InvariantCulture,
            $"<defs><linearGradient id=\"{id}\"><stop offset=\"0\" stop-color=\"{Hex(negative)}\"/><stop offset=\"0.5\" stop-color=\"#ffffff\"/><stop offset=\"1\" stop-color=\"{Hex(positive)}\"/></linearGradient></defs>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"13\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333\">{Escape(title)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{barLeft}\" y=\"32\" font-size=\"12\" font-weight=\"bold\" fill=\"{Hex(negative)}\">{Escape(negativeLabel)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{barLeft + barWidth}\" y=\"32\" text-anchor=\"end\" font-size=\"12\" font-weight=\"bold\" fill=\"{Hex(positive)}\">{Escape(positiveLabel)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{barLeft}\" y=\"{barTop}\" width=\"{barWidth}\" height=\"{barHeight}\" fill=\"url(#{id})\" stroke=\"#888\"/>");
        foreach (double f in new[] { -1, -0.5, 0, 0.5, 1 })
        {
            double x = barLeft + ((f + 1) / 2 * barWidth);
            string label = f == 0 ? "0" : (f > 0 ? "+" : "\u2212") + Number(Math.Abs(f) * maxAbs);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x:0.#}\" x2=\"{x:0.#}\" y1=\"{barTop + barHeight}\" y2=\"{barTop + barHeight + 4}\" stroke=\"#555\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.#}\" y=\"{barTop + barHeight + 17}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#333\">{label}</text>");
        }

        return svg.Append("</svg>").ToString();
    }

    /// <summary>One swatch per colour with its label, in a row (for categorical colours such as NMF factors shown as RGB).</summary>
    /// <param name="items">The colours and what each means.</param>
    /// <param name="title">What the colours stand for.</param>
    public static string Swatches(IReadOnlyList<(Rgb Color, string Label)> items, string title)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(title);
        int height = 24 + (22 * items.Count);
        var svg = new StringBuilder();
        string name = Escape($"{title}: " + string.Join("; ", items.Select(i => $"{Hex(i.Color)} {i.Label}")));
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"legend\" width=\"520\" height=\"{height}\" viewBox=\"0 0 520 {height}\" role=\"img\" aria-label=\"{name}\"><title>{name}</title>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"14\" font-size=\"12\" fill=\"#333\">{Escape(title)}</text>");
        for (int i = 0; i < items.Count; i++)
        {
            int y = 22 + (22 * i);
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"4\" y=\"{y}\" width=\"16\" height=\"16\" fill=\"{Hex(items[i].Color)}\" stroke=\"#888\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"28\" y=\"{y + 13}\" font-size=\"12\" fill=\"#333\">{Escape(items[i].Label)}</text>");
        }

        return svg.Append("</svg>").ToString();
    }

    /// <summary>A colour as <c>#rrggbb</c>.</summary>
    public static string Hex(Rgb color)
    {
        static int B(float v) => (int)Math.Round(Math.Clamp(v, 0, 1) * 255);
        return string.Create(CultureInfo.InvariantCulture, $"#{B(color.R):x2}{B(color.G):x2}{B(color.B):x2}");
    }

    private static string Number(double value) => value.ToString("G2", CultureInfo.InvariantCulture);

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
