using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Circuits.Interpretability.Cli;

namespace Circuits.Interpretability.Tests.Cli;

/// <summary>
/// The tool as a separate process, as a person or a batch scheduler runs it: progress lines off a terminal, and
/// Ctrl+C / SIGTERM stopping a render cooperatively (the batch in progress discarded, nothing half-written,
/// "cancelled", exit 130 / 143). Linux: the signals are sent with kill(2).
/// </summary>
[Trait("Category", "Slow")]
public sealed class CliProcessTests : IDisposable
{
    private const int SigInt = 2;
    private const int SigTerm = 15;

    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-cli-process-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    /// <summary>
    /// Starts the tool. A process started with '&amp;' from a non-interactive shell inherits SIGINT as ignored (and so
    /// would this child); coreutils' env --default-signal=INT restores the default before the tool starts, as an
    /// interactive terminal would have it.
    /// </summary>
    private static Process Start(IEnumerable<string> args, StringBuilder stderr, Action<string> onLine)
    {
        string tool = typeof(CircuitsCli).Assembly.Location;
        var start = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "--default-signal=INT", "dotnet", tool }.Concat(args))
        {
            start.ArgumentList.Add(a);
        }

        start.Environment[CliProgress.IntervalVariable] = "0.2";
        var process = new Process { StartInfo = start };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }

                onLine(e.Data);
            }
        };
        process.Start();
        process.BeginErrorReadLine();
        _ = process.StandardOutput.ReadToEndAsync();
        return process;
    }

    [LinuxTheory]
    [InlineData(SigInt, ExitCodes.Cancelled)]
    [InlineData(SigTerm, ExitCodes.Terminated)]
    public async Task A_signal_stops_a_render_cleanly_with_progress_lines_on_the_way(int signal, int expectedCode)
    {
        string output = Path.Combine(_folder, "catalog");
        var stderr = new StringBuilder();
        var rendering = new TaskCompletionSource();
        using Process process = Start(
            new[] { "render", "--layers", "curves", "--batch", "2", "--steps", "100000", "--size", "16", "--out", output },
            stderr,
            line =>
            {
                if (line.Contains("| step ", StringComparison.Ordinal) && line.Contains("left", StringComparison.Ordinal))
                {
                    rendering.TrySetResult();
                }
            });

        await Task.WhenAny(rendering.Task, process.WaitForExitAsync()).WaitAsync(TimeSpan.FromSeconds(120));
        process.HasExited.Should().BeFalse(stderr.ToString());
        Kill(process.Id, signal).Should().Be(0);
        (await Task.WhenAny(process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)))).Should().NotBeNull();
        process.HasExited.Should().BeTrue("the render stops at the next step after the signal");
        process.WaitForExit();
        string err;
        lock (stderr)
        {
            err = stderr.ToString();
        }

        process.ExitCode.Should().Be(expectedCode, err);
        err.Should().Contain("cancelling").And.Contain("cancelled");

        // Progress off a terminal: the phase, the step, the units done and the time left.
        err.Split('\n').Should().Contain(l => l.StartsWith("render: curves batch ", StringComparison.Ordinal) && l.Contains("| step ", StringComparison.Ordinal)
                                              && l.Contains("units done", StringComparison.Ordinal) && l.Contains("left", StringComparison.Ordinal));

        // The batch in progress was discarded whole: no image, no metadata, nothing temporary.
        string[] files = Directory.Exists(output) ? Directory.GetFiles(output, "*", SearchOption.AllDirectories) : Array.Empty<string>();
        files.Should().BeEmpty("a batch that did not finish leaves nothing behind");
    }
}

/// <summary>A theory that needs Linux (signals sent with kill(2), coreutils' env); skipped elsewhere with the reason.</summary>
public sealed class LinuxTheoryAttribute : TheoryAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> off Linux.</summary>
    public LinuxTheoryAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "needs Linux: signals are sent with kill(2) and the child starts through coreutils' env --default-signal";
        }
    }
}
