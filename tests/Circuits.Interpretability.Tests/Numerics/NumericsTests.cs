using Circuits.Interpretability.Core;
using Circuits.Interpretability.Numerics;
using MathNet.Numerics.LinearAlgebra;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Numerics;

public class NumericsTests
{
    /// <summary>rows x d data: planted orthonormal directions with variances 25, 9, 4 plus 0.01-variance noise, around a mean.</summary>
    private static (Tensor X, Tensor Directions) LowRank(int rows = 300, int d = 10, int seed = 3)
    {
        var g = new Generator((ulong)seed);
        var (qd, _) = linalg.qr(randn(new long[] { d, 3 }, ScalarType.Float64, generator: g));
        Tensor q = qd.t();   // 3 x d orthonormal
        // Scores with exactly uncorrelated, centred columns (so the planted directions are the exact principal axes but for the noise).
        Tensor raw = randn(new long[] { rows, 3 }, ScalarType.Float64, generator: g);
        var (qs, _) = linalg.qr(raw.sub(raw.mean(new long[] { 0 })));
        Tensor scores = qs.mul(Math.Sqrt(rows - 1)).mul(tensor(new[] { 5.0, 3.0, 2.0 }));
        Tensor mean = arange(d, dtype: ScalarType.Float64);
        Tensor noise = randn(new long[] { rows, d }, ScalarType.Float64, generator: g).mul(0.1);
        return (scores.mm(q).add(mean).add(noise), q);
    }

    [Fact]
    public void Pca_matches_MathNet_svd_of_the_centred_data_and_recovers_the_planted_directions()
    {
        var (x, planted) = LowRank();
        using PcaResult pca = Pca.Fit(x, 3);

        // Independent computation: MathNet's SVD of the centred matrix.
        Matrix<double> m = Matrix<double>.Build.Dense(300, 10, (r, c) => x[r, c].item<double>());
        Vector<double> colMeans = Vector<double>.Build.Dense(10, c => m.Column(c).Average());
        Matrix<double> centred = Matrix<double>.Build.Dense(300, 10, (r, c) => m[r, c] - colMeans[c]);
        var svd = centred.Svd(computeVectors: true);
        for (int k = 0; k < 3; k++)
        {
            double dot = Enumerable.Range(0, 10).Sum(c => pca.Components[k, c].item<double>() * svd.VT[k, c]);
            Math.Abs(dot).Should().BeApproximately(1, 1e-9, $"component {k} is the {k}-th right singular vector");
            pca.ExplainedVariance[k].Should().BeApproximately(svd.S[k] * svd.S[k] / 299, 1e-8);
            // The planted direction k is recovered (variances 25 > 9 > 4 are well apart).
            Math.Abs(pca.Components[k].dot(planted[k]).item<double>()).Should().BeGreaterThan(0.999);
            // Sign convention: the largest-magnitude entry is positive.
            pca.Components[k][pca.Components[k].abs().argmax()].item<double>().Should().BePositive();
        }

        pca.Mean.sub(tensor(colMeans.ToArray())).abs().max().item<double>().Should().BeLessThan(1e-12);
        pca.ExplainedVarianceRatio.Sum().Should().BeGreaterThan(0.99);
        using Tensor back = pca.InverseTransform(pca.Transform(x));
        (back - x).abs().max().item<double>().Should().BeLessThan(0.6, "three components keep all but the 0.1 noise");
    }

    [Fact]
    public void Nmf_on_tensors_reconstructs_a_planted_nonnegative_low_rank_matrix_and_transforms_new_rows()
    {
        var g = new Generator(11);
        // Parts-based data: sparse-ish non-negative weights (cubed uniforms) over four parts.
        Tensor w0 = rand(new long[] { 400, 4 }, ScalarType.Float64, generator: g).pow(3);
        Tensor h0 = rand(new long[] { 4, 16 }, ScalarType.Float64, generator: g).pow(2);
        Tensor x = w0.mm(h0);

        using NmfFactorization f = Nmf.Factorize(x, 4, iterations: 1500, seed: 2);

        double relative = (x - f.W.mm(f.H)).norm().item<double>() / x.norm().item<double>();
        relative.Should().BeLessThan(1e-2);
        f.Error.Should().BeApproximately((x - f.W.mm(f.H)).norm().item<double>(), 1e-9);
        f.ErrorHistory.Zip(f.ErrorHistory.Skip(1)).Should().OnlyContain(t => t.Second <= t.First * (1 + 1e-9));
        f.W.min().item<double>().Should().BeGreaterThanOrEqualTo(0);
        f.H.min().item<double>().Should().BeGreaterThanOrEqualTo(0);

        // New rows made from the same parts: the transform finds non-negative weights that reconstruct them.
        Tensor fresh = rand(new long[] { 50, 4 }, ScalarType.Float64, generator: g).mm(h0);
        using Tensor w = Nmf.Transform(fresh, f.H, iterations: 500);
        ((fresh - w.mm(f.H)).norm().item<double>() / fresh.norm().item<double>()).Should().BeLessThan(2e-2);
        w.min().item<double>().Should().BeGreaterThanOrEqualTo(0);
    }

