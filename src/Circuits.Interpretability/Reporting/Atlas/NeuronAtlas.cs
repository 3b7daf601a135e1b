using System.Diagnostics;
using System.Globalization;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Rendering;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// The neuron atlas: a static site with every unit of a model, as OpenAI Microscope showed InceptionV1. An index of
/// layers; a page per layer with a lazy-loaded grid of every unit's feature visualization, grouped by the families
/// people put units in; a page per unit with its channel and neuron feature visualizations, diverse ones, dataset
/// examples, strongest inputs and outputs through expanded weights (linked to those units' pages, so the circuit can be
/// walked both ways), tuning curves and notes.
/// </summary>
/// <remarks>
/// <para><b>Incremental.</b> Every part of a unit is a file named by a content key (the model and weights id, the
/// unit, the settings that make the part, the recipe and code versions); a build keeps what exists and makes what is
/// missing, so changing a note re-renders nothing and changing the steps re-renders the images but keeps the circuit
/// and the tuning curves. Files are written atomically and a unit's record last, so an interrupted build resumes.</para>
/// <para><b>Sharded.</b> <see cref="Build"/> with a shard makes only that shard's batches (see <see cref="AtlasShard"/>,
/// which also reads Kubernetes Indexed Jobs and Slurm arrays); when every shard is done, <see cref="Merge"/> writes the
/// pages from the shards' files on shared storage. The plan depends only on the model and the settings, so a sharded
/// build gives the same files as a single one.</para>
/// </remarks>
/// <example>
/// <code>
/// using var model = new CurveCircuit();
/// var atlas = new AtlasModel(model, "curve-circuit", new[] { "lines", "curves" }, 64) { Title = "CurveCircuit" };
/// AtlasBuildResult result = NeuronAtlas.Build(atlas, new AtlasOptions { ImageSize = 64, Transforms = Array.Empty&lt;IImageTransform&gt;() }, "site",
///     notes: AtlasNotes.Load("atlas-notes.tsv"));
/// // open site/index.html
/// </code>
/// </example>
public static class NeuronAtlas
{
    /// <summary>Plans the atlas: its layers and units (channel counts from one forward pass), batches and fingerprint.</summary>
    /// <exception cref="UnknownLayerException">A layer does not exist; the message lists the closest names.</exception>
    /// <exception cref="AtlasException">A setting is out of range, or a chosen layer or channel is not in the model's chain.</exception>
    public static AtlasPlan Plan(AtlasModel model, AtlasOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new AtlasOptions();
        Validate(model, options);
        foreach (string layer in model.Layers)
        {
            _ = ModelLayers.Find(model.Model, layer);
        }

        IReadOnlyList<string> chosen = options.Layers ?? model.Layers;
        string? stranger = chosen.FirstOrDefault(l => !model.Layers.Contains(l));
        if (stranger is not null)
        {
            throw new AtlasException($"Layer '{stranger}' is not among the atlas model's layers ({string.Join(", ", model.Layers)}); choose layers of that chain.");
        }

        string? unchosen = options.Channels?.Keys.FirstOrDefault(l => !chosen.Contains(l));
        if (unchosen is not null)
        {
            throw new AtlasException($"Channels were chosen for layer '{unchosen}', which is not in the atlas ({string.Join(", ", chosen)}).");
        }

        LayerTable table = LayerTable.Describe(model.Model, new long[] { 1, 3, model.InputSize, model.InputSize });
        var layers = new List<LayerDocument>();
        foreach (string name in model.Layers.Where(chosen.Contains))
        {
            long[] shape = table[name].OutputShape
                ?? throw new AtlasException($"Layer '{name}' did not run in a forward pass of a {model.InputSize} x {model.InputSize} input, so its units are unknown.");
            if (shape.Length < 2)
            {
                throw new AtlasException($"Layer '{name}' has output shape {string.Join(" x ", shape)}; an atlas needs a channel dimension.");
            }

            int count = (int)shape[1];
            int index = model.Layers.ToList().IndexOf(name);
            IReadOnlyList<int> channels = options.Channels?.GetValueOrDefault(name) ?? Enumerable.Range(0, count).ToArray();
            int bad = channels.FirstOrDefault(c => c < 0 || c >= count, -1);
            if (bad != -1)
            {
                throw new UnitOutOfRangeException($"Channel {bad} is out of range for layer '{name}', which has {count} channels (0 to {count - 1}).");
            }

            layers.Add(new LayerDocument
            {
                Name = name, ChannelCount = count, Channels = channels.Distinct().Order().ToList(), Spatial = shape.Length == 4,
                Previous = index > 0 ? model.Layers[index - 1] : null, Next = index < model.Layers.Count - 1 ? model.Layers[index + 1] : null,
            });
        }

        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var unit in layers.SelectMany(l => l.Channels.Select(c => new NeuronAddress(l.Name, c))))
        {
            if (model.UnitLabel?.Invoke(unit) is { Length: > 0 } label)
            {
                labels[unit.ToString()] = label;
            }
        }

