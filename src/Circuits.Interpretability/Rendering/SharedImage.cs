using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// A batch whose images share part of their parameters (Lucid's image-interpolation parameterization, Captum's
/// <c>SharedImage</c>): each image is its own <see cref="FourierImage"/> plus a sum of <see cref="LowResTensor"/>
/// components whose batch size is 1 (the same for every image) or 2 (interpolated linearly across the batch).
/// Used with <see cref="Objectives.ChannelInterpolate"/>, it keeps the images of an interpolation aligned, so that
/// neighbours differ only where the objective makes them. Colours and squashing apply to the sum, as for any
/// parameterization.
/// </summary>
public sealed class SharedImage : ImageParameterization
{
    private readonly FourierImage _unique;
    private readonly List<LowResTensor> _shared = new();

    /// <summary>Creates the per-image Fourier part and the shared components.</summary>
    /// <param name="batch">Images in the batch.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="seed">Seed of every initial value.</param>
    /// <param name="sharedShapes">
    /// The shapes (batch, channels, height, width) of the shared components; null for
    /// <see cref="LucidShapes"/>. Each size lies between 1 and the image's.
    /// </param>
    /// <param name="options">Colour and initialization options (shared by both parts).</param>
    public SharedImage(int batch, int height, int width, long seed = 0, IReadOnlyList<long[]>? sharedShapes = null, ParameterizationOptions? options = null)
        : base(batch, height, width, options ?? new ParameterizationOptions())
    {
        _unique = new FourierImage(batch, height, width, seed, options: Options);
        OwnPart(_unique);
        var full = new long[] { batch, Channels, height, width };
        IReadOnlyList<long[]> shapes = sharedShapes ?? LucidShapes(batch, Channels, height, width);
        for (int i = 0; i < shapes.Count; i++)
        {
            var component = new LowResTensor(full, shapes[i], seed + 1 + i, Options.InitialScale, device: Options.Device);
            OwnPart(component);
            _shared.Add(component);
        }

        Parameters = _unique.Parameters.Concat(_shared.Select(s => s.Parameter)).ToList();
    }

    /// <inheritdoc />
    public override IReadOnlyList<TorchSharp.Modules.Parameter> Parameters { get; }

    /// <summary>The shared components.</summary>
    public IReadOnlyList<LowResTensor> Shared => _shared;

    /// <summary>
    /// The shared components of Lucid's interpolation notebook, for C channels and an H x W image: batch 1 at
    /// H/2, H/4, H/8 and H/16 (and the same fractions of W), and batch 2 at H/8 and H/16 (sizes at least 1; batch
    /// 2 becomes 1 when the whole batch is one image).
    /// </summary>
    public static IReadOnlyList<long[]> LucidShapes(int batch, int channels, int height, int width)
    {
        long[] At(long b, int k) => new[] { Math.Min(b, batch), channels, Math.Max(1, height / k), Math.Max(1, width / k) };
        return new[] { At(1, 2), At(1, 4), At(1, 8), At(2, 8), At(1, 16), At(2, 16) };
    }

    /// <inheritdoc />
    public override Tensor RawImage()
    {
        Tensor image = _unique.RawImage();
        foreach (LowResTensor s in _shared)
        {
            image = image + s.Value();
        }

        return image;
    }
}
