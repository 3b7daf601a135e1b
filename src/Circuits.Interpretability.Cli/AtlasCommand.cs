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
    public static Command Create(TextWriter output, TextWriter error)
    {
        var layers = new Option<string[]>("--layers", "-l")
        {
            Description = "Layers of the atlas (comma-separated or repeated), in the order data flows; default: the model's catalog layers. Neighbouring layers are connected on the unit pages.",
            AllowMultipleArgumentsPerToken = true,
        };
        var channels = new Option<string?>("--channels", "-c") { Description = "Only these channels, e.g. 0-15,20 (with exactly one layer)." };
        var steps = CliOptions.OptionalInt("--steps", "Optimization steps of every feature visualization (default: 128 for the small built-in models, 256 for InceptionV1)", 1, 100_000, "steps");
        var size = CliOptions.OptionalInt("--size", "Feature visualization size in pixels (default: 64 for the small built-in models, 128 for InceptionV1)", 8, CliOptions.MaxPixels, "pixels");
        var batch = CliOptions.Int("--batch", "Units of a layer rendered together in one optimization", 8, 1, 1024, "units");
        var diverse = CliOptions.OptionalInt("--diverse", "Diverse feature visualizations per unit, 0 for none (default: 3 for the small built-in models, 4 for InceptionV1)", 0, 64, "images");
        var weight = new Option<double?>("--diversity-weight") { Description = "Weight of the diversity penalty (default: the model's; Lucid uses 100 on InceptionV1)." };
        var thumbnail = CliOptions.Int("--thumbnail", "Thumbnail size on the layer pages, in pixels", 64, 8, 1024, "pixels");
        var thumbnailOf = CliOptions.Choice("--thumbnail-of", "Which image the layer pages' thumbnails are cut from", "neuron", "neuron", "channel");
        var crop = CliOptions.OptionalInt("--crop", "Window of the expanded weights (default: the model's kernel size, 13 for the curve circuit, else 5)", 1, 255, "positions", odd: true);
        var top = CliOptions.Int("--top", "Strongest inputs and outputs shown per unit", 6, 1, 100, "connections");
        var images = new Option<string?>("--images") { Description = "A folder of images: each unit's dataset examples come from it." };
        var examples = CliOptions.Int("--examples", "Dataset examples per unit (with --images)", 8, 1, 100, "examples");
        var shard = new Option<string?>("--shard")
        {
            Description = $"Build only shard i of n (0-based, e.g. 3/8), then run 'circuits atlas merge'. Without it, a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with the count in {AtlasShard.CountVariable}) or a Slurm array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) sets the shard.",
        };
        var plan = new Option<bool>("--plan") { Description = "Print the plan (layers, units, batches, this shard's share) and exit." };
        Option<string> outDir = OutOption(), notesFile = NotesOption();
        var command = new Command("atlas", "Build a static site with every unit of the model: layer pages grouped by family, a page per unit with its feature visualizations, circuit (linked both ways), tuning curves and notes. Incremental, resumable, shardable.")
        {
            layers, channels, steps, size, batch, diverse, weight, thumbnail, thumbnailOf, crop, top, images, examples, outDir, notesFile, shard, plan,
        };
        command.Add(MergeCommand(output, error));
        command.Add(AnnotateCommand(output));
        command.SetAction((parse, cancellationToken) =>
        {
            AtlasShard part = Shard(parse.GetValue(shard));
            string[] chosen = (parse.GetValue(layers) ?? Array.Empty<string>())
                .SelectMany(l => l.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct().ToArray();
            string? channelText = parse.GetValue(channels);
            if (channelText is not null && chosen.Length != 1)
            {
                throw new UsageException($"--channels needs exactly one layer (--layers); got {chosen.Length}.");
            }

            if (parse.GetValue(weight) is double w && !(w >= 0 && double.IsFinite(w)))
            {
                throw new UsageException($"--diversity-weight {w.ToString(CultureInfo.InvariantCulture)} is not valid; expected a finite number of 0 or more.");
            }

            using ModelSession session = ModelSession.Open(parse, error);
            AtlasModel model = AtlasModels.For(session, chosen);
            AtlasOptions defaults = AtlasModels.Options(session);
            var options = defaults with
            {
                Layers = chosen.Length > 0 ? chosen : null,
                Channels = channelText is null ? null : new Dictionary<string, IReadOnlyList<int>> { [chosen[0]] = RenderCommand.ParseChannels(channelText, chosen[0], session.ChannelCount(chosen[0])) },
                Steps = parse.GetValue(steps) ?? defaults.Steps,
                ImageSize = parse.GetValue(size) ?? defaults.ImageSize,
                BatchSize = parse.GetValue(batch),
                Diverse = parse.GetValue(diverse) ?? defaults.Diverse,
                DiversityWeight = parse.GetValue(weight) ?? defaults.DiversityWeight,
                ThumbnailSize = parse.GetValue(thumbnail),
                Thumbnail = parse.GetValue(thumbnailOf) == "channel" ? AtlasThumbnail.Channel : AtlasThumbnail.Neuron,
                CropSize = parse.GetValue(crop) ?? defaults.CropSize,
                Top = parse.GetValue(top),
                ImageFolder = parse.GetValue(images),
                ExampleCount = parse.GetValue(examples),
                Seed = session.Seed,
                Device = session.Device,
            };
            AtlasPlan planned = NeuronAtlas.Plan(model, options);
            if (parse.GetValue(plan))
            {
                WritePlan(output, session, planned, part);
                return Task.FromResult(ExitCodes.Success);
            }

            foreach (AtlasLayer layer in planned.Layers)
            {
                int together = Math.Max(Math.Min(options.BatchSize, layer.Channels.Count), options.Diverse);
                MemoryEstimate.Require(MemoryEstimate.Render(session, layer.Name, options.ImageSize, together), session,
                    $"Rendering {together} images of '{layer.Name}' together at {options.ImageSize} x {options.ImageSize} px", "lower --size, --batch or --diverse");
            }

            AtlasNotes notes = AtlasNotes.Load(parse.GetValue(notesFile)!);
            int units = planned.Batches(part).Sum(b => b.Channels.Count);
            AtlasBuildResult result = CliProgress.Run(error, "atlas", Math.Max(1, units), units, progress =>
                NeuronAtlas.Build(model, options, parse.GetValue(outDir)!, part, notes, new CliProgress.Forward<AtlasProgress>(p =>
                    progress.Update(p.UnitsDone + (p.Steps > 0 ? 0.5 * p.Step / p.Steps : 0), p.Stage, p.Steps > 0 ? $"step {p.Step}/{p.Steps}" : null, p.UnitsDone)),
                    cancellationToken));
            WriteResult(output, session, result);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static Option<string> OutOption() => new("--out", "-o") { Description = "The site's folder (shards share it).", DefaultValueFactory = _ => "site" };

    private static Option<string> NotesOption() => new("--notes")
    {
        Description = "The families-and-notes file (one unit per line; see docs/atlas.md).",
        DefaultValueFactory = _ => AtlasNotes.DefaultFileName,
    };

    /// <summary>The shard from <c>--shard</c> (a bad value is a usage error) or from the scheduler's variables.</summary>
    private static AtlasShard Shard(string? text)
    {
        if (text is null)
        {
            return AtlasShard.FromEnvironment() ?? AtlasShard.Single;
        }

        try
        {
            return AtlasShard.Parse(text);
        }
        catch (AtlasException e)
        {
            throw new UsageException("--shard: " + e.Message);
        }
    }

    private static Command MergeCommand(TextWriter output, TextWriter error)
    {
        Option<string> outDir = OutOption(), notesFile = NotesOption();
        var command = new Command("merge", "Write the atlas's pages (index, layers, units) from the shards' files in --out, with the notes file's families and notes. Renders nothing; needs no model.")
        {
            outDir, notesFile,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            AtlasNotes notes = AtlasNotes.Load(parse.GetValue(notesFile)!);
            AtlasPagesResult pages = CliProgress.Run(error, "atlas merge", 1, 0, progress =>
                NeuronAtlas.Merge(parse.GetValue(outDir)!, notes, new CliProgress.Forward<AtlasProgress>(p => progress.Update((double)p.UnitsDone / Math.Max(1, p.Units), p.Stage)), cancellationToken));
            output.WriteLine(parse.GetValue(CircuitsCli.Json) ? JsonSerializer.Serialize(Pages(pages), CircuitsCli.JsonOptions) : PagesLine(pages));
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
            if (clearing == (newFamily is not null || newNote is not null))
            {
                throw new UsageException(clearing
                    ? $"--clear removes {address}'s family and note; give it alone, without --family or --note."
                    : $"Nothing to change for {address}: give --family NAME, --note TEXT, or --clear.");
            }

            AtlasNotes notes = AtlasNotes.Load(path);
            AtlasNote line = clearing ? notes.Clear(address) : notes.Annotate(address, newFamily, newNote);
            notes.Save(path);
            bool attributes = AtlasNotes.EnsureUnionMerge(path);
            if (parse.GetValue(CircuitsCli.Json))
            {
                output.WriteLine(JsonSerializer.Serialize(new { notes = Path.GetFullPath(path), unit = line.Unit.ToString(), family = line.Family, note = line.Note, revision = line.Revision, gitattributesUpdated = attributes }, CircuitsCli.JsonOptions));
                return ExitCodes.Success;
            }

            output.WriteLine($"{line.Unit}: family '{line.Family}', note '{line.Note}' (revision {line.Revision}) in {Path.GetFullPath(path)}");
            if (attributes)
            {
                output.WriteLine($"added '{Path.GetFileName(path)} merge=union' to {Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ".gitattributes")} (people's notes merge in git; commit it)");
            }

            output.WriteLine("Run 'circuits atlas merge' (or the build) to update the pages.");
            return ExitCodes.Success;
        });
        return command;
    }

    private static void WritePlan(TextWriter output, ModelSession session, AtlasPlan plan, AtlasShard part)
    {
        var mine = plan.Batches(part);
        if (session.Json)
        {
            output.WriteLine(session.JsonResult(new
            {
                units = plan.UnitCount,
                batches = plan.Catalog.Batches.Count,
                shard = part.ToString(),
                shardUnits = mine.Sum(b => b.Channels.Count),
                layers = plan.Layers.Select(l => new { name = l.Name, units = l.Channels.Count, previous = l.Previous, next = l.Next }),
                shardBatches = mine.Select(b => new { index = b.Index, layer = b.Layer, channels = b.Channels }),
            }));
            return;
        }

        output.WriteLine($"atlas of {session.Entry.Name} ({plan.ModelId}): {plan.UnitCount} units in {plan.Layers.Count} layers, {plan.Catalog.Batches.Count} batches; shard {part} has {mine.Count} batches, {mine.Sum(b => b.Channels.Count)} units");
        foreach (AtlasLayer l in plan.Layers)
        {
            output.WriteLine($"  {l.Name,-12} {l.Channels.Count,5} units  inputs from {l.Previous ?? "-"}, outputs to {l.Next ?? "-"}");
        }
    }

    private static void WriteResult(TextWriter output, ModelSession session, AtlasBuildResult r)
    {
        if (session.Json)
        {
            output.WriteLine(session.JsonResult(new
            {
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
            }));
            return;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"atlas of {session.Entry.Name}{session.RandomNote}, shard {r.Shard}: {r.Units} units, {r.UnitsComputed} computed ({r.Renders} images rendered, {r.ConnectionSets} connection sets, {r.TuningCurves} tuning curves, {r.ExampleSearches} example searches) in {r.Seconds:F1} s"));
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
