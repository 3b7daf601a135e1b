using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.Rendering;
using MathNet.Numerics.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

/// <summary>The dataset colour matrix (Captum's dataset KLT matrix) on colours whose covariance is known exactly.</summary>
public class ColorCorrelationTests
{
    /// <summary>An orthonormal basis (a rotation about an oblique axis) and the standard deviation along each axis.</summary>
    private static readonly double[] Sigmas = { 0.3, 0.1, 0.02 };

    private static Matrix<double> Axes()
    {
        var axis = Vector<double>.Build.DenseOfArray(new[] { 1.0, 2, 3 }).Normalize(2);
        double angle = 0.7, c = Math.Cos(angle), s = Math.Sin(angle);
        var k = Matrix<double>.Build.DenseOfArray(new[,] { { 0, -axis[2], axis[1] }, { axis[2], 0, -axis[0] }, { -axis[1], axis[0], 0 } });
        return Matrix<double>.Build.DenseIdentity(3) + (s * k) + ((1 - c) * (k * k)); // Rodrigues' formula
    }

    /// <summary>
    /// An image whose pixels' unbiased covariance is exactly Axes · diag(σ²) · Axesᵀ: normal samples whitened to an
    /// identity sample covariance, then scaled and rotated.
    /// </summary>
    private static Tensor CorrelatedImage(int h, int w, int seed)
    {
        var random = new Random(seed);
        int p = h * w;
        var z = Matrix<double>.Build.Dense(3, p, (_, _) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        var mean = z.RowSums() / p;
        for (int j = 0; j < p; j++)
        {
            z.SetColumn(j, z.Column(j) - mean);
        }

        var whiten = (z * z.Transpose() / (p - 1)).Cholesky().Factor.Inverse();
        var x = Axes() * Matrix<double>.Build.DenseOfDiagonalArray(Sigmas) * whiten * z;
        var values = new float[3 * p];
        for (int c = 0; c < 3; c++)
        {
            for (int j = 0; j < p; j++)
            {
                values[(c * p) + j] = (float)(0.5 + x[c, j]);
            }
        }

        return tensor(values).reshape(3, h, w);
    }

    /// <summary>Captum's definition written as loops: the mean over images of each image's unbiased RGB covariance.</summary>
    private static double[,] NaiveCovariance(IEnumerable<Tensor> images)
    {
        var total = new double[3, 3];
        int count = 0;
        foreach (Tensor image in images)
        {
            float[] v = HandBuiltNet.Values(image);
            int p = v.Length / 3;
            var mean = new double[3];
            for (int c = 0; c < 3; c++)
            {
                for (int j = 0; j < p; j++)
                {
                    mean[c] += v[(c * p) + j] / (double)p;
                }
            }

            for (int a = 0; a < 3; a++)
            {
                for (int b = 0; b < 3; b++)
                {
                    double s = 0;
                    for (int j = 0; j < p; j++)
                    {
                        s += (v[(a * p) + j] - mean[a]) * (v[(b * p) + j] - mean[b]);
                    }

                    total[a, b] += s / (p - 1);
                }
            }

            count++;
        }

        return Matrix<double>.Build.DenseOfArray(total).Divide(count).ToArray();
    }

    [Fact]
    public void The_klt_matrix_of_correlated_colours_recovers_their_axes_scaled_by_their_deviations()
    {
        var images = new[] { CorrelatedImage(16, 16, 1), CorrelatedImage(10, 20, 2), CorrelatedImage(12, 12, 3) };
        var reports = new List<int>();
        ColorCorrelation colors = ColorCorrelation.FromImages(images, new SyncProgress<int>(reports.Add));
        reports.Should().Equal(1, 2, 3);

        Matrix<double> axes = Axes();
        double[,] m = colors.SqrtMatrix;
        for (int k = 0; k < 3; k++)
        {
            // The expected column: the axis scaled by its deviation, signed so that its first entry is positive.
            var expected = axes.Column(k) * Sigmas[k] * Math.Sign(axes[0, k]);
            for (int i = 0; i < 3; i++)
            {
                m[i, k].Should().BeApproximately(expected[i], 1e-5, $"entry ({i}, {k})");
            }
        }

        // M Mᵀ is the covariance, computed independently by loops over the same pixels.
        double[,] naive = NaiveCovariance(images);
        double[,] product = colors.Covariance;
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                product[i, j].Should().BeApproximately(naive[i, j], 1e-8);
            }
        }

