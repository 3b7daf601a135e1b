using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>One batch of a catalog: consecutive channels of one layer rendered together in one optimization.</summary>
/// <param name="Index">The batch's position in the whole catalog (0-based), independent of sharding.</param>
/// <param name="Layer">The layer path.</param>
/// <param name="Channels">The channels, in batch order.</param>
public sealed record CatalogBatch(int Index, string Layer, IReadOnlyList<int> Channels);

/// <summary>One unit of a catalog run.</summary>
/// <param name="Unit">The unit (<c>layer:channel</c>).</param>
/// <param name="ImagePath">The PNG file of its feature visualization.</param>
/// <param name="MetadataPath">The JSON file beside it (the unit, the final objective and the render settings).</param>
/// <param name="Rendered">True when this run rendered it; false when a complete earlier output was found and kept.</param>
/// <param name="FinalObjective">The unit's share of the objective at the last step (NaN for kept outputs).</param>
public sealed record CatalogEntry(NeuronAddress Unit, string ImagePath, string MetadataPath, bool Rendered, double FinalObjective);

/// <summary>Progress of a catalog run.</summary>
/// <param name="BatchesDone">Batches finished (rendered or found complete).</param>
/// <param name="Batches">Batches in this run (this shard).</param>
/// <param name="Step">The optimization step of the current batch (0 between batches).</param>
/// <param name="Steps">Steps per batch.</param>
/// <param name="Layer">The layer of the current batch.</param>
public readonly record struct CatalogProgress(int BatchesDone, int Batches, int Step, int Steps, string Layer);

/// <summary>
/// Renders the feature visualizations of many units (for example every channel of every layer of a model)
/// as batches, in a way that can be spread over many machines by any batch scheduler:
/// <list type="bullet">
/// <item><b>planned</b>: the units are cut into batches of consecutive channels of one layer, in layer order, so
/// the plan depends only on the layers and the batch size;</item>
/// <item><b>sharded</b>: <see cref="Shard"/> gives shard i of n every n-th batch (round robin, so each shard
/// gets a similar mix of cheap early and expensive late layers); shards are disjoint and cover the plan;</item>
/// <item><b>content-addressed</b>: every output file is named by a hash of what determines it (model identity,
/// unit, batch, render settings, recipe, library version), so different settings never overwrite each other
/// and identical settings find each other's outputs;</item>
/// <item><b>resumable</b>: a unit whose image and metadata both exist is kept, not re-rendered; files are written
/// atomically (the metadata last), so an interrupted run never leaves a half-written output that looks complete.</item>
/// </list>
/// </summary>
public sealed class RenderCatalog
{
    private RenderCatalog(IReadOnlyList<CatalogBatch> batches, int batchSize)
    {
        Batches = batches;
        BatchSize = batchSize;
    }

    /// <summary>Every batch of the catalog, in order.</summary>
    public IReadOnlyList<CatalogBatch> Batches { get; }

    /// <summary>The largest batch (the last batch of a layer can be smaller).</summary>
    public int BatchSize { get; }

    /// <summary>Units in the catalog.</summary>
    public int UnitCount => Batches.Sum(b => b.Channels.Count);

