using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

public class ParameterizationTests
{
    /// <summary>
    /// The inverse real 2-D DFT of the half spectrum X (H x (W/2+1)), computed by a naive double loop: the
    /// missing half is the complex conjugate mirror, x[m,n] = (1/HW) Σ_k Σ_l X[k,l] e^{2πi(km/H + ln/W)}.
    /// </summary>
    private static double[,] NaiveInverseRealDft(double[,] re, double[,] im, int h, int w)
    {
        var full = new (double Re, double Im)[h, w];
        for (int k = 0; k < h; k++)
        {
            for (int l = 0; l < w; l++)
            {
                if (l <= w / 2)
                {
                    full[k, l] = (re[k, l], im[k, l]);
                }
                else
                {
                    int kk = (h - k) % h, ll = w - l;
                    full[k, l] = (re[kk, ll], -im[kk, ll]);
                }
            }
        }

        var x = new double[h, w];
        for (int m = 0; m < h; m++)
        {
            for (int n = 0; n < w; n++)
            {
                double sum = 0;
                for (int k = 0; k < h; k++)
                {
                    for (int l = 0; l < w; l++)
                    {
                        double angle = 2 * Math.PI * (((double)k * m / h) + ((double)l * n / w));
                        sum += (full[k, l].Re * Math.Cos(angle)) - (full[k, l].Im * Math.Sin(angle));
                    }
                }

                x[m, n] = sum / (h * w);
            }
        }

        return x;
    }

    [Theory]
    [InlineData(8, 8)]
    [InlineData(7, 9)]
    [InlineData(6, 5)]
    public void Fourier_image_equals_an_independent_inverse_dft_of_the_scaled_spectrum(int h, int w)
    {
        using var param = new FourierImage(1, h, w, seed: 3, options: new ParameterizationOptions { Decorrelate = false });
        // A spectrum whose self-conjugate bins (DC and Nyquist) are real, as a real image's must be.
        var random = new Random(11);
        int bins = (w / 2) + 1;
        var re = new double[h, bins];
        var im = new double[h, bins];
        for (int k = 0; k < h; k++)
        {
            for (int l = 0; l < bins; l++)
            {
                re[k, l] = random.NextDouble() - 0.5;
                bool selfConjugate = (l == 0 || (w % 2 == 0 && l == w / 2)) && (k == 0 || (h % 2 == 0 && k == h / 2));
                im[k, l] = selfConjugate ? 0 : random.NextDouble() - 0.5;
            }
        }

        using (no_grad())
        {
            param.Spectrum[0, 0, 0].copy_(tensor(re.Cast<double>().Select(v => (float)v).ToArray()).reshape(h, bins));
            param.Spectrum[1, 0, 0].copy_(tensor(im.Cast<double>().Select(v => (float)v).ToArray()).reshape(h, bins));
        }

        // The same scaling, computed here from its definition.
        var scaled = (Re: new double[h, bins], Im: new double[h, bins]);
        for (int k = 0; k < h; k++)
        {
            double fy = (k <= (h - 1) / 2 ? k : k - h) / (double)h;
            for (int l = 0; l < bins; l++)
            {
                double f = Math.Max(Math.Sqrt((fy * fy) + ((double)l / w * l / w)), 1.0 / Math.Max(h, w));
                double s = Math.Sqrt(h * w) / f;
                scaled.Re[k, l] = re[k, l] * s;
                scaled.Im[k, l] = im[k, l] * s;
            }
        }

        double[,] expected = NaiveInverseRealDft(scaled.Re, scaled.Im, h, w);
        using Tensor raw = param.RawImage().detach();
        float[] actual = HandBuiltNet.Values(raw[0, 0]);
        for (int m = 0; m < h; m++)
        {
            for (int n = 0; n < w; n++)
            {
                actual[(m * w) + n].Should().BeApproximately((float)(expected[m, n] / 4), 1e-4f, $"pixel ({m},{n})");
            }
        }
    }

    [Fact]
    public void Frequencies_follow_fftfreq()
    {
        using Tensor f = FourierImage.Frequencies(4, 5);
        f.shape.Should().Equal(4, 3);
        // fy = [0, .25, -.5, -.25], fx = [0, .2, .4]
        f[2, 1].item<float>().Should().BeApproximately((float)Math.Sqrt((0.5 * 0.5) + (0.2 * 0.2)), 1e-6f);
        f[0, 0].item<float>().Should().Be(0);
    }

    [Fact]
    public void Colour_decorrelation_followed_by_its_inverse_returns_the_input()
    {
        using Tensor x = rand(new long[] { 2, 3, 5, 4 }, generator: new Generator(4));
        using Tensor back = ColorDecorrelation.FromRgb(ColorDecorrelation.ToRgb(x));
        (back - x).abs().max().item<float>().Should().BeLessThan(1e-5f);
        // The mapping is the published matrix over its largest column norm.
        ColorDecorrelation.MaxColumnNorm.Should().BeApproximately(Math.Sqrt((0.26 * 0.26) + (0.27 * 0.27) + (0.27 * 0.27)), 1e-12);
        using Tensor red = ColorDecorrelation.ToRgb(tensor(new float[] { 1, 0, 0 }).reshape(1, 3, 1, 1));
        HandBuiltNet.Values(red).Should().Equal(new[] { 0.26, 0.27, 0.27 }.Select(v => (float)(v / ColorDecorrelation.MaxColumnNorm)),
            (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Theory]
    [InlineData("pixel")]
    [InlineData("fourier")]
    [InlineData("cppn")]
    public void Parameterizations_are_valid_images_deterministic_for_a_seed_and_differentiable(string kind)
    {
        ImageParameterization Make(long seed) => kind switch
        {
            "pixel" => new PixelImage(2, 9, 7, seed),
            "fourier" => new FourierImage(2, 9, 7, seed),
            _ => new CppnImage(2, 9, 7, seed, layers: 3, hidden: 8),
        };

        using var a = Make(5);
        using var b = Make(5);
        using var c = Make(6);
        using Tensor ia = a.Image();
        ia.shape.Should().Equal(2, 3, 9, 7);
        ia.min().item<float>().Should().BeGreaterThanOrEqualTo(0);
        ia.max().item<float>().Should().BeLessThanOrEqualTo(1);
        HandBuiltNet.Values(ia).Should().Equal(HandBuiltNet.Values(b.Image()));
        HandBuiltNet.Values(ia).Should().NotEqual(HandBuiltNet.Values(c.Image()));

        ia.sum().backward();
        a.Parameters.Select(p => p.grad is null ? 0f : p.grad.abs().sum().item<float>()).Should().OnlyContain(g => g > 0);
    }

    [Fact]
    public void Alpha_adds_a_fourth_channel_and_clamp_passes_gradients_through()
    {
        using var alpha = new PixelImage(1, 4, 4, options: new ParameterizationOptions { Alpha = true });
        alpha.Image().shape.Should().Equal(1, 4, 4, 4);

        using var clamped = new PixelImage(1, 2, 2, options: new ParameterizationOptions { Decorrelate = false, Squash = ColorSquash.Clamp });
        using (no_grad())
        {
            clamped.Parameters[0].fill_(3f);
        }

        Tensor image = clamped.Image();
        HandBuiltNet.Values(image).Should().OnlyContain(v => v == 1f);
        image.sum().backward();
        HandBuiltNet.Values(clamped.Parameters[0].grad!).Should().OnlyContain(v => v == 1f, "a straight-through clamp keeps the gradient");
    }
}
