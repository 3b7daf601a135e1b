using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// Renders what a layer sees in a real image (Lucid's caricature recipe, <c>feature_inversion</c>): the batch is a
/// trainable image followed by the real one (<see cref="StackImage"/>); both go through the same transforms and
/// the same forward pass, and the objective compares their activations at the layer. A caricature
/// (<see cref="InversionMode.Caricature"/>) exaggerates what the layer responds to; an inversion
/// (<see cref="InversionMode.Inversion"/>) finds an image with the same activations.
/// </summary>
/// <example>
/// <code>
/// using Tensor photo = ImageIO.Load("dog.jpg");
/// using RenderResult caricature = FeatureInversion.Render(model, photo, "mixed4a",
///     new FeatureInversionOptions { Render = new RenderOptions { Steps = 512, ImageSize = 224 } });
/// caricature.SavePng("dog-mixed4a.png");
/// </code>
/// </example>
public static class FeatureInversion
{
    /// <summary>
    /// The recipe's transforms, as Lucid's: pad 8 (grey), jitter 8, scale by one of 0.9, 0.95, 1.05, 1.1 or 1 (1
    /// four times as often), rotate by one of −5..4 degrees or 0 (0 five times more often), jitter 2.
    /// </summary>
    public static IReadOnlyList<IImageTransform> Transforms() => new[]
    {
        Rendering.Transforms.Pad(8),
        Rendering.Transforms.Jitter(8),
        Rendering.Transforms.RandomScale(new[] { 0.9, 0.95, 1.05, 1.1, 1, 1, 1, 1 }),
        Rendering.Transforms.RandomRotate(Enumerable.Range(-5, 10).Select(d => (double)d).Concat(Enumerable.Repeat(0.0, 5)).ToArray()),
        Rendering.Transforms.Jitter(2),
    };

    /// <summary>
    /// Renders layer <paramref name="layer"/>'s view of <paramref name="image"/> (3 x H x W or 1 x 3 x H x W, RGB
    /// in [0, 1]; fitted to a square of <see cref="RenderOptions.ImageSize"/> by <see cref="Fit"/>). The result
    /// holds the render only (one image), its snapshots and the objective history.
    /// </summary>
    /// <exception cref="UnknownLayerException">The model has no layer <paramref name="layer"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static RenderResult Render(
        nn.Module<Tensor, Tensor> model,
        Tensor image,
        string layer,
        FeatureInversionOptions? options = null,
        IProgress<RenderProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(layer);
        options ??= new FeatureInversionOptions();
        RenderOptions render = options.Render;
        Device device = ModelDevice.Resolve(model, render.Device, "RenderOptions.Device");
        using Tensor real = Fit(image, render.ImageSize);
        Objective objective = options.Mode == InversionMode.Caricature
            ? Objectives.DotCompare(layer, 1, options.CossimPow)
            : -Objectives.ActivationDifference(layer, 0, 1);
        if (options.Regularizer is not null)
        {
            objective += options.Regularizer;
        }

        RenderOptions stacked = render with
        {
            BatchSize = 2,
            Transforms = render.Transforms ?? Transforms(),
            Parameterization = (_, h, w, seed) => new StackImage(
                render.Parameterization?.Invoke(1, h, w, seed) ?? new FourierImage(1, h, w, seed, options: new ParameterizationOptions { Device = device }),
                real),
        };

        using RenderResult both = FeatureVisualization.Render(model, objective, stacked, progress, cancellationToken);
        static Tensor First(Tensor t)
        {
            using var scope = NewDisposeScope();
            return t[TensorIndex.Slice(0, 1)].clone().MoveToOuterDisposeScope();
        }

        return new RenderResult(objective, First(both.Images), both.Snapshots.Select(s => (s.Step, First(s.Images))).ToList(), both.ObjectiveHistory);
    }

    /// <summary>
    /// Fits an image to a <paramref name="size"/> x <paramref name="size"/> square: resized (bilinearly, with
    /// antialiasing when shrinking) so that its shorter side is <paramref name="size"/>, then centre-cropped.
    /// Returns 1 x 3 x size x size on the CPU.
    /// </summary>
    public static Tensor Fit(Tensor image, int size)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        using var scope = NewDisposeScope();
        Tensor batch = image.dim() == 3 ? image.unsqueeze(0) : image;
        if (batch.dim() != 4 || batch.shape[0] != 1 || batch.shape[1] != 3)
        {
            throw new CircuitsException($"Feature inversion needs one RGB image, 3 x H x W or 1 x 3 x H x W; got [{string.Join(", ", image.shape)}].");
        }

        long h = batch.shape[2], w = batch.shape[3];
        double s = (double)size / Math.Min(h, w);
        long rh = Math.Max(size, (long)Math.Round(h * s)), rw = Math.Max(size, (long)Math.Round(w * s));
        Tensor x = batch.detach().to(ScalarType.Float32).cpu();
        if (rh != h || rw != w)
        {
            x = nn.functional.interpolate(x, new[] { rh, rw }, mode: InterpolationMode.Bilinear, align_corners: false, antialias: s < 1);
        }

        return Rendering.Transforms.CenterCrop(x, size, size).clamp(0, 1).contiguous().MoveToOuterDisposeScope();
    }
}
