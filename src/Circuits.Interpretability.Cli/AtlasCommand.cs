using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Reporting.Atlas;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The <c>atlas</c> verb: a static site with every unit of the model (<see cref="NeuronAtlas"/>). Sub-verbs:
/// <c>atlas merge</c> writes the pages once every shard is done; <c>atlas annotate</c> sets a unit's family and note.
/// </summary>
internal static class AtlasCommand
{
    private static Option<string> OutOption() => new("--out", "-o") { Description = "The site's folder (shards share it).", DefaultValueFactory = _ => "site" };

    private static Option<string> NotesOption() => new("--notes")
    {
        Description = "The families-and-notes file (one unit per line; see docs/atlas.md).",
        DefaultValueFactory = _ => AtlasNotes.DefaultFileName,
    };

    public static Command Create(TextWriter output, TextWriter error)
    {
        var layers = new Option<string[]>("--layers", "-l")
        {
            Description = "Layers of the atlas (comma-separated or repeated); default: the model's catalog layers.",
            AllowMultipleArgumentsPerToken = true,
        };
        var channels = new Option<string?>("--channels", "-c") { Description = "Only these channels, e.g. 0-15,20 (with exactly one layer)." };
        var steps = new Option<int?>("--steps") { Description = "Optimization steps of every feature visualization (default: 128 for the small built-in models, 256 for InceptionV1)." };
        var size = new Option<int?>("--size") { Description = "Feature visualization size in pixels (default: 64 for the small built-in models, 128 for InceptionV1)." };
        var batch = new Option<int>("--batch") { Description = "Units of a layer rendered together in one optimization.", DefaultValueFactory = _ => 8 };
        var diverse = new Option<int?>("--diverse") { Description = "Diverse feature visualizations per unit (0 for none; default: 3 for the small built-in models, 4 for InceptionV1)." };
        var weight = new Option<double?>("--diversity-weight") { Description = "Weight of the diversity penalty (default: the model's; Lucid uses 100 on InceptionV1)." };
        var thumbnail = new Option<int>("--thumbnail") { Description = "Thumbnail size on the layer pages, in pixels.", DefaultValueFactory = _ => 64 };
        var crop = new Option<int?>("--crop") { Description = "Window of the expanded weights (odd; default: the model's kernel size, 13 for the curve circuit, else 5)." };
        var top = new Option<int>("--top") { Description = "Strongest inputs and outputs shown per unit.", DefaultValueFactory = _ => 6 };
        var images = new Option<string?>("--images") { Description = "A folder of images: each unit's dataset examples come from it." };
        var examples = new Option<int>("--examples") { Description = "Dataset examples per unit (with --images).", DefaultValueFactory = _ => 8 };
        var shard = new Option<string?>("--shard")
        {
            Description = $"Build only shard i of n (0-based, e.g. 3/8), then run 'circuits atlas merge'. Without it, a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, {AtlasShard.CountVariable}) or a Slurm array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) sets the shard.",
        };
        var plan = new Option<bool>("--plan") { Description = "Print the plan (units, batches, this shard's share) and exit." };
        Option<string> outDir = OutOption(), notesFile = NotesOption();
        var command = new Command("atlas", "Build a static site with every unit of the model: layer pages grouped by family, a page per unit with its feature visualizations, circuit (linked both ways), tuning curves and notes. Incremental, resumable, shardable.")
        {
            layers, channels, steps, size, batch, diverse, weight, thumbnail, crop, top, images, examples, outDir, notesFile, shard, plan,
        };
        command.Add(MergeCommand(output, error));
        command.Add(AnnotateCommand(output));
        command.SetAction((parse, cancellationToken) =>
        {
            ModelEntry entry = ModelCatalog.Find(parse.GetValue(CircuitsCli.Model)!);
            bool json = parse.GetValue(CircuitsCli.Json);
            AtlasShard part = AtlasShard.Resolve(parse.GetValue(shard));
            string folder = parse.GetValue(outDir)!;
            using LoadedModel loaded = CircuitsCli.LoadModel(parse, entry);
            AtlasModel model = AtlasModels.For(entry, loaded);
            string[] chosen = (parse.GetValue(layers) ?? Array.Empty<string>())
                .SelectMany(l => l.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct().ToArray();
            string? channelText = parse.GetValue(channels);
            if (channelText is not null && chosen.Length != 1)
            {
                throw new ArgumentException($"--channels needs exactly one layer (--layers); got {chosen.Length}.");
            }

            var options = AtlasModels.Options(entry) with
            {
                Layers = chosen.Length > 0 ? chosen : null,
                Channels = channelText is null ? null : new Dictionary<string, IReadOnlyList<int>> { [chosen[0]] = RenderCommand.ParseChannels(channelText) },
                BatchSize = parse.GetValue(batch),
                ThumbnailSize = parse.GetValue(thumbnail),
                Top = parse.GetValue(top),
                ImageFolder = parse.GetValue(images),
                ExampleCount = parse.GetValue(examples),
                Seed = parse.GetValue(CircuitsCli.Seed),
            };
            options = options with
            {
                Steps = parse.GetValue(steps) ?? options.Steps,
                Diverse = parse.GetValue(diverse) ?? options.Diverse,
                ImageSize = parse.GetValue(size) ?? options.ImageSize,
                DiversityWeight = parse.GetValue(weight) ?? options.DiversityWeight,
                CropSize = parse.GetValue(crop) ?? options.CropSize,
            };

            if (parse.GetValue(plan))
            {
                AtlasPlan planned = NeuronAtlas.Plan(model, options);
                WritePlan(output, json, entry.Name, planned, part);
                return Task.FromResult(ExitCodes.Success);
            }

            AtlasNotes notes = AtlasNotes.Load(parse.GetValue(notesFile)!);
            AtlasBuildResult result = CliProgress.Run(error, json, "atlas", 1000, update =>
                NeuronAtlas.Build(model, options, folder, part, notes, new CliProgress.Forward<AtlasProgress>(p =>
                {
                    double fraction = p.Units == 0 ? 1 : (p.UnitsDone + (p.Steps > 0 ? (double)p.Step / p.Steps * 0.5 : 0)) / p.Units;
                    update(Math.Min(1, fraction) * 1000, p.Stage);
                }), cancellationToken));
            WriteResult(output, json, entry.Name, loaded, result);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static Command MergeCommand(TextWriter output, TextWriter error)
    {
        Option<string> outDir = OutOption(), notesFile = NotesOption();
        var command = new Command("merge", "Write the atlas's pages (index, layers, units) from the shards' files in --out, with the notes file's families and notes. Renders nothing.")
        {
            outDir, notesFile,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            bool json = parse.GetValue(CircuitsCli.Json);
            AtlasNotes notes = AtlasNotes.Load(parse.GetValue(notesFile)!);
            AtlasPagesResult pages = CliProgress.Run(error, json, "atlas merge", 1, update =>
                NeuronAtlas.Merge(parse.GetValue(outDir)!, notes, new CliProgress.Forward<AtlasProgress>(p => update(0, p.Stage)), cancellationToken));
            if (json)
            {
                output.WriteLine(JsonSerializer.Serialize(Pages(pages), CircuitsCli.JsonOptions));
            }
            else
            {
                output.WriteLine(PagesLine(pages));
            }

            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static Command AnnotateCommand(TextWriter output)
    {
        var unit = new Argument<string>("unit") { Description = "The unit, layer:channel (e.g. curves:3)." };
        var family = new Option<string?>("--family") { Description = "The unit's family (\"\" clears it)." };
        var note = new Option<string?>("--note") { Description = "A note on the unit (\"\" clears it)." };
        var clear = new Option<bool>("--clear") { Description = "Clear the unit's family and note." };
        Option<string> notesFile = NotesOption();
        var command = new Command("annotate", "Set a unit's family and/or note in the notes file (sorted, one unit per line, merge-friendly); then run 'circuits atlas merge' to update the pages.")
        {
            unit, family, note, clear, notesFile,
        };
        command.SetAction(parse =>
        {
            NeuronAddress address = NeuronAddress.Parse(parse.GetValue(unit)!);
            string path = parse.GetValue(notesFile)!;
            string? newFamily = parse.GetValue(family), newNote = parse.GetValue(note);
            bool clearing = parse.GetValue(clear);
            if (!clearing && newFamily is null && newNote is null)
            {
                throw new ArgumentException($"Nothing to change for {address}: give --family NAME, --note TEXT, or --clear.");
            }

            AtlasNotes notes = AtlasNotes.Load(path);
            AtlasNote line = clearing ? notes.Clear(address) : notes.Annotate(address, newFamily, newNote);
            notes.Save(path);
            bool attributes = AtlasNotes.EnsureUnionMerge(path);
            if (parse.GetValue(CircuitsCli.Json))
            {
                output.WriteLine(JsonSerializer.Serialize(new { notes = Path.GetFullPath(path), unit = line.Unit.ToString(), family = line.Family, note = line.Note, revision = line.Revision, gitattributesUpdated = attributes }, CircuitsCli.JsonOptions));
            }
            else
            {
                output.WriteLine($"{line.Unit}: family '{line.Family}', note '{line.Note}' (revision {line.Revision}) in {Path.GetFullPath(path)}");
                if (attributes)
                {
                    output.WriteLine($"added '{Path.GetFileName(path)} merge=union' to {Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ".gitattributes")} (people's notes merge in git; commit it)");
                }

                output.WriteLine("Run 'circuits atlas merge' (or the build) to update the pages.");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static void WritePlan(TextWriter output, bool json, string model, AtlasPlan plan, AtlasShard part)
    {
        var mine = plan.Batches(part);
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new
            {
                model,
                modelId = plan.ModelId,
                units = plan.UnitCount,
                batches = plan.Catalog.Batches.Count,
                shard = part.ToString(),
                layers = plan.Layers.Select(l => new { name = l.Name, units = l.Channels.Count, previous = l.Previous, next = l.Next }),
                shardBatches = mine.Select(b => new { index = b.Index, layer = b.Layer, channels = b.Channels }),
            }, CircuitsCli.JsonOptions));
            return;
        }

        output.WriteLine($"atlas of {model} ({plan.ModelId}): {plan.UnitCount} units in {plan.Layers.Count} layers, {plan.Catalog.Batches.Count} batches; shard {part} has {mine.Count} batches, {mine.Sum(b => b.Channels.Count)} units");
        foreach (AtlasLayer l in plan.Layers)
        {
            output.WriteLine($"  {l.Name,-12} {l.Channels.Count,5} units  inputs from {l.Previous ?? "-"}, outputs to {l.Next ?? "-"}");
        }
    }

    private static void WriteResult(TextWriter output, bool json, string model, LoadedModel loaded, AtlasBuildResult r)
    {
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new
            {
                model,
                modelId = loaded.Id,
                folder = r.Folder,
                shard = r.Shard.ToString(),
                units = r.Units,
                unitsComputed = r.UnitsComputed,
                renders = r.Renders,
                connectionSets = r.ConnectionSets,
                tuningCurves = r.TuningCurves,
                exampleSearches = r.ExampleSearches,
                seconds = Math.Round(r.Seconds, 1),
                pages = r.Pages is null ? null : Pages(r.Pages),
            }, CircuitsCli.JsonOptions));
            return;
        }

        string I(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        output.WriteLine(I($"atlas of {model} (weights: {loaded.WeightsSource}), shard {r.Shard}: {r.Units} units, {r.UnitsComputed} computed ({r.Renders} images rendered, {r.ConnectionSets} connection sets, {r.TuningCurves} tuning curves, {r.ExampleSearches} example searches) in {r.Seconds:F1} s"));
        output.WriteLine(r.Pages is null
            ? $"This is one of {r.Shard.Count} shards. When all are done: circuits atlas merge --out {r.Folder}"
            : PagesLine(r.Pages));
    }

    private static object Pages(AtlasPagesResult p) => new
    {
        index = p.IndexPath, layers = p.Layers, units = p.Units, written = p.Written, unchanged = p.Unchanged, largestPageBytes = p.LargestPageBytes,
    };

    private static string PagesLine(AtlasPagesResult p) =>
        string.Create(CultureInfo.InvariantCulture, $"site: {p.IndexPath} ({p.Layers} layer pages, {p.Units} unit pages; {p.Written} written, {p.Unchanged} unchanged; largest page {p.LargestPageBytes / 1024.0:F1} KB)");
}
