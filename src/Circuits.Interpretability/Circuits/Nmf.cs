using Circuits.Interpretability.Core;
using MathNet.Numerics.LinearAlgebra;

namespace Circuits.Interpretability.Circuits;

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
/// ||X - W H||_F.
/// </summary>
public static class Nmf
{
    private const double Epsilon = 1e-12;

    /// <summary>Factorizes a non-negative matrix into <paramref name="rank"/> factors.</summary>
    /// <exception cref="CircuitsException">The matrix has a negative or non-finite entry, or rank or iterations is not positive.</exception>
    public static NmfResult Factorize(Matrix<double> matrix, int rank, int iterations = 500, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (rank <= 0 || iterations <= 0)
        {
            throw new CircuitsException($"NMF needs a positive rank and number of iterations; got rank {rank} and {iterations} iterations.");
        }

        var (row, col) = FirstBad(matrix);
        if (row >= 0)
        {
            throw new CircuitsException($"NMF needs a non-negative, finite matrix; entry ({row}, {col}) is {matrix[row, col]}. Split signed data into positive and negative parts first.");
        }

        var (w, h) = Initialize(matrix, rank, new Random(seed));
        var history = new List<double>(iterations);
        for (int i = 0; i < iterations; i++)
        {
            Matrix<double> wt = w.Transpose();
            h = h.PointwiseMultiply((wt * matrix).PointwiseDivide((wt * w * h).Add(Epsilon)));
            Matrix<double> ht = h.Transpose();
            w = w.PointwiseMultiply((matrix * ht).PointwiseDivide((w * (h * ht)).Add(Epsilon)));
            history.Add((matrix - (w * h)).FrobeniusNorm());
        }

        return new NmfResult(w, h, history);
    }

    private static (Matrix<double> W, Matrix<double> H) Initialize(Matrix<double> x, int rank, Random random)
    {
        var svd = x.Svd(computeVectors: true);
        Matrix<double> w = Matrix<double>.Build.Dense(x.RowCount, rank);
        Matrix<double> h = Matrix<double>.Build.Dense(rank, x.ColumnCount);
        int available = Math.Min(rank, svd.S.Count);
        for (int j = 0; j < available; j++)
        {
            Vector<double> u = svd.U.Column(j);
            Vector<double> v = svd.VT.Row(j);
            Vector<double> up = u.PointwiseMaximum(0), un = (-u).PointwiseMaximum(0);
            Vector<double> vp = v.PointwiseMaximum(0), vn = (-v).PointwiseMaximum(0);
            double pos = up.L2Norm() * vp.L2Norm(), neg = un.L2Norm() * vn.L2Norm();
            var (a, b, size) = pos >= neg ? (up, vp, pos) : (un, vn, neg);
            double na = a.L2Norm(), nb = b.L2Norm();
            if (na <= 0 || nb <= 0)
            {
                continue;
            }

            double scale = Math.Sqrt(svd.S[j] * size);
            w.SetColumn(j, a * (scale / na));
            h.SetRow(j, b * (scale / nb));
        }

        double fill = Math.Max(x.Enumerate().Average(), Epsilon) / 100;
        w.MapInplace(v => v > 0 ? v : fill * random.NextDouble(), MathNet.Numerics.LinearAlgebra.Zeros.Include);
        h.MapInplace(v => v > 0 ? v : fill * random.NextDouble(), MathNet.Numerics.LinearAlgebra.Zeros.Include);
        return (w, h);
    }

    private static (int Row, int Column) FirstBad(Matrix<double> matrix)
    {
        for (int r = 0; r < matrix.RowCount; r++)
        {
            for (int c = 0; c < matrix.ColumnCount; c++)
            {
                double v = matrix[r, c];
                if (v < 0 || !double.IsFinite(v))
                {
                    return (r, c);
                }
            }
        }

        return (-1, -1);
    }
}
