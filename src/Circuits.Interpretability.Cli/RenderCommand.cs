using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Hooks;
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
        var steps = new Option<int>("--steps") { Description = "Optimization steps per batch.", DefaultValueFactory = _ => 512 };
        var size = new Option<int>("--size") { Description = "Image size in pixels.", DefaultValueFactory = _ => 128 };
        var batch = new Option<int>("--batch") { Description = "Units rendered together in one optimization.", DefaultValueFactory = _ => 16 };
        var rate = new Option<double>("--learning-rate") { Description = "Adam's learning rate.", DefaultValueFactory = _ => 0.05 };
        var shard = new Option<string>("--shard") { Description = "Render only shard i of n (0-based, e.g. 3/8); shards are disjoint and together cover the catalog.", DefaultValueFactory = _ => "0/1" };
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
            ModelEntry entry = ModelCatalog.Find(parse.GetValue(CircuitsCli.Model)!);
            int seed = parse.GetValue(CircuitsCli.Seed);
            bool json = parse.GetValue(CircuitsCli.Json);
            var (shardIndex, shardCount) = RenderCatalog.ParseShard(parse.GetValue(shard)!);
            string[] chosenLayers = (parse.GetValue(layers) ?? Array.Empty<string>())
                .SelectMany(l => l.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
            if (chosenLayers.Length == 0)
            {
                chosenLayers = (entry.CatalogLayers ?? Array.Empty<string>()).ToArray();
            }

            if (chosenLayers.Length == 0)
            {
                throw new ArgumentException($"Model '{entry.Name}' has no default catalog layers; name them with --layers.");
            }

            string? channelText = parse.GetValue(channels);
            if (channelText is not null && chosenLayers.Length != 1)
            {
                throw new ArgumentException($"--channels needs exactly one layer; got {chosenLayers.Length} ({string.Join(", ", chosenLayers)}).");
            }

            using LoadedModel loaded = CircuitsCli.LoadModel(parse, entry);
            var model = loaded.Model;
            int input = entry.DefaultInputSize;
            RenderCatalog catalog = channelText is null
                ? RenderCatalog.Plan(model, chosenLayers, new long[] { 1, 3, input, input }, parse.GetValue(batch))
                : PlanChannels(model, chosenLayers[0], channelText, input, parse.GetValue(batch));
            IReadOnlyList<CatalogBatch> mine = catalog.Shard(shardIndex, shardCount);
            var options = new RenderOptions
            {
                Steps = parse.GetValue(steps),
                ImageSize = parse.GetValue(size),
                LearningRate = parse.GetValue(rate),
                Seed = seed,
                Preprocess = entry.Preprocess,
            };
            string folder = parse.GetValue(outDir)!;
            string modelId = loaded.Id;

            if (parse.GetValue(plan))
            {
                WritePlan(output, json, entry.Name, shardIndex, shardCount, catalog, mine);
                return ExitCodes.Success;
            }

            IReadOnlyList<CatalogEntry> done = WithProgress(error, json, mine, options.Steps,
                progress => RenderCatalog.Run(model, modelId, mine, options, folder, entry.CatalogRecipe, progress, cancellationToken));

            if (json)
            {
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    model = entry.Name,
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
                }, CircuitsCli.JsonOptions));
            }
            else
            {
                output.WriteLine($"shard {shardIndex}/{shardCount}: {done.Count} units ({done.Count(e => e.Rendered)} rendered, {done.Count(e => !e.Rendered)} already complete) in {Path.GetFullPath(folder)}");
            }

            return ExitCodes.Success;
        }
    }

    /// <summary>Parses <c>0-15,20</c> into channels.</summary>
    internal static IReadOnlyList<int> ParseChannels(string text)
    {
        var result = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] ends = part.Split('-');
            bool ok = ends.Length is 1 or 2;
            int from = 0;
            int to = 0;
            ok = ok && int.TryParse(ends[0], NumberStyles.None, CultureInfo.InvariantCulture, out from);
            ok = ok && (ends.Length == 1 ? (to = from) >= 0 : int.TryParse(ends[1], NumberStyles.None, CultureInfo.InvariantCulture, out to));
            if (!ok || to < from)
            {
                throw new ArgumentException($"Channels '{text}' are not valid at '{part}'; expected numbers and ranges a-b with a <= b, such as 0-15,20.");
            }

            result.AddRange(Enumerable.Range(from, to - from + 1));
        }

        if (result.Count == 0)
        {
            throw new ArgumentException($"Channels '{text}' name no channel; expected numbers and ranges such as 0-15,20.");
        }

        return result;
    }

    private static RenderCatalog PlanChannels(TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> model, string layer, string text, int input, int batchSize)
    {
        _ = ModelLayers.Find(model, layer);
        LayerTable table = LayerTable.Describe(model, new long[] { 1, 3, input, input });
        long[] shape = table[layer].OutputShape ?? throw new UnsupportedLayerException($"Layer '{layer}' did not run in a forward pass, so its channels are unknown.");
        return RenderCatalog.Plan(new[] { (layer, (int)shape[1], (IReadOnlyList<int>?)ParseChannels(text)) }, batchSize);
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

    /// <summary>Runs <paramref name="work"/> with a progress bar over every batch's steps (see <see cref="CliProgress"/>).</summary>
    private static T WithProgress<T>(TextWriter error, bool json, IReadOnlyList<CatalogBatch> batches, int steps, Func<IProgress<CatalogProgress>, T> work) =>
        CliProgress.Run(error, json, "rendering", batches.Count * (double)steps, update => work(new CliProgress.Forward<CatalogProgress>(value =>
            update((value.BatchesDone * (double)steps) + value.Step, $"rendering {value.Layer} (batch {Math.Min(value.BatchesDone + 1, value.Batches)}/{value.Batches})"))));
}
