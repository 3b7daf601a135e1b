using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

// Directions in activation space: Lucid's direction, direction_neuron and tensor_direction.
public static partial class Objectives
{
    /// <summary>
    /// The dot product of the activation vector (over channels) with <paramref name="direction"/> (length C),
    /// averaged over positions: <c>direction(layer)</c>, Lucid's <c>direction</c>. With
    /// <paramref name="cossimPow"/> p ≠ 0 each position's dot product is multiplied by max(0.1, cos)^p, where cos
    /// is the cosine similarity between the activation vector and the direction (Lucid's <c>cossim_pow</c>): a
    /// larger p rewards pointing the right way over growing large. The caller keeps ownership of the tensor.
    /// </summary>
    /// <param name="layer">The layer path.</param>
    /// <param name="direction">A vector with one entry per channel of the layer.</param>
    /// <param name="batch">The batch item to optimize, or null for every item (their values are summed).</param>
    /// <param name="cossimPow">The power of the floored cosine similarity; 0 (default) is the plain dot product.</param>
    public static Objective Direction(string layer, Tensor direction, int? batch = null, double cossimPow = 0)
    {
        ArgumentNullException.ThrowIfNull(direction);
        CheckPower(cossimPow);
        return new Leaf($"direction({layer}{PowSuffix(cossimPow)})", layer, batch, ctx =>
        {
            Tensor a = ctx.Activation(layer);
            return DotCossim(a, DirectionFor(a, direction, layer), cossimPow);
        });
    }

    /// <summary>
    /// The dot product with <paramref name="direction"/> at one position (the centre when none):
    /// <c>direction_neuron(layer@y,x)</c>, Lucid's <c>direction_neuron</c>, with the same
    /// <paramref name="cossimPow"/> as <see cref="Direction"/>.
    /// </summary>
    public static Objective DirectionNeuron(string layer, Tensor direction, int? y = null, int? x = null, int? batch = null, double cossimPow = 0)
    {
        ArgumentNullException.ThrowIfNull(direction);
        CheckPower(cossimPow);
        string where = y is null ? "centre" : $"{y},{x}";
        return new Leaf($"direction_neuron({layer}@{where}{PowSuffix(cossimPow)})", layer, batch, ctx =>
        {
            Tensor a = Checked(ctx, layer, null, requireSpatial: true);
            var (py, px) = Position(a, new NeuronAddress(layer, 0, y, x));
            Tensor at = a[TensorIndex.Colon, TensorIndex.Colon, py, px];
            return DotCossim(at, DirectionFor(a, direction, layer).flatten(1), cossimPow);
        });
    }

    /// <summary>
    /// A direction per position (Lucid's <c>tensor_direction</c>): <paramref name="direction"/> is C x h x w (or
    /// 1 x C x h x w); it is laid over the centre window of the layer's activation (rows (H − h)/2 onwards, columns
    /// (W − w)/2 onwards, rounded down), and the value is the mean over the window of each position's dot product
    /// with the direction's vector at that position, times max(0.1, cos)^<paramref name="cossimPow"/> as in
    /// <see cref="Direction"/>. Use it to ask for a whole spatial pattern of activations.
    /// </summary>
    public static Objective TensorDirection(string layer, Tensor direction, int? batch = null, double cossimPow = 0)
    {
        ArgumentNullException.ThrowIfNull(direction);
        CheckPower(cossimPow);
        if (direction.dim() is not (3 or 4) || (direction.dim() == 4 && direction.shape[0] != 1))
        {
            throw new CircuitsException($"tensor_direction needs a C x h x w (or 1 x C x h x w) direction; got [{string.Join(", ", direction.shape)}].");
        }

        return new Leaf($"tensor_direction({layer}{PowSuffix(cossimPow)})", layer, batch, ctx =>
        {
            Tensor a = ctx.Activation(layer);
            Tensor v = (direction.dim() == 3 ? direction.unsqueeze(0) : direction).to(a.dtype, a.device);
            if (a.dim() == 2)
            {
                a = a.reshape(a.shape[0], a.shape[1], 1, 1);
            }

            long h = v.shape[2], w = v.shape[3];
            if (a.dim() != 4 || v.shape[1] != a.shape[1] || h > a.shape[2] || w > a.shape[3])
            {
                throw new CircuitsException(
                    $"The tensor direction [{string.Join(", ", direction.shape)}] does not fit layer '{layer}', whose activation is [{string.Join(", ", a.shape)}]; expected C = {a.shape[1]} channels and a window no larger than the activation.");
            }

            long top = (a.shape[2] - h) / 2, left = (a.shape[3] - w) / 2;
            Tensor window = a[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(top, top + h), TensorIndex.Slice(left, left + w)];
            return DotCossim(window, v, cossimPow);
        });
    }

    /// <summary>
    /// Per batch item: the mean over positions of ⟨a, v⟩ · max(0.1, cos(a, v))^p, the dot product taken over
    /// channels (dimension 1); for p = 0 the plain mean dot product. As Lucid's <c>_dot_cossim</c>, with
    /// cos = ⟨a, v⟩ / (1e-4 + |a|) / (1e-4 + |v|).
    /// </summary>
    private static Tensor DotCossim(Tensor a, Tensor v, double cossimPow)
    {
        Tensor dot = (a * v).sum(1);
        if (cossimPow != 0)
        {
            // +1e-12 under the roots: d sqrt(x)/dx is infinite at 0, and an all-zero activation vector (a ReLU layer that is
            // silent at a position) would turn the gradient into 0 · inf = NaN.
            Tensor cos = dot / ((a.pow(2).sum(1) + 1e-12).sqrt() + 1e-4) / ((v.pow(2).sum(1) + 1e-12).sqrt() + 1e-4);
            dot = dot * cos.clamp_min(0.1).pow(cossimPow);
        }

        return dot.dim() == 1 ? dot : dot.flatten(1).mean(new long[] { 1 });
    }

    private static void CheckPower(double cossimPow)
    {
        if (!double.IsFinite(cossimPow))
        {
            throw new ArgumentOutOfRangeException(nameof(cossimPow), $"cossimPow must be a finite number; got {cossimPow}.");
        }
    }

    private static string PowSuffix(double cossimPow) => cossimPow == 0 ? string.Empty : $", cossim_pow={Objective.Format(cossimPow)}";
}
