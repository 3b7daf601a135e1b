using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// Runs render steps with the batch going through the model in parts: each part's forward and backward run one
/// after the other, so the part's activations are still in cache when its backward reads them and only one part's
/// graph is held at a time. The parameterization and the transforms still run once on the whole batch, with the
/// same random draws. For an objective that is a sum of per-item terms (<see cref="Objective.PerItem"/>), the
/// gradients equal the whole batch's (up to floating-point rounding): each part's terms depend on its items alone.
/// </summary>
/// <remarks>
/// Unless the caller chose the part size, the first step's first part is one item, during which the outputs of
/// every leaf module that runs are measured (their bytes, at the step's input size); the part size is then as many
/// items as fit in <see cref="BudgetBytes"/>, never less than one, for the rest of the render. No extra forward pass
/// is run, and the choice depends only on shapes, so a seed still gives the same images.
/// </remarks>
internal sealed class MicroBatching
{
    /// <summary>
    /// The activation memory a part aims at when its size is chosen automatically: 6 MB. Measured (BatchRenderBenchmarks,
    /// docs/performance.md): 64 units of a small conv net at about 1.3 MB of activations each ran fastest per unit in parts
    /// of 4 (0.77 of 64 single renders), slower in parts of 12 (1.04) and as one part of 64 (1.68).
    /// </summary>
    internal const long BudgetBytes = 6L << 20;

    private readonly Objective _objective;
    private readonly int _batch;
    private bool _measuring;
    private long _measuredBytes;

    public MicroBatching(nn.Module model, Objective objective, int batch, int? chosen)
    {
        _objective = objective;
        _batch = batch;
        if (batch == 1 || !objective.PerItem)
        {
            PartSize = batch;
        }
        else if (chosen is int c)
        {
            PartSize = Math.Clamp(c, 1, batch);
        }
        else
        {
            // Observers of every leaf module's output; they count only while the first part is measured.
            Edits = model.named_modules()
                .Where(m => m.name.Length > 0 && !m.module.children().Any() && m.module is nn.Module<Tensor, Tensor>)
                .Select(m => LayerEdit.Output(m.name, (_, output) =>
                {
                    if (_measuring)
                    {
                        _measuredBytes += output.numel() * output.element_size();
                    }

                    return null;
                }))
                .ToList();
        }
    }

    /// <summary>The bytes of one item's leaf-module outputs, as measured in the first part (0 until then, or when not measured).</summary>
    public long MeasuredBytes => _measuredBytes;

    /// <summary>The items per part; null until measured.</summary>
    public int? PartSize { get; private set; }

    /// <summary>The measuring edits the render's <see cref="ForwardRun"/> must carry (none when the size is known).</summary>
    public IReadOnlyList<LayerEdit> Edits { get; } = Array.Empty<LayerEdit>();

    /// <summary>The part size for one item's activation bytes: as many items as fit in <see cref="BudgetBytes"/>, 1 to the batch.</summary>
    public static int SizeFor(long bytesPerItem, int batch) => (int)Math.Clamp(BudgetBytes / Math.Max(1, bytesPerItem), 1, batch);

    /// <summary>
    /// One step's forward and backward: the whole batch at once, or in parts, with gradients reaching the parameters
    /// through <paramref name="current"/> (the image) and <paramref name="input"/> (the model's input made from it).
    /// Returns the objective's value.
    /// </summary>
    public double Step(ForwardRun run, Tensor current, Tensor input)
    {
        if (PartSize == _batch)
        {
            using CaptureResult taps = run.Run(input);
            Tensor value = _objective.Evaluate(new RenderContext(current, taps, taps.Output));
            value.neg().backward();
            return value.item<float>();
        }

        Tensor inputs = input.detach(), images = current.detach();
        var inputGrads = new List<Tensor>();
        var imageGrads = new List<(long Count, Tensor? Grad)>();
        double total = 0;
        for (int start = 0; start < _batch;)
        {
            _measuring = PartSize is null;
            int count = Math.Min(PartSize ?? 1, _batch - start);
            using (var scope = NewDisposeScope())
            {
                Tensor x = inputs.narrow(0, start, count).detach().requires_grad_(true);
                Tensor image = images.narrow(0, start, count).detach().requires_grad_(true);
                using (CaptureResult taps = run.Run(x))
                {
                    _measuring = false;
                    Tensor? value = _objective.EvaluatePart(new RenderContext(image, taps, taps.Output, start));
                    if (value is not null)
                    {
                        total += value.item<float>();
                        if (value.requires_grad)
                        {
                            value.neg().backward();
                        }
                    }
                }

                inputGrads.Add(GradOrZeros(x));
                imageGrads.Add((count, image.grad is null ? null : GradOrZeros(image)));
            }

            PartSize ??= SizeFor(_measuredBytes, _batch);
            start += count;
        }

        // d(-objective)/d(parameters): the input's and the image's gradients pushed back through their graphs.
        Tensor surrogate = input.mul(cat(inputGrads)).sum();
        if (imageGrads.Any(g => g.Grad is not null))
        {
            long[] item = current.shape.Skip(1).ToArray();
            var grads = imageGrads.Select(g => g.Grad ?? zeros(new[] { g.Count }.Concat(item).ToArray(), current.dtype, current.device)).ToList();
            surrogate = surrogate + current.mul(cat(grads)).sum();
        }

        surrogate.backward();
        return total;
    }

    private static Tensor GradOrZeros(Tensor leaf) =>
        (leaf.grad is Tensor g && !g.IsInvalid ? g.detach() : zeros_like(leaf)).MoveToOuterDisposeScope();
}
