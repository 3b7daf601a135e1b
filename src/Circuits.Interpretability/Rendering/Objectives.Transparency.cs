using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

// Transparent renders: Lucid's blur_alpha_each_step.
public static partial class Objectives
{
    /// <summary>
    /// A penalty on the alpha channel of a transparent render (Lucid's <c>blur_alpha_each_step</c>): half the
    /// squared distance between alpha and a blurred copy of it, the copy held constant. Subtracting k times it
    /// moves alpha a step of k towards its blur at every optimization step, which gives transparent renders
    /// (<see cref="ParameterizationOptions.Alpha"/>) smooth, blob-like masks instead of speckle. The blur is Lucid's:
    /// a 3 x 3 kernel with weight 1 in the centre and 0.5 around it, zero outside the image, divided by the same
    /// kernel applied to ones (so the border is a weighted mean over the pixels that exist):
    /// <c>blur_alpha_each_step(image)</c>.
    /// </summary>
    /// <exception cref="CircuitsException">The rendered image has no alpha channel.</exception>
    public static Objective BlurAlphaEachStep(int? batch = null) => new Leaf("blur_alpha_each_step(image)", null, batch, ctx =>
    {
        Tensor image = ctx.Image;
        if (image.shape[1] != 4)
        {
            throw new CircuitsException(
                $"blur_alpha_each_step needs an image with an alpha channel (4 channels); the render has {image.shape[1]}. Set ParameterizationOptions.Alpha = true.");
        }

        Tensor alpha = image[TensorIndex.Colon, TensorIndex.Slice(3, 4)];
        Tensor blurred = LucidBlur(alpha).detach();
        return (alpha - blurred).pow(2).flatten(1).sum(1) * 0.5;
    });

    /// <summary>
    /// Lucid's 3 x 3 blur of every channel: weights 0.5 around a centre of 1, zero padding, normalized by the
    /// kernel's response to ones.
    /// </summary>
    internal static Tensor LucidBlur(Tensor image)
    {
        long c = image.shape[1];
        Tensor kernel = full(new long[] { c, 1, 3, 3 }, 0.5, image.dtype, image.device);
        kernel[TensorIndex.Colon, TensorIndex.Colon, 1, 1] = tensor(1.0f, image.dtype, image.device);
        Tensor sum = nn.functional.conv2d(image, kernel, padding: new long[] { 1, 1 }, groups: c);
        Tensor norm = nn.functional.conv2d(ones_like(image), kernel, padding: new long[] { 1, 1 }, groups: c);
        return sum / norm;
    }
}
