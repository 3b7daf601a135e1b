using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// A compositional pattern-producing network per batch item: a small network maps each pixel's coordinates
/// (x, y in [-sqrt(3), sqrt(3)]) to colour, so the image is smooth and resolution-free. Hidden layers use
/// the composite activation [atan(h)/0.67, atan(h)²/0.6], which doubles the width. Its trainable values are
/// the network's weights (normal, std 1/sqrt(fan-in), from the seed). Colours are not decorrelated by default.
/// </summary>
public sealed class CppnImage : ImageParameterization
{
    private readonly List<TorchSharp.Modules.Parameter> _weights = new();
    private readonly Tensor _coordinates; // P x 2

    /// <summary>Creates a random network from <paramref name="seed"/>.</summary>
    /// <param name="batch">Images in the batch (one network each).</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="seed">Seed of the weights.</param>
    /// <param name="layers">Hidden layers (8 by default).</param>
    /// <param name="hidden">Units per hidden layer before the composite activation (24 by default).</param>
    /// <param name="options">Colour options; decorrelation is off unless asked for.</param>
    public CppnImage(int batch, int height, int width, long seed = 0, int layers = 8, int hidden = 24, ParameterizationOptions? options = null)
        : base(batch, height, width, options ?? new ParameterizationOptions { Decorrelate = false })
    {
        if (layers <= 0 || hidden <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(layers), $"layers ({layers}) and hidden ({hidden}) must be positive.");
        }

        double r = Math.Sqrt(3);
        using (var scope = NewDisposeScope())
        {
            Tensor ys = linspace(-r, r, height).reshape(height, 1).expand(height, width);
            Tensor xs = linspace(-r, r, width).reshape(1, width).expand(height, width);
            _coordinates = OnDevice(stack(new[] { xs, ys }, -1).reshape(height * width, 2).contiguous());
        }

        long inputs = 2;
        for (int l = 0; l <= layers; l++)
        {
            long outputs = l == layers ? Channels : hidden;
            _weights.Add(RandomParameter(new long[] { batch, inputs, outputs }, 1 / Math.Sqrt(inputs), seed + l));
            inputs = 2 * hidden;
        }
    }

    /// <inheritdoc />
    public override IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => _weights;

    /// <inheritdoc />
    public override Tensor RawImage()
    {
        Tensor h = _coordinates.unsqueeze(0).expand(Batch, -1, -1);
        for (int l = 0; l < _weights.Count - 1; l++)
        {
            Tensor a = h.bmm(_weights[l]).atan();
            h = cat(new[] { a / 0.67, a.pow(2) / 0.6 }, -1);
        }

        // The last layer's output is unbounded; the base class squashes it to [0, 1].
        return h.bmm(_weights[^1]).transpose(1, 2).reshape(Batch, Channels, Height, Width);
    }
}
