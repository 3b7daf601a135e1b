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
        List<string> layers = objective.Layers.Distinct().ToList();
        var modules = layers.Select(l => HookHandle.AsTensorModule(ModelLayers.Find(model, l), l, "rendering")).ToList();
        Device device = options.Device ?? model.parameters().FirstOrDefault()?.device ?? CPU;
        IReadOnlyList<IImageTransform> transforms = options.Transforms ?? Transforms.Standard();
        var thresholds = new HashSet<int>(options.Thresholds);

        bool wasTraining = model.training;
        var parameters = model.parameters().ToList();
        var requiresGrad = parameters.Select(p => p.requires_grad).ToList();
        var hooks = new List<HookHandle>();
        var snapshots = new List<(int, Tensor)>();
        var history = new List<double>(options.Steps);
        ImageParameterization? image = null;
        optim.Optimizer? optimizer = null;
        try
        {
            model.eval();
            foreach (var p in parameters)
            {
                p.requires_grad_(false);
            }

            image = options.Parameterization?.Invoke(options.BatchSize, options.ImageSize, options.ImageSize, options.Seed)
                ?? new FourierImage(options.BatchSize, options.ImageSize, options.ImageSize, options.Seed, options: new ParameterizationOptions { Device = device });
            optimizer = optim.Adam(image.Parameters, options.LearningRate);
            // The ReLU redirection hooks go first: when the objective reads a ReLU's own output, the tap must see the
            // redirected tensor, or a unit that starts dead (all zeros) never gets a gradient.
            int step = 0;
            if (options.RedirectReluSteps > 0)
            {
                foreach (var relu in model.modules().OfType<TorchSharp.Modules.ReLU>())
                {
                    hooks.Add(HookHandle.Forward(relu, (input, _) => step <= options.RedirectReluSteps ? RedirectedRelu.apply(input) : null));
                }
            }

            var taps = new Taps(layers, stopEarly: !objective.NeedsOutput && layers.Count > 0);
            for (int i = 0; i < layers.Count; i++)
            {
                string path = layers[i];
                hooks.Add(HookHandle.Forward(modules[i], (_, output) => taps.Record(path, output)));
            }

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

                if (options.Preprocess is not null)
                {
                    input = options.Preprocess(input);
                }

                Tensor? output = taps.Run(() => model.call(input));
                Tensor value = objective.Evaluate(new RenderContext(current, taps.Activations, output));
                optimizer.zero_grad();
                value.neg().backward();
                optimizer.step();
                double v = value.item<float>();
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
            foreach (HookHandle hook in hooks)
            {
                hook.Dispose();
            }

            optimizer?.Dispose();
            image?.Dispose();
            for (int i = 0; i < parameters.Count; i++)
            {
                parameters[i].requires_grad_(requiresGrad[i]);
            }

            model.train(wasTraining);
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

    /// <summary>Holds the activations of the objective's layers for one step and stops the forward pass after the last.</summary>
    private sealed class Taps
    {
        private readonly IReadOnlyList<string> _layers;
        private readonly bool _stopEarly;
        private readonly Dictionary<string, Tensor> _activations = new();
        private bool _running;

        public Taps(IReadOnlyList<string> layers, bool stopEarly)
        {
            _layers = layers;
            _stopEarly = stopEarly;
        }

        public IReadOnlyDictionary<string, Tensor> Activations => _activations;

        public Tensor? Record(string path, Tensor output)
        {
            if (!_running)
            {
                return null;
            }

            _activations[path] = output.alias();
            if (_stopEarly && _activations.Count == _layers.Count)
            {
                throw new StopForward();
            }

            return null;
        }

        public Tensor? Run(Func<Tensor> forward)
        {
            _activations.Clear();
            _running = true;
            Tensor? output = null;
            try
            {
                output = forward();
            }
            catch (StopForward)
            {
            }
            finally
            {
                _running = false;
            }

            var missing = _layers.Where(l => !_activations.ContainsKey(l)).ToList();
            if (missing.Count > 0)
            {
                throw new HookNotFiredException(missing);
            }

            return output;
        }
    }

    /// <summary>Thrown by a hook to end the forward pass once every needed activation is captured.</summary>
    private sealed class StopForward : Exception
    {
    }
}
