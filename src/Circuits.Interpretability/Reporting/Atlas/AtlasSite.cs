using System.Globalization;
using System.Text;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// Writes an atlas's pages: the index (layers with unit counts, a strip of thumbnails each, the families), a page per
/// layer (every unit's thumbnail, lazy-loaded, grouped by family as the Early Vision article groups neurons) and a page
/// per unit (<see cref="AtlasUnitPage"/>). A page is written only when its content changed.
/// </summary>
internal static class AtlasSite
{
    /// <summary>The atlas's style rules, added to the report's own.</summary>
    public const string Style =
        "nav.crumbs{display:flex;flex-wrap:wrap;gap:.3em;align-items:baseline;font-size:.92em;color:#555;padding:.5em 0;border-bottom:1px solid #e4e4e4}"
        + "nav.crumbs a{text-decoration:none}nav.crumbs .pager{margin-left:auto;display:flex;gap:1.2em}"
        + "h1{margin:.5em 0 .3em}h2 .count{font-size:.65em;color:#777;font-weight:normal;margin-left:.5em}"
        + "p.lead{font-size:1.05em;color:#333}code{background:#f4f4f4;padding:0 .25em;border-radius:3px}"
        + ".chip{display:inline-block;background:#eef2fb;border:1px solid #d5def3;border-radius:1em;padding:.05em .7em;margin:.15em .25em .15em 0;text-decoration:none;font-size:.9em}"
        + ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(118px,1fr));gap:12px;margin:.6em 0 1.6em}"
        + "a.card{display:block;text-align:center;text-decoration:none;color:#222;border:1px solid #e2e2e2;border-radius:8px;padding:8px 4px 6px;background:#fff}"
        + "a.card:hover{border-color:#1a5fb4;box-shadow:0 1px 5px rgba(0,0,0,.15)}"
        + "a.card img{width:96px;height:96px;display:block;margin:0 auto 5px;background:#eee;border-radius:3px;image-rendering:auto;border:0}"
        + "a.card .name{display:block;font-weight:600;font-size:.85em}a.card .label{display:block;font-size:.75em;color:#666;line-height:1.25}"
        + "table.layers td{vertical-align:middle}table.layers td.strip{text-align:left}table.layers .strip img{width:40px;height:40px;margin-right:3px;vertical-align:middle;border-radius:2px}"
        + ".panel.wide figure:not(.svg) figcaption{max-width:11em}section.unit{border-top:0;margin-top:.5em}p.model{color:#666;font-size:.9em;margin-top:2em}";

    public static AtlasPagesResult Write(string root, AtlasPlan plan, IReadOnlyDictionary<NeuronAddress, UnitRecord> records, AtlasNotes notes,
        IProgress<AtlasProgress>? progress, CancellationToken cancellationToken)
    {
        int written = 0, unchanged = 0, done = 0;
        long largest = 0;
        void Save(string sitePath, string html)
        {
            var (wrote, bytes) = AtlasFiles.WriteIfChanged(root, sitePath, html);
            written += wrote ? 1 : 0;
            unchanged += wrote ? 0 : 1;
            largest = Math.Max(largest, bytes);
        }

        foreach (AtlasLayer layer in plan.Layers)
        {
            foreach (int channel in layer.Channels)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var unit = new NeuronAddress(layer.Name, channel);
                Save(AtlasFiles.UnitPage(unit), AtlasUnitPage.Html(root, plan, layer, records[unit], notes));
                progress?.Report(new AtlasProgress("writing pages", ++done, plan.UnitCount, 0, 0));
            }

            Save(AtlasFiles.LayerPage(layer.Name), LayerPage(plan, layer, records, notes));
        }

        Save("index.html", Index(plan, records, notes));
        return new AtlasPagesResult(root, Path.Combine(root, "index.html"), plan.Layers.Count, plan.UnitCount, written, unchanged, largest);
    }

    /// <summary>The element id of a family's group on a layer page.</summary>
    public static string FamilyAnchor(string family) => "family-" + SafeFileName.From(family.ToLowerInvariant()).Replace('.', '_');

    private static string Index(AtlasPlan plan, IReadOnlyDictionary<NeuronAddress, UnitRecord> records, AtlasNotes notes)
    {
        const string page = "index.html";
        string e(string s) => HtmlReport.Escape(s);
        var html = new HtmlReport($"{plan.Title} atlas") { ExtraStyle = Style, Header = "<nav class=\"crumbs\"><span>Neuron atlas</span></nav>\n" };
        var intro = new StringBuilder();
        if (plan.Document.Description.Length > 0)
        {
            intro.Append(plan.Document.Description.TrimEnd('.')).Append(". ");
        }

        intro.Append(CultureInfo.InvariantCulture, $"{plan.UnitCount} units in {plan.Layers.Count} layers, each with its feature visualizations, its strongest inputs and outputs (follow them to walk the circuit both ways) and people's notes.");
        html.Raw($"<p class=\"lead\">{e(intro.ToString())}</p>\n<p>Model and weights: <code>{e(plan.ModelId)}</code>.</p>\n");
        html.Heading("Layers");
        var table = new StringBuilder("<table class=\"layers\"><thead><tr><th class=\"text\">layer</th><th>units</th><th>families</th><th>units in a family</th><th class=\"text\">first units</th></tr></thead><tbody>\n");
        foreach (AtlasLayer layer in plan.Layers)
        {
            var units = layer.Channels.Select(c => new NeuronAddress(layer.Name, c)).ToList();
            var inFamily = units.Where(u => notes.Get(u) is { Family.Length: > 0 }).ToList();
            string strip = string.Concat(units.Take(10).Select(u => Thumb(page, records[u].Thumbnail, u.ToString(), 40)));
            string shown = layer.Channels.Count == layer.ChannelCount ? layer.ChannelCount.ToString(CultureInfo.InvariantCulture) : $"{layer.Channels.Count} of {layer.ChannelCount}";
            table.Append(CultureInfo.InvariantCulture,
                $"<tr><td class=\"text\"><a href=\"{e(AtlasFiles.Url(page, AtlasFiles.LayerPage(layer.Name)))}\">{e(layer.Name)}</a></td><td>{shown}</td>"
                + $"<td>{inFamily.Select(u => notes.Get(u)!.Family).Distinct().Count()}</td><td>{inFamily.Count}</td><td class=\"text strip\">{strip}</td></tr>\n");
        }

        html.Raw(table.Append("</tbody></table>\n").ToString());
        var families = plan.Layers.SelectMany(l => Groups(l, notes).Where(g => g.Family.Length > 0).Select(g => (Layer: l, g.Family, g.Units.Count))).ToList();
        html.Heading("Families");
        if (families.Count == 0)
        {
            html.Paragraph("No unit has a family yet. Families are groups people find (the Early Vision article sorts InceptionV1's first layers into about 60 of them); add them with 'circuits atlas annotate'.");
        }
        else
        {
            html.Raw("<p>" + string.Concat(families.Select(f =>
                $"<a class=\"chip\" href=\"{e(AtlasFiles.Url(page, AtlasFiles.LayerPage(f.Layer.Name)) + "#" + FamilyAnchor(f.Family))}\">{e(f.Family)} <span class=\"count\">{e(f.Layer.Name)} · {f.Count}</span></a>")) + "</p>\n");
        }

        html.Heading("How to add to it");
        html.Raw("<p>Families and notes live in a plain text file, one unit per line, that merges in git when people annotate different units. Edit it by hand or with</p>\n"
                 + "<pre>circuits atlas annotate LAYER:CHANNEL --family \"NAME\" --note \"TEXT\"\ncircuits atlas merge</pre>\n"
                 + "<p>The merge rewrites only the pages that change; nothing is rendered again.</p>\n");
        html.Details("How the figures were made", plan.Document.Settings);
        return html.ToHtml();
    }

    private static string LayerPage(AtlasPlan plan, AtlasLayer layer, IReadOnlyDictionary<NeuronAddress, UnitRecord> records, AtlasNotes notes)
    {
        string page = AtlasFiles.LayerPage(layer.Name);
        string e(string s) => HtmlReport.Escape(s);
        var html = new HtmlReport($"{layer.Name} · {plan.Title} atlas")
        {
            Heading1 = $"{layer.Name}",
            ExtraStyle = Style,
            Header = $"<nav class=\"crumbs\"><a href=\"{e(AtlasFiles.Url(page, "index.html"))}\">{e(plan.Title)} atlas</a> › {e(layer.Name)}<span class=\"pager\">"
                     + Neighbour(plan, page, layer.Previous, "← ", string.Empty, "prev") + Neighbour(plan, page, layer.Next, string.Empty, " →", "next") + "</span></nav>\n",
        };
        var groups = Groups(layer, notes);
        bool anyFamily = groups.Any(g => g.Family.Length > 0);
        string shown = layer.Channels.Count == layer.ChannelCount ? $"all {layer.ChannelCount} units" : $"{layer.Channels.Count} of its {layer.ChannelCount} units";
        string shownBy = plan.Document.Thumbnail == nameof(AtlasThumbnail.Neuron) && layer.Spatial
            ? "its centre-neuron feature visualization (the image that excites the unit at the centre of its map most)"
            : "its channel feature visualization (the image that excites the whole channel most)";
        html.Raw($"<p class=\"lead\">{e($"Layer {layer.Name} of {plan.Title}: {shown}, each shown by {shownBy}. Click a unit for its page.")}</p>\n");
        if (anyFamily)
        {
            html.Raw("<p>Families: " + string.Concat(groups.Select(g =>
                $"<a class=\"chip\" href=\"#{(g.Family.Length > 0 ? FamilyAnchor(g.Family) : "family-none")}\">{e(g.Family.Length > 0 ? g.Family : "not yet in a family")} <span class=\"count\">{g.Units.Count}</span></a>")) + "</p>\n");
        }

        foreach (var (family, units) in groups)
        {
            string title = family.Length > 0 ? family : anyFamily ? "Not yet in a family" : "Units";
            string id = family.Length > 0 ? FamilyAnchor(family) : "family-none";
            var grid = new StringBuilder();
            grid.Append(CultureInfo.InvariantCulture, $"<section class=\"group\" id=\"{id}\"><h2>{e(title)}<span class=\"count\">{units.Count} unit{(units.Count == 1 ? string.Empty : "s")}</span></h2><div class=\"grid\">\n");
            foreach (NeuronAddress unit in units)
            {
                string label = plan.Label(unit) ?? string.Empty;
                string note = notes.Get(unit)?.Note ?? string.Empty;
                string tip = string.Join(" — ", new[] { unit.ToString(), label, note }.Where(t => t.Length > 0));
                grid.Append(CultureInfo.InvariantCulture, $"<a class=\"card\" href=\"{e(AtlasFiles.Url(page, AtlasFiles.UnitPage(unit)))}\" title=\"{e(tip)}\">")
                    .Append(Thumb(page, records[unit].Thumbnail, records[unit].Thumbnail.Caption, 96))
                    .Append(CultureInfo.InvariantCulture, $"<span class=\"name\">{e(unit.ToString())}</span>")
                    .Append(label.Length > 0 ? $"<span class=\"label\">{e(label)}</span>" : string.Empty)
                    .Append("</a>\n");
            }

            html.Raw(grid.Append("</div></section>\n").ToString());
        }

        html.Details("How the figures were made", plan.Document.Settings);
        return html.ToHtml();
    }

    /// <summary>A layer's units grouped by family: families in the order of their first unit, then the units in none.</summary>
    private static List<(string Family, List<NeuronAddress> Units)> Groups(AtlasLayer layer, AtlasNotes notes)
    {
        var units = layer.Channels.Select(c => new NeuronAddress(layer.Name, c)).ToList();
        var groups = units.GroupBy(u => notes.Get(u)?.Family ?? string.Empty, StringComparer.Ordinal)
            .Select(g => (Family: g.Key, Units: g.ToList()))
            .ToList();
        return groups.Where(g => g.Family.Length > 0).Concat(groups.Where(g => g.Family.Length == 0)).ToList();
    }

    private static string Thumb(string page, ImageRef image, string alt, int size) =>
        string.Create(CultureInfo.InvariantCulture,
            $"<img src=\"{HtmlReport.Escape(AtlasFiles.Url(page, image.Path))}\" loading=\"lazy\" width=\"{size}\" height=\"{size}\" alt=\"{HtmlReport.Escape(alt)}\">");

    private static string Neighbour(AtlasPlan plan, string page, string? layer, string before, string after, string rel) =>
        layer is not null && plan.Layer(layer) is not null
            ? $"<a rel=\"{rel}\" href=\"{HtmlReport.Escape(AtlasFiles.Url(page, AtlasFiles.LayerPage(layer)))}\">{HtmlReport.Escape(before + layer + after)}</a>"
            : string.Empty;
}
