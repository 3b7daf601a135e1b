using System.Diagnostics;

namespace Circuits.Interpretability.Tests;

/// <summary>Debian's chromium, headless: the DOM after scripts ran, and screenshots (CI installs it in .ci/run).</summary>
internal static class HeadlessChromium
{
    public static string Executable => new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("No chromium found; install Debian's chromium (apt-get install chromium), as .ci/run does.");

    /// <summary>The serialized DOM of <paramref name="htmlPath"/> after its scripts ran.</summary>
    public static string DumpDom(string htmlPath) => Run($"--dump-dom \"file://{Path.GetFullPath(htmlPath)}\"", out _);

    /// <summary>Saves a screenshot of <paramref name="htmlPath"/> to <paramref name="pngPath"/>.</summary>
    public static void Screenshot(string htmlPath, string pngPath, int width = 1100, int height = 800)
    {
        Run($"--screenshot=\"{Path.GetFullPath(pngPath)}\" --window-size={width},{height} \"file://{Path.GetFullPath(htmlPath)}\"", out _);
        if (!File.Exists(pngPath))
        {
            throw new InvalidOperationException($"chromium wrote no screenshot to {pngPath}.");
        }
    }

    private static string Run(string arguments, out string stderr)
    {
        string profile = Directory.CreateTempSubdirectory("circuits-chromium-").FullName;
        try
        {
            var info = new ProcessStartInfo(Executable, $"--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir=\"{profile}\" --virtual-time-budget=2000 {arguments}")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(info)!;
            Task<string> err = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(120_000))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("chromium did not finish within 120 s.");
            }

            stderr = err.Result;
            return output;
        }
        finally
        {
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
