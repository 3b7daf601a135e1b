using Microsoft.Build.Framework;
using MSBuildTask = Microsoft.Build.Utilities.Task;

namespace Circuits.Interpretability.Build;

/// <summary>
/// MSBuild task: in an output or publish folder, marks the requirement of every Linux copy of libLibTorchSharp.so on
/// GLIBCXX_3.4.32 weak, so that TorchSharp loads on Debian 12 and Ubuntu 22.04. Which copies is decided by the build's
/// target (see <see cref="LibTorchSharpCopies.Find"/>), not by the machine that builds; weakening is harmless where the
/// version exists. Each file is replaced by a patched copy (renamed over it), so a NuGet cache linked to it is never
/// modified, and it keeps its time stamp, so incremental builds do not copy it again.
/// </summary>
public sealed class PatchLibTorchSharpGlibcxx : MSBuildTask
{
    /// <summary>The output or publish folder.</summary>
    [Required]
    public string Directory { get; set; } = string.Empty;

    /// <summary>The build's runtime identifier; empty for a portable build.</summary>
    public string RuntimeIdentifier { get; set; } = string.Empty;

    /// <summary>The version requirement to weaken.</summary>
    public string VersionName { get; set; } = "GLIBCXX_3.4.32";

    /// <summary>The library the requirement is on.</summary>
    public string LibraryName { get; set; } = "libstdc++.so.6";

    /// <summary>Semicolon-separated symbols that may be bound to the version.</summary>
    public string AllowedSymbols { get; set; } = "_ZSt21ios_base_library_initv";

    /// <summary>The copies that were changed by this run.</summary>
    [Output]
    public string[] PatchedFiles { get; private set; } = Array.Empty<string>();

    /// <summary>The copies that were found (changed or already weak).</summary>
    [Output]
    public string[] CheckedFiles { get; private set; } = Array.Empty<string>();

    /// <inheritdoc />
    public override bool Execute()
    {
        var allowed = new HashSet<string>(AllowedSymbols.Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries));
        IReadOnlyList<string> copies = LibTorchSharpCopies.Find(Directory, RuntimeIdentifier);
        var patched = new List<string>();
        foreach (string path in copies)
        {
            ElfPatchResult result = ElfVersionPatcher.PatchFile(path, LibraryName, VersionName, allowed);
            switch (result.Outcome)
            {
                case ElfPatchOutcome.Patched:
                    patched.Add(path);
                    Log.LogMessage(MessageImportance.Normal, $"Circuits.Interpretability: {result.Message}.");
                    break;
                case ElfPatchOutcome.AlreadyWeak:
                case ElfPatchOutcome.VersionNotRequired:
                    Log.LogMessage(MessageImportance.Low, $"Circuits.Interpretability: {path}: {result.Message}.");
                    break;
                default:
                    Log.LogWarning(null, "CIRCUITS002", null, path, 0, 0, 0, 0,
                        $"Circuits.Interpretability left {path} unchanged: {result.Message}. TorchSharp may fail to load on systems whose libstdc++ lacks {VersionName} (Debian 12, Ubuntu 22.04).");
                    break;
            }
        }

        CheckedFiles = copies.ToArray();
        PatchedFiles = patched.ToArray();
        return !Log.HasLoggedErrors;
    }
}
