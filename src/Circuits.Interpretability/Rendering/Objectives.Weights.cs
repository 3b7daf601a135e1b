using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

// Linearly weighted channels: Lucent's neuron_weight, channel_weight and localgroup_weight.
public static partial class Objectives
{
    /// <summary>
    /// The activation vector at one position (the centre when none), weighted channel by channel and averaged
    /// over channels: mean_c(w_c · a[c, y, x]), or the plain mean over channels when <paramref name="weight"/> is
    /// null. Lucent's <c>neuron_weight</c>: <c>neuron_weight(layer@y,x)</c>. The caller keeps ownership of the tensor.
    /// </summary>
    /// <param name="layer">The layer path.</param>
    /// <param name="weight">One weight per channel, or null for equal weights.</param>
    /// <param name="y">The row, or null with <paramref name="x"/> null for the centre.</param>
    /// <param name="x">The column.</param>
    /// <param name="batch">The batch item to optimize, or null for every item (their values are summed).</param>
    public static Objective NeuronWeight(string layer, Tensor? weight = null, int? y = null, int? x = null, int? batch = null)
    {
        if ((y is null) != (x is null))
        {
            throw new ArgumentException($"Give both y and x, or neither for the centre; got y = {y?.ToString() ?? "null"}, x = {x?.ToString() ?? "null"}.", nameof(y));
        }

        string where = y is null ? "centre" : $"{y},{x}";
        return new Leaf($"neuron_weight({layer}@{where})", layer, batch, ctx =>
        {
            Tensor a = Checked(ctx, layer, null, requireSpatial: true);
            var (py, px) = Position(a, new NeuronAddress(layer, 0, y, x));
            Tensor at = a[TensorIndex.Colon, TensorIndex.Colon, py, px];
            return (weight is null ? at : at * DirectionFor(a, weight, layer, "weight").flatten(1)).mean(new long[] { 1 });
        });
    }

    /// <summary>
    /// The whole activation weighted channel by channel and averaged over channels and positions:
    /// mean_{c,y,x}(w_c · a[c, y, x]). Lucent's <c>channel_weight</c>: <c>channel_weight(layer)</c>. Equal to
    /// <see cref="Direction"/> divided by the channel count.
    /// </summary>
    public static Objective ChannelWeight(string layer, Tensor weight, int? batch = null)
    {
        ArgumentNullException.ThrowIfNull(weight);
        return new Leaf($"channel_weight({layer})", layer, batch, ctx =>
        {
            Tensor a = ctx.Activation(layer);
            return (a * DirectionFor(a, weight, layer, "weight")).flatten(1).mean(new long[] { 1 });
        });
    }

    /// <summary>
    /// The activation in the window of <paramref name="height"/> x <paramref name="width"/> positions whose top
    /// left is (<paramref name="y"/>, <paramref name="x"/>), weighted channel by channel (or not, when
    /// <paramref name="weight"/> is null) and averaged over channels and the window. Lucent's
    /// <c>localgroup_weight</c> (its <c>wy</c>, <c>wx</c> are <paramref name="height"/>, <paramref name="width"/>):
    /// <c>localgroup_weight(layer@y,x+hxw)</c>.
    /// </summary>
    public static Objective LocalGroupWeight(string layer, Tensor? weight, int y, int x, int height = 1, int width = 1, int? batch = null)
    {
        if (height <= 0 || width <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(height), $"The window must have a positive size; got {height} x {width}.");
        }

        return new Leaf($"localgroup_weight({layer}@{y},{x}+{height}x{width})", layer, batch, ctx =>
        {
            Tensor a = Checked(ctx, layer, null, requireSpatial: true);
            UnitSelection.Validate(layer, a.shape, null, new[] { (y, x), (y + height - 1, x + width - 1) });
            Tensor window = a[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(y, y + height), TensorIndex.Slice(x, x + width)];
            return (weight is null ? window : window * DirectionFor(a, weight, layer, "weight")).flatten(1).mean(new long[] { 1 });
        });
    }
}
