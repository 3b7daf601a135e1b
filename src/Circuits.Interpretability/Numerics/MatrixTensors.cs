using MathNet.Numerics.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Numerics;

/// <summary>Copies between MathNet matrices and 2-D float64 CPU tensors (row-major).</summary>
internal static class MatrixTensors
{
    /// <summary>A rows x columns float64 tensor with the matrix's entries.</summary>
    public static Tensor FromMatrix(Matrix<double> matrix)
    {
        var values = new double[matrix.RowCount * matrix.ColumnCount];
        for (int r = 0; r < matrix.RowCount; r++)
        {
            for (int c = 0; c < matrix.ColumnCount; c++)
            {
                values[(r * matrix.ColumnCount) + c] = matrix[r, c];
            }
        }

        return tensor(values, new long[] { matrix.RowCount, matrix.ColumnCount }, ScalarType.Float64);
    }

    /// <summary>A dense matrix with the entries of a 2-D tensor.</summary>
    public static Matrix<double> ToMatrix(Tensor t)
    {
        using var scope = NewDisposeScope();
        Tensor c = t.detach().to(ScalarType.Float64).cpu().contiguous();
        double[] values = c.data<double>().ToArray();
        int cols = (int)c.shape[1];
        return Matrix<double>.Build.Dense((int)c.shape[0], cols, (r, k) => values[(r * cols) + k]);
    }
}
