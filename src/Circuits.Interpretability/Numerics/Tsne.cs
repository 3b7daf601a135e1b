using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Numerics;

/// <summary>Settings of <see cref="Tsne.Embed"/>. The defaults follow van der Maaten's and scikit-learn's.</summary>
public sealed record TsneOptions
{
    /// <summary>The effective number of neighbours each point's Gaussian covers. Default 30.</summary>
    public double Perplexity { get; init; } = 30;

    /// <summary>Gradient steps. Default 1000.</summary>
    public int Iterations { get; init; } = 1000;

    /// <summary>Steps with the affinities multiplied by <see cref="EarlyExaggeration"/> (and momentum 0.5). Default 250.</summary>
    public int ExaggerationIterations { get; init; } = 250;

    /// <summary>The early exaggeration factor. Default 12.</summary>
    public double EarlyExaggeration { get; init; } = 12;

    /// <summary>The step size; null (default): max(N / exaggeration / 4, 50), scikit-learn's "auto".</summary>
    public double? LearningRate { get; init; }

    /// <summary>Rows with more columns than this are first reduced to this many principal components. Default 50; 0 keeps them all.</summary>
    public int PcaDimensions { get; init; } = 50;

    /// <summary>Seed of the small random jitter added to the PCA start. Default 0.</summary>
    public int Seed { get; init; }
}

/// <summary>Progress of an embedding: the step just finished and the KL divergence when it was measured.</summary>
/// <param name="Iteration">The step just finished (1-based).</param>
/// <param name="Iterations">All steps.</param>
public readonly record struct TsneProgress(int Iteration, int Iterations);

/// <summary>
/// t-distributed stochastic neighbour embedding (van der Maaten and Hinton 2008), exact: each point's Gaussian
/// bandwidth is found by bisection so that its conditional distribution has the asked perplexity, the affinities
/// are symmetrized (P = (P_j|i + P_i|j) / 2N), and a 2-D layout with Student-t similarities Q is moved down the
/// gradient of KL(P || Q), dy_i = 4 sum_j (p_ij - q_ij) (y_i - y_j) / (1 + |y_i - y_j|^2), with early exaggeration,
/// momentum (0.5, then 0.8) and per-coordinate gains. The layout starts from the first two principal components
/// (scaled to standard deviation 1e-4), which keeps the global arrangement stable and the result deterministic for a
/// seed. Cost is O(N^2) memory and time per step: comfortable up to a few thousand points.
/// </summary>
public static class Tsne
{
    /// <summary>Embeds the rows of <paramref name="matrix"/> (N x D) in 2-D; returns N x 2 float32 coordinates (the caller owns them).</summary>
    /// <exception cref="CircuitsException">The matrix is not 2-D, has fewer than 4 rows or non-finite entries, or the perplexity is not below N - 1.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static Tensor Embed(Tensor matrix, TsneOptions? options = null, IProgress<TsneProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        options ??= new TsneOptions();
        Validate(matrix, options);
        using var scope = NewDisposeScope();
        Tensor x = matrix.detach().to(ScalarType.Float64);
        long n = x.shape[0];
        if (options.PcaDimensions > 0 && x.shape[1] > options.PcaDimensions)
        {
            using PcaResult reduced = Pca.Fit(x, options.PcaDimensions);
            x = reduced.Transform(x);
        }

        Tensor p = JointProbabilities(x, options.Perplexity).to(ScalarType.Float32);
        Tensor y = Start(x, options.Seed).to(ScalarType.Float32);
        double learningRate = options.LearningRate ?? Math.Max(n / options.EarlyExaggeration / 4, 50);
        Tensor velocity = zeros_like(y);
        Tensor gains = ones_like(y);
        for (int step = 1; step <= options.Iterations; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            bool early = step <= options.ExaggerationIterations;
            double momentum = early ? 0.5 : 0.8;
            Tensor grad = Gradient(early ? p.mul(options.EarlyExaggeration) : p, y);
            Tensor sameSign = grad.sign().eq(velocity.sign());
            Tensor newGains = where(sameSign, gains.mul(0.8), gains.add(0.2)).clamp_min(0.01);
            Tensor newVelocity = velocity.mul(momentum).sub(newGains.mul(grad).mul(learningRate));
            Tensor newY = y.add(newVelocity);
            newY = newY.sub(newY.mean(new long[] { 0 }, keepdim: true));
            gains.Dispose();
            velocity.Dispose();
            y.Dispose();
            gains = newGains.MoveToOuterDisposeScope();
            velocity = newVelocity.MoveToOuterDisposeScope();
            y = newY.MoveToOuterDisposeScope();
            progress?.Report(new TsneProgress(step, options.Iterations));
        }

