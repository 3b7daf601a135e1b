using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Rendering;
using System.Globalization;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// The feature visualizations of a batch of units: the channel images (through the render catalog, one optimization
/// for the batch), the centre-neuron images (one optimization for the batch), the diverse images (one optimization
/// per unit: its channel objective over a batch of images minus a diversity penalty) and the thumbnails. Each file is
/// named by its content key and kept when it exists.
/// </summary>
internal static class AtlasRenders
{
    /// <summary>The channel images of the batch, rendering those missing; returns one image per unit with its final objective.</summary>
    public static IReadOnlyList<(ImageRef Image, double? Objective)> Channels(AtlasWorker w, CatalogBatch batch)
    {
        IReadOnlyList<CatalogEntry> entries = RenderCatalog.Run(w.Model.Model, w.Model.ModelId, new[] { batch }, w.RenderOptions, Path.Combine(w.Folder, "catalog"),
            w.Model.Recipe, w.StepProgress($"rendering {batch.Layer} channels {Range(batch)}"), w.Cancellation);
        w.Renders += entries.Count(e => e.Rendered);
        return entries.Select(e =>
        {
            string path = AtlasFiles.SitePath(w.Folder, e.ImagePath);
            var (width, height) = AtlasFiles.PngSize(w.Folder, path);
            double? objective = ReadObjective(e.MetadataPath);
            string caption = "channel: the whole map";
            return (new ImageRef { Path = path, Width = width, Height = height, Caption = caption }, objective);
        }).ToList();
    }

    /// <summary>The centre-neuron images of the batch (null for every unit of a layer without positions).</summary>
    public static IReadOnlyList<ImageRef?> Neurons(AtlasWorker w, CatalogBatch batch, bool spatial)
    {
        if (!spatial)
        {
            return batch.Channels.Select(_ => (ImageRef?)null).ToList();
        }

        string recipe = w.Model.Recipe + "+neuron-at-centre";
        var paths = batch.Channels.Select(c => $"{AtlasFiles.PartFolder(new NeuronAddress(batch.Layer, c))}/neuron-{RenderCatalog.Key(w.Model.ModelId, batch, c, w.RenderOptions, recipe)}.png").ToList();
        if (!paths.All(p => AtlasFiles.Exists(w.Folder, p)))
        {
            Objective objective = Objective.Sum(batch.Channels.Select((c, i) => Objectives.Neuron(new NeuronAddress(batch.Layer, c), batch: i)));
            using RenderResult result = FeatureVisualization.Render(w.Model.Model, objective, w.RenderOptions with { BatchSize = batch.Channels.Count },
                w.StepProgress($"rendering {batch.Layer} centre neurons {Range(batch)}"), w.Cancellation);
            for (int i = 0; i < paths.Count; i++)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(AtlasFiles.Full(w.Folder, paths[i]))!);
                result.SavePng(AtlasFiles.Full(w.Folder, paths[i]), i);
            }

            w.Renders += paths.Count;
        }

        return paths.Select((p, i) =>
        {
            var (width, height) = AtlasFiles.PngSize(w.Folder, p);
            return (ImageRef?)new ImageRef
            {
                Path = p, Width = width, Height = height,
                Caption = "neuron: the centre position",
            };
        }).ToList();
    }

    /// <summary>
    /// The diverse images of one unit: <see cref="AtlasOptions.Diverse"/> images optimized together for the unit's
    /// channel, minus <see cref="AtlasOptions.DiversityWeight"/> times the diversity of their activations at its layer.
    /// </summary>
    public static IReadOnlyList<ImageRef> Diverse(AtlasWorker w, NeuronAddress unit)
    {
        int count = w.Options.Diverse;
        if (count <= 0)
        {
            return Array.Empty<ImageRef>();
        }

        var alone = new CatalogBatch(0, unit.Layer, new[] { unit.Channel!.Value });
        string recipe = string.Create(CultureInfo.InvariantCulture, $"{w.Model.Recipe}+diverse n={count} weight={w.Options.DiversityWeight:R}");
        string stem = $"{AtlasFiles.PartFolder(unit)}/diverse-{RenderCatalog.Key(w.Model.ModelId, alone, unit.Channel.Value, w.RenderOptions, recipe)}";
        var paths = Enumerable.Range(0, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"{stem}-{i}.png")).ToList();
        if (!AtlasFiles.Exists(w.Folder, stem + ".json"))
        {
            Objective objective = Objectives.Channel(unit) - (w.Options.DiversityWeight * Objectives.Diversity(unit.Layer));
            using RenderResult result = FeatureVisualization.Render(w.Model.Model, objective, w.RenderOptions with { BatchSize = count },
                w.StepProgress($"rendering {count} diverse images of {unit}"), w.Cancellation);
            for (int i = 0; i < count; i++)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(AtlasFiles.Full(w.Folder, paths[i]))!);
                result.SavePng(AtlasFiles.Full(w.Folder, paths[i]), i);
            }

            AtlasFiles.WriteJson(w.Folder, stem + ".json", new { unit = unit.ToString(), objective = objective.Name, images = count, finalObjective = result.FinalObjective });
            w.Renders += count;
        }

        return paths.Select((p, i) =>
        {
            var (width, height) = AtlasFiles.PngSize(w.Folder, p);
            return new ImageRef
            {
                Path = p, Width = width, Height = height,
                Caption = string.Create(CultureInfo.InvariantCulture, $"diverse {i + 1} of {count}"),
            };
        }).ToList();
    }

    /// <summary>A thumbnail of <paramref name="source"/> (the neuron or channel image), at most <see cref="AtlasOptions.ThumbnailSize"/> pixels on its longer side (area averaging).</summary>
    public static ImageRef Thumbnail(AtlasWorker w, NeuronAddress unit, ImageRef source)
    {
        int size = w.Options.ThumbnailSize;
        string path = $"{AtlasFiles.PartFolder(unit)}/thumb-{AtlasFiles.Hash(Path.GetFileName(source.Path), size.ToString(CultureInfo.InvariantCulture))}.png";
        if (!AtlasFiles.Exists(w.Folder, path))
        {
            using var scope = NewDisposeScope();
            Tensor image = ImageIO.Load(AtlasFiles.Full(w.Folder, source.Path)).unsqueeze(0);
            long h = image.shape[2], width = image.shape[3];
            double scale = Math.Min(1.0, size / (double)Math.Max(h, width));
            if (scale < 1)
            {
                image = nn.functional.interpolate(image, new[] { Math.Max(1, (long)Math.Round(h * scale)), Math.Max(1, (long)Math.Round(width * scale)) }, mode: InterpolationMode.Area);
            }

            AtlasFiles.WritePng(w.Folder, path, ImageIO.EncodePng(image[0].clamp(0, 1)));
            w.Thumbnails++;
        }

        var (tw, th) = AtlasFiles.PngSize(w.Folder, path);
        string kind = source.Path.Contains("/neuron-", StringComparison.Ordinal) ? "centre-neuron" : "channel";
        return new ImageRef { Path = path, Width = tw, Height = th, Caption = $"{unit}: {kind} feature visualization" };
    }

    private static string Range(CatalogBatch batch) =>
        batch.Channels.Count == 1 ? $"{batch.Channels[0]}" : $"{batch.Channels[0]}-{batch.Channels[^1]}";

    private static double? ReadObjective(string metadataPath)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllText(metadataPath));
            return document.RootElement.TryGetProperty("finalObjective", out JsonElement value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            return null;
        }
    }
}
