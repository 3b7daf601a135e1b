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
/// For the matrix of your own images see <see cref="ColorCorrelation.FromFolder"/>.
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
    public static double[,] Normalized => ColorCorrelation.ImageNet.Normalized;

    /// <summary>Maps decorrelated channels (N x 3 x H x W) to linear RGB: rgb_c = Σ_k M[c,k] t_k.</summary>
    public static Tensor ToRgb(Tensor decorrelated) => ColorCorrelation.ImageNet.ToRgb(decorrelated);

    /// <summary>The inverse of <see cref="ToRgb"/>: maps linear RGB back to decorrelated channels.</summary>
    public static Tensor FromRgb(Tensor rgb) => ColorCorrelation.ImageNet.FromRgb(rgb);
}
