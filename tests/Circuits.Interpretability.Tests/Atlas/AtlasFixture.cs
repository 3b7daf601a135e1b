using System.Diagnostics;
using System.Text.Json;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Reporting.Atlas;

namespace Circuits.Interpretability.Tests.Atlas;

/// <summary>
/// One atlas of the default model (the curve circuit, all 32 units) built once by the CLI in this process with small
/// settings, for the atlas tests to read (and to copy before changing anything): the reference a resumed or sharded
/// build must equal.
/// </summary>
public sealed class AtlasFixture : IDisposable
{
    /// <summary>Small settings: few steps, small images, two diverse images per unit.</summary>
    public static readonly string[] Tiny = { "--steps", "8", "--size", "32", "--diverse", "2" };

    public AtlasFixture()
    {
        Root = Directory.CreateTempSubdirectory("circuits-atlas-").FullName;
        var notes = new AtlasNotes();
        notes.Annotate("curves:0", "curve detectors", "Peaks at 0°, as designed.");
        notes.Annotate("curves:4", "curve detectors", null);
        notes.Annotate("curves:8", "curve detectors", null);
        notes.Annotate("lines:0", "line detectors", "Horizontal.");
        notes.Annotate("lines:4", "line detectors", null);
        notes.Save(Notes);
        var clock = Stopwatch.StartNew();
        var (code, output, error) = Cli(Args(Site, Notes));
        if (code != ExitCodes.Success)
        {
            throw new InvalidOperationException($"The fixture's atlas build failed ({code}): {error}");
        }

        Seconds = clock.Elapsed.TotalSeconds;
        Result = JsonDocument.Parse(output).RootElement.Clone();
    }

    /// <summary>The fixture's folder (the site, the notes).</summary>
    public string Root { get; }

    /// <summary>The site.</summary>
    public string Site => Path.Combine(Root, "site");

    /// <summary>The notes file the site was built with.</summary>
    public string Notes => Path.Combine(Root, "notes.tsv");

    /// <summary>The build's JSON result.</summary>
    public JsonElement Result { get; }

    /// <summary>How long the build took.</summary>
    public double Seconds { get; }

    /// <summary>The command line of a build into <paramref name="site"/> with the fixture's settings; <paramref name="more"/> (option, value pairs) adds or replaces settings.</summary>
    public static string[] Args(string site, string notes, params string[] more)
    {
        var replaced = Enumerable.Range(0, more.Length / 2).Select(i => more[2 * i]).ToHashSet();
        IEnumerable<string> tiny = Enumerable.Range(0, Tiny.Length / 2).Where(i => !replaced.Contains(Tiny[2 * i])).SelectMany(i => new[] { Tiny[2 * i], Tiny[(2 * i) + 1] });
        return new[] { "atlas", "--out", site, "--notes", notes, "--json" }.Concat(tiny).Concat(more).ToArray();
    }

    /// <summary>Runs the CLI in this process.</summary>
    public static (int Code, string Out, string Err) Cli(string[] args, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        var output = new StringWriter();
        error ??= new StringWriter();
        int code = CircuitsCli.RunAsync(args, output, error, cancellationToken).GetAwaiter().GetResult();
        return (code, output.ToString(), error.ToString() ?? string.Empty);
    }

    /// <summary>Copies the site (and the notes) into a new folder, for a test that changes things.</summary>
    public (string Site, string Notes) Copy(string folder)
    {
        foreach (string file in Directory.EnumerateFiles(Site, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(folder, "site", Path.GetRelativePath(Site, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        File.Copy(Notes, Path.Combine(folder, "notes.tsv"));
        return (Path.Combine(folder, "site"), Path.Combine(folder, "notes.tsv"));
    }

    /// <summary>Every file of a site that a reader sees or that a merge reads (pages, images, records, plan), by relative path; shard reports aside.</summary>
    public static SortedDictionary<string, byte[]> Files(string site) => new(
        Directory.EnumerateFiles(site, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(site, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith("shards/", StringComparison.Ordinal))
            .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(site, f))),
        StringComparer.Ordinal);

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

[CollectionDefinition(nameof(AtlasCollection), DisableParallelization = true)]
public sealed class AtlasCollection : ICollectionFixture<AtlasFixture>
{
}
