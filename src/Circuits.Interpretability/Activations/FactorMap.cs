using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Activations;

/// <summary>
/// Draws a few factor maps (the output of a <see cref="ChannelReducer"/>) as one RGB image over the input, as
/// Building Blocks shows neuron groups: each factor is divided by its largest value, given a colour (red, green,
/// blue for up to three factors; evenly spaced hues beyond), the coloured maps are added and clipped to [0, 1],
/// resized (bilinear) to the image and, when an image is given, blended with it.
/// </summary>
public static class FactorMap
{
    /// <summary>The colour of factor <paramref name="index"/> of <paramref name="count"/>: red, green, blue for up to three, else the hue index / count.</summary>
    public static (float R, float G, float B) ColorOf(int index, int count)
    {
        if (count <= 3)
        {
            return index switch { 0 => (1f, 0f, 0f), 1 => (0f, 1f, 0f), _ => (0f, 0f, 1f) };
        }

        double h = 6.0 * index / count;
        double x = 1 - Math.Abs((h % 2) - 1);
        var (r, g, b) = (int)h switch
        {
            0 => (1.0, x, 0.0),
            1 => (x, 1.0, 0.0),
            2 => (0.0, 1.0, x),
            3 => (0.0, x, 1.0),
            4 => (x, 0.0, 1.0),
            _ => (1.0, 0.0, x),
        };
        return ((float)r, (float)g, (float)b);
    }

    /// <summary>
    /// Renders factors (1 x k x h x w or k x h x w) as a 3 x <paramref name="height"/> x <paramref name="width"/> image in [0, 1].
    /// Negative values count as 0 (use NMF, or PosNeg, for factors that are non-negative). With <paramref name="image"/>
    /// (3 x H x W or 1 x 3 x H x W in [0, 1], resized if needed) the result is image · <paramref name="imageWeight"/> +
    /// colours · (1 - <paramref name="imageWeight"/>). <paramref name="smooth"/> false resizes by nearest neighbour (for
    /// weight maps, whose cells are distinct weights). The caller owns the result.
    /// </summary>
    /// <exception cref="CircuitsException">The factors are not k x h x w (k ≥ 1), the size is not positive, or the weight is outside [0, 1].</exception>
    public static Tensor Render(Tensor factors, int height, int width, Tensor? image = null, double imageWeight = 0.5, bool smooth = true)
    {
        ArgumentNullException.ThrowIfNull(factors);
        Tensor f3 = factors.dim() == 4 && factors.shape[0] == 1 ? factors[0] : factors;
        if (f3.dim() != 3 || f3.shape[0] < 1 || height < 1 || width < 1 || !(imageWeight is >= 0 and <= 1))
        {
            throw new CircuitsException($"Factor maps of shape [{string.Join(", ", factors.shape)}] cannot be drawn at {height} x {width} with image weight {imageWeight}; expected k x h x w (or 1 x k x h x w), a positive size and a weight in [0, 1].");
        }

        using var scope = NewDisposeScope();
        Tensor f = f3.detach().to(ScalarType.Float32).cpu().clamp_min(0);
        int k = (int)f.shape[0];
        Tensor max = f.flatten(1).max(1).values.clamp_min(1e-12).reshape(k, 1, 1);
        Tensor normalized = f.div(max);
        Tensor colours = tensor(Enumerable.Range(0, k).SelectMany(i => { var c = ColorOf(i, k); return new[] { c.R, c.G, c.B }; }).ToArray()).reshape(k, 3);
        Tensor rgb = einsum("khw,kc->chw", normalized, colours).clamp(0, 1).unsqueeze(0);
        rgb = (smooth
            ? nn.functional.interpolate(rgb, new long[] { height, width }, mode: InterpolationMode.Bilinear, align_corners: false)
            : nn.functional.interpolate(rgb, new long[] { height, width }, mode: InterpolationMode.Nearest)).clamp(0, 1)[0];
        if (image is not null)
        {
            Tensor im = (image.dim() == 4 ? image : image.unsqueeze(0)).detach().to(ScalarType.Float32).cpu();
            if (im.shape[1] != 3)
            {
                throw new CircuitsException($"The image has shape [{string.Join(", ", image.shape)}]; expected 3 x H x W or 1 x 3 x H x W (RGB).");
            }

            if (im.shape[2] != height || im.shape[3] != width)
            {
                im = nn.functional.interpolate(im, new long[] { height, width }, mode: InterpolationMode.Bilinear, align_corners: false);
            }

            rgb = im[0].mul(imageWeight).add(rgb.mul(1 - imageWeight)).clamp(0, 1);
        }

        return rgb.contiguous().DetachFromDisposeScope();
    }
}