    [Fact]
    public void FastIca_separates_mixed_independent_sources_up_to_order_sign_and_scale()
    {
        const int n = 2000;
        var random = new Random(5);
        double[] uniform = Enumerable.Range(0, n).Select(_ => (random.NextDouble() * 2) - 1).ToArray();
        double[] laplace = Enumerable.Range(0, n).Select(_ => { double u = random.NextDouble() - 0.5; return -Math.Sign(u) * Math.Log(1 - (2 * Math.Abs(u))); }).ToArray();
        double[] sine = Enumerable.Range(0, n).Select(i => Math.Sin(i * 0.05)).ToArray();
        Tensor sources = stack(new[] { tensor(uniform), tensor(laplace), tensor(sine) }, 1);   // n x 3
        Tensor mixing = tensor(new[] { 1.0, 0.5, 0.3, 0.4, 1.0, -0.6, -0.2, 0.7, 1.0, 0.9, 0.1, 0.2 }).reshape(4, 3);
        Tensor x = sources.mm(mixing.t());                                                       // n x 4 observations

        using IcaResult ica = FastIca.Fit(x, 3, iterations: 500, seed: 1);
        using Tensor recovered = ica.Transform(x);

        ica.Converged.Should().BeTrue();
        // |correlation| between each recovered source and each true source: a permutation matrix.
        var corr = new double[3, 3];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                corr[i, j] = Math.Abs(Correlation(recovered[TensorIndex.Colon, i], sources[TensorIndex.Colon, j]));
            }
        }

        var best = Enumerable.Range(0, 3).Select(i => Enumerable.Range(0, 3).MaxBy(j => corr[i, j])).ToArray();
        best.Distinct().Should().HaveCount(3, "each recovered source matches a different true source");
        for (int i = 0; i < 3; i++)
        {
            corr[i, best[i]].Should().BeGreaterThan(0.99);
        }

        using Tensor back = ica.InverseTransform(recovered);
        (back - x).abs().max().item<double>().Should().BeLessThan(1e-6, "three sources explain rank-3 data exactly");
    }

    [Fact]
    public void Tsne_separates_three_clusters_and_keeps_each_points_neighbours_in_its_cluster()
    {
        var g = new Generator(4);
        Tensor centres = randn(new long[] { 3, 20 }, ScalarType.Float64, generator: g).mul(6);
        Tensor x = cat(Enumerable.Range(0, 3).Select(c => randn(new long[] { 40, 20 }, ScalarType.Float64, generator: g).add(centres[c])).ToArray(), 0);
        int[] label = Enumerable.Range(0, 120).Select(i => i / 40).ToArray();

        using Tensor y = Tsne.Embed(x, new TsneOptions { Perplexity = 15, Iterations = 500 });

        y.shape.Should().Equal(120, 2);
        double[,] d = Distances(y.to(ScalarType.Float64));
        for (int i = 0; i < 120; i++)
        {
            var nearest = Enumerable.Range(0, 120).Where(j => j != i).OrderBy(j => d[i, j]).Take(5);
            nearest.Should().OnlyContain(j => label[j] == label[i], $"point {i}'s nearest neighbours in the layout");
        }

        // Every cluster's points are closer to their own centroid than to any other cluster's points.
        for (int c = 0; c < 3; c++)
        {
            double within = Enumerable.Range(0, 120).Where(i => label[i] == c).SelectMany(i => Enumerable.Range(0, 120).Where(j => label[j] == c).Select(j => d[i, j])).Max();
            double between = Enumerable.Range(0, 120).Where(i => label[i] == c).SelectMany(i => Enumerable.Range(0, 120).Where(j => label[j] != c).Select(j => d[i, j])).Min();
            between.Should().BeGreaterThan(within * 0.5, $"cluster {c} is apart from the others");
        }

        // Same seed, same layout; the layout is a better fit than a random one.
        using Tensor again = Tsne.Embed(x, new TsneOptions { Perplexity = 15, Iterations = 500 });
        (again - y).abs().max().item<float>().Should().Be(0);
        Tsne.KlDivergence(x, y, 15).Should().BeLessThan(Tsne.KlDivergence(x, randn(120, 2, generator: g), 15) / 3);
    }

    [Fact]
    public void Bad_input_is_refused_with_the_value_named()
    {
        FluentActions.Invoking(() => Nmf.Factorize(tensor(new[] { 1.0, -2.0, 3.0, 4.0 }).reshape(2, 2), 1)).Should().Throw<CircuitsException>().WithMessage("*entry (0, 1) is -2*");
        FluentActions.Invoking(() => Pca.Fit(zeros(5, 3), 4)).Should().Throw<CircuitsException>().WithMessage("*3 columns cannot give 4 components*");
        FluentActions.Invoking(() => Tsne.Embed(zeros(10, 3), new TsneOptions { Perplexity = 30 })).Should().Throw<CircuitsException>().WithMessage("Perplexity 30 does not fit 10 points*");
        FluentActions.Invoking(() => FastIca.Fit(zeros(20, 3), 2)).Should().Throw<CircuitsException>().WithMessage("*only 0 directions with variance*");
    }

    private static double Correlation(Tensor a, Tensor b)
    {
        Tensor ac = a - a.mean(), bc = b - b.mean();
        return (ac * bc).sum().item<double>() / Math.Sqrt((ac * ac).sum().item<double>() * (bc * bc).sum().item<double>());
    }

    private static double[,] Distances(Tensor y)
    {
        int n = (int)y.shape[0];
        double[] v = y.contiguous().data<double>().ToArray();
        var d = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double dx = v[2 * i] - v[2 * j], dy = v[(2 * i) + 1] - v[(2 * j) + 1];
                d[i, j] = Math.Sqrt((dx * dx) + (dy * dy));
            }
        }

        return d;
    }
}
