using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Attribution;

/// <summary>
/// Attribution of a neuron's value to earlier neurons or to the input: gradient times activation, integrated
/// gradients (batched over the interpolation steps), a neuron's attribution to every neuron of an earlier layer,
/// and attribution along a circuit's path. A target is a neuron address: <c>layer:channel</c> (summed over
/// positions) or <c>layer:channel@y,x</c>. The model runs in eval mode; its parameters get no gradients and
/// its mode is restored. Inputs are images as the caller has them (RGB in [0, 1] for an image model): the model's
/// input convention is applied inside the graph unless <see cref="AttributionOptions.Preprocess"/> overrides it,
/// and the computation runs on the model's device (<see cref="AttributionOptions.Device"/>).
/// </summary>
public static class Attributions
{
    /// <summary>
    /// Gradient times activation at <paramref name="layer"/>: A * dT/dA, shaped like the layer's activation
    /// (batch included). For a target that is linear in the layer, each entry is exactly that activation's
    /// contribution to the target.
    /// </summary>
    /// <exception cref="UnknownLayerException">A layer does not exist.</exception>
    /// <exception cref="UnitOutOfRangeException">The target names no channel, or one outside its layer.</exception>
    /// <exception cref="CircuitsException">The target layer runs before <paramref name="layer"/>.</exception>
    /// <exception cref="DeviceMismatchException"><see cref="AttributionOptions.Device"/> is not the model's device.</exception>
    public static Tensor GradientTimesActivation(nn.Module<Tensor, Tensor> model, Tensor input, string layer, NeuronAddress target, AttributionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(layer);
        var (device, preprocess) = Setup(model, options);
        using var scope = NewDisposeScope();
        Tensor? leaf = null;
        Tensor value = RunToTarget(model, preprocess(input.to(device)), target, new[] { layer }, (_, output) =>
        {
            leaf = output.detach().requires_grad_(true);
            return leaf.alias(); // a new handle: containers such as Sequential dispose intermediate tensors
        });
        Tensor grad = torch.autograd.grad(new[] { value.sum() }, new[] { leaf! }, allow_unused: true)[0];
        Tensor result = grad.IsInvalid ? zeros_like(leaf!) : leaf!.detach().mul(grad);
        return result.detach().DetachFromDisposeScope();
    }

    /// <summary>
    /// The attribution of <paramref name="target"/> to every neuron of the earlier <paramref name="layer"/> for one
    /// input (batch 1): gradient times activation, a spatial map per channel, with per-channel totals.
    /// </summary>
    /// <inheritdoc cref="GradientTimesActivation" path="/exception"/>
    public static LayerAttribution NeuronToLayer(nn.Module<Tensor, Tensor> model, Tensor input, NeuronAddress target, string layer, AttributionOptions? options = null)
    {
        RequireSingle(input, nameof(NeuronToLayer));
        using Tensor map = GradientTimesActivation(model, input, layer, target, options);
        return new LayerAttribution(target, layer, map[0].clone());
    }

