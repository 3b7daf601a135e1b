using System.Text.Json;
using System.Text.RegularExpressions;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Models;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Atlas;

/// <summary>The atlas of the default model as a user gets it from <c>circuits atlas --out site</c>: pages, links along the circuit, families, sizes.</summary>
[Collection(nameof(AtlasCollection))]
[Trait("Category", "Slow")]
public sealed partial class AtlasBuildTests
{
    private readonly AtlasFixture _atlas;

    public AtlasBuildTests(AtlasFixture atlas) => _atlas = atlas;

    [Fact]
    public void The_default_model_gives_an_index_a_page_per_unit_and_a_family_view()
    {
        _atlas.Result.GetProperty("units").GetInt32().Should().Be(32);
        _atlas.Result.GetProperty("renders").GetInt32().Should().Be(32 * (1 + 1 + 2), "a channel, a neuron and two diverse images per unit");
        JsonElement pages = _atlas.Result.GetProperty("pages");
        pages.GetProperty("units").GetInt32().Should().Be(32);
        pages.GetProperty("layers").GetInt32().Should().Be(2);
        Directory.GetFiles(Path.Combine(_atlas.Site, "units"), "*.html", SearchOption.AllDirectories).Should().HaveCount(32);

        string index = Read("index.html");
        index.Should().Contain("href=\"layers/lines.html\"").And.Contain("href=\"layers/curves.html\"").And.Contain("<td>16</td>");
        Regex.Matches(index, "<tr><td class=\"text\"><a href=\"layers/").Should().HaveCount(2);

        string curves = Read("layers/curves.html");
        Cards(Section(curves, "family-curve_detectors")).Should().Equal("curves:0", "curves:4", "curves:8");
        Cards(Section(curves, "family-none")).Should().HaveCount(13);
        curves.IndexOf("Not yet in a family", StringComparison.Ordinal).Should().BeGreaterThan(curves.IndexOf("<h2>curve detectors", StringComparison.Ordinal), "families first, the rest after");
        foreach (Match thumb in Regex.Matches(curves, "<img src=\"([^\"]+)\" loading=\"lazy\" width=\"96\" height=\"96\""))
        {
            string file = Path.Combine(_atlas.Site, "layers", thumb.Groups[1].Value);
            File.Exists(file).Should().BeTrue(thumb.Value);
            PngWidth(file).Should().BeLessThanOrEqualTo(64, "layer pages show thumbnails");
        }

        Regex.Matches(curves, "loading=\"lazy\"").Should().HaveCount(16);
    }

    [Fact]
    public void Pages_are_small_and_link_their_images_as_files()
    {
        foreach (string page in Directory.EnumerateFiles(_atlas.Site, "*.html", SearchOption.AllDirectories))
        {
            string html = File.ReadAllText(page);
            html.Should().NotContain("data:image", "images are files beside the pages, loaded lazily");
            new FileInfo(page).Length.Should().BeLessThan(40_000, $"{page} stays small");
        }
    }

    [Fact]
    public void Unit_pages_walk_the_circuit_both_ways_along_the_designed_weights()
    {
        using var model = new CurveCircuit();
        using var scope = NewDisposeScope();
        float[,] norms = Norms(model.DesignedCurveWeights()); // [curve, line]: L2 norm of the 13 x 13 kernel = the expanded weight's strength

        for (int k = 0; k < 16; k += 5)
        {
            JsonElement inputs = Part($"curves/{k:D4}", "inputs");
            inputs.GetProperty("otherLayer").GetString().Should().Be("lines");
            var listed = inputs.GetProperty("items").EnumerateArray().Select(i => (Channel: i.GetProperty("channel").GetInt32(), Strength: i.GetProperty("strength").GetDouble())).ToList();
            StrongestOf(listed, Enumerable.Range(0, 16).Select(j => (double)norms[k, j]).ToArray(), $"curves:{k}'s inputs");
            string page = Read($"units/curves/{k}.html");
            foreach (var e in listed)
            {
                page.Should().Contain($"href=\"../../units/lines/{e.Channel}.html\"", $"curves:{k}'s input lines:{e.Channel} links to its page");
            }

            JsonElement tuning = JsonDocument.Parse(File.ReadAllText(Path.Combine(_atlas.Site, Record($"curves/{k:D4}").GetProperty("tuning")[0].GetString()!))).RootElement;
            var responses = tuning.GetProperty("responses").EnumerateArray().Select(r => r.GetDouble()).ToList();
            double peak = tuning.GetProperty("values")[responses.IndexOf(responses.Max())].GetDouble();
            AngleBetween(peak, k * 22.5).Should().BeLessThanOrEqualTo(10, $"curves:{k} was designed for {k * 22.5}°");
        }

        for (int j = 0; j < 16; j += 5)
        {
            JsonElement outputs = Part($"lines/{j:D4}", "outputs");
            var expected = outputs.GetProperty("items").EnumerateArray().Select(i => (Channel: i.GetProperty("channel").GetInt32(), Strength: i.GetProperty("strength").GetDouble())).ToList();
            StrongestOf(expected, Enumerable.Range(0, 16).Select(k => (double)norms[k, j]).ToArray(), $"lines:{j}'s outputs");
            Record($"lines/{j:D4}").GetProperty("inputs").ValueKind.Should().Be(JsonValueKind.Null, "lines is the first layer");
            string page = Read($"units/lines/{j}.html");
            page.Should().Contain($"href=\"../../units/curves/{expected[0].Channel}.html\"", "a line's page links to the curves it feeds");
            page.Should().Contain("Strongest outputs to curves").And.NotContain("Strongest inputs");
        }
    }

