using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>How unconstrained values become valid colours in [0, 1].</summary>
public enum ColorSquash
{
    /// <summary>A sigmoid (smooth, never exactly 0 or 1), as Lucid does by default.</summary>
    Sigmoid,

    /// <summary>Clamp to [0, 1] in value while passing gradients through unchanged (a straight-through clamp).</summary>
    Clamp,
}

/// <summary>Options shared by the image parameterizations.</summary>
public sealed record ParameterizationOptions
{
    /// <summary>Optimize in decorrelated colour space (see <see cref="ColorDecorrelation"/>). Default true.</summary>
    public bool Decorrelate { get; init; } = true;

    /// <summary>
    /// The colour space used when <see cref="Decorrelate"/> is on. Default null: ImageNet's, as Lucid
    /// (<see cref="ColorCorrelation.ImageNet"/>); <see cref="ColorCorrelation.FromFolder"/> gives your own images' colours.
    /// </summary>
    public ColorCorrelation? Colors { get; init; }

    /// <summary>How to map to [0, 1]. Default <see cref="ColorSquash.Sigmoid"/>.</summary>
    public ColorSquash Squash { get; init; } = ColorSquash.Sigmoid;

    /// <summary>Add a fourth (alpha) channel for transparent renders. Default false.</summary>
    public bool Alpha { get; init; }

    /// <summary>Standard deviation of the random initial values. Default 0.01.</summary>
    public double InitialScale { get; init; } = 0.01;

    /// <summary>The device of the parameters (the random values are drawn on the CPU, so a seed gives the same start everywhere). Default CPU.</summary>
    public Device? Device { get; init; }
}

/// <summary>
/// Turns trainable parameters into a batch of images (N x C x H x W, values in [0, 1], C = 3, or 4 with
/// alpha). The parameterization owns its parameters (leaf tensors) and every constant tensor it made with
/// <see cref="OnDevice"/> or <see cref="Own"/> (spectrum scales, coordinate grids); dispose it to free them all.
/// </summary>
public abstract class ImageParameterization : IDisposable
{
    private readonly List<IDisposable> _owned = new();
    private bool _disposed;

    /// <summary>Creates the parameterization's shape.</summary>
    protected ImageParameterization(int batch, int height, int width, ParameterizationOptions options)
    {
        if (batch <= 0 || height <= 0 || width <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), $"Batch ({batch}), height ({height}) and width ({width}) must all be positive.");
        }

        Batch = batch;
        Height = height;
        Width = width;
        Options = options ?? throw new ArgumentNullException(nameof(options));
    }

    /// <summary>The batch size.</summary>
    public int Batch { get; }

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Channels of the images: 3, or 4 with alpha.</summary>
    public int Channels => Options.Alpha ? 4 : 3;

    /// <summary>The options.</summary>
    public ParameterizationOptions Options { get; }

    /// <summary>The trainable leaf tensors.</summary>
    public abstract IReadOnlyList<TorchSharp.Modules.Parameter> Parameters { get; }

    /// <summary>The current images, differentiable with respect to <see cref="Parameters"/>.</summary>
    public Tensor Image()
    {
        Tensor raw = RawImage();
        Tensor rgb = raw[TensorIndex.Colon, TensorIndex.Slice(0, 3)];
        if (Options.Decorrelate)
        {
            rgb = (Options.Colors ?? ColorCorrelation.ImageNet).ToRgb(rgb);
        }

        rgb = Squash(rgb);
        return Options.Alpha ? cat(new[] { rgb, Squash(raw[TensorIndex.Colon, TensorIndex.Slice(3, 4)]) }, 1) : rgb;
    }

    /// <summary>The unconstrained image before colour mapping and squashing (N x C x H x W).</summary>
    public abstract Tensor RawImage();

    /// <summary>Frees the parameters and every tensor the parameterization owns. Safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var p in Parameters)
        {
            p.Dispose();
        }

        foreach (IDisposable t in _owned)
        {
            t.Dispose();
        }

        _owned.Clear();
        GC.SuppressFinalize(this);
    }

    private Tensor Squash(Tensor t) => Options.Squash == ColorSquash.Sigmoid
        ? t.sigmoid()
        : t + (t.clamp(0, 1) - t).detach();

    /// <summary>Normal random values from a generator seeded with <paramref name="seed"/>, as a trainable parameter.</summary>
    protected TorchSharp.Modules.Parameter RandomParameter(long[] shape, double scale, long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var scope = NewDisposeScope();
        Tensor values = (randn(shape, generator: generator) * scale).to(Options.Device ?? CPU);
        return new TorchSharp.Modules.Parameter(values.detach().clone().DetachFromDisposeScope(), requires_grad: true);
    }

    /// <summary>A constant tensor moved to the parameterization's device, outside any dispose scope, owned (freed on <see cref="Dispose"/>).</summary>
    protected Tensor OnDevice(Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Own(value.to(Options.Device ?? CPU));
    }

    /// <summary>Frees <paramref name="part"/> (an inner parameterization, a <see cref="LowResTensor"/>) with the parameterization.</summary>
    protected void OwnPart(IDisposable part)
    {
        ArgumentNullException.ThrowIfNull(part);
        _owned.Add(part);
    }

    /// <summary>Takes <paramref name="value"/> out of any dispose scope and frees it with the parameterization.</summary>
    protected Tensor Own(Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _owned.Add(value.DetachFromDisposeScope());
        return value;
    }
}
