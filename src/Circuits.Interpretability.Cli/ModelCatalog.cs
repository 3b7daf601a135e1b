using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Cli;

/// <summary>A model the tool can load by name, with the input size it expects by default.</summary>
/// <param name="Name">The name given to <c>--model</c>.</param>
/// <param name="Description">One line for help and errors.</param>
/// <param name="DefaultInputSize">The default square input size in pixels.</param>
/// <param name="Create">Builds the model (in eval mode) for a seed.</param>
/// <param name="Preprocess">The model's input convention, from RGB in [0, 1] (null: the model takes it as is).</param>
/// <param name="CatalogLayers">The layers a whole-model catalog renders by default.</param>
public sealed record ModelEntry(string Name, string Description, int DefaultInputSize, Func<int, nn.Module<Tensor, Tensor>> Create,
    Func<Tensor, Tensor>? Preprocess = null, IReadOnlyList<string>? CatalogLayers = null);

/// <summary>The models the tool knows by name.</summary>
public static class ModelCatalog
{
    /// <summary>Every known model, the default first.</summary>
    public static IReadOnlyList<ModelEntry> All { get; } = new[]
    {
        new ModelEntry("small-convnet", "SmallConvNet: a small seeded conv net built into the library (no download)", 64, seed => new SmallConvNet(seed),
            CatalogLayers: new[] { "features.conv1", "features.conv2", "features.conv3" }),
        new ModelEntry("curve-circuit", "CurveCircuit: hand-built line and curve detectors with weights set by formula (the ground truth; the seed is ignored)", 64, _ => new CurveCircuit(),
            CatalogLayers: new[] { CurveCircuit.LinesLayer, CurveCircuit.CurvesLayer }),
    };

    /// <summary>The model called <paramref name="name"/>.</summary>
    /// <exception cref="CircuitsException">No model has that name; the message lists the known ones.</exception>
    public static ModelEntry Find(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new CircuitsException($"Unknown model '{name}'. Known models: {string.Join(", ", All.Select(m => m.Name))}.");

    /// <summary>Creates the model in eval mode.</summary>
    public static nn.Module<Tensor, Tensor> Load(string name, int seed)
    {
        var model = Find(name).Create(seed);
        model.eval();
        return model;
    }

    /// <summary>The names of a model's layers, for error messages.</summary>
    public static IReadOnlyList<string> LayerNames(nn.Module model) => ModelLayers.Names(model);
}
