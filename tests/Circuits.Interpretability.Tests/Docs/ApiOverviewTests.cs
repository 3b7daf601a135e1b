using System.Text.RegularExpressions;
using System.Xml.Linq;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Docs;

namespace Circuits.Interpretability.Tests.Docs;

public class ApiOverviewTests
{
    private static string OverviewPath => Path.Combine(Notebooks.NotebookTests.RepositoryRoot(), "docs", "api-overview.md");

    [Fact]
    public void Docs_api_overview_is_current()
    {
        string expected = ApiOverviewDocument.Generate();
        string actual = File.ReadAllText(OverviewPath).ReplaceLineEndings("\n");

        if (actual != expected)
        {
            string[] a = actual.Split('\n');
            string[] e = expected.Split('\n');
            int line = Enumerable.Range(0, Math.Min(a.Length, e.Length)).FirstOrDefault(i => a[i] != e[i], Math.Min(a.Length, e.Length));
            string was = line < a.Length ? a[line] : "(end of file)";
            string wants = line < e.Length ? e[line] : "(end of file)";
            Assert.Fail($"docs/api-overview.md is stale; regenerate it with: {ApiOverviewDocument.Command}\n" +
                        $"first difference at line {line + 1}:\n  file:      {was}\n  generated: {wants}");
        }
    }

    [Fact]
    public void Lists_exactly_the_exported_types_under_their_namespaces()
    {
        var exported = typeof(CircuitsException).Assembly.GetExportedTypes()
            .Select(t => $"{t.Namespace} {ApiOverviewDocument.DisplayName(t)}")
            .Order(StringComparer.Ordinal)
            .ToList();

        var listed = new List<string>();
        string? ns = null;
        foreach (string line in ApiOverviewDocument.Generate().Split('\n'))
        {
            Match heading = Regex.Match(line, @"^## `([^`]+)`$");
            Match row = Regex.Match(line, @"^\| `([^`]+)` \| ([a-z ]+) \| (.*) \|$");
            if (heading.Success)
            {
                ns = heading.Groups[1].Value;
            }
            else if (row.Success)
            {
                listed.Add($"{ns} {row.Groups[1].Value}");
                row.Groups[3].Value.Should().NotBeNullOrWhiteSpace($"{row.Groups[1].Value} needs an XML summary");
            }
        }

        listed.Should().Equal(listed.Order(StringComparer.Ordinal), "namespaces and types are in ordinal order");
        listed.Should().BeEquivalentTo(exported);
        listed.Should().NotContain(t => t.Contains('<') || t.EndsWith(" UnitSelection") || t.EndsWith(" CurveGeometry") || t.EndsWith(" PixelFont"),
            "compiler-generated and internal types are not public API");
    }

    [Fact]
    public void Summaries_keep_their_first_sentence_and_mark_code()
    {
        var doc = XDocument.Parse("""
            <doc><members>
              <member name="T:Circuits.Interpretability.Core.NeuronAddress">
                <summary>Names a <see cref="T:Circuits.Interpretability.Core.NeuronAddress"/> such as <c>a.b:1</c> (see
                <see cref="M:Circuits.Interpretability.Core.NeuronAddress.Parse(System.String)"/>) ... or <paramref name="x"/>. Second sentence.</summary>
              </member>
              <member name="T:Circuits.Interpretability.Core.NameMatching">
                <summary>Three things | pipes:<list type="bullet"><item>one.</item></list></summary>
              </member>
            </members></doc>
            """);

        string text = ApiOverviewDocument.Generate(new[] { typeof(NeuronAddress), typeof(NameMatching) }, doc);

        text.Should().Contain("| `NeuronAddress` | record struct | Names a `NeuronAddress` such as `a.b:1` (see `NeuronAddress.Parse`) ... or `x`. |\n");
        text.Should().Contain("| `NameMatching` | static class | Three things \\| pipes. |\n");
        text.Should().Contain(ApiOverviewDocument.Command);
    }
}
