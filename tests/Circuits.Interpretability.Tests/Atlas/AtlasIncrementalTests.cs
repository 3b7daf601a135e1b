using System.Diagnostics;
using System.Text.Json;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Reporting.Atlas;
using Xunit.Abstractions;

namespace Circuits.Interpretability.Tests.Atlas;

/// <summary>Rebuilding after a change, resuming after an interruption, and four shards in separate processes, all against the fixture's single build.</summary>
[Collection(nameof(AtlasCollection))]
[Trait("Category", "Slow")]
public sealed class AtlasIncrementalTests : IDisposable
{
    private readonly AtlasFixture _atlas;
    private readonly ITestOutputHelper _log;
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-atlas-change-").FullName;

    public AtlasIncrementalTests(AtlasFixture atlas, ITestOutputHelper log)
    {
        _atlas = atlas;
        _log = log;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Rebuilding_after_a_note_or_a_setting_re_renders_only_what_changed()
    {
        var (site, notes) = _atlas.Copy(_folder);

        JsonElement same = Build(site, notes);
        Count(same, "renders").Should().Be(0);
        Count(same, "unitsComputed").Should().Be(0);
        same.GetProperty("pages").GetProperty("written").GetInt32().Should().Be(0, "nothing changed, so no page is rewritten");

        AtlasFixture.Cli(new[] { "atlas", "annotate", "curves:5", "--note", "Peaks near 112°.", "--notes", notes }).Code.Should().Be(ExitCodes.Success);
        JsonElement note = Build(site, notes);
        Count(note, "renders").Should().Be(0, "a note re-renders nothing");
        Count(note, "connectionSets").Should().Be(0);
        Count(note, "tuningCurves").Should().Be(0);
        note.GetProperty("pages").GetProperty("written").GetInt32().Should().Be(2, "only curves:5's page and its card's tooltip on the layer page show the note");
        System.Net.WebUtility.HtmlDecode(File.ReadAllText(Path.Combine(site, "units", "curves", "5.html"))).Should().Contain("Peaks near 112°.");

        AtlasFixture.Cli(new[] { "atlas", "annotate", "lines:9", "--family", "line detectors", "--notes", notes }).Code.Should().Be(ExitCodes.Success);
        JsonElement family = Build(site, notes);
        Count(family, "renders").Should().Be(0);
        int written = family.GetProperty("pages").GetProperty("written").GetInt32();
        written.Should().BeGreaterThan(3, "the unit, its layer, the index and the pages that link to it name the family").And.BeLessThan(36);

        JsonElement thumbnails = Build(site, notes, "--thumbnail", "24");
        Count(thumbnails, "renders").Should().Be(0, "thumbnails are cut from the rendered images");
        Count(thumbnails, "unitsComputed").Should().Be(32);
        Directory.GetFiles(Path.Combine(site, "parts", "curves", "0003"), "thumb-*.png").Should().HaveCount(2, "the old thumbnail stays (content-addressed), beside the new one");

        JsonElement steps = Build(site, notes, "--steps", "9");
        Count(steps, "renders").Should().Be(32 * 4, "every image depends on the steps");
        Count(steps, "connectionSets").Should().Be(0, "the circuit does not");
        Count(steps, "tuningCurves").Should().Be(0, "nor do the tuning curves");
    }

    [Fact]
    public void An_interrupted_build_resumes_and_ends_with_the_uninterrupted_build()
    {
        string site = Path.Combine(_folder, "site");
        string notes = Path.Combine(_folder, "notes.tsv");
        File.Copy(_atlas.Notes, notes);
        string[] args = AtlasFixture.Args(site, notes);

        // The library, driven as the CLI drives it for these arguments, cancelled as the centre-neuron render of the
        // first batch of curves starts (a Ctrl+C, or a pre-empted machine, in the middle of a layer).
        using (var cancel = new CancellationTokenSource())
        using (ModelSession session = ModelSession.Open(CircuitsCli.Build(TextWriter.Null).Parse(args), TextWriter.Null))
        {
            AtlasModel model = AtlasModels.For(session, Array.Empty<string>());
            AtlasOptions options = AtlasModels.Options(session) with { Steps = 8, ImageSize = 32, Diverse = 2, Device = session.Device };
            var progress = new Watch(p =>
            {
                if (p.Stage.StartsWith("rendering curves centre neurons", StringComparison.Ordinal))
                {
                    cancel.Cancel();
                }
            });
            FluentActions.Invoking(() => NeuronAtlas.Build(model, options, site, notes: AtlasNotes.Load(notes), progress: progress, cancellationToken: cancel.Token))
                .Should().Throw<OperationCanceledException>();
        }

        Directory.EnumerateFiles(site, "*.tmp", SearchOption.AllDirectories).Should().BeEmpty("every file is written whole or not at all");
        Directory.GetFiles(Path.Combine(site, "data", "lines")).Should().HaveCount(16, "the lines layer was finished before the interruption");
        Directory.Exists(Path.Combine(site, "data", "curves")).Should().BeFalse();
        Directory.GetFiles(Path.Combine(site, "catalog", "curves"), "*.png").Should().HaveCount(8, "the first batch of curve channels was rendered");
        File.Exists(Path.Combine(site, "index.html")).Should().BeFalse("pages come when every unit is there");

        var (again, output, error) = AtlasFixture.Cli(args);

        again.Should().Be(ExitCodes.Success, error);
        JsonElement resumed = JsonDocument.Parse(output).RootElement;
        Count(resumed, "renders").Should().Be((16 * 4) - 8, "what was rendered before the interruption is kept");
        Count(resumed, "unitsComputed").Should().Be(16);
        Same(site, _atlas.Site);
    }

    [Fact]
    public async Task Four_shards_in_separate_processes_merge_into_the_single_build()
    {
        string site = Path.Combine(_folder, "site");
        string notes = Path.Combine(_folder, "notes.tsv");
        File.Copy(_atlas.Notes, notes);
        string[] args = AtlasFixture.Args(site, notes);

        // Shard 0 and 3 by --shard; shard 1 as a Kubernetes Indexed Job sets it; shard 2 as a Slurm array starting at 1 does.
        var shards = new (string[] Extra, Dictionary<string, string> Environment)[]
        {
            (new[] { "--shard", "0/4" }, new()),
            (Array.Empty<string>(), new() { ["JOB_COMPLETION_INDEX"] = "1", [AtlasShard.CountVariable] = "4" }),
            (Array.Empty<string>(), new() { ["SLURM_ARRAY_TASK_ID"] = "3", ["SLURM_ARRAY_TASK_MIN"] = "1", ["SLURM_ARRAY_TASK_COUNT"] = "4" }),
            (new[] { "--shard", "3/4" }, new()),
        };
        var clock = Stopwatch.StartNew();
        var first = await Task.WhenAll(shards.Take(3).Select(s => RunCli(args.Concat(s.Extra).ToArray(), s.Environment)));
        first.Select(r => JsonDocument.Parse(r.Out).RootElement.GetProperty("shard").GetString()).Should().Equal("0/4", "1/4", "2/4");
        first.Should().OnlyContain(r => JsonDocument.Parse(r.Out).RootElement.GetProperty("pages").ValueKind == JsonValueKind.Null, "a shard of several writes no pages");

        var early = await RunCli(new[] { "atlas", "merge", "--out", site, "--notes", notes });
        early.Code.Should().Be(ExitCodes.Failure);
        early.Err.Should().Contain("8 of the atlas's 32 units").And.Contain("With 4 shards, shards 3 of 0-3 have not finished");

        var last = await RunCli(args.Concat(shards[3].Extra).ToArray(), shards[3].Environment);
        var merge = await RunCli(new[] { "atlas", "merge", "--out", site, "--notes", notes, "--json" });
        _log.WriteLine($"4 shards and the merge took {clock.Elapsed.TotalSeconds:F0} s; the single build {_atlas.Seconds:F0} s");

        last.Code.Should().Be(ExitCodes.Success, last.Err);
        merge.Code.Should().Be(ExitCodes.Success, merge.Err);
        JsonDocument.Parse(merge.Out).RootElement.GetProperty("units").GetInt32().Should().Be(32);
        Same(site, _atlas.Site);
    }

    /// <summary>Every page, image, record and the plan are byte for byte those of the reference build.</summary>
    private static void Same(string site, string reference)
    {
        var mine = AtlasFixture.Files(site);
        var theirs = AtlasFixture.Files(reference);
        mine.Keys.Should().Equal(theirs.Keys);
        var differing = mine.Keys.Where(k => !mine[k].AsSpan().SequenceEqual(theirs[k])).ToList();
        differing.Should().BeEmpty("the pages and images equal the single build's, byte for byte");
        mine.Keys.Count(k => k.EndsWith(".png", StringComparison.Ordinal)).Should().BeGreaterThan(32 * 5);
    }

    private static JsonElement Build(string site, string notes, params string[] more)
    {
        var (code, output, error) = AtlasFixture.Cli(AtlasFixture.Args(site, notes, more));
        code.Should().Be(ExitCodes.Success, error);
        return JsonDocument.Parse(output).RootElement;
    }

    private static int Count(JsonElement result, string name) => result.GetProperty(name).GetInt32();

    /// <summary>Runs the built <c>circuits</c> tool as its own process.</summary>
    private static async Task<(int Code, string Out, string Err)> RunCli(string[] args, Dictionary<string, string>? environment = null)
    {
        string dotnet = Environment.ProcessPath is string host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "circuits.dll"));
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (string name in new[] { "JOB_COMPLETION_INDEX", AtlasShard.CountVariable, "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_STEP" })
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await error);
    }

    /// <summary>Calls back on every progress report, on the reporting thread.</summary>
    private sealed class Watch : IProgress<AtlasProgress>
    {
        private readonly Action<AtlasProgress> _report;

        public Watch(Action<AtlasProgress> report) => _report = report;

        public void Report(AtlasProgress value) => _report(value);
    }
}
