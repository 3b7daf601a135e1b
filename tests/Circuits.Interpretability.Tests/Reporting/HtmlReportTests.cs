using System.Text.RegularExpressions;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Reporting;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Reporting;

public sealed class HtmlReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("circuits-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Images_are_embedded_and_decode_back_to_the_same_pixels()
    {
        using var image = arange(12).to(ScalarType.Float32).reshape(3, 2, 2) / 11;
        var report = new HtmlReport("t").Image(image, "ramp").Images(new[] { (image, "a"), (image, "b") }, displayWidth: 64);

        string html = report.ToHtml();

        report.ImageCount.Should().Be(3);
        var matches = Regex.Matches(html, "data:image/png;base64,([A-Za-z0-9+/=]+)");
        matches.Should().HaveCount(3);
        using var back = ImageIO.Decode(Convert.FromBase64String(matches[0].Groups[1].Value));
        (back - image).abs().max().item<float>().Should().BeLessThan(0.5f / 255 + 1e-6f);
        html.Should().Contain("width=\"64\"");
    }

    [Fact]
    public void Text_is_escaped_everywhere()
    {
        string html = new HtmlReport("<script>x</script>")
            .Heading("a & b").Paragraph("1 < 2").Preformatted("\"q\"")
            .Table(new[] { "<th>" }, new[] { new[] { "<td>" } })
            .ToHtml();

        html.Should().NotContain("<script>x").And.Contain("&lt;script&gt;x&lt;/script&gt;").And.Contain("a &amp; b")
            .And.Contain("1 &lt; 2").And.Contain("&quot;q&quot;").And.Contain(">&lt;th&gt;</th>").And.Contain(">&lt;td&gt;</td>");
    }

    [Fact]
    public void Save_creates_the_folder_writes_whole_and_leaves_no_temporary_file()
    {
        string path = Path.Combine(_dir, "nested", "report.html");
        string written = new HtmlReport("Report").Paragraph("hello").Save(path);

        written.Should().Be(path);
        File.ReadAllText(path).Should().StartWith("<!DOCTYPE html>").And.Contain("<p>hello</p>").And.EndWith("</html>\n");
        Directory.GetFiles(Path.GetDirectoryName(path)!).Should().Equal(path);
    }

    [Fact]
    public void A_ragged_table_is_refused_by_row()
    {
        var act = () => new HtmlReport("t").Table(new[] { "a", "b" }, new[] { new[] { "1", "2" }, new[] { "3" } });
        act.Should().Throw<ArgumentException>().WithMessage("Table row 1 has 1 cells; the header has 2.*");
    }
}
