using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Rendering;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The <c>render</c> verb: feature visualizations of chosen units, or of every channel of chosen layers as a
/// sharded, resumable, content-addressed catalog (see <see cref="RenderCatalog"/>).
/// </summary>
internal static class RenderCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var layers = new Option<string[]>("--layers", "-l")
        {
            Description = "Layers whose channels to render (comma-separated or repeated); default: the model's catalog layers.",
            AllowMultipleArgumentsPerToken = true,
        };
        var channels = new Option<string?>("--channels", "-c") { Description = "Channels to render, e.g. 0-15,20 (with exactly one layer)." };
        var steps = CliOptions.Int("--steps", "Optimization steps per batch", 512, 1, 100_000, "steps");
        var size = CliOptions.Int("--size", "Image size in pixels", 128, 8, CliOptions.MaxPixels, "pixels");
        var batch = CliOptions.Int("--batch", "Units rendered together in one optimization", 16, 1, 1024, "units");
        var rate = CliOptions.Double("--learning-rate", "Adam's learning rate", 0.05, 0, 10, "a rate");
        var shard = new Option<(int Index, int Count)>("--shard")
        {
            Description = "Render only shard i of n (0-based, e.g. 3/8); shards are disjoint and together cover the catalog (default 0/1).",
            DefaultValueFactory = _ => (0, 1),
            CustomParser = ParseShard,
        };
        var outDir = new Option<string>("--out", "-o") { Description = "Output folder of the catalog.", DefaultValueFactory = _ => Path.Combine("out", "catalog") };
        var plan = new Option<bool>("--plan") { Description = "Print the plan (batches of this shard) and exit without rendering." };

        var command = new Command("render", "Render feature visualizations of every channel of chosen layers: batched, sharded (--shard i/n), resumable, content-addressed files.")
        {
            layers, channels, steps, size, batch, rate, shard, outDir, plan,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(Execute(parse, cancellationToken)));
        return command;

        int Execute(ParseResult parse, CancellationToken cancellationToken)
        {
            ModelEntry entry = ModelSession.ResolveEntry(parse);
            var (shardIndex, shardCount) = parse.GetValue(shard);
            string[] chosenLayers = (parse.GetValue(layers) ?? Array.Empty<string>())
                .SelectMany(l => l.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct().ToArray();
            if (chosenLayers.Length == 0)
            {
                chosenLayers = (entry.CatalogLayers ?? Array.Empty<string>()).ToArray();
            }

            if (chosenLayers.Length == 0)
            {
                throw new UsageException($"Model '{entry.Name}' has no default catalog layers; name them with --layers.");
            }

            string? channelText = parse.GetValue(channels);
            if (channelText is not null && chosenLayers.Length != 1)
            {
                throw new UsageException($"--channels needs exactly one layer; got {chosenLayers.Length} ({string.Join(", ", chosenLayers)}).");
            }

            using ModelSession session = ModelSession.Open(parse, error, entry);
            int batchSize = parse.GetValue(batch);
            RenderCatalog catalog = RenderCatalog.Plan(
                chosenLayers.Select(l =>
                {
                    int count = session.ChannelCount(l);
                    return (l, count, channelText is null ? null : (IReadOnlyList<int>?)ParseChannels(channelText, l, count));
                }).ToList(),
                batchSize);
            IReadOnlyList<CatalogBatch> mine = catalog.Shard(shardIndex, shardCount);
            var options = new RenderOptions
            {
                Steps = parse.GetValue(steps),
                ImageSize = parse.GetValue(size),
                LearningRate = parse.GetValue(rate),
                Seed = session.Seed,
                Preprocess = entry.Preprocess,
                Device = session.Device,
            };
            string folder = parse.GetValue(outDir)!;

            if (parse.GetValue(plan))
            {
                WritePlan(output, session.Json, entry.Name, shardIndex, shardCount, catalog, mine);
                return ExitCodes.Success;
            }

            foreach (var group in mine.GroupBy(b => b.Layer))
            {
                int largest = group.Max(b => b.Channels.Count);
                MemoryEstimate.Require(MemoryEstimate.Render(session, group.Key, options.ImageSize, largest), session,
                    $"Rendering {largest} units of '{group.Key}' together at {options.ImageSize} x {options.ImageSize} px", "lower --size or --batch");
            }

            int[] unitsBefore = mine.Select(b => b.Channels.Count).Prepend(0).ToArray();
            for (int i = 1; i < unitsBefore.Length; i++)
            {
                unitsBefore[i] += unitsBefore[i - 1];
            }

            int totalUnits = unitsBefore[^1];
            IReadOnlyList<CatalogEntry> done = CliProgress.Run(error, "render", mine.Count * (double)options.Steps, totalUnits, progress =>
                RenderCatalog.Run(session.Model, session.Loaded.Id, mine, options, folder, entry.CatalogRecipe, new CliProgress.Forward<CatalogProgress>(p =>
                    progress.Update((p.BatchesDone * (double)options.Steps) + p.Step, $"{p.Layer} batch {Math.Min(p.BatchesDone + 1, p.Batches)}/{p.Batches}",
                        $"step {p.Step}/{p.Steps}", unitsBefore[Math.Min(p.BatchesDone, mine.Count)])), cancellationToken));

            if (session.Json)
            {
                output.WriteLine(session.JsonResult(new
                {
                    shard = $"{shardIndex}/{shardCount}",
                    units = done.Count,
                    rendered = done.Count(e => e.Rendered),
                    kept = done.Count(e => !e.Rendered),
                    outputFolder = Path.GetFullPath(folder),
                    files = done.Select(e => new
                    {
                        unit = e.Unit.ToString(),
                        image = e.ImagePath,
                        metadata = e.MetadataPath,
                        rendered = e.Rendered,
                        finalObjective = double.IsNaN(e.FinalObjective) ? (double?)null : e.FinalObjective,
                    }),
                }));
            }
            else
            {
                output.WriteLine($"shard {shardIndex}/{shardCount}: {done.Count} units ({done.Count(e => e.Rendered)} rendered, {done.Count(e => !e.Rendered)} already complete) in {Path.GetFullPath(folder)}{session.RandomNote}");
            }

            return ExitCodes.Success;
        }
    }

    /// <summary>
    /// Parses <c>0-15,20</c> into the channels of <paramref name="layer"/>, which has <paramref name="count"/>: every
    /// number is checked against the layer before any list is made, and the first one outside it is named.
    /// </summary>
    /// <exception cref="UsageException">The text is malformed, a range runs backwards, or a channel is outside the layer.</exception>
    internal static IReadOnlyList<int> ParseChannels(string text, string layer, int count)
    {
        var result = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] ends = part.Split('-');
            long from = 0, to = 0;
            bool ok = ends.Length is 1 or 2
                      && long.TryParse(ends[0], NumberStyles.None, CultureInfo.InvariantCulture, out from)
                      && (ends.Length == 1 ? (to = from) >= 0 : long.TryParse(ends[1], NumberStyles.None, CultureInfo.InvariantCulture, out to));
            if (!ok || to < from)
            {
                throw new UsageException($"--channels '{text}' is not valid at '{part}'; expected numbers and ranges a-b with a <= b, such as 0-15,20.");
            }

            long bad = from >= count ? from : to >= count ? to : -1;
            if (bad >= 0)
            {
                throw new UsageException($"--channels '{text}': channel {bad} is outside layer '{layer}', which has channels 0 to {count - 1}.");
            }

            for (long c = from; c <= to; c++)
            {
                if (!result.Contains((int)c))
                {
                    result.Add((int)c);
                }
            }
        }

        return result.Count > 0 ? result : throw new UsageException($"--channels '{text}' names no channel; expected numbers and ranges such as 0-15,20.");
    }

    private static (int Index, int Count) ParseShard(System.CommandLine.Parsing.ArgumentResult result)
    {
        if (result.Tokens.Count == 0)
        {
            return (0, 1);
        }

        string text = result.Tokens[0].Value;
        try
        {
            return RenderCatalog.ParseShard(text);
        }
        catch (ArgumentException)
        {
            result.AddError($"--shard '{text}' is not valid; expected i/n with 0 <= i < n, for example 0/4 to 3/4.");
            return (0, 1);
        }
    }

    private static void WritePlan(TextWriter output, bool json, string model, int index, int count, RenderCatalog catalog, IReadOnlyList<CatalogBatch> mine)
    {
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new
            {
                model,
                shard = $"{index}/{count}",
                catalogBatches = catalog.Batches.Count,
                catalogUnits = catalog.UnitCount,
                batches = mine.Select(b => new { index = b.Index, layer = b.Layer, channels = b.Channels }),
            }, CircuitsCli.JsonOptions));
            return;
        }

        output.WriteLine($"catalog: {catalog.UnitCount} units in {catalog.Batches.Count} batches; shard {index}/{count} has {mine.Count} batches, {mine.Sum(b => b.Channels.Count)} units");
        foreach (CatalogBatch b in mine)
        {
            output.WriteLine($"  batch {b.Index}: {b.Layer} channels {b.Channels[0]}..{b.Channels[^1]} ({b.Channels.Count})");
        }
    }
}
