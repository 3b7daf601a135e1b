using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Activations;

/// <summary>What a target position contributes as the quantity to explain.</summary>
public enum PositionScore
{
    /// <summary>The sum of the target layer's channels at the position (linear in the activations).</summary>
    Sum,

    /// <summary>The L2 norm of the target layer's activation vector at the position (how strongly anything fires there).</summary>
    Magnitude,
}

/// <summary>
/// Spatial attribution, as in Building Blocks: how much each position of an earlier layer contributes to each position
/// of a later layer, or to each class logit, for one input. The contribution of source position p to a target score T
/// is the linear estimate sum over channels c of A[c, p] · dT/dA[c, p] (gradient times activation, summed over the
/// channels): for a linear path between the layers it is exactly p's share of T. One forward pass, then one backward
/// pass per target position or class. The model runs frozen (eval mode, no parameter gradients); both are restored.
/// </summary>
/// <example>
/// <code>
/// using var attribution = SpatialAttribution.BetweenLayers(model, image, "mixed4d", "mixed5a");
/// Tensor map = attribution.Map(3, 4);                 // mixed4d positions -> mixed5a position (3, 4)
/// using Tensor heat = attribution.HeatMap(attribution.IndexOf(3, 4), image[0]);
/// using var classes = SpatialAttribution.ToClasses(model, image, "mixed4d", new[] { 208, 282 });
/// </code>
/// </example>
public static class SpatialAttribution
{
    /// <summary>
    /// For every position (y, x) of <paramref name="target"/>, the attribution map over the positions of
    /// <paramref name="source"/> (which must run before it) of the target's <paramref name="score"/> at (y, x).
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="input">One image, 1 x 3 x H x W in [0, 1].</param>
    /// <param name="source">The earlier layer (N x C x H x W output).</param>
    /// <param name="target">The later layer (N x C x H x W output).</param>
    /// <param name="score">What is explained at each target position.</param>
    /// <param name="preprocess">Applied to the image before the model; null: the model's own input convention (<see cref="Preprocessing.Resolve"/>).</param>
    /// <param name="cancellationToken">Checked between backward passes.</param>
    /// <exception cref="UnknownLayerException">A layer does not exist.</exception>
    /// <exception cref="CircuitsException">The input is not batch 1, a layer has no spatial positions, or the target runs before the source.</exception>
    public static SpatialAttributionResult BetweenLayers(
        nn.Module<Tensor, Tensor> model, Tensor input, string source, string target,
        PositionScore score = PositionScore.Sum, Func<Tensor, Tensor>? preprocess = null, CancellationToken cancellationToken = default)
    {
        Check(model, input, source);
        ArgumentNullException.ThrowIfNull(target);
        using var attached = new SourceLeaf(model, source, target);
        using var scope = NewDisposeScope();
        using CaptureResult result = attached.Run(Preprocessing.Resolve(model, preprocess)(input));
        Tensor leaf = attached.Leaf, targetOutput = result[target];
        if (targetOutput.dim() != 4)
        {
            throw new CircuitsException($"Layer '{target}' has output shape [{string.Join(", ", targetOutput.shape)}], which has no spatial positions; use ToClasses for a flat output.");
        }

        long th = targetOutput.shape[2], tw = targetOutput.shape[3];
        Tensor scores = score == PositionScore.Sum ? targetOutput[0].sum(0L) : targetOutput[0].pow(2).sum(0L).add(1e-12).sqrt();
        var maps = new List<Tensor>();
        var labels = new List<string>();
        for (long y = 0; y < th; y++)
        {
            for (long x = 0; x < tw; x++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                maps.Add(Attribute(scores[y, x], leaf));
                labels.Add($"{target}@{y},{x}");
            }
        }

        Tensor all = stack(maps, 0).DetachFromDisposeScope();
        return new SpatialAttributionResult(source, target, all, labels, (int)th, (int)tw);
    }

