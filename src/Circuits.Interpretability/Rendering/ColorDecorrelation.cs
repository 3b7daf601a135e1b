using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// Colour decorrelation as Lucid does it: the image is optimized in a space whose three channels are
/// uncorrelated over ImageNet, and mapped to RGB by the square root of ImageNet's colour-correlation matrix,
/// normalized so that its largest column has unit norm. The matrix (rows R, G, B) is the one Lucid publishes
/// in <c>lucid/optvis/param/color.py</c> (<c>color_correlation_svd_sqrt</c>):
/// <code>
/// [[0.26,  0.09,  0.02],
///  [0.27,  0.00, -0.05],
///  [0.27, -0.09,  0.03]]
/// </code>
/// </summary>
public static class ColorDecorrelation
{
    /// <summary>The square root of ImageNet's colour correlation (rows R, G, B), as Lucid publishes it.</summary>
    public static readonly double[,] SqrtCorrelation =
    {
        { 0.26, 0.09, 0.02 },
        { 0.27, 0.00, -0.05 },
        { 0.27, -0.09, 0.03 },
    };

    /// <summary>The largest column norm of <see cref="SqrtCorrelation"/>, by which it is divided.</summary>
    public static double MaxColumnNorm { get; } = Enumerable.Range(0, 3)
        .Max(j => Math.Sqrt(Enumerable.Range(0, 3).Sum(i => SqrtCorrelation[i, j] * SqrtCorrelation[i, j])));

    /// <summary>The normalized matrix M: rgb = M · decorrelated at every pixel.</summary>
    public static double[,] Normalized { get; } = Scale(SqrtCorrelation, 1 / MaxColumnNorm);

    /// <summary>Maps decorrelated channels (N x 3 x H x W) to linear RGB: rgb_c = Σ_k M[c,k] t_k.</summary>
    public static Tensor ToRgb(Tensor decorrelated) => Mix(decorrelated, Normalized);

    /// <summary>The inverse of <see cref="ToRgb"/>: maps linear RGB back to decorrelated channels.</summary>
    public static Tensor FromRgb(Tensor rgb) => Mix(rgb, Invert(Normalized));

    private static Tensor Mix(Tensor image, double[,] matrix)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.dim() != 4 || image.shape[1] != 3)
        {
            throw new CircuitsException($"Colour decorrelation needs N x 3 x H x W; got [{string.Join(", ", image.shape)}].");
        }

        var flat = new float[9];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                flat[(i * 3) + j] = (float)matrix[i, j];
            }
        }

        using var scope = NewDisposeScope();
        Tensor m = tensor(flat, image.dtype, image.device).reshape(3, 3);
        return einsum("ck,nkhw->nchw", m, image).MoveToOuterDisposeScope();
    }

    private static double[,] Scale(double[,] m, double k)
    {
        var r = new double[3, 3];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                r[i, j] = m[i, j] * k;
            }
        }

        return r;
    }

    private static double[,] Invert(double[,] m)
    {
        double det = (m[0, 0] * ((m[1, 1] * m[2, 2]) - (m[1, 2] * m[2, 1])))
                   - (m[0, 1] * ((m[1, 0] * m[2, 2]) - (m[1, 2] * m[2, 0])))
                   + (m[0, 2] * ((m[1, 0] * m[2, 1]) - (m[1, 1] * m[2, 0])));
        var r = new double[3, 3];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                // Cofactor of (j, i) over the determinant: the adjugate formula.
                int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
                r[i, j] = ((m[r0, c0] * m[r1, c1]) - (m[r0, c1] * m[r1, c0])) / det;
            }
        }

        return r;
    }
}
