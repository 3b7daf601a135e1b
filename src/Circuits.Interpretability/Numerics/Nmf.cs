using Circuits.Interpretability.Core;
using MathNet.Numerics.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Numerics;

/// <summary>A non-negative factorization X ~ W H.</summary>
/// <param name="W">Rows x rank, non-negative.</param>
/// <param name="H">Rank x columns, non-negative.</param>
/// <param name="ErrorHistory">The Frobenius norm of X - W H after each iteration (non-increasing).</param>
public sealed record NmfResult(Matrix<double> W, Matrix<double> H, IReadOnlyList<double> ErrorHistory)
{
    /// <summary>The final ||X - W H||_F.</summary>
    public double Error => ErrorHistory.Count == 0 ? double.NaN : ErrorHistory[^1];
}

/// <summary>
/// Non-negative matrix factorization by Lee and Seung's multiplicative updates for the Frobenius norm,
/// H &lt;- H * (W^T X) / (W^T W H), W &lt;- W * (X H^T) / (W H H^T), started from NNDSVD (the non-negative parts
/// of the leading singular vectors, Boutsidis and Gallopoulos 2008) with its zeros replaced by small seeded
/// random values, which avoids the poor local optima of a purely random start. Each update never increases
/// ||X - W H||_F. The work runs on float64 tensors (libtorch's BLAS), so large activation matrices
/// (hundreds of thousands of rows) factorize in seconds; the <see cref="Matrix{T}"/> overload is a convenience
/// for small data.
/// </summary>
public static class Nmf
{
    private const double Epsilon = 1e-12;

    /// <summary>Factorizes a non-negative matrix into <paramref name="rank"/> factors.</summary>
    /// <exception cref="CircuitsException">The matrix has a negative or non-finite entry, or rank or iterations is not positive.</exception>
    public static NmfResult Factorize(Matrix<double> matrix, int rank, int iterations = 500, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        using var scope = NewDisposeScope();
        using var factors = Factorize(MatrixTensors.FromMatrix(matrix), rank, iterations, seed);
        return new NmfResult(MatrixTensors.ToMatrix(factors.W), MatrixTensors.ToMatrix(factors.H), factors.ErrorHistory);
    }

    /// <summary>
    /// Factorizes a non-negative rows x columns tensor into W (rows x rank) and H (rank x columns), in float64 on the
    /// tensor's device. The caller owns the returned tensors.
    /// </summary>
    /// <exception cref="CircuitsException">The tensor is not 2-D, has a negative or non-finite entry, or rank or iterations is not positive.</exception>
    public static NmfFactorization Factorize(Tensor matrix, int rank, int iterations = 500, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (rank <= 0 || iterations <= 0)
        {
            throw new CircuitsException($"NMF needs a positive rank and number of iterations; got rank {rank} and {iterations} iterations.");
        }

        using var scope = NewDisposeScope();
        Tensor x = Checked(matrix);
        var (w, h) = Initialize(x, rank, seed);
        w = w.DetachFromDisposeScope();
        h = h.DetachFromDisposeScope();
        var history = new List<double>(iterations);
        try
        {
            for (int i = 0; i < iterations; i++)
            {
                using var step = NewDisposeScope();
                Tensor wt = w.t();
                Tensor newH = h.mul(wt.mm(x).div(wt.mm(w).mm(h).add(Epsilon)));
                Tensor ht = newH.t();
                Tensor newW = w.mul(x.mm(ht).div(w.mm(newH.mm(ht)).add(Epsilon)));
                history.Add(x.sub(newW.mm(newH)).norm().item<double>());
                w.Dispose();
                h.Dispose();
                w = newW.DetachFromDisposeScope();
                h = newH.DetachFromDisposeScope();
            }
        }
        catch
        {
            w.Dispose();
            h.Dispose();
            throw;
        }

        return new NmfFactorization(w, h, history);
    }

    /// <summary>
    /// The non-negative W that best reconstructs <paramref name="matrix"/> as W H for fixed components H
    /// (rank x columns): multiplicative updates of W alone, started from the clipped least-squares solution. This is
    /// how a fitted factorization is applied to new rows (scikit-learn's <c>NMF.transform</c>). The caller owns the result.
    /// </summary>
    /// <exception cref="CircuitsException">The shapes do not match, or the matrix or H has a negative or non-finite entry.</exception>
    public static Tensor Transform(Tensor matrix, Tensor components, int iterations = 200)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentNullException.ThrowIfNull(components);
        using var scope = NewDisposeScope();
        Tensor x = Checked(matrix);
        Tensor h = Checked(components).to(x.device);
        if (h.shape[1] != x.shape[1])
        {
            throw new CircuitsException($"The components have {h.shape[1]} columns; the matrix has {x.shape[1]}. Expected the same number of columns (channels).");
        }