        RenderOptions render = RenderOptionsOf(model, options);
        string[] transforms = (options.Transforms ?? Transforms.Standard()).Select(t => t.Name).ToArray();
        string I(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        string fingerprint = AtlasFiles.Hash(new[]
        {
            AtlasFiles.RecipeVersion, AtlasFiles.CodeVersion, model.ModelId, model.Recipe, I($"{model.InputSize}"), string.Join(",", model.Layers),
            I($"steps={render.Steps} size={render.ImageSize} lr={render.LearningRate:R} seed={render.Seed} relu={render.RedirectReluSteps} batch={options.BatchSize}"),
            string.Join(",", transforms), Preprocessing.Describe(model.Preprocess),
            I($"diverse={options.Diverse} weight={options.DiversityWeight:R} thumb={options.Thumbnail}:{options.ThumbnailSize} crop={options.CropSize} top={options.Top} examples={options.ExampleCount}"),
            options.ImageFolder is null ? "no-images" : AtlasMeasures.FolderId(options.ImageFolder),
        }.Concat(model.Tuning.Select(AtlasMeasures.SweepId)));

        var settings = new List<string>
        {
            I($"Feature visualizations: {render.Steps} steps of Adam (learning rate {render.LearningRate:G4}) on a Fourier-parameterized, colour-decorrelated {render.ImageSize} x {render.ImageSize} image, seed {render.Seed}; ReLU gradients redirected for the first {render.RedirectReluSteps} steps; transforms: {(transforms.Length == 0 ? "none" : string.Join(", ", transforms))}."),
            I($"Objectives: 'channel' maximizes the unit's mean over every position of its map, 'neuron' the unit at the centre position only, 'diverse' optimizes {options.Diverse} images together for the channel minus {options.DiversityWeight:G4} times the similarity of their activations (Lucid's objectives.diversity), so that they show different things the unit responds to."),
            I($"Channel and neuron images are rendered {options.BatchSize} units at a time (one optimization for a batch of consecutive channels); the diverse images together for one unit."),
            I($"Connections: expanded weights between neighbouring layers at input {model.InputSize} x {model.InputSize}, {options.CropSize} x {options.CropSize} windows, the {options.Top} strongest (L2 norm) per unit."),
        };
        if (options.ImageFolder is not null)
        {
            settings.Add(I($"Dataset examples: the {options.ExampleCount} images of {Path.GetFullPath(options.ImageFolder)} that excite each unit most, at {model.InputSize} x {model.InputSize}."));
        }

        return new AtlasPlan(new PlanDocument
        {
            Title = model.Title.Length > 0 ? model.Title : model.ModelId,
            ModelId = model.ModelId,
            Description = model.Description,
            InputSize = model.InputSize,
            BatchSize = options.BatchSize,
            ImageSize = options.ImageSize,
            ThumbnailSize = options.ThumbnailSize,
            Thumbnail = options.Thumbnail.ToString(),
            Fingerprint = fingerprint,
            Layers = layers,
            Labels = labels,
            Settings = settings,
        });
    }

