using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Activations;

/// <summary>
/// Attribution maps over a source layer's positions, one per target (a later layer's position, or a class). Owns
/// <see cref="Maps"/>: dispose it when done.
/// </summary>
public sealed class SpatialAttributionResult : IDisposable
{
    internal SpatialAttributionResult(string source, string target, Tensor maps, IReadOnlyList<string> labels, int targetHeight, int targetWidth)
    {
        Source = source;
        Target = target;
        Maps = maps;
        Labels = labels;
        TargetHeight = targetHeight;
        TargetWidth = targetWidth;
    }

    /// <summary>The earlier layer whose positions are attributed to.</summary>
    public string Source { get; }

    /// <summary>The later layer, or <c>classes</c>.</summary>
    public string Target { get; }

    /// <summary>T x Hs x Ws: map t is the attribution of target t over the source positions (float32, CPU or the model's device).</summary>
    public Tensor Maps { get; }

    /// <summary>A label per target: <c>layer@y,x</c> or <c>class k</c>.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The target layer's height (0 for classes); target (y, x) is map y · <see cref="TargetWidth"/> + x.</summary>
    public int TargetHeight { get; }

    /// <summary>The target layer's width (0 for classes).</summary>
    public int TargetWidth { get; }

    /// <summary>The index of target position (y, x) in <see cref="Maps"/>.</summary>
    /// <exception cref="UnitOutOfRangeException">The result is for classes, or the position is outside the target layer.</exception>
    public int IndexOf(int y, int x)
    {
        if (TargetHeight == 0 || y < 0 || x < 0 || y >= TargetHeight || x >= TargetWidth)
        {
            throw new UnitOutOfRangeException(TargetHeight == 0
                ? $"This attribution is to classes ({string.Join(", ", Labels)}); index its maps directly."
                : $"Position ({y}, {x}) is outside layer '{Target}', which has {TargetHeight} x {TargetWidth} positions.");
        }

        return (y * TargetWidth) + x;
    }

    /// <summary>The map of target position (y, x): Hs x Ws, a view of <see cref="Maps"/>.</summary>
    public Tensor Map(int y, int x) => Maps[IndexOf(y, x)];

    /// <summary>
    /// Draws map <paramref name="index"/> as a 3 x S x S heat map (S: the image's size, else <paramref name="size"/>):
    /// positive attribution in <see cref="WeightImage.PositiveColor"/>, negative in <see cref="WeightImage.NegativeColor"/>,
    /// opacity |v| / max |v| (the largest over all maps when <paramref name="sharedScale"/>, so heat maps compare), over
    /// the image (or white), upsampled bilinearly from the source positions. The caller owns the result.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is outside the maps.</exception>
    public Tensor HeatMap(int index, Tensor? image = null, int size = 224, bool sharedScale = true)
    {
        if (index < 0 || index >= Maps.shape[0])
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"Map {index} does not exist; there are {Maps.shape[0]} ({Labels[0]} ...).");
        }

        using var scope = NewDisposeScope();
        Tensor map = Maps[index].detach().to(ScalarType.Float32).cpu();
        double max = (sharedScale ? Maps : map).abs().max().item<float>();
        Tensor background;
        if (image is null)
        {
            background = ones(3, size, size);
        }
        else
        {
            Tensor im = image.dim() == 4 ? image[0] : image;
            if (im.dim() != 3 || im.shape[0] != 3)
            {
                throw new ImageFormatException($"The image has shape [{string.Join(", ", image.shape)}]; expected 3 x H x W or 1 x 3 x H x W (RGB in [0, 1]).");
            }

            background = im.detach().to(ScalarType.Float32).cpu();
        }

        long h = background.shape[1], w = background.shape[2];
        Tensor scaled = max > 0 ? map.div(max) : zeros_like(map);
        Tensor up = nn.functional.interpolate(scaled.reshape(1, 1, scaled.shape[0], scaled.shape[1]), new[] { h, w }, mode: InterpolationMode.Bilinear, align_corners: false)[0, 0].clamp(-1, 1);
        Tensor alpha = up.abs().unsqueeze(0);
        Rgb p = WeightImage.PositiveColor, n = WeightImage.NegativeColor;
        Tensor colour = where(up.ge(0).unsqueeze(0), tensor(new[] { p.R, p.G, p.B }).reshape(3, 1, 1), tensor(new[] { n.R, n.G, n.B }).reshape(3, 1, 1));
        return background.mul(alpha.neg().add(1)).add(colour.mul(alpha)).clamp(0, 1).contiguous().DetachFromDisposeScope();
    }

    /// <summary>Frees the maps.</summary>
    public void Dispose() => Maps.Dispose();
}
