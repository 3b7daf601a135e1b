using Circuits.Interpretability.Core;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Analysis.Equivariance;

/// <summary>
/// Rotation equivariance, as the Circuits thread's "Naturally Occurring Equivariance" studies it: a family of
/// units is rotation-equivariant with step s when rotating unit k's feature (its weights in pixel space, or its
/// feature visualization) by s gives unit k + 1's. <see cref="MatchRotations"/> matches every unit's rotated
/// image against every unit's image and reports the matching and scores.
/// </summary>
/// <example>
/// <code>
/// using var model = new CurveCircuit();
/// using Tensor weights = model.DesignedInputToCurveWeights();          // 16 x 3 x 19 x 19, in pixel space
/// RotationMatching m = Equivariance.MatchRotations(weights, model.CurveStepDegrees);
/// // m.Shift == 1, m.Consistency == 1
/// </code>
/// </example>
public static class Equivariance
{
    /// <summary>
    /// Rotates each image of <paramref name="units"/> (N x C x H x W: per-unit weights or feature
    /// visualizations, the family in order) by <paramref name="stepDegrees"/> counter-clockwise about its
    /// centre and correlates it with every unit's unrotated image, inside the inscribed disc.
    /// </summary>
    /// <exception cref="CircuitsException">The tensor is not N x C x H x W with N ≥ 2, or an option is out of range.</exception>
    public static RotationMatching MatchRotations(Tensor units, double stepDegrees, EquivarianceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(units);
        options ??= new EquivarianceOptions();
        if (units.dim() != 4 || units.shape[0] < 2)
        {
            throw new CircuitsException($"MatchRotations needs a family N x C x H x W with N >= 2; got shape [{string.Join(", ", units.shape)}].");
        }

        if (!double.IsFinite(stepDegrees))
        {
            throw new CircuitsException($"The rotation step {stepDegrees} is not a finite number of degrees.");
        }

        if (!(options.DiscFraction > 0 && options.DiscFraction <= 1.5))
        {
            throw new CircuitsException($"EquivarianceOptions.DiscFraction is {options.DiscFraction}; expected more than 0 and at most 1.5.");
        }

        long n = units.shape[0], c = units.shape[1], h = units.shape[2], w = units.shape[3];
        using var scope = NewDisposeScope();
        Tensor images = units.detach().to(ScalarType.Float32).cpu();
        Tensor rotated = Transforms.Rotate(images, stepDegrees);
        if (options.InputChannelShift % c != 0)
        {
            rotated = rotated.roll(options.InputChannelShift, 1);
        }

        double radius = options.DiscFraction * Math.Min(h, w) / 2.0;
        Tensor ys = arange(h, ScalarType.Float32).sub((h - 1) / 2.0).unsqueeze(1);
        Tensor xs = arange(w, ScalarType.Float32).sub((w - 1) / 2.0).unsqueeze(0);
        Tensor mask = (ys.pow(2) + xs.pow(2)).le(radius * radius).expand(c, h, w).flatten();
        Tensor a = Standardize(rotated.flatten(1).index_select(1, mask.nonzero().flatten()));
        Tensor b = Standardize(images.flatten(1).index_select(1, mask.nonzero().flatten()));
        double[] values = a.matmul(b.t()).to(ScalarType.Float64).data<double>().ToArray();
        var similarity = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                similarity[i, j] = values[(i * n) + j];
            }
        }

        return new RotationMatching(stepDegrees, similarity);
    }

    /// <summary>
    /// Renders a feature visualization of every unit in <paramref name="channels"/> of <paramref name="layer"/>
    /// (the neuron at the centre of the activation, one batch item per unit), crops the centre
    /// <paramref name="cropSize"/> x <paramref name="cropSize"/> pixels (the units' receptive field is a good
    /// choice) and matches their rotations with <see cref="MatchRotations"/>. The rendered crops are returned
    /// too (N x 3 x cropSize x cropSize; the caller disposes them).
    /// </summary>
    /// <remarks>
    /// The default render has no transformations (256 steps, an image twice the crop): jitter would move the
    /// feature off the centre and rotation jitter would blur the very orientation being compared. Name the
    /// layer <b>before</b> a ReLU (for example a conv) when units start at exactly zero: the render loop reads
    /// the objective's layer before its redirected-ReLU gradient applies, so a ReLU output that is 0 everywhere
    /// on the initial image gets no gradient.
    /// </remarks>
    public static (RotationMatching Matching, Tensor Visualizations) MatchRenderedRotations(
        nn.Module<Tensor, Tensor> model,
        string layer,
        IReadOnlyList<int> channels,
        double stepDegrees,
        int cropSize,
        RenderOptions? render = null,
        EquivarianceOptions? options = null,
        IProgress<RenderProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(channels);
        render ??= new RenderOptions { Steps = 256, ImageSize = 2 * cropSize, Transforms = Array.Empty<IImageTransform>() };
        if (cropSize <= 0 || cropSize > render.ImageSize)
        {
            throw new CircuitsException($"The crop size {cropSize} must lie between 1 and the rendered image size {render.ImageSize}.");
        }

        Objective objective = Objective.Sum(channels.Select((ch, i) => Objectives.Neuron(new NeuronAddress(layer, ch), batch: i)));
        using RenderResult result = FeatureVisualization.Render(model, objective, render with { BatchSize = channels.Count }, progress, cancellationToken);
        int start = (render.ImageSize / 2) - (cropSize / 2);
        Tensor crops = result.Images[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(start, start + cropSize), TensorIndex.Slice(start, start + cropSize)].clone();
        return (MatchRotations(crops, stepDegrees, options), crops);
    }

    private static Tensor Standardize(Tensor rows)
    {
        Tensor centred = rows - rows.mean(new long[] { 1 }, keepdim: true);
        return centred / (centred.norm(1, true) + 1e-12);
    }
}