    /// <summary>
    /// Builds <paramref name="shard"/> of the atlas into <paramref name="folder"/>: every part of its units that is
    /// missing, then (when the shard is the whole atlas) the pages. With several shards, run <see cref="Merge"/> once
    /// all of them are done.
    /// </summary>
    /// <param name="model">The model and its layers.</param>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="folder">The site's folder (created when missing); shards share it.</param>
    /// <param name="shard">The shard to build; null: the whole atlas.</param>
    /// <param name="notes">Families and notes for the pages (used when the shard is the whole atlas).</param>
    /// <param name="progress">Stages and render steps.</param>
    /// <param name="cancellationToken">Stops between steps; whatever was written is kept and a new build resumes from it.</param>
    /// <exception cref="UnknownLayerException">A layer does not exist.</exception>
    /// <exception cref="AtlasException">A setting, layer or channel is not valid.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static AtlasBuildResult Build(AtlasModel model, AtlasOptions? options, string folder, AtlasShard? shard = null, AtlasNotes? notes = null,
        IProgress<AtlasProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(folder);
        options ??= new AtlasOptions();
        AtlasShard part = shard ?? AtlasShard.Single;
        if (part.Count <= 0 || part.Index < 0 || part.Index >= part.Count)
        {
            throw new AtlasException($"Shard {part} does not exist; expected i/n with 0 <= i < n.");
        }

        var clock = Stopwatch.StartNew();
        string root = Path.GetFullPath(folder);
        Directory.CreateDirectory(root);
        AtlasPlan plan = Plan(model, options);
        AtlasFiles.WriteIfChanged(root, AtlasFiles.PlanFile, System.Text.Json.JsonSerializer.Serialize(plan.Document, AtlasFiles.Json) + "\n");
        IReadOnlyList<CatalogBatch> batches = plan.Batches(part);
        int units = batches.Sum(b => b.Channels.Count), done = 0;
        using var worker = new AtlasWorker(model, options, plan, root, progress, cancellationToken);
        foreach (CatalogBatch batch in batches)
        {
            cancellationToken.ThrowIfCancellationRequested();
            worker.Process(batch, done, units);
            done += batch.Channels.Count;
            progress?.Report(new AtlasProgress($"{batch.Layer} channels {batch.Channels[0]}-{batch.Channels[^1]} done", done, units, 0, 0));
        }

