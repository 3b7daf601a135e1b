using System.Text.Json;
using Microsoft.Playwright;

namespace Circuits.Interpretability.Tests.Browser;

/// <summary>
/// Opens pages the library writes in a real browser: Debian's <c>chromium</c>, driven by Microsoft.Playwright with an
/// explicit executable path (Playwright's own browser download is never used) and <c>--no-sandbox</c> (tests may run
/// as root). <see cref="CheckAsync"/> loads a page, saves a full-page screenshot and reads back what a person would
/// see: every image and whether it decoded, every SVG plot's texts, the legends, local links, and console errors.
/// </summary>
/// <remarks>
/// Finding the browser: <c>CIRCUITS_CHROMIUM</c> when set, else <c>chromium</c>, <c>chromium-browser</c> or
/// <c>google-chrome</c> on PATH. When none is found, tests marked <see cref="BrowserFactAttribute"/> are skipped with
/// the reason outside CI, and fail with that reason under CI (the <c>CI</c> variable set), because CI installs it
/// (<c>.ci/run</c>: apt-get install chromium).
/// </remarks>
public sealed class BrowserHarness : IAsyncDisposable
{
    private static readonly Lazy<string?> Executable = new(Find);
    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private BrowserHarness(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        _browser = browser;
    }

    /// <summary>The chromium binary the tests use, or null when there is none.</summary>
    public static string? ChromiumPath => Executable.Value;

    /// <summary>Whether this run is CI (the <c>CI</c> environment variable is set and not "false").</summary>
    public static bool IsCi => Environment.GetEnvironmentVariable("CI") is { Length: > 0 } ci && !ci.Equals("false", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why browser tests cannot run here, or null when they can.</summary>
    public static string? MissingReason => ChromiumPath is null
        ? "No chromium found (CIRCUITS_CHROMIUM, or chromium / chromium-browser / google-chrome on PATH). Install it with 'apt-get install chromium'; CI installs it in .ci/run."
        : null;

    /// <summary>Where screenshots go: <c>CIRCUITS_SCREENSHOTS</c> when set, else <c>screenshots/</c> in the test output folder.</summary>
    public static string ScreenshotFolder
    {
        get
        {
            string folder = Environment.GetEnvironmentVariable("CIRCUITS_SCREENSHOTS") is { Length: > 0 } env
                ? env
                : Path.Combine(AppContext.BaseDirectory, "screenshots");
            Directory.CreateDirectory(folder);
            return folder;
        }
    }

    /// <summary>Starts headless chromium.</summary>
    /// <exception cref="InvalidOperationException">No chromium was found (the message says how to install it).</exception>
    public static async Task<BrowserHarness> LaunchAsync()
    {
        string executable = ChromiumPath ?? throw new InvalidOperationException(MissingReason);
        IPlaywright playwright = await Playwright.CreateAsync();
        try
        {
            IBrowser browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = executable,
                Headless = true,
                Args = new[] { "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage" },
            });
            return new BrowserHarness(playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens <paramref name="htmlFile"/>, waits for it to load, saves a full-page screenshot as
    /// <paramref name="screenshotName"/> in <see cref="ScreenshotFolder"/> (and one of the first element matching
    /// <paramref name="detailSelector"/>, when given, beside it) and returns what the page holds.
    /// </summary>
    public async Task<PageCheck> CheckAsync(string htmlFile, string screenshotName, string? detailSelector = null, int width = 1280)
    {
        IPage page = await _browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = width, Height = 900 } });
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                errors.Add(message.Text);
            }
        };
        page.PageError += (_, error) => errors.Add(error);
        try
        {
            await page.GotoAsync(new Uri(Path.GetFullPath(htmlFile)).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
            await page.EvaluateAsync("() => Promise.all([...document.images].map(i => i.decode().catch(() => null)))");
            string screenshot = Path.Combine(ScreenshotFolder, screenshotName);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
            string? detail = null;
            if (detailSelector is not null && await page.Locator(detailSelector).CountAsync() > 0)
            {
                detail = Path.Combine(ScreenshotFolder, Path.GetFileNameWithoutExtension(screenshotName) + "-detail.png");
                await page.Locator(detailSelector).First.ScreenshotAsync(new LocatorScreenshotOptions { Path = detail });
            }

            string json = await page.EvaluateAsync<string>(Probe);
            return PageCheck.Parse(json, screenshot, detail, errors);
        }
        finally
        {
            await page.CloseAsync();
        }
    }

    /// <summary>
    /// A new page (tab) to drive by hand, for tests that walk a site; console errors and uncaught exceptions go to
    /// <paramref name="errors"/>. The caller closes it.
    /// </summary>
    public async Task<IPage> NewPageAsync(List<string> errors, int width = 1280, int height = 900)
    {
        ArgumentNullException.ThrowIfNull(errors);
        IPage page = await _browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                errors.Add(message.Text);
            }
        };
        page.PageError += (_, error) => errors.Add(error);
        return page;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _browser.CloseAsync();
        _playwright.Dispose();
    }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("CIRCUITS_CHROMIUM") is { Length: > 0 } given)
        {
            return File.Exists(given) ? given : null;
        }

        string[] folders = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => folders.Select(folder => Path.Combine(folder, name)))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>Runs in the page: images (decoded or not), SVG plots and their texts, legends, local links, headings.</summary>
    private const string Probe = """
        () => JSON.stringify({
          title: document.title,
          images: [...document.images].map(i => ({ alt: i.alt, naturalWidth: i.naturalWidth, shownWidth: i.getBoundingClientRect().width,
            caption: (i.closest('figure')?.querySelector('figcaption')?.textContent ?? '').trim() })),
          plots: [...document.querySelectorAll('svg.plot')].map(s => ({ label: s.getAttribute('aria-label') ?? '',
            texts: [...s.querySelectorAll('text')].map(t => t.textContent.trim()).filter(t => t.length > 0),
            shownWidth: s.getBoundingClientRect().width })),
          legends: [...document.querySelectorAll('svg.legend')].map(s => s.getAttribute('aria-label') ?? ''),
          links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
          details: document.querySelectorAll('details').length,
          headings: [...document.querySelectorAll('h1,h2,h3,h4,h5')].map(h => h.textContent.trim()),
          text: document.body.innerText
        })
        """;
}

