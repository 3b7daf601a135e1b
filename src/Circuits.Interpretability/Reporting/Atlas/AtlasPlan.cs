using Circuits.Interpretability.Core;
using Circuits.Interpretability.Rendering;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// What an atlas holds and how the work is cut: its layers and units, the batches (consecutive channels of one layer,
/// rendered together; the render catalog's plan, so it depends only on the layers and the batch size, never on the
/// shard), and a fingerprint of every setting that changes a figure. Every shard writes the same plan to
/// <c>atlas.json</c>; the merge reads it back, without the model.
/// </summary>
public sealed class AtlasPlan
{
    private readonly Dictionary<string, AtlasLayer> _byName;

    internal AtlasPlan(PlanDocument document)
    {
        Document = document;
        Layers = document.Layers.Select(l => new AtlasLayer(l.Name, l.ChannelCount, l.Channels, l.Previous, l.Next, l.Spatial)).ToList();
        _byName = Layers.ToDictionary(l => l.Name, StringComparer.Ordinal);
        Catalog = RenderCatalog.Plan(Layers.Select(l => (l.Name, l.ChannelCount, (IReadOnlyList<int>?)l.Channels)), document.BatchSize);
    }

    /// <summary>The model's name on the pages.</summary>
    public string Title => Document.Title;

    /// <summary>The model and weights identity (part of every content key).</summary>
    public string ModelId => Document.ModelId;

    /// <summary>The atlas's layers, in the model's order.</summary>
    public IReadOnlyList<AtlasLayer> Layers { get; }

    /// <summary>The batches: the render catalog's plan of the atlas's units.</summary>
    public RenderCatalog Catalog { get; }

    /// <summary>Units in the atlas.</summary>
    public int UnitCount => Catalog.UnitCount;

    /// <summary>A hash of everything that changes a figure (model id, settings, recipe and code versions, tuning stimuli, the image folder's files).</summary>
    public string Fingerprint => Document.Fingerprint;

    internal PlanDocument Document { get; }

    /// <summary>The layer called <paramref name="name"/>, or null when it is not in the atlas.</summary>
    public AtlasLayer? Layer(string name) => _byName.GetValueOrDefault(name);

    /// <summary>True when the atlas has a page for <paramref name="unit"/> (<c>layer:channel</c>).</summary>
    public bool Contains(NeuronAddress unit) =>
        unit.Channel is int c && _byName.TryGetValue(unit.Layer, out AtlasLayer? layer) && layer.Channels.Contains(c);

    /// <summary>The batches of <paramref name="shard"/> (every n-th batch; see <see cref="RenderCatalog.Shard"/>).</summary>
    public IReadOnlyList<CatalogBatch> Batches(AtlasShard shard) => Catalog.Shard(shard.Index, shard.Count);

    /// <summary>What a unit is by the model's design (recorded at planning), or null.</summary>
    public string? Label(NeuronAddress unit) => Document.Labels.GetValueOrDefault(unit.ToString());

    /// <summary>Every unit of the atlas, layer by layer.</summary>
    public IEnumerable<NeuronAddress> Units => Layers.SelectMany(l => l.Channels.Select(c => new NeuronAddress(l.Name, c)));

    /// <summary>The fingerprint of a batch's units: the plan's, and the batch's channels (a unit's images depend on the units rendered with it).</summary>
    internal string UnitFingerprint(CatalogBatch batch) => AtlasFiles.Hash(Fingerprint, batch.Layer, string.Join(",", batch.Channels));

    /// <summary>Reads <c>atlas.json</c> of a site.</summary>
    /// <exception cref="AtlasException">The folder holds no atlas plan.</exception>
    internal static AtlasPlan Load(string folder)
    {
        PlanDocument? document = AtlasFiles.ReadJson<PlanDocument>(folder, AtlasFiles.PlanFile);
        if (document is null || document.Format != PlanDocument.CurrentFormat)
        {
            throw new AtlasException(document is null
                ? $"'{Path.Combine(folder, AtlasFiles.PlanFile)}' is missing or unreadable: '{folder}' is not an atlas folder. Build the atlas (or its shards) into it first, then merge."
                : $"'{Path.Combine(folder, AtlasFiles.PlanFile)}' has format {document.Format}; this version reads format {PlanDocument.CurrentFormat}. Build the atlas again with this version.");
        }

        return new AtlasPlan(document);
    }
}

/// <summary>The plan as <c>atlas.json</c> holds it.</summary>
internal sealed record PlanDocument
{
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;

    public string Title { get; init; } = string.Empty;

    public string ModelId { get; init; } = string.Empty;

    public string Description { get; init; } = string.Empty;

    public int InputSize { get; init; }

    public int BatchSize { get; init; }

    public int ImageSize { get; init; }

    public int ThumbnailSize { get; init; }

    /// <summary>Which image the thumbnails are cut from (<see cref="AtlasThumbnail"/>).</summary>
    public string Thumbnail { get; init; } = nameof(AtlasThumbnail.Neuron);

    public string Fingerprint { get; init; } = string.Empty;

    public List<LayerDocument> Layers { get; init; } = new();

    public SortedDictionary<string, string> Labels { get; init; } = new(StringComparer.Ordinal);

    /// <summary>How the figures were made, one sentence each, for the pages.</summary>
    public List<string> Settings { get; init; } = new();
}

internal sealed record LayerDocument
{
    public string Name { get; init; } = string.Empty;

    public int ChannelCount { get; init; }

    public List<int> Channels { get; init; } = new();

    public string? Previous { get; init; }

    public string? Next { get; init; }

    public bool Spatial { get; init; }
}
