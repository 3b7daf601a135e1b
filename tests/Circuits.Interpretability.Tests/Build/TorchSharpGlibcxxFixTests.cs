using System.Reflection;
using Circuits.Interpretability.Build;

namespace Circuits.Interpretability.Tests.Build;

/// <summary>
/// The ELF patcher behind the build-time fix that lets TorchSharp's native wrapper load on systems whose libstdc++
/// predates GLIBCXX_3.4.32 (Debian 12, Ubuntu 22.04). Every test works on a temporary copy of the real library from
/// the package cache; the cache itself is only read. Nothing here depends on the libstdc++ of the machine that runs it.
/// </summary>
public sealed class TorchSharpGlibcxxFixTests : IDisposable
{
    internal const string Library = "libstdc++.so.6";
    internal const string Version = "GLIBCXX_3.4.32";
    internal static readonly string[] Allowed = { "_ZSt21ios_base_library_initv" };
    private readonly string _dir = Directory.CreateTempSubdirectory("circuits-elf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>libLibTorchSharp.so as the TorchSharp package ships it.</summary>
    internal static string PristineLibrary()
    {
        string root = typeof(TorchSharpGlibcxxFixTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "NuGetPackageRoot").Value!;
        Version v = typeof(TorchSharp.torch).Assembly.GetName().Version!;
        string path = Path.Combine(root, "torchsharp", $"{v.Major}.{v.Minor}.{v.Build}", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        File.Exists(path).Should().BeTrue($"the TorchSharp package should be restored at {path}");
        return path;
    }

    private string Copy(string name = "libLibTorchSharp.so")
    {
        string path = Path.Combine(_dir, name);
        File.Copy(PristineLibrary(), path);
        return path;
    }

    [Fact]
    public void The_shipped_library_requires_the_version_for_one_known_symbol_only()
    {
        ElfPatchResult result = ElfVersionPatcher.Analyze(File.ReadAllBytes(PristineLibrary()), Library, Version, Allowed);

        result.Outcome.Should().Be(ElfPatchOutcome.Patched, result.Message);
        result.Symbols.Should().Equal("_ZSt21ios_base_library_initv");
    }

    [Fact]
    public void Patching_changes_exactly_the_flag_bytes_and_nothing_else()
    {
        string path = Copy();
        byte[] before = File.ReadAllBytes(path);
        DateTime stamp = File.GetLastWriteTimeUtc(path);

        ElfPatchResult result = ElfVersionPatcher.PatchFile(path, Library, Version, Allowed);

        result.Outcome.Should().Be(ElfPatchOutcome.Patched);
        byte[] after = File.ReadAllBytes(path);
        after.Length.Should().Be(before.Length);
        var changed = Enumerable.Range(0, before.Length).Where(i => before[i] != after[i]).ToList();
        changed.Should().Equal(new[] { (int)result.FlagsOffset }, "only the low byte of vna_flags gains VER_FLG_WEAK");
        ushort oldFlags = BitConverter.ToUInt16(before, (int)result.FlagsOffset);
        ushort newFlags = BitConverter.ToUInt16(after, (int)result.FlagsOffset);
        newFlags.Should().Be((ushort)(oldFlags | ElfVersionPatcher.VerFlagWeak));
        File.GetLastWriteTimeUtc(path).Should().Be(stamp, "incremental builds must not see a changed file");
        Directory.GetFiles(_dir).Should().ContainSingle("no temporary file is left behind");
    }

    [Fact]
    public void Patching_is_idempotent()
    {
        string path = Copy();
        ElfVersionPatcher.PatchFile(path, Library, Version, Allowed).Outcome.Should().Be(ElfPatchOutcome.Patched);
        byte[] once = File.ReadAllBytes(path);

        ElfPatchResult again = ElfVersionPatcher.PatchFile(path, Library, Version, Allowed);

        again.Outcome.Should().Be(ElfPatchOutcome.AlreadyWeak);
        File.ReadAllBytes(path).Should().Equal(once);
    }

    [Fact]
    public void A_hard_link_to_the_patched_file_keeps_the_original_bytes()
    {
        string path = Copy();
        string link = Path.Combine(_dir, "cache-entry.so");
        var ln = System.Diagnostics.Process.Start("ln", new[] { path, link });
        ln.WaitForExit();
        ln.ExitCode.Should().Be(0);
        byte[] original = File.ReadAllBytes(link);

        ElfVersionPatcher.PatchFile(path, Library, Version, Allowed).Outcome.Should().Be(ElfPatchOutcome.Patched);

        File.ReadAllBytes(link).Should().Equal(original, "the patch writes a new file instead of editing shared bytes");
    }

    [Fact]
    public void A_file_that_is_not_elf_is_left_unchanged()
    {
        string path = Path.Combine(_dir, "notes.so");
        File.WriteAllText(path, "this is not a shared library");

        ElfPatchResult result = ElfVersionPatcher.PatchFile(path, Library, Version, Allowed);

        result.Outcome.Should().Be(ElfPatchOutcome.NotElf);
        result.Message.Should().Contain("not an ELF file");
        File.ReadAllText(path).Should().Be("this is not a shared library");
    }

    [Theory]
    [InlineData(16)]
    [InlineData(4096)]
    [InlineData(1_000_000)]
    public void A_truncated_file_is_left_unchanged(int length)
    {
        string path = Path.Combine(_dir, "truncated.so");
        byte[] head = File.ReadAllBytes(PristineLibrary()).Take(length).ToArray();
        File.WriteAllBytes(path, head);

        ElfPatchResult result = ElfVersionPatcher.PatchFile(path, Library, Version, Allowed);

        result.Outcome.Should().Be(ElfPatchOutcome.Malformed);
        result.Message.Should().StartWith("malformed ELF file: ").And.Contain("beyond the end of the file");
        File.ReadAllBytes(path).Should().Equal(head);
    }

    [Fact]
    public void A_section_table_pointing_outside_the_file_is_malformed()
    {
        string path = Copy();
        byte[] bytes = File.ReadAllBytes(path);
        BitConverter.GetBytes(long.MaxValue - 8).CopyTo(bytes, 0x28); // e_shoff
        File.WriteAllBytes(path, bytes);

        ElfVersionPatcher.PatchFile(path, Library, Version, Allowed).Outcome.Should().Be(ElfPatchOutcome.Malformed);
        File.ReadAllBytes(path).Should().Equal(bytes);
    }

    [Fact]
    public void A_file_without_the_version_entry_is_left_unchanged()
    {
        string path = Copy();
        byte[] before = File.ReadAllBytes(path);

        ElfPatchResult result = ElfVersionPatcher.PatchFile(path, Library, "GLIBCXX_99.0", Allowed);

        result.Outcome.Should().Be(ElfPatchOutcome.VersionNotRequired);
        result.Message.Should().Contain("does not require GLIBCXX_99.0 from libstdc++.so.6");
        File.ReadAllBytes(path).Should().Equal(before);
    }

    [Fact]
    public void Symbols_not_known_to_be_safe_block_the_patch()
    {
        string path = Copy();
        byte[] before = File.ReadAllBytes(path);

        ElfPatchResult result = ElfVersionPatcher.PatchFile(path, Library, Version, Array.Empty<string>());

        result.Outcome.Should().Be(ElfPatchOutcome.UnsafeSymbols);
        result.Message.Should().Contain("_ZSt21ios_base_library_initv");
        File.ReadAllBytes(path).Should().Equal(before);
    }
}
