using System.Globalization;
using System.Text;
using Circuits.Interpretability.Analysis.DatasetExamples;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// A unit's page: the shared <see cref="UnitReport"/> section filled from the unit's parts (images as linked files, so
/// the page stays small), under a navigation bar (atlas, layer, previous and next unit) and above how to annotate it.
/// </summary>
internal static class AtlasUnitPage
{
    public static string Html(string root, AtlasPlan plan, AtlasLayer layer, UnitRecord record, AtlasNotes notes)
    {
        NeuronAddress unit = NeuronAddress.Parse(record.Unit);
        string page = AtlasFiles.UnitPage(unit);
        string Url(string sitePath) => AtlasFiles.Url(page, sitePath);
        ReportImage Image(ImageRef i) => ReportImage.Linked(Url(i.Path), i.Width, i.Height, i.Caption);

        AtlasNote? note = notes.Get(unit);
        string? label = plan.Label(unit);
        var report = new UnitReport(unit) { Family = note?.Family ?? string.Empty };
        if (label is not null)
        {
            report.Summary = $"By design: {label}.";
        }

        report.AddVisualization(Image(record.Channel));
        if (record.Neuron is not null)
        {
            report.AddVisualization(Image(record.Neuron));
        }

        foreach (ImageRef diverse in record.Diverse)
        {
            report.AddVisualization(Image(diverse));
        }

        foreach (string tuning in record.Tuning)
        {
            report.AddTuning(AtlasMeasures.ReadTuning(Read<TuningPart>(root, tuning)));
        }

        var unavailable = new List<string>();
        foreach (string? part in new[] { record.Inputs, record.Outputs })
        {
            if (part is null)
            {
                continue;
            }

            ConnectionsPart c = Read<ConnectionsPart>(root, part);
            if (c.Unavailable is not null)
            {
                unavailable.Add(c.Unavailable);
                continue;
            }

            var direction = c.Direction == "inputs" ? ConnectionDirection.Inputs : ConnectionDirection.Outputs;
            report.AddConnections(new UnitConnections(direction, c.OtherLayer, c.Items.Select(i =>
            {
                var other = new NeuronAddress(c.OtherLayer, i.Channel);
                return new UnitConnection(other, Name(plan, notes, other), i.Strength, Image(i.Image));
            }).ToList(), c.MaxAbs, c.CropSize, c.Method));
        }

        if (record.Examples is not null)
        {
            ExamplesPart x = Read<ExamplesPart>(root, record.Examples);
            report.AddDatasetExamples(new UnitExamples(x.Items.Select(i => new UnitExample(i.Rank,
                new DatasetExample(i.Path, i.Activation, i.Y, i.X, i.Top, i.Left, i.Size), Image(i.Image), i.FileLabel)).ToList(), x.Folder, x.ImagesSearched, x.Skipped));
        }

        if (note is { Note.Length: > 0 })
        {
            report.AddNote(note.Note);
        }

        foreach (string setting in plan.Document.Settings)
        {
            report.AddMethodDetail(setting);
        }

        report.AddMethodDetail($"Model and weights: {plan.ModelId}. The images and measurements of this page are files named by content keys; see {AtlasFiles.RecordPath(unit)}.");

        string heading = unit.ToString() + (label is null ? string.Empty : $" · {label}");
        var html = new HtmlReport($"{unit} · {plan.Title} atlas")
        {
            Heading1 = heading,
            Header = Navigation(plan, layer, unit, page),
            ExtraStyle = AtlasSite.Style,
        };
        if (note is { Family.Length: > 0 })
        {
            html.Raw($"<p class=\"lead\">Family: <a class=\"chip\" href=\"{HtmlReport.Escape(AtlasFiles.Url(page, AtlasFiles.LayerPage(layer.Name)) + "#" + AtlasSite.FamilyAnchor(note.Family))}\">{HtmlReport.Escape(note.Family)}</a></p>\n");
        }

        report.WriteTo(html, new UnitReportOptions
        {
            ShowHeading = false,
            HeadingLevel = 2,
            VisualizationWidth = record.Channel.Width * Math.Max(1, (int)Math.Round(150.0 / record.Channel.Width)), // whole-pixel enlargement only
            Link = other => plan.Contains(other) ? AtlasFiles.Url(page, AtlasFiles.UnitPage(other)) : null,
        });
        foreach (string reason in unavailable)
        {
            html.Paragraph(reason);
        }

        string about = plan.Document.Description.Length > 0 ? plan.Document.Description.TrimEnd('.') + ". " : string.Empty;
        html.Raw($"<p class=\"model\">{HtmlReport.Escape(about)}Model and weights: <code>{HtmlReport.Escape(plan.ModelId)}</code>.</p>\n");
        html.Heading("Notes and family", 2);
        html.Raw("<p>People's notes live in a plain text file (<code>atlas-notes.tsv</code>, one unit per line). Change this unit's with</p>\n"
                 + $"<pre>circuits atlas annotate {HtmlReport.Escape(unit.ToString())} --family \"{HtmlReport.Escape(note?.Family is { Length: > 0 } f ? f : "FAMILY")}\" --note \"TEXT\"\ncircuits atlas merge</pre>\n");
        return html.ToHtml();
    }

    /// <summary>How a unit is named on pages: <c>lines:3 · line at 45° · line detectors</c>.</summary>
    public static string Name(AtlasPlan plan, AtlasNotes notes, NeuronAddress unit)
    {
        var name = new StringBuilder(unit.ToString());
        if (plan.Label(unit) is string label)
        {
            name.Append(" · ").Append(label);
        }

        if (notes.Get(unit) is { Family.Length: > 0 } note)
        {
            name.Append(" · ").Append(note.Family);
        }

        return name.ToString();
    }

    private static string Navigation(AtlasPlan plan, AtlasLayer layer, NeuronAddress unit, string page)
    {
        string e(string s) => HtmlReport.Escape(s);
        string Link(string sitePath, string text, string? rel = null) =>
            $"<a href=\"{e(AtlasFiles.Url(page, sitePath))}\"{(rel is null ? string.Empty : $" rel=\"{rel}\"")}>{e(text)}</a>";
        int index = layer.Channels.ToList().IndexOf(unit.Channel!.Value);
        var nav = new StringBuilder("<nav class=\"crumbs\">");
        nav.Append(Link("index.html", $"{plan.Title} atlas")).Append(" › ").Append(Link(AtlasFiles.LayerPage(layer.Name), layer.Name)).Append(" › ")
            .Append(e(unit.ToString())).Append("<span class=\"pager\">");
        if (index > 0)
        {
            var previous = new NeuronAddress(layer.Name, layer.Channels[index - 1]);
            nav.Append(Link(AtlasFiles.UnitPage(previous), $"← {previous}", "prev"));
        }

        if (index < layer.Channels.Count - 1)
        {
            var next = new NeuronAddress(layer.Name, layer.Channels[index + 1]);
            nav.Append(Link(AtlasFiles.UnitPage(next), $"{next} →", "next"));
        }

        nav.Append(CultureInfo.InvariantCulture, $"</span></nav>\n");
        return nav.ToString();
    }

    private static T Read<T>(string root, string sitePath)
        where T : class =>
        AtlasFiles.ReadJson<T>(root, sitePath) ?? throw new AtlasException($"The part '{AtlasFiles.Full(root, sitePath)}' is missing or unreadable; build the atlas again (it makes what is missing).");
}
