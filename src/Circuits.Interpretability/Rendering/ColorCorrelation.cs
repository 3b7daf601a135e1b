using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// A colour space for decorrelated parameterizations: the square root of an RGB colour covariance, as the
/// Karhunen-Loève transform (KLT) matrix M = U · diag(sqrt(λ)), where the covariance is U · diag(λ) · Uᵀ
/// (eigenvalues in descending order, each eigenvector's first clearly non-zero entry positive), so that
/// M · Mᵀ is the covariance. Images are mapped from the decorrelated space by M divided by its largest column
/// norm, as Lucid does. <see cref="ImageNet"/> is Lucid's published matrix; <see cref="FromFolder"/> computes
/// the matrix of a user's own images, as Captum's <c>dataset_klt_matrix</c> does. Set it on
/// <see cref="ParameterizationOptions.Colors"/>.
/// </summary>
public sealed class ColorCorrelation
{
    /// <summary>The image file extensions <see cref="FromFolder"/> reads (case-insensitive).</summary>
    public static readonly IReadOnlyList<string> ImageExtensions = new[] { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

    private readonly double[,] _sqrt;
    private readonly double[,] _normalized;
    private readonly double[,] _inverse;

    private ColorCorrelation(double[,] sqrt, string source)
    {
        _sqrt = (double[,])sqrt.Clone();
        double maxNorm = Enumerable.Range(0, 3).Max(j => Math.Sqrt(Enumerable.Range(0, 3).Sum(i => sqrt[i, j] * sqrt[i, j])));
        if (!(maxNorm > 0) || !double.IsFinite(maxNorm))
        {
            throw new CircuitsException($"A colour matrix needs a non-zero, finite column; the largest column norm of the matrix from {source} is {maxNorm}.");
        }

        // Element by element (not a matrix-by-scalar product), so ImageNet's entries equal Lucid's m / max_norm exactly.
        Matrix<double> normalized = Matrix<double>.Build.Dense(3, 3, (i, j) => sqrt[i, j] / maxNorm);
        if (Math.Abs(normalized.Determinant()) < 1e-12)
        {
            throw new CircuitsException($"The colour matrix from {source} is singular (determinant {normalized.Determinant():G3}); it must be invertible.");
        }

        _normalized = normalized.ToArray();
        _inverse = normalized.Inverse().ToArray();
        Source = source;
    }

    /// <summary>Lucid's square root of ImageNet's colour correlation (<see cref="ColorDecorrelation.SqrtCorrelation"/>).</summary>
    public static ColorCorrelation ImageNet { get; } = new(ColorDecorrelation.SqrtCorrelation, "ImageNet (Lucid's color_correlation_svd_sqrt)");

    /// <summary>Where the matrix came from, for example <c>covariance of 12 images in photos/</c>.</summary>
    public string Source { get; }

    /// <summary>The KLT matrix M (rows R, G, B; a copy), before normalization.</summary>
    public double[,] SqrtMatrix => (double[,])_sqrt.Clone();

    /// <summary>M divided by its largest column norm: the map from decorrelated channels to RGB (a copy).</summary>
    public double[,] Normalized => (double[,])_normalized.Clone();

    /// <summary>The covariance M · Mᵀ that the matrix is the square root of.</summary>
    public double[,] Covariance
    {
        get
        {
            Matrix<double> m = Matrix<double>.Build.DenseOfArray(_sqrt);
            return (m * m.Transpose()).ToArray();
        }
    }

    /// <summary>Uses a given square-root matrix M (rows R, G, B), for example one computed elsewhere.</summary>
    public static ColorCorrelation FromSqrtMatrix(double[,] sqrtMatrix)
    {
        Check3x3(sqrtMatrix, "square-root matrix");
        return new ColorCorrelation(sqrtMatrix, "a given square-root matrix");
    }

    /// <summary>
    /// The KLT matrix of an RGB covariance: U · diag(sqrt(λ + 1e-10)) from its eigendecomposition (Captum's
    /// <c>cov_matrix_to_klt</c>; negative eigenvalues from rounding count as 0).
    /// </summary>
    public static ColorCorrelation FromCovariance(double[,] covariance) => Decompose(covariance, "a given covariance");

    /// <summary>
    /// The colour correlation of images (each C x H x W, or N x C x H x W counted as N images, RGB in the first
    /// three channels): the mean over images of each image's unbiased covariance of its pixels' RGB values, as
    /// Captum's <c>dataset_cov_matrix</c>, then <see cref="FromCovariance"/>. Every image counts equally, whatever
    /// its size. The caller keeps ownership of the tensors.
    /// </summary>
    /// <param name="images">The images.</param>
    /// <param name="progress">Receives the number of images processed so far.</param>
    /// <param name="cancellationToken">Stops between images.</param>
    public static ColorCorrelation FromImages(IEnumerable<Tensor> images, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        var total = new double[3, 3];
        int count = 0;
        foreach (Tensor image in images)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ArgumentNullException.ThrowIfNull(image);
            using var scope = NewDisposeScope();
            Tensor batch = image.dim() == 3 ? image.unsqueeze(0) : image;
            if (batch.dim() != 4 || batch.shape[1] < 3 || batch.shape[2] * batch.shape[3] < 2)
            {
                throw new CircuitsException(
                    $"Image {count} has shape [{string.Join(", ", image.shape)}]; expected C x H x W or N x C x H x W with at least 3 channels and 2 pixels.");
            }

            for (long n = 0; n < batch.shape[0]; n++)
            {
                Add(total, PixelCovariance(batch[n]));
                count++;
            }

            progress?.Report(count);
        }

        if (count == 0)
        {
            throw new CircuitsException("No images were given; the colour correlation needs at least one.");
        }

        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                total[i, j] /= count;
            }
        }

        return Decompose(total, $"the covariance of {count} images");
    }

    /// <summary>
    /// The colour correlation of the images in a folder (<see cref="ImageExtensions"/>, in ordinal name order),
    /// computed as <see cref="FromImages"/> does: Captum's <c>dataset_klt_matrix</c> on your own data.
    /// </summary>
    /// <param name="folder">The folder.</param>
    /// <param name="recursive">Also read the images in sub-folders.</param>
    /// <param name="progress">Receives the number of images read so far.</param>
    /// <param name="cancellationToken">Stops between images.</param>
    /// <exception cref="CircuitsException">The folder does not exist or holds no images, or an image cannot be decoded.</exception>
    public static ColorCorrelation FromFolder(string folder, bool recursive = false, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder))
        {
            throw new CircuitsException($"Image folder '{folder}' does not exist.");
        }

        List<string> files = Directory.EnumerateFiles(folder, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new CircuitsException(
                $"Image folder '{folder}' holds no images{(recursive ? " (searched sub-folders too)" : string.Empty)}; looked for {string.Join(", ", ImageExtensions)}.");
        }

        ColorCorrelation result = FromImages(LoadEach(files), progress, cancellationToken);
        return new ColorCorrelation(result._sqrt, $"the covariance of {files.Count} images in '{folder}'");
    }

    /// <summary>Maps decorrelated channels (N x 3 x H x W) to RGB: rgb_c = Σ_k Normalized[c, k] · t_k.</summary>
    public Tensor ToRgb(Tensor decorrelated) => Mix(decorrelated, _normalized);

    /// <summary>The inverse of <see cref="ToRgb"/>.</summary>
    public Tensor FromRgb(Tensor rgb) => Mix(rgb, _inverse);

    /// <inheritdoc />
    public override string ToString() => $"ColorCorrelation({Source})";

    private static ColorCorrelation Decompose(double[,] covariance, string source)
    {
        Check3x3(covariance, "covariance");
        Matrix<double> c = Matrix<double>.Build.DenseOfArray(covariance);
        double scale = c.Enumerate().Max(Math.Abs);
        if ((c - c.Transpose()).Enumerate().Any(v => Math.Abs(v) > 1e-9 * Math.Max(scale, 1e-300)))
        {
            throw new CircuitsException($"The covariance from {source} is not symmetric: {c.ToMatrixString()}");
        }

        Evd<double> evd = c.Evd(Symmetricity.Symmetric);
        int[] order = Enumerable.Range(0, 3).OrderByDescending(i => evd.EigenValues[i].Real).ToArray();
        var sqrt = new double[3, 3];
        for (int k = 0; k < 3; k++)
        {
            Vector<double> v = evd.EigenVectors.Column(order[k]);
            double first = v.First(x => Math.Abs(x) > 1e-9);
            double s = Math.Sign(first) * Math.Sqrt(Math.Max(evd.EigenValues[order[k]].Real, 0) + 1e-10);
            for (int i = 0; i < 3; i++)
            {
                sqrt[i, k] = v[i] * s;
            }
        }

        return new ColorCorrelation(sqrt, source);
    }

    private static IEnumerable<Tensor> LoadEach(IEnumerable<string> files)
    {
        foreach (string file in files)
        {
            using Tensor image = ImageIO.Load(file);
            yield return image;
        }
    }

    /// <summary>The unbiased 3 x 3 covariance of the RGB values of one C x H x W image's pixels.</summary>
    private static double[,] PixelCovariance(Tensor image)
    {
        Tensor x = image[TensorIndex.Slice(0, 3)].reshape(3, -1).to(ScalarType.Float64).cpu();
        Tensor centred = x - x.mean(new long[] { 1 }, keepdim: true);
        Tensor cov = centred.matmul(centred.t()) / (x.shape[1] - 1);
        double[] flat = cov.contiguous().data<double>().ToArray();
        var result = new double[3, 3];
        for (int i = 0; i < 9; i++)
        {
            result[i / 3, i % 3] = flat[i];
        }

        return result;
    }

    private static void Add(double[,] total, double[,] value)
    {
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                total[i, j] += value[i, j];
            }
        }
    }

    private static void Check3x3(double[,] m, string what)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (m.GetLength(0) != 3 || m.GetLength(1) != 3 || m.Cast<double>().Any(v => !double.IsFinite(v)))
        {
            throw new CircuitsException($"The {what} must be a 3 x 3 matrix of finite numbers; got {m.GetLength(0)} x {m.GetLength(1)}.");
        }
    }

    private static Tensor Mix(Tensor image, double[,] matrix)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.dim() != 4 || image.shape[1] != 3)
        {
            throw new CircuitsException($"Colour decorrelation needs N x 3 x H x W; got [{string.Join(", ", image.shape)}].");
        }

        float[] flat = matrix.Cast<double>().Select(v => (float)v).ToArray();
        using var scope = NewDisposeScope();
        Tensor m = tensor(flat, image.dtype, image.device).reshape(3, 3);
        return einsum("ck,nkhw->nchw", m, image).MoveToOuterDisposeScope();
    }
}
