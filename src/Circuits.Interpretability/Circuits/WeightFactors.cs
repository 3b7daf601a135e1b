using Circuits.Interpretability.Numerics;
using MathNet.Numerics.LinearAlgebra;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits;

/// <summary>Three NMF factors of a set of expanded weights, shown as colours. Owns <see cref="Images"/>: dispose it to free them.</summary>
public sealed class WeightFactors : IDisposable
{
    internal WeightFactors(Tensor images, Matrix<double> sourceLoadings, NmfResult factorization)
    {
        Images = images;
        SourceLoadings = sourceLoadings;
        Factorization = factorization;
    }

    /// <summary>One RGB image per target channel, targets x 3 x (crop * scale) x (crop * scale), in [0, 1].</summary>
    public Tensor Images { get; }

    /// <summary>3 x (2 * sources): each factor's loading on the positive part of each source channel (first half) and on its negative part (second half).</summary>
    public Matrix<double> SourceLoadings { get; }

    /// <summary>The factorization itself.</summary>
    public NmfResult Factorization { get; }

    /// <summary>Frees <see cref="Images"/>. Safe to call more than once.</summary>
    public void Dispose() => Images.Dispose();
}
