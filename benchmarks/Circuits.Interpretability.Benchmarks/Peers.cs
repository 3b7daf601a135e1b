using System.Diagnostics;
using System.Text.Json;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// Runs the PyTorch peers of benchmarks/peers/ (through run.sh, which installs Debian's python3-torch when it is
/// missing). A peer times itself and prints one JSON line last; benchmarks run it in their setup and show its
/// figures next to ours with <see cref="PeerColumn"/>, so that ours, the peer's and the ratio come from one run.
/// </summary>
internal static class Peer
{
    /// <summary>Runs <paramref name="script"/> (a file in benchmarks/peers/) with <paramref name="arguments"/> and returns its JSON line.</summary>
    public static JsonElement Run(string script, params string[] arguments)
    {
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(RepositoryRoot(), "benchmarks", "peers", "run.sh"));
        start.ArgumentList.Add(script);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException("Could not start bash for the PyTorch peer.");
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"The PyTorch peer {script} failed (exit {process.ExitCode}): {error.Result}");
        }

        string line = output.Trim().Split('\n')[^1];
        Console.WriteLine($"// peer {script}: {line}");
        using var json = JsonDocument.Parse(line);
        return json.RootElement.Clone();
    }

    /// <summary>The repository's root (the folder of Circuits.Interpretability.sln), from the working or the output folder.</summary>
    public static string RepositoryRoot()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Circuits.Interpretability.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException("Run the benchmarks from the repository (benchmarks/peers/ is found from Circuits.Interpretability.sln).");
    }
}

/// <summary>Threads for libtorch (and the peers) in the benchmarks that follow issue 18's setting.</summary>
internal static class BenchmarkThreads
{
    /// <summary>2, as issue 18 measures, or CIRCUITS_BENCH_THREADS: on a machine shared with other work, one thread is disturbed far less (two threads wait for each other at every operation when another process holds a core).</summary>
    public static int Count { get; } = int.TryParse(Environment.GetEnvironmentVariable("CIRCUITS_BENCH_THREADS"), out int n) && n > 0 ? n : 2;
}

/// <summary>A column that shows a peer's figure (or a ratio to it) next to BenchmarkDotNet's own columns.</summary>
internal sealed class PeerColumn : IColumn
{
    private readonly Func<Summary, BenchmarkCase, string> _value;

    public PeerColumn(string name, string legend, Func<Summary, BenchmarkCase, string> value)
    {
        ColumnName = name;
        Legend = legend;
        _value = value;
    }

    public string Id => nameof(PeerColumn) + ColumnName;

    public string ColumnName { get; }

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => false;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend { get; }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => _value(summary, benchmarkCase);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