/// <summary>What <see cref="BrowserHarness.CheckAsync"/> found on a page.</summary>
/// <param name="Title">The document title.</param>
/// <param name="Images">Every image: alternative text, natural width (0: it did not decode), width shown, and its figure caption.</param>
/// <param name="Plots">Every SVG plot (<c>svg.plot</c>): its accessible name, its texts (title, axis titles, ticks, legend) and width shown.</param>
/// <param name="Legends">The accessible names of the colour legends (<c>svg.legend</c>).</param>
/// <param name="Links">The href of every link.</param>
/// <param name="Details">How many details elements the page has.</param>
/// <param name="Headings">The texts of the headings, in order.</param>
/// <param name="Text">The page's visible text.</param>
/// <param name="Screenshot">The full-page screenshot's path.</param>
/// <param name="DetailScreenshot">The element screenshot's path, or null.</param>
/// <param name="Errors">Console errors and uncaught exceptions.</param>
public sealed record PageCheck(string Title, IReadOnlyList<PageImage> Images, IReadOnlyList<PagePlot> Plots, IReadOnlyList<string> Legends,
    IReadOnlyList<string> Links, int Details, IReadOnlyList<string> Headings, string Text, string Screenshot, string? DetailScreenshot, IReadOnlyList<string> Errors)
{
    internal static PageCheck Parse(string json, string screenshot, string? detail, IReadOnlyList<string> errors)
    {
        using var doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        IReadOnlyList<string> Strings(string name) => root.GetProperty(name).EnumerateArray().Select(e => e.GetString() ?? string.Empty).ToList();
        var images = root.GetProperty("images").EnumerateArray().Select(i => new PageImage(i.GetProperty("alt").GetString()!, i.GetProperty("naturalWidth").GetInt32(),
            i.GetProperty("shownWidth").GetDouble(), i.GetProperty("caption").GetString()!)).ToList();
        var plots = root.GetProperty("plots").EnumerateArray().Select(p => new PagePlot(p.GetProperty("label").GetString()!,
            p.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToList(), p.GetProperty("shownWidth").GetDouble())).ToList();
        return new PageCheck(root.GetProperty("title").GetString()!, images, plots, Strings("legends"), Strings("links"), root.GetProperty("details").GetInt32(),
            Strings("headings"), root.GetProperty("text").GetString()!, screenshot, detail, errors);
    }

    /// <summary>The local links (not http, https, mailto or a fragment) whose target file does not exist, resolved against <paramref name="page"/>'s folder.</summary>
    public IReadOnlyList<string> BrokenLocalLinks(string page) => Links
        .Where(l => !l.StartsWith('#') && !l.Contains("://", StringComparison.Ordinal) && !l.StartsWith("mailto:", StringComparison.Ordinal) && !l.StartsWith("data:", StringComparison.Ordinal))
        .Where(l => !File.Exists(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(page))!, Uri.UnescapeDataString(l.Split('#')[0]))))
        .ToList();
}

/// <summary>One image of a page as the browser sees it.</summary>
/// <param name="Alt">The alternative text.</param>
/// <param name="NaturalWidth">The decoded width in pixels; 0 when the image did not decode.</param>
/// <param name="ShownWidth">The width on the page in CSS pixels.</param>
/// <param name="Caption">The caption of its figure, or empty.</param>
public sealed record PageImage(string Alt, int NaturalWidth, double ShownWidth, string Caption);

/// <summary>One SVG plot of a page.</summary>
/// <param name="Label">Its accessible name (the plot's title).</param>
/// <param name="Texts">Every text in it: title, axis titles, tick labels, legend entries.</param>
/// <param name="ShownWidth">The width on the page in CSS pixels.</param>
public sealed record PagePlot(string Label, IReadOnlyList<string> Texts, double ShownWidth);

/// <summary>A fact that needs a browser: skipped with the reason when chromium is missing outside CI; under CI it runs (and fails clearly).</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the browser is missing and this is not CI.</summary>
    public BrowserFactAttribute()
    {
        if (BrowserHarness.MissingReason is string reason && !BrowserHarness.IsCi)
        {
            Skip = reason + " (skipped outside CI; under CI this test fails instead)";
        }
    }
}