    /// <summary>For each class in <paramref name="classes"/>, the attribution map of the model's output logit over the positions of <paramref name="source"/>.</summary>
    /// <exception cref="UnitOutOfRangeException">A class is outside the model's outputs.</exception>
    /// <inheritdoc cref="BetweenLayers" path="/exception"/>
    public static SpatialAttributionResult ToClasses(
        nn.Module<Tensor, Tensor> model, Tensor input, string source, IReadOnlyList<int> classes,
        Func<Tensor, Tensor>? preprocess = null, CancellationToken cancellationToken = default)
    {
        Check(model, input, source);
        ArgumentNullException.ThrowIfNull(classes);
        if (classes.Count == 0)
        {
            throw new CircuitsException("ToClasses needs at least one class index.");
        }

        using var attached = new SourceLeaf(model, source, null);
        using var scope = NewDisposeScope();
        using CaptureResult result = attached.Run(Preprocessing.Resolve(model, preprocess)(input));
        Tensor leaf = attached.Leaf, output = result.Output!;
        Tensor logits = output.reshape(output.shape[0], -1);
        int bad = classes.FirstOrDefault(c => c < 0 || c >= logits.shape[1]);
        if (classes.Any(c => c < 0 || c >= logits.shape[1]))
        {
            throw new UnitOutOfRangeException($"Class {bad} is out of range: the model returns {logits.shape[1]} outputs (0 to {logits.shape[1] - 1}).");
        }

        var maps = new List<Tensor>();
        foreach (int c in classes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            maps.Add(Attribute(logits[0, c], leaf));
        }

        Tensor all = stack(maps, 0).DetachFromDisposeScope();
        return new SpatialAttributionResult(source, "classes", all, classes.Select(c => $"class {c}").ToList(), 0, 0);
    }

    /// <summary>sum_c A[c, p] · dT/dA[c, p] for one scalar T, as a Hs x Ws map.</summary>
    private static Tensor Attribute(Tensor value, Tensor leaf)
    {
        Tensor grad = autograd.grad(new[] { value }, new[] { leaf }, retain_graph: true, allow_unused: true)[0];
        return grad is null || grad.IsInvalid ? zeros_like(leaf[0, 0]) : leaf.detach().mul(grad).sum(1)[0];
    }

    /// <summary>
    /// The model attached through a <see cref="ForwardRun"/> (frozen while attached, keeping the graph) with the
    /// source's output replaced by a leaf that requires grad. The pass stops after the target when one is named, and
    /// runs to the output otherwise.
    /// </summary>
    private sealed class SourceLeaf : IDisposable
    {
        private readonly ForwardRun _run;
        private Tensor? _leaf;

        public SourceLeaf(nn.Module<Tensor, Tensor> model, string source, string? target)
        {
            HookHandle.AsTensorModule(ModelLayers.Find(model, source), source, "a spatial attribution source");
            if (target is not null)
            {
                HookHandle.AsTensorModule(ModelLayers.Find(model, target), target, "a spatial attribution target");
            }

            var edits = new List<LayerEdit> { LayerEdit.Output(source, (_, o) => ReplaceSource(source, o)) };
            if (target is not null)
            {
                // Runs before the target's tap: a target that runs before the source is named as such.
                edits.Add(LayerEdit.Output(target, (_, _) => _leaf is null
                    ? throw new CircuitsException($"Layer '{target}' ran before '{source}'; expected the target to run after the source.")
                    : null));
            }

            _run = ForwardRun.Attach(model, new ForwardRunOptions
            {
                // The source is tapped too, so that a source that never ran is reported (before the target).
                Taps = target is null ? new[] { source } : new[] { source, target },
                Edits = edits,
                KeepGraph = true,
                StopAfterTaps = target is not null,
            });
        }

        /// <summary>The leaf that replaced the source's output in the last pass.</summary>
        public Tensor Leaf => _leaf ?? throw new InvalidOperationException("The source has not run yet.");

        /// <summary>One pass on <paramref name="input"/>.</summary>
        /// <exception cref="HookNotFiredException">The source or the target did not run.</exception>
        public CaptureResult Run(Tensor input)
        {
            _leaf = null;
            return _run.Run(input);
        }

        /// <summary>Removes the hooks and unfreezes the model.</summary>
        public void Dispose() => _run.Dispose();

        private Tensor ReplaceSource(string source, Tensor output)
        {
            if (output.dim() != 4)
            {
                throw new CircuitsException($"Layer '{source}' has output shape [{string.Join(", ", output.shape)}], which has no spatial positions; expected N x C x H x W.");
            }

            _leaf = output.detach().requires_grad_(true);
            return _leaf.alias();
        }
    }

    private static void Check(nn.Module<Tensor, Tensor> model, Tensor input, string source)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(source);
        if (input.dim() < 1 || input.shape[0] != 1)
        {
            throw new CircuitsException($"Spatial attribution explains one input; got shape [{string.Join(", ", input.shape)}]. Expected batch size 1.");
        }
    }
}