    [Fact]
    public void Unit_pages_show_notes_families_designed_labels_and_how_to_annotate()
    {
        string page = System.Net.WebUtility.HtmlDecode(Read("units/curves/0.html"));
        page.Should().Contain("<h1>curves:0 · curve, convex side at 0°</h1>");
        page.Should().Contain("Peaks at 0°, as designed.").And.Contain(">curve detectors</a>");
        page.Should().Contain("circuits atlas annotate curves:0 --family \"curve detectors\"");
        page.Should().Contain("class=\"legend\"", "weight images come with their colour legend");
        page.Should().Contain("href=\"../../units/curves/1.html\" rel=\"next\">curves:1 →");
        Regex.Matches(page, "<figcaption>(channel: the whole map|neuron: the centre position|diverse [12] of 2)</figcaption>").Should().HaveCount(4);
    }

    private string Read(string sitePath) => File.ReadAllText(Path.Combine(_atlas.Site, sitePath));

    private JsonElement Record(string unit) => JsonDocument.Parse(Read($"data/{unit}.json")).RootElement;

    private JsonElement Part(string unit, string kind) => JsonDocument.Parse(Read(Record(unit).GetProperty(kind).GetString()!)).RootElement;

    private static float[,] Norms(Tensor weights)
    {
        float[] values = weights.square().sum(new long[] { 2, 3 }).sqrt().contiguous().data<float>().ToArray();
        int targets = (int)weights.shape[0], sources = (int)weights.shape[1];
        var norms = new float[targets, sources];
        for (int t = 0; t < targets; t++)
        {
            for (int s = 0; s < sources; s++)
            {
                norms[t, s] = values[(t * sources) + s];
            }
        }

        return norms;
    }

    /// <summary>
    /// The listed connections are the 6 strongest by the designed kernels' norms: each strength is its kernel's norm,
    /// strongest first (at the 6 significant digits the ranking compares), and no channel left out is stronger than the
    /// weakest listed (many norms are equal by design, to float32 noise).
    /// </summary>
    private static void StrongestOf(List<(int Channel, double Strength)> listed, double[] reference, string what)
    {
        const double tolerance = 1e-5;
        listed.Should().HaveCount(6, what);
        listed.Select(l => l.Channel).Should().OnlyHaveUniqueItems();
        foreach (var (channel, strength) in listed)
        {
            strength.Should().BeApproximately(reference[channel], tolerance * reference.Max(), $"{what}: {channel}'s strength is the norm of its kernel");
        }

        listed.Select(l => ExpandedWeightSet.RankingKey(l.Strength)).Should().BeInDescendingOrder(what + ", ranked as TopSources ranks (6 significant digits)");
        double weakest = listed.Min(l => l.Strength);
        Enumerable.Range(0, reference.Length).Except(listed.Select(l => l.Channel)).Should().OnlyContain(c => reference[c] <= weakest + (tolerance * reference.Max()), $"{what} are the strongest");
    }

    private static double AngleBetween(double a, double b) => Math.Abs(((a - b + 540) % 360) - 180);

    private static string Section(string html, string id)
    {
        int start = html.IndexOf($"id=\"{id}\"", StringComparison.Ordinal);
        start.Should().BeGreaterThan(0, $"the page has a section {id}");
        int end = html.IndexOf("</section>", start, StringComparison.Ordinal);
        return html[start..end];
    }

    private static List<string> Cards(string html) =>
        CardName().Matches(html).Select(m => m.Groups[1].Value).ToList();

    private static int PngWidth(string file)
    {
        byte[] header = File.ReadAllBytes(file)[16..20];
        return (header[0] << 24) | (header[1] << 16) | (header[2] << 8) | header[3];
    }

    [GeneratedRegex("<span class=\"name\">([^<]+)</span>")]
    private static partial Regex CardName();
}
