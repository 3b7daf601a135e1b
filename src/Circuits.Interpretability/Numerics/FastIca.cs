using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Numerics;

/// <summary>
/// Independent component analysis by FastICA (Hyvärinen 1999), the parallel ("symmetric") variant with the log-cosh
/// contrast, as scikit-learn's <c>FastICA</c> defaults: the rows are centred and whitened onto their k leading
/// principal components (unit variance), then W is iterated as W &lt;- E[g(W z) z^T] - diag(E[g'(W z)]) W with
/// g = tanh, followed by symmetric decorrelation W &lt;- (W W^T)^(-1/2) W, until max |1 - |diag(W_new W^T)|| falls
/// below the tolerance. Independent sources are recovered up to order, sign and scale.
/// </summary>
public static class FastIca
{
    /// <summary>Fits <paramref name="components"/> independent components to the rows of <paramref name="matrix"/> (samples x features).</summary>
    /// <param name="matrix">Samples x features.</param>
    /// <param name="components">How many sources (at most the number of features).</param>
    /// <param name="iterations">The most fixed-point iterations.</param>
    /// <param name="tolerance">Convergence threshold on the change of W.</param>
    /// <param name="seed">Seed of the random starting W.</param>
    /// <exception cref="CircuitsException">The matrix is not 2-D or too small, or components is out of range, or the data has too little variance to whiten.</exception>
    public static IcaResult Fit(Tensor matrix, int components, int iterations = 200, double tolerance = 1e-4, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (iterations < 1 || !(tolerance > 0))
        {
            throw new CircuitsException($"FastICA needs a positive number of iterations and tolerance; got {iterations} and {tolerance}.");
        }

        using var scope = NewDisposeScope();
        using PcaResult pca = Pca.Fit(matrix, components);
        if (pca.ExplainedVariance.Any(v => v <= 1e-12))
        {
            throw new CircuitsException($"FastICA cannot whiten onto {components} components: the data has only {pca.ExplainedVariance.Count(v => v > 1e-12)} directions with variance. Ask for fewer components.");
        }

        Tensor x = matrix.detach().to(ScalarType.Float64);
        long n = x.shape[0];
        // Whitening: z = K (x - mean), K = diag(1 / sqrt(variance)) C, so that z has identity covariance.
        Tensor scale = tensor(pca.ExplainedVariance.Select(v => 1 / Math.Sqrt(v)).ToArray(), ScalarType.Float64).to(x.device);
        Tensor whitening = pca.Components.mul(scale.unsqueeze(1));              // k x D
        Tensor z = x.sub(pca.Mean).mm(whitening.t()).t();                       // k x n
        using var generator = new Generator((ulong)seed);
        Tensor w = Decorrelate(randn(new long[] { components, components }, ScalarType.Float64, generator: generator).to(x.device));
        int done = 0;
        bool converged = false;
        for (int i = 0; i < iterations && !converged; i++)
        {
            using var step = NewDisposeScope();
            Tensor wz = w.mm(z);                                                 // k x n
            Tensor g = wz.tanh();
            Tensor gPrime = g.pow(2).neg().add(1).mean(new long[] { 1 });        // k
            Tensor next = Decorrelate(g.mm(z.t()).div(n).sub(w.mul(gPrime.unsqueeze(1))));
            double change = next.mm(w.t()).diagonal().abs().sub(1).abs().max().item<double>();
            w = next.MoveToOuterDisposeScope();
            done = i + 1;
            converged = change < tolerance;
        }

        Tensor unmixing = w.mm(whitening);                                       // k x D: sources = unmixing (x - mean)
        Tensor mixing = linalg.pinv(unmixing);                                   // D x k
        return new IcaResult(
            pca.Mean.clone().DetachFromDisposeScope(),
            unmixing.DetachFromDisposeScope(),
            mixing.DetachFromDisposeScope(),
            done,
            converged);
    }

    /// <summary>Symmetric decorrelation: (W W^T)^(-1/2) W.</summary>
    private static Tensor Decorrelate(Tensor w)
    {
        var (values, vectors) = linalg.eigh(w.mm(w.t()), 'L');
        Tensor inverseRoot = vectors.mm(diag(values.clamp_min(1e-15).rsqrt())).mm(vectors.t());
        return inverseRoot.mm(w);
    }
}

/// <summary>A fitted ICA. Owns its tensors: dispose it when done.</summary>
public sealed class IcaResult : IDisposable
{
    internal IcaResult(Tensor mean, Tensor components, Tensor mixing, int iterations, bool converged)
    {
        Mean = mean;
        Components = components;
        Mixing = mixing;
        Iterations = iterations;
        Converged = converged;
    }

    /// <summary>The feature means (length D), float64.</summary>
    public Tensor Mean { get; }

    /// <summary>k x D unmixing matrix: sources = Components (x - mean).</summary>
    public Tensor Components { get; }

    /// <summary>D x k mixing matrix: x ≈ Mixing sources + mean.</summary>
    public Tensor Mixing { get; }

    /// <summary>Fixed-point iterations run.</summary>
    public int Iterations { get; }

    /// <summary>Whether the change fell below the tolerance.</summary>
    public bool Converged { get; }

    /// <summary>The sources of each row: (X - mean) Components^T, rows x k, float64. The caller owns the result.</summary>
    public Tensor Transform(Tensor matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (matrix.dim() != 2 || matrix.shape[1] != Mean.shape[0])
        {
            throw new CircuitsException($"A matrix of shape [{string.Join(", ", matrix.shape)}] does not fit this ICA; expected rows x {Mean.shape[0]}.");
        }

        using var scope = NewDisposeScope();
        return matrix.detach().to(ScalarType.Float64).to(Mean.device).sub(Mean).mm(Components.t()).DetachFromDisposeScope();
    }

    /// <summary>Back from sources (rows x k) to features: S Mixing^T + mean. The caller owns the result.</summary>
    public Tensor InverseTransform(Tensor sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.dim() != 2 || sources.shape[1] != Components.shape[0])
        {
            throw new CircuitsException($"Sources of shape [{string.Join(", ", sources.shape)}] do not fit {Components.shape[0]} components; expected rows x {Components.shape[0]}.");
        }

        using var scope = NewDisposeScope();
        return sources.detach().to(ScalarType.Float64).to(Mean.device).mm(Mixing.t()).add(Mean).DetachFromDisposeScope();
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Mean.Dispose();
        Components.Dispose();
        Mixing.Dispose();
    }
}
