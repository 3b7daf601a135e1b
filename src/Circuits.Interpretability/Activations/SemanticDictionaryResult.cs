using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Activations;

/// <summary>A semantic dictionary of one image at one layer. Owns its image and icons: dispose it when done.</summary>
public sealed class SemanticDictionaryResult : IDisposable
{
    internal SemanticDictionaryResult(string layer, Tensor image, int height, int width, IReadOnlyList<SemanticEntry> entries, IReadOnlyDictionary<int, Tensor> icons)
    {
        Layer = layer;
        Image = image;
        Height = height;
        Width = width;
        Entries = entries;
        Icons = icons;
    }

    /// <summary>The layer.</summary>
    public string Layer { get; }

    /// <summary>The image, 3 x H x W in [0, 1].</summary>
    public Tensor Image { get; }

    /// <summary>The layer's rows.</summary>
    public int Height { get; }

    /// <summary>The layer's columns.</summary>
    public int Width { get; }

    /// <summary>Every position, row-major.</summary>
    public IReadOnlyList<SemanticEntry> Entries { get; }

    /// <summary>The feature visualization of every unit that appears (3 x s x s), by channel; empty when icons were not rendered.</summary>
    public IReadOnlyDictionary<int, Tensor> Icons { get; }

    /// <summary>The entry at (y, x).</summary>
    /// <exception cref="UnitOutOfRangeException">The position is outside the layer.</exception>
    public SemanticEntry At(int y, int x) => y >= 0 && x >= 0 && y < Height && x < Width
        ? Entries[(y * Width) + x]
        : throw new UnitOutOfRangeException($"Position ({y}, {x}) is outside layer '{Layer}', which has {Height} x {Width} positions.");