        return y.DetachFromDisposeScope();
    }

    /// <summary>KL(P || Q) of a layout <paramref name="layout"/> (N x 2) for the rows of <paramref name="matrix"/>, with the same affinities as <see cref="Embed"/>.</summary>
    public static double KlDivergence(Tensor matrix, Tensor layout, double perplexity = 30)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentNullException.ThrowIfNull(layout);
        using var scope = NewDisposeScope();
        Tensor p = JointProbabilities(matrix.detach().to(ScalarType.Float64), perplexity);
        Tensor q = StudentT(layout.detach().to(ScalarType.Float64));
        q = q.div(q.sum());
        Tensor mask = p.gt(0);
        return p.masked_select(mask).mul(p.masked_select(mask).div(q.masked_select(mask).clamp_min(1e-300)).log()).sum().item<double>();
    }

    /// <summary>The symmetric affinities P (N x N, zero diagonal, summing to 1).</summary>
    internal static Tensor JointProbabilities(Tensor x, double perplexity)
    {
        long n = x.shape[0];
        Tensor squared = x.pow(2).sum(1);
        Tensor distances = squared.unsqueeze(1).add(squared.unsqueeze(0)).sub(x.mm(x.t()).mul(2)).clamp_min(0);
        Tensor offDiagonal = eye(n, dtype: ScalarType.Bool, device: x.device).logical_not();
        double target = Math.Log(perplexity);
        // Bisection on beta = 1 / (2 sigma^2), every row at once; distances are shifted by the row's smallest
        // (non-self) distance so that exp() cannot underflow to an all-zero row.
        Tensor rowMin = distances.masked_fill(offDiagonal.logical_not(), double.PositiveInfinity).min(1, keepdim: true).values;
        Tensor shifted = distances.sub(rowMin);
        Tensor lo = zeros(new long[] { n, 1 }, ScalarType.Float64, x.device);
        Tensor hi = full(new long[] { n, 1 }, double.PositiveInfinity, ScalarType.Float64, x.device);
        Tensor beta = ones(new long[] { n, 1 }, ScalarType.Float64, x.device).div(shifted.masked_select(offDiagonal).mean().clamp_min(1e-12));
        for (int i = 0; i < 64; i++)
        {
            using var step = NewDisposeScope();
            Tensor entropy = Entropy(shifted, beta, offDiagonal);
            Tensor tooFlat = entropy.gt(target);                    // entropy too high: narrow the Gaussian (raise beta)
            Tensor newLo = where(tooFlat, beta, lo);
            Tensor newHi = where(tooFlat, hi, beta);
            Tensor newBeta = where(newHi.isinf(), beta.mul(2), newLo.add(newHi).div(2));
            lo.Dispose();
            hi.Dispose();
            beta.Dispose();
            lo = newLo.MoveToOuterDisposeScope();
            hi = newHi.MoveToOuterDisposeScope();
            beta = newBeta.MoveToOuterDisposeScope();
        }

        Tensor conditional = shifted.mul(beta).neg().exp().mul(offDiagonal);
        conditional = conditional.div(conditional.sum(1, keepdim: true).clamp_min(1e-300));
        Tensor joint = conditional.add(conditional.t()).div(2 * n);
        return joint.div(joint.sum()).clamp_min(1e-12).mul(offDiagonal);
    }

    /// <summary>The entropy (nats) of each row's conditional distribution exp(-beta d) / sum.</summary>
    private static Tensor Entropy(Tensor shifted, Tensor beta, Tensor offDiagonal)
    {
        Tensor conditional = shifted.mul(beta).neg().exp().mul(offDiagonal);
        Tensor sum = conditional.sum(1, keepdim: true).clamp_min(1e-300);
        return sum.log().add(beta.mul(shifted.mul(conditional).sum(1, keepdim: true)).div(sum));
    }

    private static Tensor Gradient(Tensor p, Tensor y)
    {
        Tensor numerator = StudentT(y);
        Tensor q = numerator.div(numerator.sum()).clamp_min(1e-12);
        Tensor m = p.sub(q).mul(numerator);
        return m.sum(1, keepdim: true).mul(y).sub(m.mm(y)).mul(4);
    }

    /// <summary>1 / (1 + |y_i - y_j|^2) with a zero diagonal.</summary>
    private static Tensor StudentT(Tensor y)
    {
        Tensor squared = y.pow(2).sum(1);
        Tensor d = squared.unsqueeze(1).add(squared.unsqueeze(0)).sub(y.mm(y.t()).mul(2)).clamp_min(0);
        Tensor t = d.add(1).reciprocal();
        return t.sub(diag(t.diagonal()));
    }

    private static Tensor Start(Tensor x, int seed)
    {
        using PcaResult pca = Pca.Fit(x, Math.Min(2, (int)x.shape[1]));
        Tensor y = pca.Transform(x);
        if (y.shape[1] < 2)
        {
            y = cat(new[] { y, zeros_like(y) }, 1);
        }

        double sd = y[TensorIndex.Colon, 0].std().item<double>();
        y = y.div(sd > 0 ? sd : 1).mul(1e-4);
        using var generator = new Generator((ulong)seed);
        return y.add(randn(y.shape, ScalarType.Float64, generator: generator).to(y.device).mul(1e-6));
    }

    private static void Validate(Tensor matrix, TsneOptions options)
    {
        if (matrix.dim() != 2 || matrix.shape[0] < 4)
        {
            throw new CircuitsException($"t-SNE needs a 2-D matrix with at least 4 rows; got shape [{string.Join(", ", matrix.shape)}].");
        }

        if (!(options.Perplexity > 0) || options.Perplexity >= matrix.shape[0] - 1)
        {
            throw new CircuitsException($"Perplexity {options.Perplexity} does not fit {matrix.shape[0]} points; expected a value above 0 and below {matrix.shape[0] - 1} (5 to 50 are usual).");
        }

        if (options.Iterations < 1 || options.ExaggerationIterations < 0 || !(options.EarlyExaggeration >= 1) || options.LearningRate is <= 0)
        {
            throw new CircuitsException($"t-SNE settings out of range: iterations {options.Iterations}, exaggeration iterations {options.ExaggerationIterations}, exaggeration {options.EarlyExaggeration}, learning rate {options.LearningRate}.");
        }

        if (!matrix.isfinite().all().item<bool>())
        {
            throw new CircuitsException("t-SNE needs finite values; the matrix has NaN or infinite entries.");
        }
    }
}
