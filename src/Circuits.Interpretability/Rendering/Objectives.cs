using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// The objectives of optimization-based feature visualization. Unit objectives (channel, neuron, direction,
/// layer, class logit) are maximized; penalties (diversity, alignment, L1, L2, total variation, blur) are
/// non-negative and meant to be subtracted. Every unit objective and image penalty can target one batch item
/// (<c>batch: i</c>), so one batch renders different units at once. Beside these: Lucent's weighted channels
/// (<see cref="NeuronWeight"/>, <see cref="ChannelWeight"/>, <see cref="LocalGroupWeight"/>), Lucid's tensor direction,
/// channel interpolation (<see cref="ChannelInterpolate"/>), comparisons with a real image for feature inversion
/// (<see cref="InputDifference"/>, <see cref="DotCompare"/>, <see cref="ActivationDifference"/>) and the alpha blur of
/// transparent renders (<see cref="BlurAlphaEachStep"/>).
/// </summary>
public static partial class Objectives
{
    /// <summary>The mean of one channel over all positions: <c>channel(layer:c)</c>. Addressed as <c>layer:channel</c>.</summary>
    public static Objective Channel(NeuronAddress unit, int? batch = null)
    {
        int channel = unit.Channel ?? throw new InvalidAddressException($"channel() needs 'layer:channel'; got '{unit}'.");
        return new Leaf($"channel({unit.Layer}:{channel})", unit.Layer, batch, ctx =>
        {
            Tensor a = Checked(ctx, unit.Layer, channel);
            Tensor c = a.select(1, channel);
            return c.dim() == 1 ? c : c.flatten(1).mean(new long[] { 1 });
        });
    }

    /// <summary>One channel at one position (the centre when the address has none): <c>neuron(layer:c@y,x)</c>.</summary>
    public static Objective Neuron(NeuronAddress unit, int? batch = null)
    {
        int channel = unit.Channel ?? throw new InvalidAddressException($"neuron() needs 'layer:channel' or 'layer:channel@y,x'; got '{unit}'.");
        string name = unit.HasPosition ? $"neuron({unit})" : $"neuron({unit.Layer}:{channel}@centre)";
        return new Leaf(name, unit.Layer, batch, ctx =>
        {
            Tensor a = Checked(ctx, unit.Layer, channel, requireSpatial: true);
            var (y, x) = Position(a, unit);
            return a[TensorIndex.Colon, channel, y, x];
        });
    }

    /// <summary>The mean square of a whole layer's activation, as DeepDream maximizes: <c>layer(mixed4a)</c>.</summary>
    public static Objective Layer(string layer, int? batch = null) =>
        new Leaf($"layer({layer})", layer, batch, ctx => ctx.Activation(layer).pow(2).flatten(1).mean(new long[] { 1 }));

    /// <summary>The model output at <paramref name="classIndex"/> (a logit, or whatever the model returns): <c>class(7)</c>.</summary>
    public static Objective ClassLogit(int classIndex, int? batch = null) =>
        new Leaf($"class({classIndex})", null, batch, ctx =>
        {
            Tensor output = ctx.Output;
            if (classIndex < 0 || classIndex >= output.shape[1])
            {
                throw new UnitOutOfRangeException($"Class {classIndex} is out of range: the model returns {output.shape[1]} outputs (0 to {output.shape[1] - 1}).");
            }

            return output.select(1, classIndex);
        }, needsOutput: true);

    /// <summary>
    /// A penalty on the similarity of the batch items: the mean, over items, of the summed cosine similarity
    /// between the item's Gram matrix (channels x channels over positions) and every other item's. Subtract it
    /// to make the batch diverse: <c>channel(l:0) - 1e2 * diversity(l)</c>.
    /// </summary>
    public static Objective Diversity(string layer) => new BatchLeaf($"diversity({layer})", layer, ctx =>
    {
        Tensor a = ctx.Activation(layer);
        long n = a.shape[0];
        if (n < 2)
        {
            return zeros(new long[0], a.dtype, a.device);
        }

        Tensor flat = a.flatten(2);                                   // N x C x HW
        Tensor grams = flat.matmul(flat.transpose(1, 2)).flatten(1);  // N x C*C
        Tensor unit = grams / (grams.norm(1, true) + 1e-10);
        Tensor similarity = unit.matmul(unit.t());                    // N x N cosine similarities
        return (similarity.sum() - similarity.diagonal().sum()) / n;
    });

    /// <summary>
    /// A penalty on differences between neighbouring batch items (for interpolations): the sum over
    /// distances d = 1..4 of the mean squared difference between items i and i + d, divided by
    /// <paramref name="decayRatio"/>^d.
    /// </summary>
    public static Objective Alignment(string layer, double decayRatio = 2) => new BatchLeaf($"alignment({layer})", layer, ctx =>
    {
        Tensor a = ctx.Activation(layer);
        long n = a.shape[0];
        Tensor total = zeros(new long[0], a.dtype, a.device);
        for (long d = 1; d <= 4 && d < n; d++)
        {
            for (long i = 0; i + d < n; i++)
            {
                total = total + ((a[i] - a[i + d]).pow(2).mean() / Math.Pow(decayRatio, d));
            }
        }

        return total;
    });

    /// <summary>A penalty: the L1 distance of the image from <paramref name="constant"/>: <c>l1(image)</c>.</summary>
    public static Objective L1(double constant = 0.5, int? batch = null) =>
        new Leaf("l1(image)", null, batch, ctx => (ctx.Image - constant).abs().flatten(1).sum(1));

