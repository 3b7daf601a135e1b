using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using System.Globalization;
using System.Net;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Reporting;

/// <summary>
/// A self-contained HTML page (inline styles, images embedded as PNG data) built section by section: one
/// file to open, mail or archive, with nothing beside it to lose. All text is HTML-escaped.
/// </summary>
/// <example>
/// <code>
/// var report = new HtmlReport("mixed3b:379")
///     .Heading("Feature visualization")
///     .Image(rendered, "channel objective, 512 steps", displayWidth: 224)
///     .Table(new[] { "input", "weight" }, rows);
/// string path = report.Save("out/report.html");
/// </code>
/// </example>
public sealed class HtmlReport
{
    private readonly StringBuilder _body = new();

    /// <summary>Starts a report with a title (shown as the page title and the first heading).</summary>
    public HtmlReport(string title)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(title);
        Title = title;
    }

    /// <summary>The page title.</summary>
    public string Title { get; }

    /// <summary>How many images the report embeds.</summary>
    public int ImageCount { get; private set; }

    /// <summary>Adds a heading (level 2 to 5).</summary>
    public HtmlReport Heading(string text, int level = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, 5);
        _body.Append(CultureInfo.InvariantCulture, $"<h{level}>{Escape(text)}</h{level}>\n");
        return this;
    }

    /// <summary>Adds a paragraph of text.</summary>
    public HtmlReport Paragraph(string text)
    {
        _body.Append("<p>").Append(Escape(text)).Append("</p>\n");
        return this;
    }

    /// <summary>Adds preformatted text (a table printed by the library, a log).</summary>
    public HtmlReport Preformatted(string text)
    {
        _body.Append("<pre>").Append(Escape(text)).Append("</pre>\n");
        return this;
    }

    /// <summary>Adds one image (C x H x W or 1 x C x H x W, values in [0, 1]) with a caption.</summary>
    /// <param name="image">The image tensor.</param>
    /// <param name="caption">Text under the image.</param>
    /// <param name="displayWidth">Width on the page in CSS pixels (0: natural size); small renders are scaled without smoothing.</param>
    public HtmlReport Image(Tensor image, string caption, int displayWidth = 0)
    {
        _body.Append("<div class=\"row\">").Append(Figure(image, caption, displayWidth)).Append("</div>\n");
        return this;
    }

    /// <summary>Adds images side by side, wrapping as the page narrows.</summary>
    public HtmlReport Images(IEnumerable<(Tensor Image, string Caption)> images, int displayWidth = 0)
    {
        ArgumentNullException.ThrowIfNull(images);
        return Images(images.Select(i => ReportImage.FromTensor(i.Image, i.Caption)).ToList(), displayWidth);
    }

    /// <summary>Adds encoded images side by side with their captions, wrapping as the page narrows.</summary>
    /// <param name="images">The images.</param>
    /// <param name="displayWidth">Width on the page in CSS pixels (0: natural size); small images are enlarged without smoothing, so pixels stay sharp squares.</param>
    public HtmlReport Images(IEnumerable<ReportImage> images, int displayWidth = 0)
    {
        ArgumentNullException.ThrowIfNull(images);
        _body.Append("<div class=\"row\">");
        foreach (ReportImage image in images)
        {
            _body.Append(Figure(image, displayWidth));
        }

        _body.Append("</div>\n");
        return this;
    }

    /// <summary>
    /// Adds an SVG element (a plot from <see cref="Imaging.LinePlot.RenderSvg"/>, a <see cref="ColorLegend"/>) as a figure
    /// with a caption. The markup is inserted as it is: give only SVG made by the library or that you trust.
    /// </summary>
    public HtmlReport Svg(string svg, string caption)
    {
        ArgumentNullException.ThrowIfNull(svg);
        if (!svg.TrimStart().StartsWith("<svg", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Expected an <svg> element; got text starting '{svg[..Math.Min(20, svg.Length)]}'.", nameof(svg));
        }

        _body.Append("<div class=\"row\"><figure class=\"svg\">").Append(svg).Append("<figcaption>").Append(Escape(caption)).Append("</figcaption></figure></div>\n");
        return this;
    }

    /// <summary>Adds a collapsed <c>details</c> element: <paramref name="summary"/> shows, the paragraphs open on a click (method details, logs).</summary>
    public HtmlReport Details(string summary, IEnumerable<string> paragraphs)
    {
        ArgumentNullException.ThrowIfNull(paragraphs);
        _body.Append("<details><summary>").Append(Escape(summary)).Append("</summary>");
        foreach (string p in paragraphs)
        {
            _body.Append("<p>").Append(Escape(p)).Append("</p>");
        }

        _body.Append("</details>\n");
        return this;
    }

    /// <summary>Adds a table; every row must have as many cells as the header.</summary>
    /// <exception cref="ArgumentException">A row's length differs from the header's; the message names the row.</exception>
    public HtmlReport Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(rows);
        List<IReadOnlyList<string>> all = rows.ToList();
        for (int index = 0; index < all.Count; index++)
        {
            if (all[index].Count != header.Count)
            {
                throw new ArgumentException($"Table row {index} has {all[index].Count} cells; the header has {header.Count}.", nameof(rows));
            }
        }

        // Numbers align right, words left; a column of numbers gets a right-aligned header.
        bool[] numeric = Enumerable.Range(0, header.Count).Select(c => all.Count > 0 && all.All(r => IsNumber(r[c]))).ToArray();
        _body.Append("<table><thead><tr>");
        for (int c = 0; c < header.Count; c++)
        {
            _body.Append(numeric[c] ? "<th>" : "<th class=\"text\">").Append(Escape(header[c])).Append("</th>");
        }

        _body.Append("</tr></thead><tbody>\n");
        foreach (IReadOnlyList<string> row in all)
        {
            _body.Append("<tr>");
            for (int c = 0; c < row.Count; c++)
            {
                _body.Append(numeric[c] ? "<td>" : "<td class=\"text\">").Append(Escape(row[c])).Append("</td>");
            }

            _body.Append("</tr>\n");
        }

        _body.Append("</tbody></table>\n");
        return this;
    }

    /// <summary>The whole page.</summary>
    public string ToHtml() =>
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        + $"<title>{Escape(Title)}</title>\n<style>{Style}{ExtraStyle}</style>\n</head>\n<body>\n{Header}"
        + $"<h1>{Escape(Heading1 ?? Title)}</h1>\n{_body}"
        + "<footer>Made with Circuits.Interpretability</footer>\n</body>\n</html>\n";

    /// <summary>
    /// Writes the page to <paramref name="path"/>, creating its folder; the file appears whole or not at all.
    /// Returns the full path.
    /// </summary>
    public string Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string html = ToHtml();
        AtomicFile.Write(full, temp => File.WriteAllText(temp, html, new UTF8Encoding(false)));

        return full;
    }

    /// <summary>Markup placed before the page's first heading (a site's navigation); the writer escapes its text itself.</summary>
    internal string Header { get; set; } = string.Empty;

    /// <summary>Style rules added after the page's own (a site's grids and cards).</summary>
    internal string ExtraStyle { get; set; } = string.Empty;

    /// <summary>The first heading's text when it differs from the title (null: the title).</summary>
    internal string? Heading1 { get; set; }

    /// <summary>Appends markup as it is; for the library's section writers, which escape all text themselves.</summary>
    internal HtmlReport Raw(string html)
    {
        _body.Append(html);
        return this;
    }

    /// <summary>An <c>img</c> element of <paramref name="image"/> at <paramref name="displayWidth"/> CSS pixels (0: natural), counted in <see cref="ImageCount"/>.</summary>
    internal string Img(ReportImage image, int displayWidth, string? cssClass = null)
    {
        ImageCount++;
        int width = displayWidth > 0 ? displayWidth : image.Width;
        int height = (int)Math.Round(width * (double)image.Height / image.Width);
        string css = cssClass is null ? string.Empty : $" class=\"{cssClass}\"";
        string src = image.Url is null ? image.DataUri : Escape(image.Url) + "\" loading=\"lazy";
        return string.Create(CultureInfo.InvariantCulture,
            $"<img src=\"{src}\" width=\"{width}\" height=\"{height}\"{css} alt=\"{Escape(image.Caption)}\">");
    }

    private string Figure(Tensor image, string caption, int displayWidth) => Figure(ReportImage.FromTensor(image, caption), displayWidth);

    private string Figure(ReportImage image, int displayWidth) =>
        $"<figure>{Img(image, displayWidth)}<figcaption>{Escape(image.Caption)}</figcaption></figure>";

    private static bool IsNumber(string cell) =>
        double.TryParse(cell.TrimEnd('°', '%'), NumberStyles.Float, CultureInfo.InvariantCulture, out _) || cell is "-" or "";

    /// <summary>HTML-escapes text (null as empty).</summary>
    internal static string Escape(string? text) => WebUtility.HtmlEncode(text ?? string.Empty);

    private const string Style =
        "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}"
        + "h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin-top:1.4em}h4{margin:1.2em 0 .4em}"
        + "p{line-height:1.45;max-width:60em}"
        + ".row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start;margin:.4em 0}"
        + "figure{margin:0;text-align:center}figure img{image-rendering:pixelated;border:1px solid #ccc;display:block;margin:0 auto}"
        + "figcaption{font-size:.85em;color:#444;max-width:18em;margin:.3em auto 0}figure.svg figcaption{max-width:40em}"
        + "svg.plot{max-width:100%;height:auto}svg text{font-family:'DejaVu Sans',Verdana,sans-serif}"
        + "table{border-collapse:collapse;font-size:.9em;margin:.4em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f4f4f4}"
        + "td.text,th.text{text-align:left}"
        + "details{margin:.5em 0;color:#444;font-size:.9em}summary{cursor:pointer;color:#246}"
        + ".panels{display:flex;flex-wrap:wrap;gap:0 40px;align-items:flex-start}.panel{flex:0 1 auto;max-width:100%}.panel.wide{flex-basis:100%}"
        + "section.unit{border-top:2px solid #e4e4e4;margin-top:2em}.family{font-size:.7em;background:#eef;border-radius:.6em;padding:.1em .6em;margin-left:.6em;vertical-align:middle}"
        + "a{color:#1a5fb4}"
        + "pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em}footer{margin-top:3em;color:#999;font-size:.8em}";
}