        // Normalized: divided by the largest column norm, which is the largest deviation.
        colors.Normalized[1, 0].Should().BeApproximately(m[1, 0] / Sigmas[0], 1e-6);
        foreach (Tensor t in images)
        {
            t.Dispose();
        }
    }

    [Fact]
    public void Imagenet_is_lucids_matrix_and_a_custom_matrix_drives_the_parameterization()
    {
        double[,] lucid = ColorCorrelation.ImageNet.Normalized;
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                lucid[i, j].Should().Be(ColorDecorrelation.SqrtCorrelation[i, j] / ColorDecorrelation.MaxColumnNorm);
            }
        }

        ColorCorrelation custom = ColorCorrelation.FromCovariance(new double[,] { { 0.04, 0.01, 0 }, { 0.01, 0.02, 0 }, { 0, 0, 0.01 } });
        using var pixels = new PixelImage(1, 2, 2, seed: 4, options: new ParameterizationOptions { Colors = custom, InitialScale = 1 });
        float[] raw = HandBuiltNet.Values(pixels.RawImage());
        float[] image = HandBuiltNet.Values(pixels.Image());
        double[,] n = custom.Normalized;
        for (int c = 0; c < 3; c++)
        {
            double mixed = Enumerable.Range(0, 3).Sum(k => n[c, k] * raw[(k * 4) + 1]);
            image[(c * 4) + 1].Should().BeApproximately((float)(1 / (1 + Math.Exp(-mixed))), 1e-6f);
        }

        using Tensor x = randn(2, 3, 4, 4);
        (custom.FromRgb(custom.ToRgb(x)) - x).abs().max().item<float>().Should().BeLessThan(1e-5f);
        FluentActions.Invoking(() => ColorCorrelation.FromCovariance(new double[,] { { 1, 2, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }))
            .Should().Throw<CircuitsException>().WithMessage("*not symmetric*");
        FluentActions.Invoking(() => ColorCorrelation.FromSqrtMatrix(new double[2, 3])).Should().Throw<CircuitsException>().WithMessage("*3 x 3*");
    }

    [Fact]
    public void A_folder_of_pngs_gives_the_mean_covariance_of_its_images_and_bad_folders_are_clear_errors()
    {
        string dir = Directory.CreateTempSubdirectory("circuits-klt-").FullName;
        try
        {
            for (int i = 0; i < 3; i++)
            {
                using Tensor image = CorrelatedImage(12 + i, 9, 10 + i).clamp(0, 1);
                ImageIO.SavePng(image, Path.Combine(dir, $"img{i}.png"));
            }

            File.WriteAllText(Path.Combine(dir, "notes.txt"), "not an image");
            var loaded = Directory.GetFiles(dir, "*.png").Order(StringComparer.Ordinal).Select(f => ImageIO.Load(f)).ToList();
            double[,] expected = NaiveCovariance(loaded);
            ColorCorrelation colors = ColorCorrelation.FromFolder(dir);
            double[,] product = colors.Covariance;
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++)
                {
                    product[i, j].Should().BeApproximately(expected[i, j], 1e-8);
                }
            }

            colors.Source.Should().Contain("3 images in").And.Contain(dir);
            FluentActions.Invoking(() => ColorCorrelation.FromFolder(dir, cancellationToken: new CancellationToken(true))).Should().Throw<OperationCanceledException>();
            string empty = Directory.CreateDirectory(Path.Combine(dir, "empty")).FullName;
            FluentActions.Invoking(() => ColorCorrelation.FromFolder(empty)).Should().Throw<CircuitsException>().WithMessage("*holds no images*looked for .png*");
            FluentActions.Invoking(() => ColorCorrelation.FromFolder(Path.Combine(dir, "missing"))).Should().Throw<CircuitsException>().WithMessage("*does not exist*");
            File.WriteAllText(Path.Combine(empty, "broken.png"), "not a png");
            FluentActions.Invoking(() => ColorCorrelation.FromFolder(empty)).Should().Throw<ImageFormatException>().WithMessage("*broken.png*");
            loaded.ForEach(t => t.Dispose());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class SyncProgress<T> : IProgress<T>
    {
        private readonly Action<T> _report;

        public SyncProgress(Action<T> report) => _report = report;

        public void Report(T value) => _report(value);
    }
}
