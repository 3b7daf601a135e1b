using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>What an objective can read in one optimization step.</summary>
public sealed class RenderContext
{
    private readonly IReadOnlyDictionary<string, Tensor> _activations;
    private readonly Tensor? _output;

    /// <summary>Creates a context (used by the render loop, and by tests that evaluate objectives directly).</summary>
    /// <param name="image">The parameterized image, N x C x H x W in [0, 1], before transformations.</param>
    /// <param name="activations">Activations by layer path.</param>
    /// <param name="output">The model's output, when the forward pass ran to the end.</param>
    public RenderContext(Tensor image, IReadOnlyDictionary<string, Tensor> activations, Tensor? output = null)
        : this(image, activations, output, 0)
    {
    }

    /// <summary>A context for the part of the batch that starts at item <paramref name="itemOffset"/>.</summary>
    internal RenderContext(Tensor image, IReadOnlyDictionary<string, Tensor> activations, Tensor? output, int itemOffset)
    {
        Image = image ?? throw new ArgumentNullException(nameof(image));
        _activations = activations ?? throw new ArgumentNullException(nameof(activations));
        _output = output;
        ItemOffset = itemOffset;
    }

    /// <summary>The batch index of this context's first item: 0, or where the part starts when a render runs its batch in parts.</summary>
    internal int ItemOffset { get; }

    /// <summary>The parameterized image before transformations: N x C x H x W in [0, 1].</summary>
    public Tensor Image { get; }

    /// <summary>The batch size.</summary>
    public long BatchSize => Image.shape[0];

    /// <summary>The model's output.</summary>
    /// <exception cref="CircuitsException">The forward pass stopped before the output (no objective asked for it).</exception>
    public Tensor Output => _output ?? throw new CircuitsException("The model's output is not available: the forward pass stopped at the deepest layer an objective reads.");

    /// <summary>The activation of <paramref name="layer"/> (N x C x H x W, or N x C).</summary>
    /// <exception cref="CircuitsException">The layer was not captured in this step.</exception>
    public Tensor Activation(string layer) => _activations.TryGetValue(layer, out Tensor? t)
        ? t
        : throw new CircuitsException($"Layer '{layer}' was not captured; captured layers: {string.Join(", ", _activations.Keys)}.");
}
