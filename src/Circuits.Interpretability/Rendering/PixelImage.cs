using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>One trainable value per pixel and channel: the simplest parameterization (high-frequency prone).</summary>
public sealed class PixelImage : ImageParameterization
{
    private readonly TorchSharp.Modules.Parameter _pixels;

    /// <summary>Creates random pixels from <paramref name="seed"/>.</summary>
    public PixelImage(int batch, int height, int width, long seed = 0, ParameterizationOptions? options = null)
        : base(batch, height, width, options ?? new ParameterizationOptions())
    {
        _pixels = RandomParameter(new long[] { batch, Channels, height, width }, Options.InitialScale, seed);
    }

    /// <inheritdoc />
    public override IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => new[] { _pixels };

    /// <inheritdoc />
    public override Tensor RawImage() => _pixels;
}
