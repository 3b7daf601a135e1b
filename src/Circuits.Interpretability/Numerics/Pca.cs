using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Numerics;

/// <summary>
/// Principal component analysis of the rows of a matrix: the rows are centred by their mean and the components are
/// the leading eigenvectors of the covariance (computed as a columns x columns Gram matrix in float64, so millions
/// of rows cost one matrix product). Signs are fixed so that each component's entry of largest magnitude is positive.
/// </summary>
public static class Pca
{
    /// <summary>Fits <paramref name="components"/> principal components to the rows of <paramref name="matrix"/> (rows x columns).</summary>
    /// <exception cref="CircuitsException">The matrix is not 2-D, has fewer than 2 rows or a non-finite entry, or components is not 1 to the number of columns.</exception>
    public static PcaResult Fit(Tensor matrix, int components)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (matrix.dim() != 2 || matrix.shape[0] < 2)
        {
            throw new CircuitsException($"PCA needs a 2-D matrix with at least 2 rows; got shape [{string.Join(", ", matrix.shape)}].");
        }

        if (components < 1 || components > matrix.shape[1])
        {
            throw new CircuitsException($"PCA of {matrix.shape[1]} columns cannot give {components} components; expected 1 to {matrix.shape[1]}.");
        }

        using var scope = NewDisposeScope();
        Tensor x = matrix.detach().to(ScalarType.Float64);
        if (!x.isfinite().all().item<bool>())
        {
            throw new CircuitsException("PCA needs finite values; the matrix has NaN or infinite entries.");
        }

        long n = x.shape[0];
        Tensor mean = x.mean(new long[] { 0 });
        Tensor centred = x.sub(mean);
        Tensor covariance = centred.t().mm(centred).div(n - 1);
        var (values, vectors) = linalg.eigh(covariance, 'L');
        Tensor order = arange(x.shape[1] - 1, x.shape[1] - 1 - components, -1, device: x.device);
        Tensor top = vectors.index_select(1, order).t().contiguous();        // k x D
        Tensor variance = values.index_select(0, order).clamp_min(0);
        // Sign convention: the entry of largest magnitude of each component is positive.
        Tensor pivot = top.abs().argmax(1, keepdim: true);
        Tensor signs = top.gather(1, pivot).sign();
        top = top.mul(where(signs.eq(0), ones_like(signs), signs));
        double total = values.clamp_min(0).sum().item<double>();
        double[] explained = variance.cpu().data<double>().ToArray();
        return new PcaResult(
            mean.DetachFromDisposeScope(),
            top.DetachFromDisposeScope(),
            explained,
            explained.Select(v => total > 0 ? v / total : 0).ToArray());
    }
}

/// <summary>A fitted PCA. Owns <see cref="Mean"/> and <see cref="Components"/>: dispose it when done.</summary>
public sealed class PcaResult : IDisposable
{
    internal PcaResult(Tensor mean, Tensor components, IReadOnlyList<double> explainedVariance, IReadOnlyList<double> explainedVarianceRatio)
    {
        Mean = mean;
        Components = components;
        ExplainedVariance = explainedVariance;
        ExplainedVarianceRatio = explainedVarianceRatio;
    }

    /// <summary>The column means (length D), float64.</summary>
    public Tensor Mean { get; }

    /// <summary>k x D orthonormal rows, largest variance first, float64.</summary>
    public Tensor Components { get; }

    /// <summary>The variance along each component (the covariance's eigenvalues, divided by rows - 1).</summary>
    public IReadOnlyList<double> ExplainedVariance { get; }

    /// <summary>Each component's share of the total variance.</summary>
    public IReadOnlyList<double> ExplainedVarianceRatio { get; }

    /// <summary>The rows' coordinates along the components: (X - mean) C^T, rows x k, float64. The caller owns the result.</summary>
    public Tensor Transform(Tensor matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        CheckColumns(matrix);
        using var scope = NewDisposeScope();
        return matrix.detach().to(ScalarType.Float64).to(Mean.device).sub(Mean).mm(Components.t()).DetachFromDisposeScope();
    }

    /// <summary>Back from coordinates (rows x k) to the original columns: Y C + mean. The caller owns the result.</summary>
    public Tensor InverseTransform(Tensor coordinates)
    {
        ArgumentNullException.ThrowIfNull(coordinates);
        if (coordinates.dim() != 2 || coordinates.shape[1] != Components.shape[0])
        {
            throw new CircuitsException($"Coordinates of shape [{string.Join(", ", coordinates.shape)}] do not fit {Components.shape[0]} components; expected rows x {Components.shape[0]}.");
        }

        using var scope = NewDisposeScope();
        return coordinates.detach().to(ScalarType.Float64).to(Mean.device).mm(Components).add(Mean).DetachFromDisposeScope();
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Mean.Dispose();
        Components.Dispose();
    }

    private void CheckColumns(Tensor matrix)
    {
        if (matrix.dim() != 2 || matrix.shape[1] != Mean.shape[0])
        {
            throw new CircuitsException($"A matrix of shape [{string.Join(", ", matrix.shape)}] does not fit this PCA; expected rows x {Mean.shape[0]}.");
        }
    }
}
