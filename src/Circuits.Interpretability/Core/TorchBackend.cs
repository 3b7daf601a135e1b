using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace Circuits.Interpretability.Core;

/// <summary>
/// Checks, once per process, that TorchSharp's native backend loads, and turns TorchSharp's failure into one
/// <see cref="TorchBackendException"/> that names the packages to add (or the fix to apply).
/// </summary>
/// <remarks>
/// The library references only the managed <c>TorchSharp</c> package: the application adds a backend package,
/// <c>TorchSharp-cpu</c>, <c>TorchSharp-cuda-linux</c> or <c>TorchSharp-cuda-windows</c>. Every public entry point
/// that creates tensors without having been handed a TorchSharp object (the model constructors, stimuli, image
/// loading, plots) calls <see cref="EnsureAvailable"/> first; an entry point that receives a model or a tensor needs
/// no check, since that object could not exist without a working backend. After the first success the check is one
/// field read.
/// </remarks>
public static class TorchBackend
{
    private static readonly object Sync = new();
    private static volatile bool s_available;
    private static TorchBackendException? s_failure;

    /// <summary>The environment variable that turns the kernel check off when set to <c>off</c> (see <see cref="EnsureAvailable"/>).</summary>
    public const string KernelCheckVariable = "CIRCUITS_KERNEL_CHECK";

    /// <summary>
    /// The environment variable that, set to <c>system</c>, leaves the C library's memory allocator as it is (see
    /// <see cref="AllocatorTuning"/>).
    /// </summary>
    public const string AllocatorVariable = "CIRCUITS_ALLOCATOR";

    /// <summary>
    /// How the library set the process's memory allocator for tensor work, in words, or null when it left it as it was.
    /// On Linux with glibc, the first <see cref="EnsureAvailable"/> tells glibc's malloc (which libtorch allocates CPU
    /// tensors with) to keep freed memory for the next tensor instead of returning it to the kernel after every pass, so
    /// that a render or an attribution loop does not page-fault on fresh memory at every step. The process then keeps
    /// its high-water mark of tensor memory, up to 512 MiB of it free. Set the environment variable
    /// <see cref="AllocatorVariable"/> to <c>system</c> before the first call to leave malloc as it is.
    /// </summary>
    public static string? AllocatorTuning { get; private set; }

    /// <summary>
    /// What the library changed in libtorch because its kernel check found wrong results on this machine, in words
    /// (for example that oneDNN's CPU kernels were turned off); null when nothing was changed. Set by the first
    /// <see cref="EnsureAvailable"/>.
    /// </summary>
    public static string? KernelWorkaround { get; private set; }

    /// <summary>The backend packages an application can add, one of them.</summary>
    public static IReadOnlyList<string> BackendPackages { get; } = new[] { "TorchSharp-cpu", "TorchSharp-cuda-linux", "TorchSharp-cuda-windows" };

    /// <summary>
    /// Returns when TorchSharp's native backend is loaded (loading it on the first call, as TorchSharp's first use
    /// would) and computes convolutions correctly on this machine; otherwise throws.
    /// </summary>
    /// <remarks>
    /// The first call also compares a few small convolutions, forward, backward and transposed, computed by libtorch
    /// with plain loops (a few milliseconds). Some virtual machines make libtorch's oneDNN kernels return wrong values
    /// without any error; there the library turns oneDNN off (libtorch's own kernels are used, slower), checks again and
    /// reports the change in <see cref="KernelWorkaround"/>. Set the environment variable
    /// <see cref="KernelCheckVariable"/> to <c>off</c> to skip the check.
    /// </remarks>
    /// <exception cref="TorchBackendException">The backend is missing or does not load, or computes wrong results that the library cannot repair; the message says what to add or fix.</exception>
    public static void EnsureAvailable()
    {
        if (!s_available)
        {
            EnsureAvailableSlow();
        }
    }

    /// <summary>
    /// For a model's constructor, which must check before its base constructor runs:
    /// <c>: base(TorchBackend.Checked(nameof(MyModel)))</c>.
    /// </summary>
    internal static string Checked(string moduleName)
    {
        EnsureAvailable();
        return moduleName;
    }