        double seconds = clock.Elapsed.TotalSeconds;
        AtlasFiles.WriteJson(root, AtlasFiles.ShardFile(part), new ShardReport
        {
            Shard = part.ToString(), Units = units, UnitsComputed = worker.UnitsComputed, Renders = worker.Renders, Seconds = Math.Round(seconds, 1),
            UnitsPerHour = worker.UnitsComputed > 0 ? Math.Round(worker.UnitsComputed * 3600 / seconds, 1) : 0, Fingerprint = plan.Fingerprint,
        });
        // The pages come after every unit: report them as a stage with the units all done, so a time-left estimate stays right.
        IProgress<AtlasProgress>? pageProgress = progress is null ? null
            : new Relay(p => progress.Report(new AtlasProgress($"{p.Stage} ({p.UnitsDone}/{p.Units})", units, units, 0, 0)));
        AtlasPagesResult? pages = part.IsSingle ? Merge(root, notes, pageProgress, cancellationToken) : null;
        return new AtlasBuildResult(root, part, units, worker.UnitsComputed, worker.Renders, worker.Circuit.Computed, worker.Measures.Curves, worker.Measures.Searches,
            clock.Elapsed.TotalSeconds, pages);
    }

    /// <summary>
    /// Writes the site's pages (index, layer pages, unit pages) from the parts that the shards wrote into
    /// <paramref name="folder"/>, with the families and notes of <paramref name="notes"/>. Only pages whose content
    /// changed are written. Needs no model.
    /// </summary>
    /// <exception cref="AtlasException">The folder holds no atlas, or some units are missing (the message names them and their shards).</exception>
    public static AtlasPagesResult Merge(string folder, AtlasNotes? notes = null, IProgress<AtlasProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string root = Path.GetFullPath(folder);
        AtlasPlan plan = AtlasPlan.Load(root);
        var records = new Dictionary<NeuronAddress, UnitRecord>();
        var missing = new List<(NeuronAddress Unit, int Batch)>();
        foreach (CatalogBatch batch in plan.Catalog.Batches)
        {
            string fingerprint = plan.UnitFingerprint(batch);
            foreach (int channel in batch.Channels)
            {
                var unit = new NeuronAddress(batch.Layer, channel);
                UnitRecord? record = AtlasFiles.ReadJson<UnitRecord>(root, AtlasFiles.RecordPath(unit));
                if (record is null || record.Fingerprint != fingerprint)
                {
                    missing.Add((unit, batch.Index));
                }
                else
                {
                    records[unit] = record;
                }
            }
        }

        if (missing.Count > 0)
        {
            throw new AtlasException(MissingMessage(root, plan, missing));
        }

        return AtlasSite.Write(root, plan, records, notes ?? new AtlasNotes(), progress, cancellationToken);
    }

    /// <summary>The render settings of the atlas's feature visualizations.</summary>
    internal static RenderOptions RenderOptionsOf(AtlasModel model, AtlasOptions options) => new()
    {
        Steps = options.Steps,
        ImageSize = options.ImageSize,
        LearningRate = options.LearningRate,
        Seed = options.Seed,
        Transforms = options.Transforms,
        Preprocess = model.Preprocess,
        Device = options.Device,
    };

    private sealed class Relay(Action<AtlasProgress> report) : IProgress<AtlasProgress>
    {
        public void Report(AtlasProgress value) => report(value);
    }

    private static void Validate(AtlasModel model, AtlasOptions o)
    {
        ArgumentNullException.ThrowIfNull(model.Model);
        ArgumentException.ThrowIfNullOrWhiteSpace(model.ModelId);
        if (model.Layers is null || model.Layers.Count == 0)
        {
            throw new AtlasException("The atlas model names no layers; give the layers whose units the atlas lists, in the order data flows through them.");
        }

        string I(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        var problems = new List<string>();
        void Need(bool ok, FormattableString what)
        {
            if (!ok)
            {
                problems.Add(I(what));
            }
        }

        Need(model.InputSize >= 8, $"the input size is {model.InputSize}; expected 8 pixels or more");
        Need(o.Steps > 0, $"Steps is {o.Steps}; expected 1 or more");
        Need(o.ImageSize >= 8, $"ImageSize is {o.ImageSize}; expected 8 pixels or more");
        Need(o.LearningRate > 0 && double.IsFinite(o.LearningRate), $"LearningRate is {o.LearningRate}; expected a positive number");
        Need(o.BatchSize > 0, $"BatchSize is {o.BatchSize}; expected 1 or more");
        Need(o.Diverse >= 0 && o.Diverse != 1, $"Diverse is {o.Diverse}; expected 0 (none) or 2 or more (diversity needs at least two images)");
        Need(o.DiversityWeight >= 0 && double.IsFinite(o.DiversityWeight), $"DiversityWeight is {o.DiversityWeight}; expected 0 or more");
        Need(o.ThumbnailSize >= 8, $"ThumbnailSize is {o.ThumbnailSize}; expected 8 pixels or more");
        Need(o.CropSize > 0 && o.CropSize % 2 == 1, $"CropSize is {o.CropSize}; expected an odd number of 1 or more");
        Need(o.Top > 0, $"Top is {o.Top}; expected 1 or more");
        Need(o.ExampleCount > 0, $"ExampleCount is {o.ExampleCount}; expected 1 or more");
        if (problems.Count > 0)
        {
            throw new AtlasException("The atlas settings are not valid: " + string.Join("; ", problems) + ".");
        }
    }

    private static string MissingMessage(string root, AtlasPlan plan, List<(NeuronAddress Unit, int Batch)> missing)
    {
        // Name the shards that still owe units, for every shard count that wrote a report here.
        var counts = Directory.Exists(Path.Combine(root, "shards"))
            ? Directory.EnumerateFiles(Path.Combine(root, "shards"), "*-of-*.json")
                .Select(f => Path.GetFileNameWithoutExtension(f).Split("-of-")[^1])
                .Select(n => int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out int c) ? c : 0)
                .Where(c => c > 1).Distinct().Order().ToList()
            : new List<int>();
        string owed = string.Concat(counts.Select(n =>
            $" With {n} shards, shards {string.Join(", ", missing.Select(m => m.Batch % n).Distinct().Order())} of 0-{n - 1} have not finished (or were run with other settings)."));
        string first = string.Join(", ", missing.Take(8).Select(m => m.Unit.ToString())) + (missing.Count > 8 ? ", ..." : string.Empty);
        return $"{missing.Count} of the atlas's {plan.UnitCount} units in '{root}' are missing or were made with other settings ({first}).{owed} "
               + "Run the missing shards (or a build without --shard) with the same settings, then merge again.";
    }
}