    /// <summary>Plans a catalog of the given channels of each layer (all channels when a layer's list is null).</summary>
    /// <param name="layers">Each layer path with its channel count and, optionally, the channels to render.</param>
    /// <param name="batchSize">Units per optimization.</param>
    /// <exception cref="ArgumentOutOfRangeException">A batch size, channel count or channel is out of range.</exception>
    public static RenderCatalog Plan(IEnumerable<(string Layer, int ChannelCount, IReadOnlyList<int>? Channels)> layers, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (batchSize <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), $"The batch size must be positive; got {batchSize}.");
        }

        var batches = new List<CatalogBatch>();
        foreach (var (layer, count, chosen) in layers)
        {
            if (count <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(layers), $"Layer '{layer}' has {count} channels; expected a positive count.");
            }

            int[] channels = (chosen ?? Enumerable.Range(0, count).ToArray()).Distinct().Order().ToArray();
            int bad = channels.FirstOrDefault(c => c < 0 || c >= count, -1);
            if (bad != -1)
            {
                throw new UnitOutOfRangeException($"Channel {bad} is out of range for layer '{layer}', which has {count} channels (0 to {count - 1}).");
            }

            for (int start = 0; start < channels.Length; start += batchSize)
            {
                batches.Add(new CatalogBatch(batches.Count, layer, channels[start..Math.Min(start + batchSize, channels.Length)]));
            }
        }

        return new RenderCatalog(batches, batchSize);
    }

    /// <summary>
    /// Plans a catalog of every channel of <paramref name="layers"/> of <paramref name="model"/>, reading the channel
    /// counts from one dry forward pass at <paramref name="inputShape"/>.
    /// </summary>
    /// <exception cref="UnknownLayerException">A layer does not exist; the message lists the closest names.</exception>
    public static RenderCatalog Plan(nn.Module<Tensor, Tensor> model, IReadOnlyList<string> layers, long[] inputShape, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(layers);
        foreach (string layer in layers)
        {
            _ = ModelLayers.Find(model, layer);
        }

        LayerTable table = LayerTable.Describe(model, inputShape);
        return Plan(layers.Select(l =>
        {
            long[] shape = table[l].OutputShape ?? throw new UnsupportedLayerException($"Layer '{l}' did not run in a forward pass at input {string.Join(" x ", inputShape)}, so its channels are unknown.");
            if (shape.Length < 2)
            {
                throw new UnsupportedLayerException($"Layer '{l}' has output shape {string.Join(" x ", shape)}; a catalog needs a channel dimension.");
            }

            return (l, (int)shape[1], (IReadOnlyList<int>?)null);
        }), batchSize);
    }

    /// <summary>Parses a shard written <c>i/n</c> (0-based: <c>0/4</c> to <c>3/4</c>).</summary>
    /// <exception cref="ArgumentException">The text is not of that form, or i is not below n.</exception>
    public static (int Index, int Count) ParseShard(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            && count > 0 && index < count)
        {
            return (index, count);
        }

        throw new ArgumentException($"Shard '{text}' is not valid; expected i/n with 0 <= i < n, for example 0/4 to 3/4.", nameof(text));
    }

    /// <summary>The batches of shard <paramref name="index"/> of <paramref name="count"/>: every count-th batch from index.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is not in 0 to count - 1.</exception>
    public IReadOnlyList<CatalogBatch> Shard(int index, int count)
    {
        if (count <= 0 || index < 0 || index >= count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"Shard {index}/{count} does not exist; expected 0 <= index < count.");
        }

        return Batches.Where(b => b.Index % count == index).ToList();
    }

    /// <summary>
    /// The content key of one unit's output: the first 16 hex digits of the SHA-256 of everything that determines
    /// the image (model identity, layer, channel, the batch's channels, steps, learning rate, size, seed, ReLU
    /// redirection, transforms, the caller's recipe name and the library's version).
    /// </summary>
    /// <param name="modelId">Identifies the model and its weights (for example a name plus a weights hash or seed).</param>
    /// <param name="batch">The unit's batch.</param>
    /// <param name="channel">The unit's channel.</param>
    /// <param name="options">The render settings.</param>
    /// <param name="recipe">
    /// Names what <see cref="RenderOptions"/> cannot describe by value (a custom parameterization or
    /// preprocessing); change it whenever those change.
    /// </param>
    public static string Key(string modelId, CatalogBatch batch, int channel, RenderOptions options, string recipe = "default")
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(options);
        string spec = Spec(modelId, batch, channel, options, recipe);
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(spec));
        return Convert.ToHexString(hash, 0, 8).ToLowerInvariant();
    }

    /// <summary>
    /// Renders <paramref name="batches"/> (the whole plan or one shard) into <paramref name="outputFolder"/>:
    /// <c>&lt;layer&gt;/&lt;channel&gt;-&lt;key&gt;.png</c> and <c>.json</c> beside it. Units with complete outputs are kept.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="modelId">Identifies the model and its weights; part of every content key.</param>
    /// <param name="batches">The batches to render.</param>
    /// <param name="options">Render settings; <see cref="RenderOptions.BatchSize"/> is set per batch.</param>
    /// <param name="outputFolder">The catalog's root folder (created when missing).</param>
    /// <param name="recipe">See <see cref="Key"/>.</param>
    /// <param name="progress">Progress per step and per batch.</param>
    /// <param name="cancellationToken">Stops between steps; finished batches are kept.</param>
    /// <returns>One entry per unit, in batch order.</returns>
    public static IReadOnlyList<CatalogEntry> Run(
        nn.Module<Tensor, Tensor> model,
        string modelId,
        IReadOnlyList<CatalogBatch> batches,
        RenderOptions options,
        string outputFolder,
        string recipe = "default",
        IProgress<CatalogProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(outputFolder);
        var entries = new List<CatalogEntry>();
        int done = 0;
        foreach (CatalogBatch batch in batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string folder = Path.Combine(outputFolder, SafeFileName.From(batch.Layer));
            var paths = batch.Channels.Select(c =>
            {
                string key = Key(modelId, batch, c, options, recipe);
                string stem = Path.Combine(folder, $"{c:D4}-{key}");
                return (Key: key, Png: stem + ".png", Json: stem + ".json");
            }).ToList();

            if (paths.All(p => File.Exists(p.Png) && File.Exists(p.Json)))
            {
                entries.AddRange(batch.Channels.Select((c, i) => new CatalogEntry(new NeuronAddress(batch.Layer, c), paths[i].Png, paths[i].Json, false, double.NaN)));
            }
            else
            {
                Directory.CreateDirectory(folder);
                var stepProgress = progress is null ? null : new StepRelay(progress, done, batches.Count, batch.Layer);
                RenderOptions batchOptions = options with { BatchSize = batch.Channels.Count };
                Objective objective = Objectives.ChannelsInBatch(batch.Layer, batch.Channels);
                using RenderResult result = FeatureVisualization.Render(model, objective, batchOptions, stepProgress, cancellationToken);
                double[] perUnit = PerUnitObjective(model, result, batch, batchOptions);
                for (int i = 0; i < batch.Channels.Count; i++)
                {
                    var unit = new NeuronAddress(batch.Layer, batch.Channels[i]);
                    result.SavePng(paths[i].Png, i);
                    AtomicFile.WriteAllText(paths[i].Json, JsonSerializer.Serialize(new
                    {
                        unit = unit.ToString(),
                        modelId,
                        recipe,
                        key = paths[i].Key,
                        batch = new { index = batch.Index, channels = batch.Channels },
                        finalObjective = perUnit[i],
                        steps = options.Steps,
                        learningRate = options.LearningRate,
                        imageSize = options.ImageSize,
                        seed = options.Seed,
                        transforms = TransformNames(options),
                        spec = Spec(modelId, batch, batch.Channels[i], options, recipe),
                    }, new JsonSerializerOptions { WriteIndented = true }));
                    entries.Add(new CatalogEntry(unit, paths[i].Png, paths[i].Json, true, perUnit[i]));
                }
            }

            done++;
            progress?.Report(new CatalogProgress(done, batches.Count, 0, options.Steps, batch.Layer));
        }

        return entries;
    }

    private static string Spec(string modelId, CatalogBatch batch, int channel, RenderOptions options, string recipe) =>
        string.Join("|",
            "circuits-catalog-v1",
            typeof(RenderCatalog).Assembly.GetName().Version?.ToString(2) ?? "0.0",
            modelId,
            recipe,
            batch.Layer,
            channel.ToString(CultureInfo.InvariantCulture),
            string.Join(",", batch.Channels.Select(c => c.ToString(CultureInfo.InvariantCulture))),
            options.Steps.ToString(CultureInfo.InvariantCulture),
            options.LearningRate.ToString("R", CultureInfo.InvariantCulture),
            options.ImageSize.ToString(CultureInfo.InvariantCulture),
            options.Seed.ToString(CultureInfo.InvariantCulture),
            options.RedirectReluSteps.ToString(CultureInfo.InvariantCulture),
            string.Join(",", TransformNames(options)),
            options.Parameterization is null ? "fourier" : "custom-parameterization",
            Preprocessing.Describe(options.Preprocess) + "-preprocess");

    private static string[] TransformNames(RenderOptions options) =>
        (options.Transforms ?? Transforms.Standard()).Select(t => t.Name).ToArray();

    /// <summary>Each unit's channel mean on its final image (one forward pass, no transforms).</summary>
    private static double[] PerUnitObjective(nn.Module<Tensor, Tensor> model, RenderResult result, CatalogBatch batch, RenderOptions options)
    {
        using var scope = NewDisposeScope();
        Device device = ModelDevice.Resolve(model, options.Device, "RenderOptions.Device");
        Tensor input = result.Images[TensorIndex.Colon, TensorIndex.Slice(0, 3)].to(device);
        using CaptureResult capture = ForwardRun.Once(model, Preprocessing.Resolve(model, options.Preprocess)(input), new ForwardRunOptions { Taps = new[] { batch.Layer } });
        Tensor a = capture[batch.Layer];
        return batch.Channels.Select((c, i) => (double)a[i, c].mean().item<float>()).ToArray();
    }

    private sealed class StepRelay : IProgress<RenderProgress>
    {
        private readonly IProgress<CatalogProgress> _inner;
        private readonly int _done;
        private readonly int _total;
        private readonly string _layer;

        public StepRelay(IProgress<CatalogProgress> inner, int done, int total, string layer)
        {
            _inner = inner;
            _done = done;
            _total = total;
            _layer = layer;
        }

        public void Report(RenderProgress value) => _inner.Report(new CatalogProgress(_done, _total, value.Step, value.Steps, _layer));
    }
}