    private static void EnsureAvailableSlow()
    {
        TorchBackendException failure;
        lock (Sync)
        {
            if (s_available)
            {
                return;
            }

            bool skip = string.Equals(Environment.GetEnvironmentVariable(KernelCheckVariable), "off", StringComparison.OrdinalIgnoreCase);
            if (s_failure is null)
            {
                try
                {
                    // TorchSharp loads libtorch and its wrapper in the static constructor of `torch`.
                    RuntimeHelpers.RunClassConstructor(typeof(torch).TypeHandle);
                }
                catch (Exception e) when (IsNativeLoadFailure(e))
                {
                    s_failure = Explain(e, NativeSearchDirectories(), NativeNames.ForCurrentPlatform(), LoadError);
                }

                if (s_failure is null)
                {
                    if (!string.Equals(Environment.GetEnvironmentVariable(AllocatorVariable), "system", StringComparison.OrdinalIgnoreCase))
                    {
                        AllocatorTuning = MallocSettings.Apply();
                    }

                    string? workaround = null;
                    s_failure = skip ? null : CheckKernels(KernelCheck.Run, OneDnnSwitch.TrySet, out workaround);
                    if (s_failure is null)
                    {
                        KernelWorkaround = workaround;
                        s_available = true;
                        return;
                    }
                }
            }

            failure = s_failure;
        }

        // A new instance per call, so that each throw has its own stack trace.
        throw new TorchBackendException(failure.Problem, failure.Message, failure.InnerException);
    }

    /// <summary>
    /// Runs the kernel check; when a case fails, turns oneDNN off with <paramref name="setOneDnn"/> and runs it again.
    /// Returns null when the kernels are right (with the change made, if any, in <paramref name="workaround"/>), or the
    /// exception that explains what is wrong.
    /// </summary>
    internal static TorchBackendException? CheckKernels(Func<IReadOnlyList<KernelCheck.Outcome>> run, Func<bool, bool> setOneDnn, out string? workaround)
    {
        workaround = null;
        List<KernelCheck.Outcome> failed = run().Where(o => o.Failed).ToList();
        if (failed.Count == 0)
        {
            return null;
        }

        string first = DescribeFailures(failed);
        if (setOneDnn(false))
        {
            List<KernelCheck.Outcome> stillFailed = run().Where(o => o.Failed).ToList();
            if (stillFailed.Count == 0)
            {
                workaround = $"libtorch's oneDNN CPU kernels are turned off: with them, {first}. libtorch's own kernels give the right values here, " +
                    "but some operations run many times slower; setting DNNL_MAX_CPU_ISA=AVX before the process starts keeps oneDNN's AVX kernels, which were right on such machines.";
                return null;
            }

            setOneDnn(true);
            first += $"; with oneDNN turned off, {DescribeFailures(stillFailed)}";
        }

        return new TorchBackendException(TorchBackendProblem.WrongKernelResults,
            $"libtorch computes wrong convolutions on this machine ({Environment.ProcessorCount} processors, {RuntimeInformation.OSDescription.Trim()}): {first}. " +
            "This was seen on virtual machines that hide the processor's cache description from libtorch's oneDNN kernels. " +
            "Setting the environment variable DNNL_MAX_CPU_ISA=AVX before the process starts limits oneDNN to kernels that were right on such a machine; " +
            $"set {KernelCheckVariable}=off to skip this check and accept the results as they are.");
    }

    private static string DescribeFailures(List<KernelCheck.Outcome> failed)
    {
        KernelCheck.Outcome worst = failed.OrderByDescending(o => double.IsNaN(o.Error) ? double.PositiveInfinity : o.Error).First();
        string what = $"{worst.Case} is off by {worst.Error:G3} of its largest value";
        return failed.Count == 1 ? what : $"{failed.Count} checked convolutions are wrong, the worst: {what}";
    }

    private static bool IsNativeLoadFailure(Exception e) =>
        e is TypeInitializationException or DllNotFoundException or NotSupportedException or EntryPointNotFoundException or BadImageFormatException;

    /// <summary>The file names of libtorch's CPU library and TorchSharp's native wrapper on one platform.</summary>
    internal sealed record NativeNames(string Torch, string Wrapper)
    {
        public static NativeNames Linux { get; } = new("libtorch_cpu.so", "libLibTorchSharp.so");

        public static NativeNames Windows { get; } = new("torch_cpu.dll", "LibTorchSharp.dll");

        public static NativeNames MacOS { get; } = new("libtorch_cpu.dylib", "libLibTorchSharp.dylib");

        public static NativeNames ForCurrentPlatform() =>
            OperatingSystem.IsWindows() ? Windows : OperatingSystem.IsMacOS() ? MacOS : Linux;
    }

