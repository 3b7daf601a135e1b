using Circuits.Interpretability.Core;
using Circuits.Interpretability.Rendering;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// Makes the parts of one shard's batches: for each batch, every part that is missing (each named by its content key,
/// so what exists is kept), then each unit's record, written last. A batch whose records all carry the current
/// fingerprint is skipped at once; an interrupted batch resumes from the parts already written.
/// </summary>
internal sealed class AtlasWorker : IDisposable
{
    private readonly IProgress<AtlasProgress>? _progress;
    private readonly string? _folderId;
    private int _unitsDone;
    private int _units;

    public AtlasWorker(AtlasModel model, AtlasOptions options, AtlasPlan plan, string folder, IProgress<AtlasProgress>? progress, CancellationToken cancellation)
    {
        Model = model;
        Options = options;
        Plan = plan;
        Folder = folder;
        _progress = progress;
        Cancellation = cancellation;
        RenderOptions = NeuronAtlas.RenderOptionsOf(model, options);
        _folderId = options.ImageFolder is null ? null : AtlasMeasures.FolderId(options.ImageFolder);
        Circuit = new AtlasCircuit(this);
        Measures = new AtlasMeasures(this);
    }

    public AtlasModel Model { get; }

    public AtlasOptions Options { get; }

    public AtlasPlan Plan { get; }

    /// <summary>The site's folder (a full path).</summary>
    public string Folder { get; }

    public RenderOptions RenderOptions { get; }

    public CancellationToken Cancellation { get; }

    public AtlasCircuit Circuit { get; }

    public AtlasMeasures Measures { get; }

    /// <summary>Images optimized in this run.</summary>
    public int Renders { get; set; }

    /// <summary>Thumbnails cut in this run.</summary>
    public int Thumbnails { get; set; }

    /// <summary>Units of which at least one part was made in this run.</summary>
    public int UnitsComputed { get; private set; }

    /// <summary>Makes what is missing of <paramref name="batch"/>; <paramref name="done"/> and <paramref name="total"/> are the shard's units before it and in all.</summary>
    public void Process(CatalogBatch batch, int done, int total)
    {
        _unitsDone = done;
        _units = total;
        string fingerprint = Plan.UnitFingerprint(batch);
        var units = batch.Channels.Select(c => new NeuronAddress(batch.Layer, c)).ToList();
        if (units.All(u => AtlasFiles.ReadJson<UnitRecord>(Folder, AtlasFiles.RecordPath(u))?.Fingerprint == fingerprint))
        {
            return;
        }

        int before = Work;
        AtlasLayer layer = Plan.Layer(batch.Layer)!;
        var channels = AtlasRenders.Channels(this, batch);
        var neurons = AtlasRenders.Neurons(this, batch, layer.Spatial);
        var tuning = Measures.Tuning(units);
        for (int i = 0; i < units.Count; i++)
        {
            Cancellation.ThrowIfCancellationRequested();
            NeuronAddress unit = units[i];
            _unitsDone = done + i;
            var record = new UnitRecord
            {
                Unit = unit.ToString(),
                Fingerprint = fingerprint,
                Channel = channels[i].Image,
                ChannelObjective = channels[i].Objective,
                Thumbnail = AtlasRenders.Thumbnail(this, unit, Options.Thumbnail == AtlasThumbnail.Neuron && neurons[i] is { } neuron ? neuron : channels[i].Image),
                Neuron = neurons[i],
                Diverse = AtlasRenders.Diverse(this, unit).ToList(),
                Inputs = Circuit.Inputs(unit, layer),
                Outputs = Circuit.Outputs(unit, layer),
                Tuning = tuning[i],
                Examples = Measures.Examples(unit, _folderId),
            };
            AtlasFiles.WriteJson(Folder, AtlasFiles.RecordPath(unit), record);
        }

        if (Work > before)
        {
            UnitsComputed += units.Count;
        }
    }

    /// <summary>Reports a stage of the current batch.</summary>
    public void Report(string stage) => _progress?.Report(new AtlasProgress(stage, _unitsDone, _units, 0, 0));

    /// <summary>A progress sink for the steps of a render (the catalog's and the renderer's reports alike).</summary>
    public StepRelay StepProgress(string stage)
    {
        Report(stage);
        return new StepRelay(this, stage);
    }

    /// <inheritdoc />
    public void Dispose() => Circuit.Dispose();

    private int Work => Renders + Thumbnails + Circuit.Computed + Measures.Curves + Measures.Searches;

    /// <summary>Turns render steps into <see cref="AtlasProgress"/>.</summary>
    internal sealed class StepRelay : IProgress<RenderProgress>, IProgress<CatalogProgress>
    {
        private readonly AtlasWorker _worker;
        private readonly string _stage;

        public StepRelay(AtlasWorker worker, string stage)
        {
            _worker = worker;
            _stage = stage;
        }

        public void Report(RenderProgress value) => _worker._progress?.Report(new AtlasProgress(_stage, _worker._unitsDone, _worker._units, value.Step, value.Steps));

        public void Report(CatalogProgress value)
        {
            if (value.Step > 0)
            {
                _worker._progress?.Report(new AtlasProgress(_stage, _worker._unitsDone, _worker._units, value.Step, value.Steps));
            }
        }
    }
}
