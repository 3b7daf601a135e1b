using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// The model an atlas shows: any TorchSharp model the hook API can address, with the identity of its weights and the
/// chain of layers whose units the atlas lists. Neighbouring layers of <see cref="Layers"/> are connected on the unit
/// pages (a unit's strongest inputs come from the layer before it, its strongest outputs go to the layer after it).
/// </summary>
/// <remarks>A class, not a record: it refers to the caller's model (and never disposes it), and a record's copy would hide that.</remarks>
public sealed class AtlasModel
{
    /// <summary>Describes <paramref name="model"/> for an atlas.</summary>
    /// <param name="model">The model (in eval mode; the atlas does not change it, and it stays the caller's).</param>
    /// <param name="modelId">
    /// Identifies the model and its weights (for example <c>inceptionv1/sha256=0123456789abcdef</c>, or
    /// <c>curve-circuit</c> for weights set by formula); part of every content key, so other weights never reuse an image.
    /// </param>
    /// <param name="layers">The layers in the order data flows through them (for example <c>lines</c>, <c>curves</c>).</param>
    /// <param name="inputSize">The side of the square input the model is run at for expanded weights, tuning curves and channel counts (for example 224).</param>
    public AtlasModel(nn.Module<Tensor, Tensor> model, string modelId, IReadOnlyList<string> layers, int inputSize)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        ModelId = modelId ?? throw new ArgumentNullException(nameof(modelId));
        Layers = layers ?? throw new ArgumentNullException(nameof(layers));
        InputSize = inputSize;
    }

    /// <summary>The model (the caller's).</summary>
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>Identifies the model and its weights; part of every content key.</summary>
    public string ModelId { get; }

    /// <summary>The layers in the order data flows through them.</summary>
    public IReadOnlyList<string> Layers { get; }

    /// <summary>The side of the square input the model is run at.</summary>
    public int InputSize { get; }

    /// <summary>The model's name on the pages (for example "CurveCircuit"); default: the model id.</summary>
    public string Title { get; init; } = string.Empty;

    /// <summary>A sentence or two about the model and its weights, shown on the index page.</summary>
    public string Description { get; init; } = string.Empty;

    /// <summary>
    /// Names what the render settings cannot describe by value (the model's input convention, a custom parameterization):
    /// the render catalog's recipe (<see cref="Rendering.RenderCatalog.Key"/>). Change it whenever those change.
    /// </summary>
    public string Recipe { get; init; } = "default";

    /// <summary>The model's input convention, from RGB in [0, 1]; null: the model's own (<see cref="IInputConvention"/>), or none.</summary>
    public Func<Tensor, Tensor>? Preprocess { get; init; }

    /// <summary>Tuning curves to measure, per layer (the curve circuit's lines and curves over rotated stimuli); none by default.</summary>
    public IReadOnlyList<AtlasTuning> Tuning { get; init; } = Array.Empty<AtlasTuning>();

    /// <summary>What a unit is by the model's design (for example "curve facing 90°"), shown beside its name; null or a null result: nothing.</summary>
    public Func<NeuronAddress, string?>? UnitLabel { get; init; }
}
