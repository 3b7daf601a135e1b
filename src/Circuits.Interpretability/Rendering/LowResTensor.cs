using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// A tensor parameterized by a smaller trainable tensor, linearly interpolated up (or down) to the full shape
/// along every dimension whose size differs (Lucid's and Lucent's <c>lowres_tensor</c>). A sum of them at
/// several resolutions describes an image coarse to fine, like a Laplacian pyramid; a small batch dimension
/// shared across a larger batch ties the images together (<see cref="SharedImage"/>). Interpolation follows
/// PyTorch's <c>interpolate(..., align_corners=False)</c>, as Lucent: output index i reads the input at
/// (i + 0.5) · n_in / n_out − 0.5, clamped to [0, n_in − 1], linearly between its two neighbours. Dispose it
/// to free the parameter.
/// </summary>
public sealed class LowResTensor : IDisposable
{
    private readonly long[] _shape;
    private readonly long[] _underlying;
    private readonly long[] _offset;

    /// <summary>Creates the underlying tensor with normal random values (standard deviation <paramref name="sd"/>) from <paramref name="seed"/>.</summary>
    /// <param name="shape">The shape of <see cref="Value"/>.</param>
    /// <param name="underlyingShape">The shape of the trainable tensor: same rank, each size between 1 and the full size.</param>
    /// <param name="seed">Seed of the initial values.</param>
    /// <param name="sd">Standard deviation of the initial values (0.01 as Lucid).</param>
    /// <param name="offset">
    /// Optional shift per dimension (like a phase), applied after interpolation by padding symmetrically before
    /// and cropping, as Lucid does; <see cref="HalfStepOffset"/> gives Lucid's <c>offset=True</c>.
    /// </param>
    /// <param name="device">The device of the parameter (values are drawn on the CPU, so a seed gives the same start everywhere).</param>
    public LowResTensor(IReadOnlyList<long> shape, IReadOnlyList<long> underlyingShape, long seed = 0, double sd = 0.01, IReadOnlyList<long>? offset = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(underlyingShape);
        if (shape.Count == 0 || shape.Count != underlyingShape.Count || shape.Any(s => s <= 0)
            || underlyingShape.Zip(shape).Any(p => p.First <= 0 || p.First > p.Second))
        {
            throw new ArgumentException(
                $"lowres_tensor needs shapes of the same rank with 1 <= underlying <= full size in every dimension; got shape [{string.Join(", ", shape)}] and underlying [{string.Join(", ", underlyingShape)}].",
                nameof(underlyingShape));
        }

        if (offset is not null && (offset.Count != shape.Count || offset.Any(o => o < 0)))
        {
            throw new ArgumentException($"The offset needs one non-negative entry per dimension ({shape.Count}); got [{string.Join(", ", offset)}].", nameof(offset));
        }

        _shape = shape.ToArray();
        _underlying = underlyingShape.ToArray();
        _offset = offset?.ToArray() ?? new long[shape.Count];
        using var generator = new Generator((ulong)seed);
        using var scope = NewDisposeScope();
        Tensor values = (randn(_underlying, generator: generator) * sd).to(device ?? CPU);
        Parameter = new TorchSharp.Modules.Parameter(values.detach().clone().DetachFromDisposeScope(), requires_grad: true);
    }

    /// <summary>The shape of <see cref="Value"/>.</summary>
    public IReadOnlyList<long> Shape => _shape;

    /// <summary>The shape of the trainable tensor.</summary>
    public IReadOnlyList<long> UnderlyingShape => _underlying;

    /// <summary>The trainable tensor.</summary>
    public TorchSharp.Modules.Parameter Parameter { get; }

    /// <summary>Lucid's <c>offset=True</c>: half the ratio of full to underlying size per dimension, rounded down.</summary>
    public static long[] HalfStepOffset(IReadOnlyList<long> shape, IReadOnlyList<long> underlyingShape) =>
        shape.Zip(underlyingShape, (s, u) => (long)(s / (double)u / 2)).ToArray();

    /// <summary>The full-shape tensor, differentiable with respect to <see cref="Parameter"/>.</summary>
    public Tensor Value()
    {
        Tensor t = Resize(Parameter, _shape);
        for (int d = 0; d < _offset.Length; d++)
        {
            if (_offset[d] > 0)
            {
                t = Transforms.PadDimension(t, d, _offset[d], 0, PadMode.Symmetric).narrow(d, 0, _shape[d]);
            }
        }

        return t;
    }

    /// <summary>
    /// Resizes <paramref name="t"/> to <paramref name="shape"/> by linear interpolation along each dimension
    /// whose size differs (PyTorch's <c>align_corners=False</c> rule, the same for growing and shrinking), one
    /// dimension at a time; for bilinear interpolation the order does not matter. Differentiable. Returns
    /// <paramref name="t"/> itself when the shapes are equal.
    /// </summary>
    public static Tensor Resize(Tensor t, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(t);
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Count != t.dim() || shape.Any(s => s <= 0))
        {
            throw new ArgumentException($"Cannot resize a tensor of shape [{string.Join(", ", t.shape)}] to [{string.Join(", ", shape)}]; expected the same rank and positive sizes.", nameof(shape));
        }

        if (shape.SequenceEqual(t.shape))
        {
            return t;
        }

        using var scope = NewDisposeScope();
        for (int d = 0; d < shape.Count; d++)
        {
            if (t.shape[d] != shape[d])
            {
                Tensor matrix = InterpolationMatrix(t.shape[d], shape[d], t.dtype, t.device);
                t = t.transpose(d, -1).matmul(matrix.t()).transpose(d, -1);
            }
        }

        return t.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose() => Parameter.Dispose();

    /// <summary>The n_out x n_in matrix of linear interpolation weights.</summary>
    private static Tensor InterpolationMatrix(long nIn, long nOut, ScalarType dtype, Device device)
    {
        var weights = new float[nOut * nIn];
        double scale = (double)nIn / nOut;
        for (long i = 0; i < nOut; i++)
        {
            double source = Math.Max(((i + 0.5) * scale) - 0.5, 0);
            long lo = Math.Min((long)Math.Floor(source), nIn - 1);
            long hi = Math.Min(lo + 1, nIn - 1);
            double lambda = source - lo;
            weights[(i * nIn) + lo] += (float)(1 - lambda);
            weights[(i * nIn) + hi] += (float)lambda;
        }

        return tensor(weights, dtype, device).reshape(nOut, nIn);
    }
}
