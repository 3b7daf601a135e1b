using System.Collections;
using Circuits.Interpretability.Build;
using Microsoft.Build.Framework;

namespace Circuits.Interpretability.Tests.Build;

/// <summary>
/// The build step (the precompiled MSBuild task PatchLibTorchSharpGlibcxx): which copies it patches is decided by the
/// build's target, never by the libstdc++ of the machine that builds. The expected bytes come from the shipped library
/// and VER_FLG_WEAK, so every assertion here holds on any machine, including one whose libstdc++ has GLIBCXX_3.4.32.
/// </summary>
public sealed class GlibcxxBuildStepTests : IDisposable
{
    private const string Library = TorchSharpGlibcxxFixTests.Library;
    private const string Version = TorchSharpGlibcxxFixTests.Version;
    private static readonly string[] Allowed = TorchSharpGlibcxxFixTests.Allowed;
    private readonly string _dir = Directory.CreateTempSubdirectory("circuits-buildstep-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Place(string relativePath)
    {
        string path = Path.Combine(_dir, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Copy(TorchSharpGlibcxxFixTests.PristineLibrary(), path);
        return path;
    }

    /// <summary>The vna_flags value of the GLIBCXX_3.4.32 entry as shipped, and its offset.</summary>
    private static (long Offset, ushort Flags) Shipped()
    {
        byte[] pristine = File.ReadAllBytes(TorchSharpGlibcxxFixTests.PristineLibrary());
        ElfPatchResult analysis = ElfVersionPatcher.Analyze(pristine, Library, Version, Allowed);
        analysis.Outcome.Should().Be(ElfPatchOutcome.Patched, "the shipped library has a strong requirement to weaken");
        return (analysis.FlagsOffset, BitConverter.ToUInt16(pristine, (int)analysis.FlagsOffset));
    }

    private static ushort FlagsIn(string path, long offset) => BitConverter.ToUInt16(File.ReadAllBytes(path), (int)offset);

    private static (bool Ok, PatchLibTorchSharpGlibcxx Task, RecordingBuildEngine Engine) Run(string directory, string runtimeIdentifier)
    {
        var engine = new RecordingBuildEngine();
        var task = new PatchLibTorchSharpGlibcxx { BuildEngine = engine, Directory = directory, RuntimeIdentifier = runtimeIdentifier };
        return (task.Execute(), task, engine);
    }

    [Fact]
    public void A_portable_build_lists_every_linux_copy_and_no_other()
    {
        string x64 = Place("runtimes/linux-x64/native/libLibTorchSharp.so");
        string arm64 = Place("runtimes/linux-arm64/native/libLibTorchSharp.so");
        Place("runtimes/win-x64/native/libLibTorchSharp.so");   // a misplaced Linux file: not the target's business
        Place("runtimes/osx-arm64/native/libLibTorchSharp.so");
        Place("libLibTorchSharp.so");                           // a portable build keeps natives under runtimes/

        LibTorchSharpCopies.Find(_dir, null).Should().Equal(arm64, x64);
        LibTorchSharpCopies.Find(_dir, "").Should().Equal(arm64, x64);
    }

    [Theory]
    [InlineData("linux-x64")]
    [InlineData("linux-arm64")]
    [InlineData("linux-musl-x64")]
    public void A_linux_build_lists_the_copy_beside_the_app(string rid)
    {
        string beside = Place("libLibTorchSharp.so");
        Place("runtimes/linux-x64/native/libLibTorchSharp.so");

        LibTorchSharpCopies.Find(_dir, rid).Should().Equal(beside);
    }

    [Theory]
    [InlineData("win-x64")]
    [InlineData("osx-arm64")]
    public void A_windows_or_macos_build_lists_nothing(string rid)
    {
        Place("libLibTorchSharp.so");
        Place("runtimes/linux-x64/native/libLibTorchSharp.so");

        LibTorchSharpCopies.Find(_dir, rid).Should().BeEmpty();
        LibTorchSharpCopies.Find(Path.Combine(_dir, "missing"), null).Should().BeEmpty();
    }

    [Theory]
    [InlineData("", "runtimes/linux-x64/native/libLibTorchSharp.so")]
    [InlineData("linux-x64", "libLibTorchSharp.so")]
    public void The_task_sets_the_weak_flag_in_the_output_whatever_the_build_machine_has(string rid, string relativePath)
    {
        // The task has no input about the building machine: the same call on a system whose libstdc++ defines
        // GLIBCXX_3.4.32 must produce this byte, so an app built there and deployed on Debian 12 still loads.
        (long offset, ushort shipped) = Shipped();
        (shipped & ElfVersionPatcher.VerFlagWeak).Should().Be(0);
        string copy = Place(relativePath);

        var (ok, task, engine) = Run(_dir, rid);

        ok.Should().BeTrue();
        engine.Warnings.Should().BeEmpty();
        task.PatchedFiles.Should().Equal(Path.GetFullPath(copy));
        FlagsIn(copy, offset).Should().Be((ushort)(shipped | ElfVersionPatcher.VerFlagWeak));
        File.ReadAllBytes(TorchSharpGlibcxxFixTests.PristineLibrary()).Length.Should().Be((int)new FileInfo(copy).Length);
    }

    [Fact]
    public void A_second_run_finds_the_copy_already_weak_and_writes_nothing()
    {
        string copy = Place("runtimes/linux-x64/native/libLibTorchSharp.so");
        Run(_dir, "").Task.PatchedFiles.Should().ContainSingle();
        DateTime stamp = File.GetLastWriteTimeUtc(copy);
        byte[] once = File.ReadAllBytes(copy);

        var (ok, task, _) = Run(_dir, "");

        ok.Should().BeTrue();
        task.PatchedFiles.Should().BeEmpty();
        task.CheckedFiles.Should().Equal(Path.GetFullPath(copy));
        File.ReadAllBytes(copy).Should().Equal(once);
        File.GetLastWriteTimeUtc(copy).Should().Be(stamp);
    }

    [Fact]
    public void A_windows_build_leaves_even_a_linux_file_alone()
    {
        string copy = Place("libLibTorchSharp.so");
        byte[] before = File.ReadAllBytes(copy);

        var (ok, task, _) = Run(_dir, "win-x64");

        ok.Should().BeTrue();
        task.CheckedFiles.Should().BeEmpty();
        File.ReadAllBytes(copy).Should().Equal(before);
    }

    [Fact]
    public void A_copy_that_cannot_be_patched_gives_a_warning_with_a_code_not_an_error()
    {
        string path = Path.Combine(_dir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        byte[] head = File.ReadAllBytes(TorchSharpGlibcxxFixTests.PristineLibrary()).Take(4096).ToArray();
        File.WriteAllBytes(path, head);

        var (ok, task, engine) = Run(_dir, "");

        ok.Should().BeTrue("a library the step cannot read must not break the build");
        task.PatchedFiles.Should().BeEmpty();
        engine.Warnings.Should().ContainSingle().Which.Code.Should().Be("CIRCUITS002");
        engine.Warnings[0].Message.Should().Contain(path).And.Contain("malformed ELF file");
        File.ReadAllBytes(path).Should().Equal(head);
    }

    [Fact]
    public void This_test_run_loads_a_weak_copy_that_the_build_patched_and_the_cache_stays_as_shipped()
    {
        // Built by this repository's build (Directory.Build.targets imports the package's targets): the copy in the
        // test's own output is weak on every machine; the package cache keeps the strong requirement.
        string output = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

        ElfVersionPatcher.Analyze(File.ReadAllBytes(output), Library, Version, Allowed).Outcome.Should().Be(ElfPatchOutcome.AlreadyWeak);
        ElfVersionPatcher.Analyze(File.ReadAllBytes(TorchSharpGlibcxxFixTests.PristineLibrary()), Library, Version, Allowed)
            .Outcome.Should().Be(ElfPatchOutcome.Patched, "the package cache keeps the library as shipped");
    }

    /// <summary>Collects what a task logs.</summary>
    private sealed class RecordingBuildEngine : IBuildEngine
    {
        public List<BuildWarningEventArgs> Warnings { get; } = new();

        public List<BuildErrorEventArgs> Errors { get; } = new();

        public bool ContinueOnError => false;

        public int LineNumberOfTaskNode => 0;

        public int ColumnNumberOfTaskNode => 0;

        public string ProjectFileOfTaskNode => "test.proj";

        public bool BuildProjectFile(string projectFileName, string[] targetNames, IDictionary globalProperties, IDictionary targetOutputs) => false;

        public void LogCustomEvent(CustomBuildEventArgs e)
        {
        }

        public void LogErrorEvent(BuildErrorEventArgs e) => Errors.Add(e);

        public void LogMessageEvent(BuildMessageEventArgs e)
        {
        }

        public void LogWarningEvent(BuildWarningEventArgs e) => Warnings.Add(e);
    }
}