    /// <summary>
    /// Builds the exception for a failed load: <paramref name="directories"/> are where the host looks for native
    /// libraries, and <paramref name="loadError"/> tries to load a file and returns the loader's error (null when it
    /// loads).
    /// </summary>
    internal static TorchBackendException Explain(Exception failure, IReadOnlyList<string> directories, NativeNames names, Func<string, string?> loadError)
    {
        string version = TorchSharpVersion();
        string torchSaid = FirstLine(Innermost(failure).Message);
        string? torchDirectory = directories.FirstOrDefault(d => File.Exists(Path.Combine(d, names.Torch)));
        if (torchDirectory is null)
        {
            return new TorchBackendException(TorchBackendProblem.NoBackendPackage,
                $"TorchSharp's native backend (libtorch) is not part of this application: no {names.Torch} in {Describe(directories)}. " +
                $"Circuits.Interpretability references only the managed TorchSharp package; the application adds one backend package at TorchSharp's version {version}: " +
                "TorchSharp-cpu (CPU; Linux x64, Windows x64, macOS arm64), TorchSharp-cuda-linux (NVIDIA GPU, Linux x64) or TorchSharp-cuda-windows (NVIDIA GPU, Windows x64). " +
                $"For example: dotnet add package TorchSharp-cpu --version {version}. TorchSharp reported: {torchSaid}",
                failure);
        }

        string wrapper = directories.Select(d => Path.Combine(d, names.Wrapper)).FirstOrDefault(File.Exists)
            ?? Path.Combine(torchDirectory, names.Wrapper);
        string? error = File.Exists(wrapper) ? loadError(wrapper) : $"{wrapper} does not exist";
        if (error is not null && error.Contains("GLIBCXX_", StringComparison.Ordinal))
        {
            return new TorchBackendException(TorchBackendProblem.LibStdCxxTooOld,
                $"TorchSharp's backend is present, but its native wrapper {wrapper} does not load: {LineWith(error, "GLIBCXX_")}. " +
                "This system's libstdc++ is older than the one TorchSharp was built with (Debian 12, Ubuntu 22.04). " +
                "Circuits.Interpretability's build step marks that need weak in the build and publish output, and it did not run for this copy: " +
                "a project that references the library's source by ProjectReference must also import src/Circuits.Interpretability/buildTransitive/Circuits.Interpretability.targets; " +
                "check that CircuitsTorchSharpGlibcxxFix is not set to false, and run the app from its build or publish folder.",
                failure);
        }

        return new TorchBackendException(TorchBackendProblem.LoadFailed,
            $"TorchSharp's native backend is present in {torchDirectory} but failed to load: {(error ?? torchSaid).Trim()}",
            failure);
    }

    private static string? LoadError(string path)
    {
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(path));
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            return e.Message;
        }
    }

    private static IReadOnlyList<string> NativeSearchDirectories()
    {
        var candidates = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string listed)
        {
            candidates.AddRange(listed.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        }

        candidates.Add(AppContext.BaseDirectory);
        string? torchSharpDirectory = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (!string.IsNullOrEmpty(torchSharpDirectory))
        {
            candidates.Add(torchSharpDirectory);
        }

        // The shared framework's own folder never holds libtorch; leaving it out keeps the message short.
        string framework = Path.TrimEndingDirectorySeparator(RuntimeEnvironment.GetRuntimeDirectory());
        return candidates.Where(Directory.Exists)
            .Select(d => Path.TrimEndingDirectorySeparator(Path.GetFullPath(d)))
            .Where(d => !string.Equals(d, framework, StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .ToList();
    }

    private static string TorchSharpVersion()
    {
        Version? v = typeof(torch).Assembly.GetName().Version;
        return v is null ? "of the TorchSharp package" : $"{v.Major}.{v.Minor}.{v.Build}";
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }

    private static string FirstLine(string text)
    {
        string trimmed = text.Trim();
        int end = trimmed.IndexOf('\n');
        return (end < 0 ? trimmed : trimmed[..end]).Trim();
    }

    private static string LineWith(string text, string part) =>
        text.Split('\n').Select(l => l.Trim()).First(l => l.Contains(part, StringComparison.Ordinal));

    private static string Describe(IReadOnlyList<string> directories) =>
        directories.Count == 0 ? "the application's folders" : string.Join(", ", directories);
}
