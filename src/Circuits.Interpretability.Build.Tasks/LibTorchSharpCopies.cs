namespace Circuits.Interpretability.Build;

/// <summary>
/// Decides which copies of TorchSharp's Linux native wrapper an output or publish folder holds. The decision is made
/// from the build's target (its runtime identifier and the folder's layout), never from the machine that builds: an
/// app built on a system whose libstdc++ has GLIBCXX_3.4.32 may be deployed on Debian 12 or Ubuntu 22.04.
/// </summary>
public static class LibTorchSharpCopies
{
    /// <summary>The file name of TorchSharp's native wrapper on Linux.</summary>
    public const string FileName = "libLibTorchSharp.so";

    /// <summary>
    /// Lists the copies of <see cref="FileName"/> that a build for <paramref name="runtimeIdentifier"/> placed in
    /// <paramref name="directory"/>:
    /// a portable build (no runtime identifier) keeps every platform's natives under <c>runtimes/RID/native/</c>, and
    /// each Linux one is listed; a Linux build (<c>linux-x64</c>, <c>linux-arm64</c>, ...) has its natives next to the
    /// app, and that copy is listed; a Windows or macOS build has no Linux copy, and nothing is listed.
    /// </summary>
    /// <param name="directory">The output or publish folder.</param>
    /// <param name="runtimeIdentifier">The build's runtime identifier, or null or empty for a portable build.</param>
    /// <returns>Full paths of the copies that exist, in a stable order.</returns>
    public static IReadOnlyList<string> Find(string directory, string? runtimeIdentifier)
    {
        var found = new List<string>();
        if (string.IsNullOrEmpty(directory) || !Directory.Exists(directory))
        {
            return found;
        }

        string rid = runtimeIdentifier ?? string.Empty;
        if (rid.Length == 0 || rid == "any")
        {
            string runtimes = Path.Combine(directory, "runtimes");
            if (Directory.Exists(runtimes))
            {
                foreach (string ridDirectory in Directory.GetDirectories(runtimes).OrderBy(d => d, StringComparer.Ordinal))
                {
                    if (IsLinux(Path.GetFileName(ridDirectory)))
                    {
                        AddIfExists(found, Path.Combine(ridDirectory, "native", FileName));
                    }
                }
            }
        }
        else if (IsLinux(rid))
        {
            AddIfExists(found, Path.Combine(directory, FileName));
        }

        return found;
    }

    /// <summary>Whether a runtime identifier names a Linux target (<c>linux-x64</c>, <c>linux-arm64</c>, <c>linux-musl-x64</c>, ...).</summary>
    /// <param name="runtimeIdentifier">A runtime identifier.</param>
    /// <returns>True for Linux targets.</returns>
    public static bool IsLinux(string runtimeIdentifier) =>
        runtimeIdentifier.StartsWith("linux", StringComparison.OrdinalIgnoreCase);

    private static void AddIfExists(List<string> found, string path)
    {
        if (File.Exists(path))
        {
            found.Add(Path.GetFullPath(path));
        }
    }
}