    /// <summary>
    /// Integrated gradients of <paramref name="target"/> with respect to the input (or to <paramref name="layer"/>'s
    /// activation): (x - x0) times the mean gradient at the midpoints x0 + (k + 1/2)/steps (x - x0), k = 0..steps-1,
    /// all steps in one batched forward and backward pass. The target's values at x and x0 ride in the same batch,
    /// so completeness (attributions summing to T(x) - T(x0)) can be checked at no extra cost.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="input">One input, batch 1.</param>
    /// <param name="target">The neuron to explain.</param>
    /// <param name="baseline">The baseline input (batch 1); zeros when null. At a layer, the baseline's activation there is the baseline.</param>
    /// <param name="steps">Interpolation steps.</param>
    /// <param name="layer">Attribute to this layer's activation instead of the input.</param>
    /// <param name="options">Preprocessing and device; the model's when null.</param>
    /// <exception cref="CircuitsException">The input is not batch 1, the baseline's shape differs, or steps is not positive; errors of <see cref="GradientTimesActivation"/>.</exception>
    public static IntegratedGradientsResult IntegratedGradients(nn.Module<Tensor, Tensor> model, Tensor input, NeuronAddress target, Tensor? baseline = null, int steps = 32, string? layer = null,
        AttributionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        RequireSingle(input, nameof(IntegratedGradients));
        if (steps <= 0)
        {
            throw new CircuitsException($"Integrated gradients need a positive number of steps; got {steps}. 32 to 300 are usual.");
        }

        if (baseline is not null && !baseline.shape.SequenceEqual(input.shape))
        {
            throw new CircuitsException($"The baseline's shape [{string.Join(", ", baseline.shape)}] differs from the input's [{string.Join(", ", input.shape)}]; expected the same shape.");
        }

        var (device, preprocess) = Setup(model, options);
        using var scope = NewDisposeScope();
        input = input.to(device);
        Tensor x0 = baseline?.to(device) ?? zeros_like(input);
        // Batch: steps midpoints, then the input itself and the baseline (alpha = 1 and 0).
        float[] alphaValues = Enumerable.Range(0, steps).Select(k => (k + 0.5f) / steps).Append(1f).Append(0f).ToArray();
        Tensor weights = tensor(Enumerable.Repeat(1f / steps, steps).Append(0f).Append(0f).ToArray());
        long[] alphaShape = new long[input.dim()];
        Array.Fill(alphaShape, 1L);
        alphaShape[0] = steps + 2;
        Tensor alphas = tensor(alphaValues).reshape(alphaShape).to(input.device);

        Tensor leaf;
        Tensor start, end;
        Tensor values;
        if (layer is null)
        {
            start = x0.detach();
            end = input.detach();
            leaf = start.add(end.sub(start).mul(alphas)).detach().requires_grad_(true);
            values = RunToTarget(model, preprocess(leaf), target, Array.Empty<string>(), null);
        }
        else
        {
            Tensor? captured = null;
            using (no_grad())
            {
                RunToTarget(model, preprocess(cat(new[] { input, x0 }, 0)), target, new[] { layer }, (_, output) =>
                {
                    captured = output.detach().clone();
                    return null;
                });
            }

            end = captured!.narrow(0, 0, 1);
            start = captured!.narrow(0, 1, 1);
            Tensor interpolated = start.add(end.sub(start).mul(alphas.reshape(new long[] { steps + 2 }.Concat(Enumerable.Repeat(1L, (int)start.dim() - 1)).ToArray())));
            leaf = interpolated.detach().requires_grad_(true);
            Tensor repeated = preprocess(input.expand(new long[] { steps + 2 }.Concat(input.shape.Skip(1)).ToArray()));
            values = RunToTarget(model, repeated, target, new[] { layer }, (_, _) => leaf.alias());
        }

        Tensor grad = torch.autograd.grad(new[] { values }, new[] { leaf }, new[] { weights.to(values.device) }, allow_unused: true)[0];
        Tensor meanGrad = grad.IsInvalid ? zeros_like(leaf.narrow(0, 0, 1)) : grad.sum(0, keepdim: true);
        Tensor attribution = end.sub(start).mul(meanGrad).detach().DetachFromDisposeScope();
        float[] v = values.detach().cpu().data<float>().ToArray();
        return new IntegratedGradientsResult(attribution, v[steps], v[steps + 1], steps);
    }

    /// <summary>
    /// Attribution along a circuit's path <paramref name="path"/> (neurons <c>layer:channel</c>, earliest first, the
    /// last being the target): for each earlier neuron, its activation times the part of the target's gradient
    /// that flows only through the later neurons of the path (other channels of the path's layers pass no
    /// gradient), as a spatial map. One forward and one backward pass. For a linear chain, the total for the first
    /// neuron is its activation times the product of the weights along the path.
    /// </summary>
    /// <exception cref="CircuitsException">The path has fewer than two neurons, a neuron names no channel, or two neurons share a layer; errors of <see cref="GradientTimesActivation"/>.</exception>
    public static PathAttribution AlongPath(nn.Module<Tensor, Tensor> model, Tensor input, IReadOnlyList<NeuronAddress> path, AttributionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        RequireSingle(input, nameof(AlongPath));
        if (path.Count < 2)
        {
            throw new CircuitsException($"A path needs at least two neurons (earliest first, the target last); got {path.Count}.");
        }

        NeuronAddress noChannel = path.FirstOrDefault(p => p.Channel is null);
        if (path.Any(p => p.Channel is null))
        {
            throw new CircuitsException($"Path neuron '{noChannel}' names no channel; expected 'layer:channel' for every neuron of the path.");
        }

        var shared = path.GroupBy(p => p.Layer).FirstOrDefault(g => g.Count() > 1);
        if (shared is not null)
        {
            throw new CircuitsException($"Layer '{shared.Key}' appears {shared.Count()} times in the path; expected one neuron per layer.");
        }

        var (device, preprocess) = Setup(model, options);
        using var scope = NewDisposeScope();
        var earlier = path.Take(path.Count - 1).ToList();
        var leaves = new Tensor?[earlier.Count];
        var order = new List<string>();
        Tensor value = RunToTarget(model, preprocess(input.to(device)), path[^1], earlier.Select(p => p.Layer).ToList(), (layerName, output) =>
        {
            int i = earlier.FindIndex(p => p.Layer == layerName);
            order.Add(layerName);
            int channel = earlier[i].Channel!.Value;
            if (output.dim() < 2 || channel >= output.shape[1])
            {
                throw new UnitOutOfRangeException($"Channel {channel} is outside layer '{layerName}', which has {(output.dim() < 2 ? 0 : output.shape[1])} channels.");
            }

            // Value unchanged; the gradient reaches the earlier layers only through this neuron's channel.
            Tensor leaf = output.detach().requires_grad_(true);
            Tensor mask = zeros(output.shape[1], device: output.device);
            mask[channel] = tensor(1f);
            Tensor channelMask = mask.reshape(new long[] { 1, output.shape[1] }.Concat(Enumerable.Repeat(1L, (int)output.dim() - 2)).ToArray());
            leaves[i] = leaf;
            return output.requires_grad ? leaf.add(output.sub(output.detach()).mul(channelMask)) : leaf.alias();
        });

        for (int i = 1; i < order.Count; i++)
        {
            if (earlier.FindIndex(p => p.Layer == order[i]) < earlier.FindIndex(p => p.Layer == order[i - 1]))
            {
                throw new CircuitsException($"Layer '{order[i - 1]}' ran before '{order[i]}', but the path lists it later; expected the path's neurons in the order the model runs them, earliest first.");
            }
        }

        IList<Tensor> grads = torch.autograd.grad(new[] { value.sum() }, leaves.Select(l => l!).ToList(), allow_unused: true);
        var steps = new List<PathStep>();
        for (int i = 0; i < earlier.Count; i++)
        {
            Tensor leaf = leaves[i]!;
            Tensor grad = grads[i].IsInvalid ? zeros_like(leaf) : grads[i];
            Tensor map = leaf.detach().mul(grad)[0, earlier[i].Channel!.Value].detach().DetachFromDisposeScope();
            steps.Add(new PathStep(earlier[i], map, map.sum().item<float>()));
        }

        return new PathAttribution(path[^1], value.sum().item<float>(), steps);
    }