        Tensor ht = h.t();
        Tensor gram = h.mm(ht);
        Tensor xht = x.mm(ht);
        Tensor w = xht.mm(linalg.pinv(gram)).clamp_min(0);
        double fill = Math.Max(x.mean().item<double>(), Epsilon) / 100;
        w = where(w.gt(0), w, full_like(w, fill));
        for (int i = 0; i < iterations; i++)
        {
            w = w.mul(xht.div(w.mm(gram).add(Epsilon)));
        }

        return w.DetachFromDisposeScope();
    }

    /// <summary>
    /// NNDSVD: the non-negative parts of the leading singular pairs, from the eigenvectors of X^T X (cheap when the
    /// rows far outnumber the columns), zeros filled with seeded random values in [0, mean(X)/100).
    /// </summary>
    private static (Tensor W, Tensor H) Initialize(Tensor x, int rank, int seed)
    {
        long rows = x.shape[0], cols = x.shape[1];
        var (eigenvalues, eigenvectors) = linalg.eigh(x.t().mm(x), 'L');
        Tensor w = zeros(new[] { rows, (long)rank }, ScalarType.Float64, x.device);
        Tensor h = zeros(new[] { (long)rank, cols }, ScalarType.Float64, x.device);
        int available = (int)Math.Min(rank, cols);
        for (int j = 0; j < available; j++)
        {
            long index = cols - 1 - j; // eigh sorts ascending
            double s = Math.Sqrt(Math.Max(eigenvalues[index].item<double>(), 0));
            if (s <= 0)
            {
                continue;
            }

            Tensor v = eigenvectors[TensorIndex.Colon, index];
            Tensor u = x.mv(v).div(s);
            Tensor up = u.clamp_min(0), un = u.neg().clamp_min(0);
            Tensor vp = v.clamp_min(0), vn = v.neg().clamp_min(0);
            double pos = up.norm().item<double>() * vp.norm().item<double>();
            double neg = un.norm().item<double>() * vn.norm().item<double>();
            var (a, b, size) = pos >= neg ? (up, vp, pos) : (un, vn, neg);
            double na = a.norm().item<double>(), nb = b.norm().item<double>();
            if (na <= 0 || nb <= 0)
            {
                continue;
            }

            double scale = Math.Sqrt(s * size);
            w[TensorIndex.Colon, j] = a.mul(scale / na);
            h[j] = b.mul(scale / nb);
        }

        double fill = Math.Max(x.mean().item<double>(), Epsilon) / 100;
        using var generator = new Generator((ulong)seed);
        Tensor randomW = rand(w.shape, ScalarType.Float64, generator: generator).to(x.device).mul(fill);
        Tensor randomH = rand(h.shape, ScalarType.Float64, generator: generator).to(x.device).mul(fill);
        return (where(w.gt(0), w, randomW), where(h.gt(0), h, randomH));
    }

    private static Tensor Checked(Tensor matrix)
    {
        if (matrix.dim() != 2)
        {
            throw new CircuitsException($"NMF needs a 2-D matrix; got shape [{string.Join(", ", matrix.shape)}].");
        }

        Tensor x = matrix.detach().to(ScalarType.Float64);
        Tensor bad = x.lt(0).logical_or(x.isfinite().logical_not());
        if (bad.any().item<bool>())
        {
            long flat = bad.flatten().nonzero()[0, 0].item<long>();
            long row = flat / x.shape[1], col = flat % x.shape[1];
            throw new CircuitsException($"NMF needs a non-negative, finite matrix; entry ({row}, {col}) is {x[row, col].item<double>()}. Split signed data into positive and negative parts first (ChannelReducerOptions.PosNeg).");
        }

        return x;
    }
}

/// <summary>A non-negative factorization X ~ W H held as float64 tensors. Owns both: dispose it when done.</summary>
public sealed class NmfFactorization : IDisposable
{
    internal NmfFactorization(Tensor w, Tensor h, IReadOnlyList<double> errorHistory)
    {
        W = w;
        H = h;
        ErrorHistory = errorHistory;
    }

    /// <summary>Rows x rank, non-negative.</summary>
    public Tensor W { get; }

    /// <summary>Rank x columns, non-negative.</summary>
    public Tensor H { get; }

    /// <summary>The Frobenius norm of X - W H after each iteration (non-increasing).</summary>
    public IReadOnlyList<double> ErrorHistory { get; }

    /// <summary>The final ||X - W H||_F.</summary>
    public double Error => ErrorHistory.Count == 0 ? double.NaN : ErrorHistory[^1];

    /// <summary>Frees W and H.</summary>
    public void Dispose()
    {
        W.Dispose();
        H.Dispose();
    }
}
