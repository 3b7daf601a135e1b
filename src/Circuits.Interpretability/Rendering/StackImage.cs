using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// A batch made of a trainable parameterization followed by fixed images (Captum's <c>StackImage</c>; Lucid's
/// caricature recipe stacks its render with the real image the same way): items 0 .. n − 1 are the inner
/// parameterization's images, the rest are the fixed images, which get no gradient. Both pass through the same
/// transforms and the same forward pass, so an objective can compare the render with the real image
/// (<see cref="Objectives.DotCompare"/>, <see cref="Objectives.ActivationDifference"/>). It owns the inner
/// parameterization and a copy of the fixed images; dispose it to free both.
/// </summary>
public sealed class StackImage : ImageParameterization
{
    private readonly ImageParameterization _inner;
    private readonly Tensor _fixed;

    /// <summary>Stacks <paramref name="inner"/> and <paramref name="fixedImages"/> (N x C x H x W or C x H x W, values in [0, 1]).</summary>
    /// <exception cref="CircuitsException">The fixed images' channels or size differ from the inner parameterization's.</exception>
    public StackImage(ImageParameterization inner, Tensor fixedImages)
        : base(inner?.Batch + (int)ItemCount(fixedImages) ?? 1, inner?.Height ?? 1, inner?.Width ?? 1,
            new ParameterizationOptions { Decorrelate = false, Squash = ColorSquash.Clamp, Alpha = inner?.Options.Alpha ?? false, Device = inner?.Options.Device })
    {
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        OwnPart(inner);
        using var scope = NewDisposeScope();
        Tensor images = fixedImages.dim() == 3 ? fixedImages.unsqueeze(0) : fixedImages;
        if (images.dim() != 4 || images.shape[1] != inner.Channels || images.shape[2] != inner.Height || images.shape[3] != inner.Width)
        {
            throw new CircuitsException(
                $"The fixed images have shape [{string.Join(", ", fixedImages.shape)}]; they must match the rendered images: {inner.Channels} x {inner.Height} x {inner.Width}.");
        }

        _fixed = Own(images.detach().to(ScalarType.Float32, inner.Options.Device ?? CPU).clamp(0, 1).clone());
    }

    /// <summary>How many of the first items are rendered (the rest are fixed).</summary>
    public int Rendered => _inner.Batch;

    /// <inheritdoc />
    public override IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => _inner.Parameters;

    /// <summary>
    /// The inner images (already in [0, 1]) followed by the fixed ones. The base class's straight-through clamp then
    /// leaves both unchanged, in value and in gradient.
    /// </summary>
    public override Tensor RawImage() => cat(new[] { _inner.Image(), _fixed }, 0);

    private static long ItemCount(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        return images.dim() == 3 ? 1 : images.shape[0];
    }
}
