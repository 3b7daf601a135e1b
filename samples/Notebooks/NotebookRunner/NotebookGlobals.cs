using System.Text;

namespace Circuits.Interpretability.Notebooks;

/// <summary>One output of a cell, as Jupyter stores it.</summary>
/// <param name="MimeType">text/plain, text/html or image/png.</param>
/// <param name="Data">The text, or base64 for images.</param>
public sealed record CellOutput(string MimeType, string Data);

/// <summary>HTML for <c>display</c>, as Polyglot Notebooks' <c>HTML(...)</c> helper makes.</summary>
/// <param name="Html">The markup.</param>
public sealed record HtmlString(string Html);

/// <summary>
/// The globals a notebook cell sees: the subset of Polyglot Notebooks' helpers our notebooks use
/// (<c>display</c> and <c>HTML</c>), so that the same cells run in VS Code and under this runner.
/// </summary>
public class NotebookGlobals
{
    internal List<CellOutput> Displayed { get; } = new();

    /// <summary>Shows a value below the cell: HTML as HTML, PNG bytes as an image, anything else as text.</summary>
    public object? display(object? value)
    {
        Displayed.Add(value switch
        {
            HtmlString html => new CellOutput("text/html", html.Html),
            byte[] png when png.Length > 8 && png[1] == (byte)'P' && png[2] == (byte)'N' && png[3] == (byte)'G' => new CellOutput("image/png", Convert.ToBase64String(png)),
            null => new CellOutput("text/plain", "<null>"),
            _ => new CellOutput("text/plain", value.ToString() ?? string.Empty),
        });
        return value;
    }

    /// <summary>Marks a string as HTML for <see cref="display"/>.</summary>
    public HtmlString HTML(string html) => new(html);

    /// <summary>An HTML image element for PNG bytes, for notebooks that lay several images out.</summary>
    public static string ImgTag(byte[] png, int width = 0) =>
        new StringBuilder("<img src=\"data:image/png;base64,").Append(Convert.ToBase64String(png))
            .Append(width > 0 ? $"\" width=\"{width}\"/>" : "\"/>").ToString();
}
