using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

// Interpolation across the batch: Lucid's and Lucent's channel_interpolate.
public static partial class Objectives
{
    /// <summary>
    /// A batch that sweeps from one unit to another (Lucid's and Lucent's <c>channel_interpolate</c>): with N
    /// batch items and w_n = n / (N − 1), item n maximizes (1 − w_n) · mean(<paramref name="layer1"/>:<paramref name="channel1"/>)
    /// + w_n · mean(<paramref name="layer2"/>:<paramref name="channel2"/>), the means taken over positions, and
    /// the value is the sum over items. Item 0 is the first unit alone, item N − 1 the second alone (with one item,
    /// the first unit alone). Render it with a parameterization shared across the batch (<see cref="SharedImage"/>)
    /// and, if wanted, minus <see cref="Alignment"/>, so that neighbouring images stay comparable.
    /// </summary>
    public static Objective ChannelInterpolate(string layer1, int channel1, string layer2, int channel2) =>
        new WholeBatch($"channel_interpolate({layer1}:{channel1} -> {layer2}:{channel2})", new[] { layer1, layer2 }, -1, ctx =>
        {
            Tensor a1 = Checked(ctx, layer1, channel1);
            Tensor a2 = Checked(ctx, layer2, channel2);
            long n = a1.shape[0];
            Tensor w = n == 1 ? zeros(1, a1.dtype, a1.device) : arange(n, a1.dtype, a1.device) / (n - 1);
            return (((1 - w) * ChannelMeans(a1, channel1)) + (w * ChannelMeans(a2, channel2))).sum();
        });

    /// <summary>The mean of one channel over positions, per batch item (N).</summary>
    private static Tensor ChannelMeans(Tensor a, int channel)
    {
        Tensor c = a.select(1, channel);
        return c.dim() == 1 ? c : c.flatten(1).mean(new long[] { 1 });
    }

    /// <summary>An objective over the whole batch that may read several layers and name the largest batch item it needs.</summary>
    private sealed class WholeBatch : Objective
    {
        private readonly string _name;
        private readonly string[] _layers;
        private readonly int _maxBatchIndex;
        private readonly Func<RenderContext, Tensor> _value;

        public WholeBatch(string name, string[] layers, int maxBatchIndex, Func<RenderContext, Tensor> value)
        {
            _name = name;
            _layers = layers.Distinct().ToArray();
            _maxBatchIndex = maxBatchIndex;
            _value = value;
        }

        public override string Name => _name;

        public override IEnumerable<string> Layers => _layers;

        public override int MaxBatchIndex => _maxBatchIndex;

        public override Tensor Evaluate(RenderContext context) => _value(context);
    }
}
