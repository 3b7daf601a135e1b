using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// An image as a Laplacian pyramid (Captum's <c>LaplacianImage</c>, Lucid's <c>laplacian_pyramid_image</c>):
/// level k is a trainable N x C x max(1, H / 2^k) x max(1, W / 2^k) tensor, and the image is the sum of every
/// level resized to H x W by <see cref="LowResTensor.Resize"/> (bilinear, as Lucid; Captum uses nearest
/// neighbours). Coarse levels move large areas at once, so low frequencies are as easy to change as high ones,
/// much as the Fourier parameterization does. Level k starts with standard deviation
/// <see cref="ParameterizationOptions.InitialScale"/> · (2^k / 2^(L−1))^power, Captum's scaling.
/// <see cref="FromImage"/> starts from a given image exactly.
/// </summary>
public sealed class LaplacianImage : ImageParameterization
{
    private readonly List<TorchSharp.Modules.Parameter> _levels = new();

    /// <summary>Creates random levels from <paramref name="seed"/>.</summary>
    /// <param name="batch">Images in the batch.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="seed">Seed of the initial levels.</param>
    /// <param name="levels">Pyramid levels, finest (full size) first: 6 by default, scales 1 to 32 as Captum.</param>
    /// <param name="power">The exponent of the initial per-level scale (0.1 as Captum).</param>
    /// <param name="options">Colour and initialization options.</param>
    public LaplacianImage(int batch, int height, int width, long seed = 0, int levels = 6, double power = 0.1, ParameterizationOptions? options = null)
        : base(batch, height, width, options ?? new ParameterizationOptions())
    {
        if (levels <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(levels), $"A pyramid needs at least one level; got {levels}.");
        }

        for (int k = 0; k < levels; k++)
        {
            double scale = Options.InitialScale * Math.Pow(Math.Pow(2, k) / Math.Pow(2, levels - 1), power);
            _levels.Add(RandomParameter(LevelShape(k), scale, seed + k));
        }
    }

    /// <inheritdoc />
    public override IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => _levels;

    /// <summary>The levels, finest first (level k has size max(1, H / 2^k) x max(1, W / 2^k)).</summary>
    public IReadOnlyList<Tensor> Levels => _levels;

    /// <summary>
    /// A pyramid whose <see cref="ImageParameterization.Image"/> is <paramref name="image"/> (N x C x H x W, or C x H
    /// x W; C = 3, or 4 with <see cref="ParameterizationOptions.Alpha"/>; values in [0, 1]; sigmoid squashing
    /// reaches 1e-6 to 1 − 1e-6 at most, so values beyond are clipped to that range). The image is first mapped back
    /// through the squashing and the colour matrix; then, coarsest level first, each level holds the area-averaged
    /// residual that the coarser levels leave, and the full-size level holds the rest, so the sum reproduces the
    /// image exactly (to float rounding) while the coarse levels carry its low frequencies.
    /// </summary>
    public static LaplacianImage FromImage(Tensor image, int levels = 6, double power = 0.1, ParameterizationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= new ParameterizationOptions();
        using var scope = NewDisposeScope();
        Tensor batch = image.dim() == 3 ? image.unsqueeze(0) : image;
        int channels = options.Alpha ? 4 : 3;
        if (batch.dim() != 4 || batch.shape[1] != channels)
        {
            throw new CircuitsException($"LaplacianImage.FromImage needs N x {channels} x H x W (or {channels} x H x W); got [{string.Join(", ", image.shape)}].");
        }

        var result = new LaplacianImage((int)batch.shape[0], (int)batch.shape[2], (int)batch.shape[3], 0, levels, power, options);
        using var noGrad = no_grad();
        Tensor target = result.Unsquash(batch.to(ScalarType.Float32, options.Device ?? CPU));
        Tensor sum = zeros_like(target);
        for (int k = levels - 1; k >= 0; k--)
        {
            long[] shape = result.LevelShape(k);
            Tensor level = k == 0 ? target - sum : nn.functional.interpolate(target - sum, new[] { shape[2], shape[3] }, mode: InterpolationMode.Area);
            result._levels[k].copy_(level);
            sum = sum + LowResTensor.Resize(level, target.shape);
        }

        return result;
    }

    /// <inheritdoc />
    public override Tensor RawImage()
    {
        long[] full = { Batch, Channels, Height, Width };
        Tensor image = _levels[0];
        for (int k = 1; k < _levels.Count; k++)
        {
            image = image + LowResTensor.Resize(_levels[k], full);
        }

        return image;
    }

    private long[] LevelShape(int k) => new long[] { Batch, Channels, Math.Max(1, Height >> k), Math.Max(1, Width >> k) };

    /// <summary>The raw image that squashing and the colour matrix turn into <paramref name="image"/>.</summary>
    private Tensor Unsquash(Tensor image)
    {
        Tensor raw = Options.Squash == ColorSquash.Sigmoid ? image.clamp(1e-6, 1 - 1e-6).logit() : image;
        Tensor rgb = raw[TensorIndex.Colon, TensorIndex.Slice(0, 3)];
        if (Options.Decorrelate)
        {
            rgb = (Options.Colors ?? ColorCorrelation.ImageNet).FromRgb(rgb);
        }

        return Options.Alpha ? cat(new[] { rgb, raw[TensorIndex.Colon, TensorIndex.Slice(3, 4)] }, 1) : rgb;
    }
}
