using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;

namespace Circuits.Interpretability.Tests.Cli;

/// <summary>Progress lines off a terminal, and the memory estimate that refuses a render before it starts.</summary>
public sealed partial class CliProgressAndMemoryTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-cli-memory-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Collects whole lines from any thread.</summary>
    private sealed class LineWriter : TextWriter
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public override Encoding Encoding => Encoding.UTF8;

        public override void WriteLine(string? value) => Lines.Enqueue(value ?? string.Empty);
    }

    [Fact]
    public void Off_a_terminal_a_line_every_interval_gives_the_step_the_units_done_and_the_time_left()
    {
        var writer = new LineWriter();
        string? line = CliProgress.Run(writer, "render", 100, 4, progress =>
        {
            progress.Update(25, "curves batch 1/2", "step 25/50", 1);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (DateTime.UtcNow < deadline)
            {
                string? withEstimate = writer.Lines.FirstOrDefault(l => l.Contains("left", StringComparison.Ordinal));
                if (withEstimate is not null)
                {
                    return withEstimate;
                }

                Thread.Sleep(20);
            }

            return null;
        }, TimeSpan.FromMilliseconds(50));

        line.Should().NotBeNull("a line comes every interval while the work runs");
        line.Should().StartWith("render: curves batch 1/2 | step 25/50 | 1/4 units done | ");
        Match m = Clock().Match(line!);
        m.Success.Should().BeTrue(line);
        double elapsed = Seconds(m.Groups[1].Value), left = Seconds(m.Groups[2].Value);
        left.Should().BeApproximately(3 * elapsed, 2, "a quarter done after t seconds leaves about 3t");

        int count = writer.Lines.Count;
        Thread.Sleep(200);
        writer.Lines.Count.Should().Be(count, "no line comes after the work is done");
    }

    [Fact]
    public void Short_work_prints_nothing()
    {
        var writer = new LineWriter();
        CliProgress.Run(writer, "circuit", 1, 0, progress =>
        {
            progress.Update(0, "expanded weights");
            progress.Update(1, "writing");
            return 0;
        });

        writer.Lines.Should().BeEmpty();
    }

    [Fact]
    public void The_activation_count_is_the_innermost_layers_outputs_up_to_the_objective_layer()
    {
        using var model = new CurveCircuit();
        LayerTable table = LayerTable.Describe(model, new long[] { 1, 3, 64, 64 });

        // By hand: lines, lines_relu, curves and curves_relu each give 16 maps of 64 x 64.
        MemoryEstimate.ActivationsUpTo(table, "lines").Should().Be(16 * 64 * 64);
        MemoryEstimate.ActivationsUpTo(table, "curves").Should().Be(3 * 16 * 64 * 64);
        MemoryEstimate.ActivationsUpTo(table, "curves_relu").Should().Be(4 * 16 * 64 * 64);
    }

    [Fact]
    public async Task A_render_that_cannot_fit_is_refused_with_the_estimate_before_anything_runs()
    {
        // 1,024 InceptionV1 units at 4096 px in one batch need tens of terabytes: more than any machine has.
        string units = "mixed5b:" + string.Join(",", Enumerable.Range(0, 1024));
        var report = await CliTests.Run("report", "--model", "inceptionv1", "--random-weights", "--units", units, "--from", "mixed5a", "--size", "4096", "--out", Path.Combine(_folder, "r"));

        report.Code.Should().Be(ExitCodes.Failure, report.Err);
        report.Err.Should().MatchRegex(@"Rendering 1024 units together at 4096 x 4096 px needs about [\d.]+ [TP]B of memory, more than this machine has \([\d.]+ [MGT]B\); lower --size or name fewer --units");
        report.Err.Should().NotContain("rendering 1024 units");
        Directory.Exists(Path.Combine(_folder, "r")).Should().BeFalse();

        var render = await CliTests.Run("render", "--model", "inceptionv1", "--random-weights", "--layers", "mixed5b", "--size", "4096", "--batch", "1024", "--out", Path.Combine(_folder, "c"));
        render.Code.Should().Be(ExitCodes.Failure, render.Err);
        render.Err.Should().Contain("Rendering 1024 units of 'mixed5b' together at 4096 x 4096 px needs about");
        Directory.Exists(Path.Combine(_folder, "c")).Should().BeFalse();
    }

    private static double Seconds(string clock) =>
        clock.Split(':').Aggregate(0.0, (total, part) => (total * 60) + double.Parse(part, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"\| ([\d:]+) elapsed, about ([\d:]+) left$")]
    private static partial Regex Clock();
}
