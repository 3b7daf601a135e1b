using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Tests.Build;

/// <summary>
/// The backend gate: TorchSharp's failure to load its native backend becomes one <see cref="TorchBackendException"/>
/// that says what to add or fix. The failing cases are built from TorchSharp's real message and fake folders; a real
/// application without a backend is built and run by .ci/run.
/// </summary>
public sealed class TorchBackendTests : IDisposable
{
    // TorchSharp 0.107.0's own words when no libtorch package is referenced (first lines of its NotSupportedException).
    private const string TorchSharpSays =
        "This application or script uses TorchSharp but doesn't contain a reference to libtorch-cpu-linux-x64, Version=2.10.0.0.\n\n" +
        "Consider referencing one of the combination packages TorchSharp-cpu, TorchSharp-cuda-linux, TorchSharp-cuda-windows or call ...";

    private readonly string _dir = Directory.CreateTempSubdirectory("circuits-backend-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Exception TorchSharpFailure() =>
        new TypeInitializationException("TorchSharp.torch", new NotSupportedException(TorchSharpSays));

    private string Folder(string name, params string[] files)
    {
        string folder = Path.Combine(_dir, name);
        Directory.CreateDirectory(folder);
        foreach (string file in files)
        {
            File.WriteAllText(Path.Combine(folder, file), "");
        }

        return folder;
    }

    [Fact]
    public void The_backend_of_this_test_run_is_available_and_checked_once()
    {
        TorchBackend.EnsureAvailable();
        TorchBackend.EnsureAvailable();
        TorchBackend.BackendPackages.Should().Equal("TorchSharp-cpu", "TorchSharp-cuda-linux", "TorchSharp-cuda-windows");
    }

    [Fact]
    public void Without_libtorch_the_message_names_the_three_backend_packages_and_the_command()
    {
        string app = Folder("app", "libLibTorchSharp.so");   // the managed TorchSharp package brings only its wrapper
        Exception failure = TorchSharpFailure();
        var loads = new List<string>();

        TorchBackendException e = TorchBackend.Explain(failure, new[] { app }, TorchBackend.NativeNames.Linux, p => { loads.Add(p); return null; });

        e.Should().BeAssignableTo<CircuitsException>();
        e.Problem.Should().Be(TorchBackendProblem.NoBackendPackage);
        e.Message.Should().Contain("TorchSharp-cpu").And.Contain("TorchSharp-cuda-linux").And.Contain("TorchSharp-cuda-windows")
            .And.Contain("dotnet add package TorchSharp-cpu --version 0.107.0")
            .And.Contain($"no libtorch_cpu.so in {app}")
            .And.Contain("doesn't contain a reference to libtorch-cpu-linux-x64");
        e.Message.Should().NotContain("Consider referencing", "only TorchSharp's first line is quoted");
        e.InnerException.Should().BeSameAs(failure);
        loads.Should().BeEmpty("nothing is loaded when libtorch is absent");
    }

    [Fact]
    public void A_wrapper_that_needs_a_newer_libstdcxx_points_at_the_build_step_and_its_import()
    {
        string natives = Folder("runtimes-linux-x64-native", "libtorch_cpu.so", "libLibTorchSharp.so");
        string wrapper = Path.Combine(natives, "libLibTorchSharp.so");
        string dlerror = $"{wrapper}: /lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by {wrapper})";

        string dotnetSays = $"Unable to load shared library '{wrapper}' or one of its dependencies. In order to help diagnose loading problems, " +
            "consider using a tool like strace. If you're using glibc, consider setting the LD_DEBUG environment variable: \n" + dlerror;

        TorchBackendException e = TorchBackend.Explain(TorchSharpFailure(), new[] { Folder("app"), natives }, TorchBackend.NativeNames.Linux,
            p => p == wrapper ? dotnetSays : null);

        e.Problem.Should().Be(TorchBackendProblem.LibStdCxxTooOld);
        e.Message.Should().NotContain("strace", "only the loader's own line is quoted");
        e.Message.Should().Contain(dlerror)
            .And.Contain("buildTransitive/Circuits.Interpretability.targets")
            .And.Contain("CircuitsTorchSharpGlibcxxFix")
            .And.Contain("Debian 12");
    }

    [Fact]
    public void Another_load_failure_quotes_the_loader()
    {
        string natives = Folder("natives", "torch_cpu.dll", "LibTorchSharp.dll");

        TorchBackendException e = TorchBackend.Explain(TorchSharpFailure(), new[] { natives }, TorchBackend.NativeNames.Windows,
            _ => "The specified module could not be found (cudnn64_9.dll).");

        e.Problem.Should().Be(TorchBackendProblem.LoadFailed);
        e.Message.Should().Contain(natives).And.Contain("cudnn64_9.dll");
    }

    [Fact]
    public void When_the_wrapper_loads_on_its_own_torchsharps_words_are_kept()
    {
        string natives = Folder("natives", "libtorch_cpu.dylib", "libLibTorchSharp.dylib");

        TorchBackendException e = TorchBackend.Explain(TorchSharpFailure(), new[] { natives }, TorchBackend.NativeNames.MacOS, _ => null);

        e.Problem.Should().Be(TorchBackendProblem.LoadFailed);
        e.Message.Should().Contain("doesn't contain a reference to libtorch-cpu-linux-x64");
    }
}
