using System.Globalization;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// A unit's strongest inputs (from the layer before) and outputs (to the layer after), through expanded weights. The
/// expanded weights of a pair of layers are computed once per process, for all channels (so every shard computes
/// exactly what a single build computes), and kept until the build ends; each unit's selection and weight images are
/// written as a part named by its content key.
/// </summary>
internal sealed class AtlasCircuit : IDisposable
{
    private readonly AtlasWorker _w;
    private readonly Dictionary<(string Source, string Target), (ExpandedWeightSet? Set, string? Error)> _sets = new();

    public AtlasCircuit(AtlasWorker worker) => _w = worker;

    /// <summary>Units whose connections were computed in this run (each direction counts once).</summary>
    public int Computed { get; private set; }

    /// <summary>The site path of the unit's inputs part, or null when its layer is the first of the chain.</summary>
    public string? Inputs(NeuronAddress unit, AtlasLayer layer) =>
        layer.Previous is null ? null : Part(unit, layer.Previous, unit.Layer, ConnectionDirection.Inputs);

    /// <summary>The site path of the unit's outputs part, or null when its layer is the last of the chain.</summary>
    public string? Outputs(NeuronAddress unit, AtlasLayer layer) =>
        layer.Next is null ? null : Part(unit, unit.Layer, layer.Next, ConnectionDirection.Outputs);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (set, _) in _sets.Values)
        {
            set?.Dispose();
        }

        _sets.Clear();
    }

    private string Part(NeuronAddress unit, string source, string target, ConnectionDirection direction)
    {
        string kind = direction == ConnectionDirection.Inputs ? "inputs" : "outputs";
        string key = AtlasFiles.Hash(AtlasFiles.RecipeVersion, "connections", AtlasFiles.CodeVersion, _w.Model.ModelId, source, target,
            _w.Model.InputSize.ToString(CultureInfo.InvariantCulture), _w.Options.CropSize.ToString(CultureInfo.InvariantCulture),
            _w.Options.Top.ToString(CultureInfo.InvariantCulture), unit.ToString(), kind);
        string stem = $"{AtlasFiles.PartFolder(unit)}/{kind}-{key}";
        if (AtlasFiles.Exists(_w.Folder, stem + ".json"))
        {
            return stem + ".json";
        }

        var (set, error) = Weights(source, target);
        ConnectionsPart part;
        if (set is null)
        {
            part = new ConnectionsPart { Direction = kind, OtherLayer = direction == ConnectionDirection.Inputs ? source : target, Unavailable = error };
        }
        else
        {
            var report = new UnitReport(unit);
            UnitConnections made = direction == ConnectionDirection.Inputs ? report.AddInputs(set, _w.Options.Top).Connections[0] : report.AddOutputs(set, _w.Options.Top).Connections[0];
            var items = new List<ConnectionItem>();
            for (int i = 0; i < made.Items.Count; i++)
            {
                UnitConnection c = made.Items[i];
                string image = string.Create(CultureInfo.InvariantCulture, $"{stem}-{i}.png");
                AtlasFiles.WritePng(_w.Folder, image, c.Weights.Png);
                items.Add(new ConnectionItem
                {
                    Channel = c.Unit.Channel!.Value,
                    Strength = c.Strength,
                    Image = new ImageRef { Path = image, Width = c.Weights.Width, Height = c.Weights.Height, Caption = c.Weights.Caption },
                });
            }

            part = new ConnectionsPart { Direction = kind, OtherLayer = made.OtherLayer, CropSize = made.CropSize, MaxAbs = made.MaxAbs, Method = made.Method, Items = items };
        }

        AtlasFiles.WriteJson(_w.Folder, stem + ".json", part);
        Computed++;
        return stem + ".json";
    }

    private (ExpandedWeightSet? Set, string? Error) Weights(string source, string target)
    {
        if (_sets.TryGetValue((source, target), out var known))
        {
            return known;
        }

        _w.Report($"expanded weights {source} -> {target}");
        (ExpandedWeightSet?, string?) made;
        try
        {
            made = (ExpandedWeights.Compute(_w.Model.Model, source, target, new long[] { 3, _w.Model.InputSize, _w.Model.InputSize },
                new ExpandedWeightsOptions { CropSize = _w.Options.CropSize, Device = _w.Options.Device }, cancellationToken: _w.Cancellation), null);
        }
        catch (CircuitsException e)
        {
            // A path that cannot be made linear (or maps too small for the window): the page says why, the build goes on.
            made = (null, e is NonlinearPathException
                ? $"The path from {source} to {target} cannot be made linear, so it has no expanded weights: {e.Message}"
                : $"No expanded weights from {source} to {target}: {e.Message}");
        }

        _sets[(source, target)] = made;
        return made;
    }
}
