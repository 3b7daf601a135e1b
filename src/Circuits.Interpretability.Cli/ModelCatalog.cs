using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.IO;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Cli;

/// <summary>How the user asked for a model's weights.</summary>
/// <param name="Seed">Seed for models whose weights are generated.</param>
/// <param name="WeightsPath">A weight file given with <c>--weights</c> (null: the model's default source).</param>
/// <param name="RandomWeights">True to accept seeded random weights for a model that normally needs real ones (shape and flow checks).</param>
public sealed record ModelRequest(int Seed, string? WeightsPath = null, bool RandomWeights = false);

/// <summary>A loaded model with the identity of its weights (part of every content-addressed output).</summary>
/// <param name="Model">The model, in eval mode.</param>
/// <param name="Id">Identifies model and weights, for example <c>inceptionv1/sha256=0123abcd…</c>.</param>
/// <param name="WeightsSource">Where the weights came from, for people.</param>
/// <param name="RandomWeights">True when the weights are random (seeded or as constructed), not learned or designed: results show shapes and data flow only.</param>
public sealed record LoadedModel(nn.Module<Tensor, Tensor> Model, string Id, string WeightsSource, bool RandomWeights = false) : IDisposable
{
    /// <inheritdoc />
    public void Dispose() => Model.Dispose();
}

/// <summary>A model the tool can load by name, with the input size it expects by default.</summary>
/// <param name="Name">The name given to <c>--model</c>.</param>
/// <param name="Description">One line for help and errors.</param>
/// <param name="DefaultInputSize">The default square input size in pixels.</param>
/// <param name="Create">Builds the model for a request.</param>
/// <param name="Preprocess">A preprocessing that overrides the model's own input convention (null: the model's <see cref="IInputConvention"/>, or none).</param>
/// <param name="CatalogLayers">The layers a whole-model catalog renders by default.</param>
/// <param name="CatalogRecipe">The render-catalog recipe name (it names <paramref name="Preprocess"/>; see <see cref="Rendering.RenderCatalog.Key"/>).</param>
/// <param name="DefaultCrop">The side of an expanded weight's window when <c>--crop</c> is not given (the model's kernels).</param>
/// <param name="UnitLabel">What a unit is by design (for example "line at 45°"), when the model knows; null otherwise.</param>
public sealed record ModelEntry(string Name, string Description, int DefaultInputSize, Func<ModelRequest, LoadedModel> Create,
    Func<Tensor, Tensor>? Preprocess = null, IReadOnlyList<string>? CatalogLayers = null, string CatalogRecipe = "default", int DefaultCrop = 5,
    Func<NeuronAddress, string?>? UnitLabel = null);

/// <summary>The models the tool knows by name.</summary>
public static class ModelCatalog
{
    /// <summary>Every known model, the default first.</summary>
    public static IReadOnlyList<ModelEntry> All { get; } = new[]
    {
        new ModelEntry("curve-circuit", "CurveCircuit: hand-built line and curve detectors with weights set by formula (the ground truth; no download)", 64,
            request => BuiltIn(request, "curve-circuit", new CurveCircuit(), "weights set by formula"),
            CatalogLayers: new[] { CurveCircuit.LinesLayer, CurveCircuit.CurvesLayer }, DefaultCrop: new CurveCircuitOptions().CurveKernelSize, UnitLabel: CurveCircuitLabels.Label),
        new ModelEntry("small-convnet", "SmallConvNet: a small seeded conv net built into the library (no download)", 64,
            request => BuiltIn(request, $"small-convnet/seed={request.Seed}", new SmallConvNet(request.Seed), $"seeded RANDOM weights (seed {request.Seed})", random: true),
            CatalogLayers: new[] { "features.conv1", "features.conv2", "features.conv3" }),
        new ModelEntry("inceptionv1", "InceptionV1 (Lucid's inception5h naming): weights from --weights, or inception5h.pth in the model cache", InceptionV1.DefaultInputSize,
            LoadInception,
            CatalogLayers: new[] { "conv2d0", "conv2d1", "conv2d2" }.Concat(InceptionV1.MixedLayerNames).ToArray(), CatalogRecipe: InceptionV1Weights.CatalogRecipe),
    };

    /// <summary>The model called <paramref name="name"/>.</summary>
    /// <exception cref="CircuitsException">No model has that name; the message lists the known ones.</exception>
    public static ModelEntry Find(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new UsageException($"Unknown model '{name}'. Known models: {string.Join(", ", All.Select(m => m.Name))}; " +
                                    "or name your own with --model-assembly PATH --model TYPE.");

    /// <summary>Creates the model in eval mode.</summary>
    public static LoadedModel Load(string name, ModelRequest request)
    {
        LoadedModel loaded = Find(name).Create(request);
        loaded.Model.eval();
        return loaded;
    }

    /// <summary>The names of a model's layers, for error messages.</summary>
    public static IReadOnlyList<string> LayerNames(nn.Module model) => ModelLayers.Names(model);

    private static LoadedModel BuiltIn(ModelRequest request, string id, nn.Module<Tensor, Tensor> model, string source, bool random = false)
    {
        if (request.WeightsPath is not null || request.RandomWeights)
        {
            model.Dispose();
            string option = request.WeightsPath is not null ? $"--weights '{request.WeightsPath}'" : "--random-weights";
            throw new UsageException($"{option} does not apply to the built-in model '{id.Split('/')[0]}' ({source}); " +
                                     "only models that read a weight file (inceptionv1, or your own with --model-assembly) take --weights or --random-weights.");
        }

        return new LoadedModel(model, id, source, random);
    }

    private static LoadedModel LoadInception(ModelRequest request)
    {
        WeightsLocation? weights = InceptionV1Weights.Locate(request.WeightsPath);
        if (weights is null)
        {
            if (request.RandomWeights)
            {
                return new LoadedModel(new InceptionV1(request.Seed), InceptionV1Weights.RandomModelId(request.Seed),
                    $"seeded RANDOM weights (seed {request.Seed}), for shape and flow checks only", RandomWeights: true);
            }

            throw new CircuitsException(InceptionV1Weights.Guidance());
        }

        return new LoadedModel(InceptionV1.FromFile(weights.Path), weights.ModelId, weights.Path);
    }
}
