using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

// Comparisons with a real image, for feature inversion and caricatures: Lucid's input_diff and the caricature recipe's dot_compare, and the mean squared activation difference.
public static partial class Objectives
{
    /// <summary>
    /// A penalty: the root mean square difference between the image and <paramref name="original"/> (C x H x W or
    /// N x C x H x W, values in [0, 1]), per batch item: sqrt(mean((image − original)²) + 1e-12) (Lucid's
    /// <c>input_diff</c>; the 1e-12 keeps the gradient finite where the two are equal). Subtract it to keep a
    /// render close to a given image, as adversarial examples and feature inversions do: <c>input_diff(image)</c>.
    /// When the image has an alpha channel and <paramref name="original"/> has three, only RGB is compared. The
    /// caller keeps ownership of the tensor.
    /// </summary>
    public static Objective InputDifference(Tensor original, int? batch = null)
    {
        ArgumentNullException.ThrowIfNull(original);
        if (original.dim() is not (3 or 4))
        {
            throw new CircuitsException($"input_diff needs a C x H x W or N x C x H x W image; got [{string.Join(", ", original.shape)}].");
        }

        return new Leaf("input_diff(image)", null, batch, ctx =>
        {
            Tensor image = ctx.Image;
            Tensor o = (original.dim() == 3 ? original.unsqueeze(0) : original).to(image.dtype, image.device);
            if (image.shape[1] == 4 && o.shape[1] == 3)
            {
                image = image[TensorIndex.Colon, TensorIndex.Slice(0, 3)];
            }

            if (o.shape[1] != image.shape[1] || o.shape[2] != image.shape[2] || o.shape[3] != image.shape[3] || (o.shape[0] != 1 && o.shape[0] != image.shape[0]))
            {
                throw new CircuitsException(
                    $"input_diff compares with an image of shape [{string.Join(", ", original.shape)}], but the rendered batch is [{string.Join(", ", ctx.Image.shape)}]; expected the same channels, height and width.");
            }

            return ((image - o).pow(2).flatten(1).mean(new long[] { 1 }) + 1e-12).sqrt();
        });
    }

    /// <summary>
    /// The caricature objective of Lucid's caricature recipe (<c>dot_compare</c>): with a = the activation of
    /// batch item 0 (the render) and b = that of item <paramref name="batch"/> (the real image), the value is
    /// ⟨a, b⟩ · max(0.1, ⟨a, b⟩ / (1e-6 + |a|))^<paramref name="cossimPow"/>, the dot product taken over every
    /// channel and position. Maximizing it renders an image whose activations point the way the real image's do,
    /// and exaggerates them: <c>dot_compare(layer, 1)</c>.
    /// </summary>
    public static Objective DotCompare(string layer, int batch = 1, double cossimPow = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        CheckPower(cossimPow);
        return new WholeBatch($"dot_compare({layer}, {batch}{PowSuffix(cossimPow)})", new[] { layer }, batch, ctx =>
        {
            Tensor acts = ctx.Activation(layer);
            CheckItem(acts, batch, layer);
            Tensor a = acts[0], b = acts[batch];
            Tensor dot = (a * b).sum();
            return cossimPow == 0 ? dot : dot * (dot / ((a.pow(2).sum() + 1e-12).sqrt() + 1e-6)).clamp_min(0.1).pow(cossimPow);
        });
    }

    /// <summary>
    /// A penalty: the mean squared difference between the activations of batch items <paramref name="batch"/>
    /// and <paramref name="reference"/> over every channel and position. Subtracted, it makes item
    /// <paramref name="batch"/> a feature inversion of item <paramref name="reference"/>: an image the layer cannot
    /// tell from the real one (Mahendran and Vedaldi's inversion): <c>activation_diff(layer, 0, 1)</c>.
    /// </summary>
    public static Objective ActivationDifference(string layer, int batch = 0, int reference = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(reference);
        if (batch == reference)
        {
            throw new ArgumentException($"batch and reference must be different items; both are {batch}.", nameof(reference));
        }

        return new WholeBatch($"activation_diff({layer}, {batch}, {reference})", new[] { layer }, Math.Max(batch, reference), ctx =>
        {
            Tensor acts = ctx.Activation(layer);
            CheckItem(acts, Math.Max(batch, reference), layer);
            return (acts[batch] - acts[reference]).pow(2).mean();
        });
    }

    private static void CheckItem(Tensor activation, int item, string layer)
    {
        if (item >= activation.shape[0])
        {
            throw new UnitOutOfRangeException($"The objective compares batch item {item} of layer '{layer}', but the batch has {activation.shape[0]} items.");
        }
    }
}
