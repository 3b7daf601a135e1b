using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// The image as a real 2-D spectrum (Lucid's <c>fft_image</c>): the trainable values are the real and
/// imaginary parts of the non-redundant half of the spectrum (H x (W/2 + 1) frequencies). Each frequency f
/// (in cycles per pixel, f = sqrt(fy² + fx²)) is scaled by 1 / max(f, 1/max(H, W))^decay · sqrt(H·W), so that
/// gradient steps change all frequencies by comparable amounts in image space; the image is the inverse real
/// FFT of the scaled spectrum, divided by 4. Works for odd and even sizes.
/// </summary>
public sealed class FourierImage : ImageParameterization
{
    private readonly TorchSharp.Modules.Parameter _spectrum; // 2 x N x C x H x (W/2 + 1): real, imaginary
    private readonly Tensor _scale;          // H x (W/2 + 1)

    /// <summary>Creates a random spectrum from <paramref name="seed"/>.</summary>
    /// <param name="batch">Images in the batch.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="seed">Seed of the initial spectrum.</param>
    /// <param name="decayPower">The exponent of the 1/f scaling (1 by default, as Lucid).</param>
    /// <param name="options">Colour and initialization options.</param>
    public FourierImage(int batch, int height, int width, long seed = 0, double decayPower = 1, ParameterizationOptions? options = null)
        : base(batch, height, width, options ?? new ParameterizationOptions())
    {
        DecayPower = decayPower;
        using (var scope = NewDisposeScope())
        {
            _scale = OnDevice(Scale(height, width, decayPower));
        }

        _spectrum = RandomParameter(new long[] { 2, batch, Channels, height, (width / 2) + 1 }, Options.InitialScale, seed);
    }

    /// <summary>The exponent of the 1/f scaling.</summary>
    public double DecayPower { get; }

    /// <inheritdoc />
    public override IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => new[] { _spectrum };

    /// <summary>The trainable spectrum: 2 (real, imaginary) x N x C x H x (W/2 + 1).</summary>
    public Tensor Spectrum => _spectrum;

    /// <summary>
    /// The frequency of every coefficient of a real spectrum of an H x W image, in cycles per pixel:
    /// sqrt(fy² + fx²) with fy = fftfreq(H) and fx = the first W/2 + 1 entries of |fftfreq(W)|.
    /// </summary>
    public static Tensor Frequencies(int height, int width)
    {
        using var scope = NewDisposeScope();
        Tensor fy = fft.fftfreq(height).reshape(height, 1);
        Tensor fx = fft.rfftfreq(width).reshape(1, (width / 2) + 1);
        return (fy.pow(2) + fx.pow(2)).sqrt().MoveToOuterDisposeScope();
    }

    /// <summary>The per-frequency scale: 1 / max(f, 1/max(H, W))^decay · sqrt(H·W).</summary>
    public static Tensor Scale(int height, int width, double decayPower)
    {
        using var scope = NewDisposeScope();
        Tensor f = Frequencies(height, width).clamp_min(1.0 / Math.Max(height, width));
        return (f.pow(-decayPower) * Math.Sqrt((double)height * width)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor RawImage()
    {
        Tensor complexSpectrum = complex(_spectrum[0] * _scale, _spectrum[1] * _scale);
        return fft.irfft2(complexSpectrum, new long[] { Height, Width }) / 4;
    }
}
