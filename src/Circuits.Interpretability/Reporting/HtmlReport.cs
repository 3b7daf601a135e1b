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

    /// <summary>Adds a heading (level 2 to 4).</summary>
    public HtmlReport Heading(string text, int level = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, 4);
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
        _body.Append("<div class=\"row\">");
        foreach (var (image, caption) in images)
        {
            _body.Append(Figure(image, caption, displayWidth));
        }

        _body.Append("</div>\n");
        return this;
    }

    /// <summary>Adds a table; every row must have as many cells as the header.</summary>
    /// <exception cref="ArgumentException">A row's length differs from the header's; the message names the row.</exception>
    public HtmlReport Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(rows);
        _body.Append("<table><thead><tr>");
        foreach (string h in header)
        {
            _body.Append("<th>").Append(Escape(h)).Append("</th>");
        }

        _body.Append("</tr></thead><tbody>\n");
        int index = 0;
        foreach (IReadOnlyList<string> row in rows)
        {
            if (row.Count != header.Count)
            {
                throw new ArgumentException($"Table row {index} has {row.Count} cells; the header has {header.Count}.", nameof(rows));
            }

            _body.Append("<tr>");
            foreach (string cell in row)
            {
                _body.Append("<td>").Append(Escape(cell)).Append("</td>");
            }

            _body.Append("</tr>\n");
            index++;
        }

        _body.Append("</tbody></table>\n");
        return this;
    }

    /// <summary>The whole page.</summary>
    public string ToHtml() =>
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        + $"<title>{Escape(Title)}</title>\n<style>{Style}</style>\n</head>\n<body>\n"
        + $"<h1>{Escape(Title)}</h1>\n{_body}"
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

    private string Figure(Tensor image, string caption, int displayWidth)
    {
        string data = Convert.ToBase64String(ImageIO.EncodePng(image));
        ImageCount++;
        string width = displayWidth > 0 ? $" width=\"{displayWidth}\"" : string.Empty;
        return $"<figure><img src=\"data:image/png;base64,{data}\"{width} alt=\"{Escape(caption)}\"><figcaption>{Escape(caption)}</figcaption></figure>";
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text ?? string.Empty);

    private const string Style =
        "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}"
        + "h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}"
        + ".row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}"
        + "figure{margin:0;text-align:center}figure img{image-rendering:pixelated;border:1px solid #ccc}"
        + "figcaption{font-size:.8em;color:#555;max-width:16em}"
        + "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}"
        + "pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em}footer{margin-top:3em;color:#999;font-size:.8em}";
}