    /// <summary>A penalty: the L2 distance of the image from <paramref name="constant"/>: <c>l2(image)</c>.</summary>
    public static Objective L2(double constant = 0.5, int? batch = null) =>
        new Leaf("l2(image)", null, batch, ctx => ((ctx.Image - constant).pow(2).flatten(1).sum(1) + 1e-6).sqrt());

    /// <summary>A penalty: the total variation of the image (sum of absolute differences between neighbouring pixels).</summary>
    public static Objective TotalVariation(int? batch = null) => new Leaf("total_variation(image)", null, batch, ctx =>
    {
        Tensor image = ctx.Image;
        Tensor dy = (image[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(1, null)] - image[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(null, -1)]).abs();
        Tensor dx = (image[TensorIndex.Ellipsis, TensorIndex.Slice(1, null)] - image[TensorIndex.Ellipsis, TensorIndex.Slice(null, -1)]).abs();
        return dy.flatten(1).sum(1) + dx.flatten(1).sum(1);
    });

    /// <summary>
    /// A penalty pulling the image towards a blurred copy of itself (3 x 3 box blur, the copy held constant):
    /// half the squared distance between the two.
    /// </summary>
    public static Objective Blur(int? batch = null) => new Leaf("blur(image)", null, batch, ctx =>
    {
        Tensor image = ctx.Image;
        long c = image.shape[1];
        Tensor kernel = full(new long[] { c, 1, 3, 3 }, 1.0 / 9, image.dtype, image.device);
        Tensor blurred = nn.functional.conv2d(nn.functional.pad(image, new long[] { 1, 1, 1, 1 }, PaddingModes.Replicate), kernel, groups: c).detach();
        return (image - blurred).pow(2).flatten(1).sum(1) * 0.5;
    });

    /// <summary>One channel objective per batch item: item i maximizes channel <paramref name="channels"/>[i] of <paramref name="layer"/>.</summary>
    public static Objective ChannelsInBatch(string layer, IReadOnlyList<int> channels)
    {
        ArgumentNullException.ThrowIfNull(channels);
        return Objective.Sum(channels.Select((c, i) => Channel(new NeuronAddress(layer, c), batch: i)));
    }

    private static Tensor Checked(RenderContext ctx, string layer, int? channel, bool requireSpatial = false)
    {
        Tensor a = ctx.Activation(layer);
        UnitSelection.Validate(layer, a.shape, channel is int c ? new[] { c } : null, null);
        if (requireSpatial && a.dim() != 4)
        {
            throw new UnitOutOfRangeException($"Layer '{layer}' has output shape [{string.Join(", ", a.shape)}], which has no spatial positions.");
        }

        return a;
    }

    private static (long Y, long X) Position(Tensor a, NeuronAddress unit)
    {
        if (!unit.HasPosition)
        {
            return (a.shape[2] / 2, a.shape[3] / 2);
        }

        UnitSelection.Validate(unit.Layer, a.shape, null, new[] { (unit.Y!.Value, unit.X!.Value) });
        return (unit.Y!.Value, unit.X!.Value);
    }

    private static Tensor DirectionFor(Tensor a, Tensor direction, string layer, string what = "direction")
    {
        if (direction.numel() != a.shape[1])
        {
            throw new CircuitsException($"The {what} has {direction.numel()} elements; layer '{layer}' has {a.shape[1]} channels.");
        }

        long[] shape = a.shape.Select((s, i) => i == 1 ? s : 1L).ToArray();
        return direction.to(a.dtype, a.device).reshape(shape);
    }

    /// <summary>
    /// An objective computed per batch item, summed over the batch or taken at one index. Its function must compute
    /// each item's value from that item alone (a render may run the batch through the model in parts).
    /// </summary>
    private sealed class Leaf : Objective
    {
        private readonly string _name;
        private readonly string? _layer;
        private readonly int? _batch;
        private readonly Func<RenderContext, Tensor> _perItem;
        private readonly bool _needsOutput;

        public Leaf(string name, string? layer, int? batch, Func<RenderContext, Tensor> perItem, bool needsOutput = false)
        {
            if (batch < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(batch), $"Batch index {batch} is negative.");
            }

            _name = batch is null ? name : $"{name}[batch {batch}]";
            _layer = layer;
            _batch = batch;
            _perItem = perItem;
            _needsOutput = needsOutput;
        }

        public override string Name => _name;

        public override IEnumerable<string> Layers => _layer is null ? Array.Empty<string>() : new[] { _layer };

        public override bool NeedsOutput => _needsOutput;

        public override int MaxBatchIndex => _batch ?? -1;

        internal override bool PerItem => true;

        internal override Tensor? EvaluatePart(RenderContext context)
        {
            if (_batch is int b)
            {
                int local = b - context.ItemOffset;
                return local < 0 || local >= context.BatchSize ? null : _perItem(context)[local];
            }

            return _perItem(context).sum();
        }

        public override Tensor Evaluate(RenderContext context)
        {
            Tensor values = _perItem(context);
            if (_batch is int b)
            {
                if (b >= values.shape[0])
                {
                    throw new UnitOutOfRangeException($"Objective '{_name}' targets batch item {b}, but the batch has {values.shape[0]} items.");
                }

                return values[b];
            }

            return values.sum();
        }
    }

    /// <summary>An objective over the whole batch at once.</summary>
    private sealed class BatchLeaf : Objective
    {
        private readonly string _name;
        private readonly string _layer;
        private readonly Func<RenderContext, Tensor> _value;

        public BatchLeaf(string name, string layer, Func<RenderContext, Tensor> value)
        {
            _name = name;
            _layer = layer;
            _value = value;
        }

        public override string Name => _name;

        public override IEnumerable<string> Layers => new[] { _layer };

        public override Tensor Evaluate(RenderContext context) => _value(context);
    }
}