    /// <summary>
    /// Runs the model (frozen, keeping the graph) with <paramref name="edit"/> applied to the output of each of
    /// <paramref name="layers"/> and returns the target's value per batch item (N); the pass stops once the target
    /// and every edited layer have run.
    /// </summary>
    private static Tensor RunToTarget(nn.Module<Tensor, Tensor> model, Tensor input, NeuronAddress target, IReadOnlyList<string> layers, Func<string, Tensor, Tensor?>? edit)
    {
        HookHandle.AsTensorModule(ModelLayers.Find(model, target.Layer), target.Layer, "an attribution target");
        var edits = edit is null
            ? new List<LayerEdit>()
            : layers.Select(l => LayerEdit.Output(l, (_, output) => edit(l, output))).ToList();
        using var run = ForwardRun.Attach(model, new ForwardRunOptions
        {
            Taps = layers.Append(target.Layer).ToList(),
            Edits = edits,
            KeepGraph = true,
        });
        using CaptureResult result = run.Run(input);
        int targetAt = IndexOf(result.Ran, target.Layer);
        string? late = layers.FirstOrDefault(l => IndexOf(result.Ran, l) > targetAt);
        if (late is not null)
        {
            throw new CircuitsException($"Layer '{late}' ran after the target '{target}'; expected layers that run before the target.");
        }

        return TargetValue(result[target.Layer], target);
    }

    private static int IndexOf(IReadOnlyList<string> list, string item)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] == item)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The device and the preprocessing of a call, checked before anything runs.</summary>
    private static (Device Device, Func<Tensor, Tensor> Preprocess) Setup(nn.Module<Tensor, Tensor> model, AttributionOptions? options)
    {
        options ??= AttributionOptions.Default;
        return (ModelDevice.Resolve(model, options.Device, "AttributionOptions.Device"), Preprocessing.Resolve(model, options.Preprocess));
    }

    /// <summary>The target neuron's value per batch item: its channel summed over positions, or at its position.</summary>
    internal static Tensor TargetValue(Tensor activation, NeuronAddress target)
    {
        if (target.Channel is not int channel)
        {
            throw new UnitOutOfRangeException($"Target '{target}' names no channel; expected '{target.Layer}:<channel>' or '{target.Layer}:<channel>@y,x'.");
        }

        long channels = activation.dim() >= 2 ? activation.shape[1] : 0;
        if (channel >= channels)
        {
            throw new UnitOutOfRangeException($"Channel {channel} of target '{target}' is outside layer '{target.Layer}', which has channels 0 to {channels - 1}.");
        }

        Tensor unit = activation.select(1, channel);
        if (target.HasPosition)
        {
            if (unit.dim() != 3 || target.Y >= unit.shape[1] || target.X >= unit.shape[2])
            {
                throw new UnitOutOfRangeException($"Position ({target.Y}, {target.X}) of target '{target}' is outside layer '{target.Layer}', whose output is [{string.Join(", ", activation.shape)}].");
            }

            return unit[TensorIndex.Colon, target.Y!.Value, target.X!.Value];
        }

        return unit.dim() == 1 ? unit : unit.reshape(unit.shape[0], -1).sum(1);
    }

    private static void RequireSingle(Tensor input, string method)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() < 1 || input.shape[0] != 1)
        {
            throw new CircuitsException($"{method} explains one input; got a batch of shape [{string.Join(", ", input.shape)}]. Expected batch size 1.");
        }
    }
}