    /// <summary>
    /// A static figure, 3 x (h · cell) x (2 w · cell + gap): the image on the left, resized to the layer's grid, and on
    /// the right each position's strongest unit's icon, faded toward white as the position's activation magnitude falls
    /// below the image's largest (Building Blocks' "what does the network see" grid). Without icons, the right half
    /// shows the magnitude as grey levels. The caller owns the result.
    /// </summary>
    public Tensor Figure(int cellSize = 48)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cellSize, 4);
        using var scope = NewDisposeScope();
        int gap = Math.Max(2, cellSize / 8);
        Tensor canvas = ones(3, Height * cellSize, (2 * Width * cellSize) + gap);
        Tensor left = nn.functional.interpolate(Image.unsqueeze(0), new long[] { Height * cellSize, Width * cellSize }, mode: InterpolationMode.Bilinear, align_corners: false)[0].clamp(0, 1);
        canvas[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(0, Width * cellSize)] = left;
        double max = Math.Max(Entries.Max(e => e.Magnitude), 1e-12);
        foreach (SemanticEntry e in Entries)
        {
            double strength = e.Magnitude / max;
            Tensor cell = Icons.TryGetValue(e.Top[0].Channel, out Tensor? icon)
                ? nn.functional.interpolate(icon.unsqueeze(0), new long[] { cellSize, cellSize }, mode: InterpolationMode.Bilinear, align_corners: false)[0].clamp(0, 1)
                : zeros(3, cellSize, cellSize);
            cell = cell.mul(strength).add(1 - strength);
            long top = e.Y * cellSize, x0 = (Width * cellSize) + gap + (e.X * cellSize);
            canvas[TensorIndex.Colon, TensorIndex.Slice(top, top + cellSize), TensorIndex.Slice(x0, x0 + cellSize)] = cell;
        }

        return canvas.DetachFromDisposeScope();
    }

    /// <summary>
    /// A self-contained interactive page: the image with the layer's grid over it; pointing at (or tapping) a position
    /// shows its strongest units with their icons, channel numbers and activations as bars; the strongest position is
    /// shown first. The static <see cref="Figure"/> follows below. All data is embedded (no network).
    /// </summary>
    public string ToHtml(string? title = null)
    {
        title ??= $"Semantic dictionary: {Layer}";
        const int display = 448;
        var data = new
        {
            layer = Layer,
            height = Height,
            width = Width,
            entries = Entries.Select(e => new { y = e.Y, x = e.X, m = e.Magnitude, top = e.Top.Select(t => new { c = t.Channel, v = t.Activation }) }),
            icons = Icons.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => DataUri(kv.Value)),
        };
        string json = JsonSerializer.Serialize(data).Replace("</", "<\\/", StringComparison.Ordinal);
        using Tensor figure = Figure();
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>").Append(WebUtility.HtmlEncode(title)).Append("</title>\n<style>")
            .Append("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}")
            .Append("#sd{display:flex;gap:24px;align-items:flex-start}#view{position:relative;width:").Append(display).Append("px;height:").Append(display).Append("px}")
            .Append("#view img{width:100%;height:100%;image-rendering:pixelated;display:block}")
            .Append(".cell{position:absolute;box-sizing:border-box;border:1px solid rgba(255,255,255,.35);cursor:pointer}")
            .Append(".cell.on{border:2px solid #ff0}#panel{min-width:20em}#panel .unit{display:flex;gap:10px;align-items:center;margin:6px 0}")
            .Append("#panel img{width:72px;height:72px;border:1px solid #ccc}.bar{height:10px;background:#1f5fbf}")
            .Append("figure{margin:2em 0 0}figure img{width:min(100%,912px);image-rendering:pixelated;border:1px solid #ccc}figcaption{font-size:.85em;color:#555}")
            .Append("</style>\n</head>\n<body>\n<h1>").Append(WebUtility.HtmlEncode(title)).Append("</h1>\n")
            .Append("<p>Each position of <code>").Append(WebUtility.HtmlEncode(Layer)).Append("</code> (").Append(Height).Append(" x ").Append(Width)
            .Append(") described by its strongest units. Point at a square.</p>\n")
            .Append("<div id=\"sd\"><div id=\"view\"><img alt=\"input image\" src=\"").Append(DataUri(Image)).Append("\"></div><div id=\"panel\"></div></div>\n")
            .Append("<figure><img alt=\"semantic dictionary grid\" src=\"").Append(DataUri(figure)).Append("\"><figcaption>Left: the image. Right: each position's strongest unit, faded by the position's activation magnitude.</figcaption></figure>\n")
            .Append("<script id=\"data\" type=\"application/json\">").Append(json).Append("</script>\n<script>").Append(Script).Append("</script>\n</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>Writes <see cref="ToHtml"/> to <paramref name="path"/> atomically (creating the folder); returns the full path.</summary>
    public string SaveHtml(string path, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string html = ToHtml(title);
        AtomicFile.Write(full, temp => File.WriteAllText(temp, html, new UTF8Encoding(false)));
        return full;
    }

    /// <summary>Frees the image and the icons.</summary>
    public void Dispose()
    {
        Image.Dispose();
        foreach (Tensor icon in Icons.Values)
        {
            icon.Dispose();
        }
    }

    private static string DataUri(Tensor image) => "data:image/png;base64," + Convert.ToBase64String(ImageIO.EncodePng(image));

    private const string Script = """
        const d = JSON.parse(document.getElementById('data').textContent);
        const view = document.getElementById('view'), panel = document.getElementById('panel');
        const max = Math.max(...d.entries.flatMap(e => e.top.map(t => Math.abs(t.v))), 1e-12);
        const cells = d.entries.map((e, i) => {
          const c = document.createElement('div');
          c.className = 'cell';
          c.style.left = (100 * e.x / d.width) + '%'; c.style.top = (100 * e.y / d.height) + '%';
          c.style.width = (100 / d.width) + '%'; c.style.height = (100 / d.height) + '%';
          c.dataset.i = i;
          c.addEventListener('mouseenter', () => show(i));
          c.addEventListener('click', () => show(i));
          view.appendChild(c);
          return c;
        });
        function show(i) {
          const e = d.entries[i];
          cells.forEach((c, j) => c.classList.toggle('on', j === i));
          panel.innerHTML = '';
          const h = document.createElement('h2');
          h.textContent = d.layer + ' @ ' + e.y + ',' + e.x;
          panel.appendChild(h);
          for (const t of e.top) {
            const row = document.createElement('div');
            row.className = 'unit';
            if (d.icons[t.c]) { const img = document.createElement('img'); img.src = d.icons[t.c]; img.alt = 'unit ' + t.c; row.appendChild(img); }
            const text = document.createElement('div');
            const label = document.createElement('div');
            label.textContent = 'unit ' + t.c + ': ' + t.v.toFixed(3);
            const bar = document.createElement('div');
            bar.className = 'bar';
            bar.style.width = Math.max(1, 160 * Math.max(t.v, 0) / max) + 'px';
            text.appendChild(label); text.appendChild(bar); row.appendChild(text);
            panel.appendChild(row);
          }
        }
        let best = 0;
        d.entries.forEach((e, i) => { if (e.m > d.entries[best].m) best = i; });
        show(best);
        """;
}
