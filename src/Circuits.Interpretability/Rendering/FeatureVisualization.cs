using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// Optimization-based feature visualization: finds images that maximize an <see cref="Objective"/> of any
/// TorchSharp model, as Lucid's <c>render_vis</c> does, with transformation robustness, a Fourier and
/// colour-decorrelated parameterization by default, batch rendering and snapshots.
/// </summary>
/// <example>
/// <code>
/// using var result = FeatureVisualization.Render(model, Objectives.Channel("features.conv3:5"),
///     new RenderOptions { Steps = 256, ImageSize = 96 });
/// result.SavePng("conv3-5.png");
/// </code>
/// </example>
public static class FeatureVisualization
{
    /// <summary>
    /// Optimizes images to maximize <paramref name="objective"/> of <paramref name="model"/>. The model runs in
    /// eval mode; its parameters get no gradients and are not changed (their mode and <c>requires_grad</c> flags
    /// are restored afterwards). The forward pass stops after the deepest layer the objective reads, unless it
    /// reads the model's output. Every step runs in a dispose scope, so native memory stays flat.
    /// </summary>
    /// <exception cref="UnknownLayerException">An objective names a layer the model lacks.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static RenderResult Render(
        nn.Module<Tensor, Tensor> model,
        Objective objective,
        RenderOptions? options = null,
        IProgress<RenderProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(objective);
        options ??= new RenderOptions();
        Validate(objective, options);
        Device device = ModelDevice.Resolve(model, options.Device, "RenderOptions.Device");
        Func<Tensor, Tensor> preprocess = Preprocessing.Resolve(model, options.Preprocess);
        IReadOnlyList<IImageTransform> transforms = options.Transforms ?? Transforms.Standard();
        var thresholds = new HashSet<int>(options.Thresholds);
        var snapshots = new List<(int, Tensor)>();
        var history = new List<double>(options.Steps);
        int step = 0;

        // The ReLU redirection edits come before the taps of the same module (a ForwardRun runs a layer's edits
        // first): when the objective reads a ReLU's own output, it must see the redirected tensor, or a unit that
        // starts dead (all zeros) never gets a gradient.
        var redirections = options.RedirectReluSteps <= 0
            ? new List<LayerEdit>()
            : model.named_modules()
                .Where(m => m.name.Length > 0 && m.module is TorchSharp.Modules.ReLU)
                .Select(m => LayerEdit.Output(m.name, (input, output) => step <= options.RedirectReluSteps ? RedirectedRelu.Redirect(input, output) : null))
                .ToList();
        var batching = new MicroBatching(model, objective, options.BatchSize, options.MicroBatch);
        ImageParameterization? image = null;
        optim.Optimizer? optimizer = null;
        try
        {
            using var run = ForwardRun.Attach(model, new ForwardRunOptions
            {
                Taps = objective.Layers.Distinct().ToList(),
                Edits = redirections.Concat(batching.Edits).ToList(),
                StopAfterTaps = !objective.NeedsOutput,
                KeepGraph = true,
                Device = device,
            });
            image = options.Parameterization?.Invoke(options.BatchSize, options.ImageSize, options.ImageSize, options.Seed)
                ?? new FourierImage(options.BatchSize, options.ImageSize, options.ImageSize, options.Seed, options: new ParameterizationOptions { Device = device });
            optimizer = optim.Adam(image.Parameters, options.LearningRate);
            var random = new Random(options.Seed);
            for (step = 1; step <= options.Steps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                Tensor current = image.Image();
                Tensor input = Transforms.ApplyAll(transforms, current, random);
                if (input.shape[1] == 4)
                {
                    input = OverRandomBackground(input, random);
                }

                optimizer.zero_grad();
                double v = batching.Step(run, current, preprocess(input));
                optimizer.step();
                history.Add(v);
                if (thresholds.Contains(step))
                {
                    snapshots.Add((step, current.detach().cpu().clone().DetachFromDisposeScope()));
                }

                progress?.Report(new RenderProgress(step, options.Steps, v));
            }

            Tensor final;
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                final = image.Image().detach().cpu().clone().DetachFromDisposeScope();
            }

            return new RenderResult(objective, final, snapshots, history);
        }
        catch
        {
            foreach (var (_, t) in snapshots)
            {
                t.Dispose();
            }

            throw;
        }
        finally
        {
            optimizer?.Dispose();
            image?.Dispose();
        }
    }

    /// <summary>
    /// Composites an RGBA batch over uniform random noise (a fresh background each step, drawn from the render's
    /// seed), so that only the opaque parts can drive the objective, as Lucid's transparent renders do.
    /// </summary>
    private static Tensor OverRandomBackground(Tensor rgba, Random random)
    {
        Tensor rgb = rgba[TensorIndex.Colon, TensorIndex.Slice(0, 3)];
        Tensor alpha = rgba[TensorIndex.Colon, TensorIndex.Slice(3, 4)];
        using var generator = new Generator((ulong)random.NextInt64(long.MaxValue));
        Tensor background = rand(rgb.shape, generator: generator).to(rgb.device);
        return (rgb * alpha) + (background * (1 - alpha));
    }

    private static void Validate(Objective objective, RenderOptions options)
    {
        if (options.Steps <= 0 || options.ImageSize <= 0 || options.BatchSize <= 0 || options.LearningRate <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options),
                $"Steps ({options.Steps}), image size ({options.ImageSize}), batch size ({options.BatchSize}) and learning rate ({options.LearningRate}) must all be positive.");
        }

        if (options.MicroBatch is int part && part <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"MicroBatch is {part}; expected 1 or more, or null to choose it from the model's activations.");
        }

        if (objective.MaxBatchIndex >= options.BatchSize)
        {
            throw new UnitOutOfRangeException(
                $"Objective '{objective.Name}' targets batch item {objective.MaxBatchIndex}, but the batch size is {options.BatchSize}; set RenderOptions.BatchSize to at least {objective.MaxBatchIndex + 1}.");
        }

        int bad = options.Thresholds.FirstOrDefault(t => t < 1 || t > options.Steps);
        if (bad != 0 || options.Thresholds.Contains(0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"Threshold {bad} is outside the steps 1 to {options.Steps}.");
        }
    }
}
