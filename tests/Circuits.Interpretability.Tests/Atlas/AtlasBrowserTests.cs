using System.Text.Json;
using System.Text.RegularExpressions;
using Circuits.Interpretability.Tests.Browser;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Circuits.Interpretability.Tests.Atlas;

/// <summary>
/// The atlas as a person meets it, in headless chromium: index, a layer page, a unit page, one of its input units' page
/// and back; every image decodes once lazy loading is triggered by scrolling, no local link is broken, no console
/// error; screenshots under <see cref="BrowserHarness.ScreenshotFolder"/>. And a link check over the whole site.
/// </summary>
[Collection(nameof(AtlasCollection))]
[Trait("Category", "Slow")]
public sealed partial class AtlasBrowserTests
{
    private readonly AtlasFixture _atlas;
    private readonly ITestOutputHelper _log;

    public AtlasBrowserTests(AtlasFixture atlas, ITestOutputHelper log)
    {
        _atlas = atlas;
        _log = log;
    }

    [BrowserFact]
    public async Task Walking_the_circuit_in_a_browser_shows_every_image_and_no_broken_link()
    {
        await using BrowserHarness browser = await BrowserHarness.LaunchAsync();
        var errors = new List<string>();
        IPage page = await browser.NewPageAsync(errors, height: 700);
        try
        {
            await page.GotoAsync(new Uri(Path.Combine(_atlas.Site, "index.html")).AbsoluteUri);
            await Look(page, "atlas-index.png", images: 20);
            (await page.Locator("h1").TextContentAsync()).Should().Be("CurveCircuit atlas");

            await page.ClickAsync("a[href='layers/curves.html']");
            await page.WaitForURLAsync("**/layers/curves.html");
            await Look(page, "atlas-layer-curves.png", images: 16);
            (await page.Locator("section#family-curve_detectors a.card").CountAsync()).Should().Be(3);

            await page.ClickAsync("a.card[href$='units/curves/3.html']");
            await page.WaitForURLAsync("**/units/curves/3.html");
            await Look(page, "atlas-unit-curves-3.png", images: 4 + 6);
            (await page.Locator("svg.legend").CountAsync()).Should().Be(1, "the input weights have their colour legend");
            (await page.Locator("svg.plot").CountAsync()).Should().Be(1, "the tuning curve");

            ILocator input = page.Locator("figcaption a[href*='units/lines/']").First;
            string name = (await input.TextContentAsync())!;
            await input.ClickAsync();
            await page.WaitForURLAsync("**/units/lines/*.html");
            (await page.Locator("h1").TextContentAsync()).Should().StartWith(name.Split(" · ")[0], "the link leads to the input unit's page");
            await Look(page, $"atlas-unit-{name.Split(" · ")[0].Replace(':', '-')}.png", images: 4 + 6);
            (await page.Locator("a[href$='units/curves/3.html']").CountAsync()).Should().BeGreaterThan(0, "the input unit's outputs lead back to curves:3: the circuit walks both ways");

            await page.GoBackAsync();
            page.Url.Should().EndWith("units/curves/3.html");
            await page.GoBackAsync();
            page.Url.Should().EndWith("layers/curves.html");
            errors.Should().BeEmpty();
        }
        finally
        {
            await page.CloseAsync();
        }
    }

    [Fact]
    public void Every_link_and_image_of_the_site_resolves()
    {
        int checkedLinks = 0;
        var broken = new List<string>();
        var ids = new Dictionary<string, HashSet<string>>();
        foreach (string page in Directory.EnumerateFiles(_atlas.Site, "*.html", SearchOption.AllDirectories))
        {
            string html = File.ReadAllText(page);
            foreach (Match m in Reference().Matches(html))
            {
                string target = System.Net.WebUtility.HtmlDecode(m.Groups[2].Value);
                if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("data:", StringComparison.Ordinal))
                {
                    broken.Add($"{page}: {target} is not a local file");
                    continue;
                }

                string[] parts = target.Split('#', 2);
                string file = parts[0].Length == 0 ? page : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, Uri.UnescapeDataString(parts[0])));
                checkedLinks++;
                if (!file.StartsWith(_atlas.Site, StringComparison.Ordinal) || !File.Exists(file))
                {
                    broken.Add($"{Path.GetRelativePath(_atlas.Site, page)}: {target}");
                }
                else if (parts.Length == 2 && !Ids(ids, file).Contains(parts[1]))
                {
                    broken.Add($"{Path.GetRelativePath(_atlas.Site, page)}: {target} (no element with that id)");
                }
            }
        }

        _log.WriteLine($"{checkedLinks} links and images checked");
        broken.Should().BeEmpty();
        checkedLinks.Should().BeGreaterThan(32 * 10);
    }

    /// <summary>Scrolls through the page (so lazy images load), then checks images, links, and saves a screenshot.</summary>
    private async Task Look(IPage page, string screenshot, int images)
    {
        await page.EvaluateAsync("async () => { for (let y = 0; y <= document.body.scrollHeight; y += 300) { window.scrollTo(0, y); await new Promise(r => setTimeout(r, 30)); } window.scrollTo(0, 0); }");
        await page.WaitForFunctionAsync("() => [...document.images].every(i => i.complete)", null, new PageWaitForFunctionOptions { Timeout = 60_000 });
        JsonElement found = await page.EvaluateAsync<JsonElement>(
            "() => ({ images: [...document.images].map(i => ({ src: i.getAttribute('src'), width: i.naturalWidth, lazy: i.loading === 'lazy' })), links: [...document.querySelectorAll('a[href]')].map(a => a.href) })");
        var decoded = found.GetProperty("images").EnumerateArray().ToList();
        decoded.Should().HaveCountGreaterThanOrEqualTo(images);
        decoded.Should().OnlyContain(i => i.GetProperty("width").GetInt32() > 0, $"every image of {page.Url} decodes after scrolling");
        decoded.Should().OnlyContain(i => i.GetProperty("lazy").GetBoolean(), "images load lazily");
        foreach (JsonElement link in found.GetProperty("links").EnumerateArray())
        {
            var uri = new Uri(link.GetString()!);
            if (uri.IsFile)
            {
                File.Exists(uri.LocalPath).Should().BeTrue($"{page.Url} links to {uri}");
            }
        }

        string path = Path.Combine(BrowserHarness.ScreenshotFolder, screenshot);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        _log.WriteLine($"screenshot: {path}");
    }

    private static HashSet<string> Ids(Dictionary<string, HashSet<string>> cache, string file)
    {
        if (!cache.TryGetValue(file, out var ids))
        {
            ids = Id().Matches(File.ReadAllText(file)).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
            cache[file] = ids;
        }

        return ids;
    }

    [GeneratedRegex("(href|src)=\"([^\"]+)\"")]
    private static partial Regex Reference();

    [GeneratedRegex(" id=\"([^\"]+)\"")]
    private static partial Regex Id();
}
