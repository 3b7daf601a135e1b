using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits;

/// <summary>
/// Hooks that run a model with the path from a source layer to a target layer linearized: the source's output
/// is replaced by a tensor the caller chooses, every leaf module that runs after it is replaced by its linear
/// counterpart (see <see cref="Linearize"/>), and the forward pass stops as soon as the target has run.
/// Biases are not touched: the linearized path is affine, so callers subtract the response to a zero source.
/// </summary>
internal sealed class LinearizedPath : IDisposable
{
    /// <summary>Elementwise rectifier-like activations: their slope on the positive side is 1, so they become the identity.</summary>
    internal static readonly HashSet<string> Rectifiers = new(StringComparer.Ordinal)
    {
        "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "CELU", "GELU", "SiLU", "Mish", "Hardswish", "Hardtanh", "Softplus",
    };

    /// <summary>Modules that are linear or affine in eval mode and run unchanged.</summary>
    internal static readonly HashSet<string> KnownLinear = new(StringComparer.Ordinal)
    {
        "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Linear", "Identity",
        "Flatten", "Unflatten", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
        "AdaptiveAvgPool3d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
        "AlphaDropout", "FeatureAlphaDropout", "ZeroPad2d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
        "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "Upsample", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle",
    };

    /// <summary>Modules known to be nonlinear with no linearization: the path stops there.</summary>
    internal static readonly HashSet<string> Nonlinear = new(StringComparer.Ordinal)
    {
        "Sigmoid", "Tanh", "Softmax", "Softmax2d", "LogSoftmax", "Softmin", "LogSigmoid", "Softsign", "Tanhshrink", "Softshrink",
        "Hardshrink", "Hardsigmoid", "SELU", "GLU", "Threshold", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
        "InstanceNorm3d", "MaxPool1d", "MaxPool3d", "FractionalMaxPool2d", "FractionalMaxPool3d", "LPPool1d", "LPPool2d",
        "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool3d", "Bilinear", "MultiheadAttention",
    };

    private readonly List<HookHandle> _hooks = new();
    private readonly HashSet<nn.Module> _verified = new(ReferenceEqualityComparer.Instance);
    private readonly List<string> _composites = new();
    private readonly List<string> _open = new();
    private readonly string _source;
    private readonly string _target;
    private readonly nn.Module<Tensor, Tensor> _model;
    private Func<Tensor, Tensor>? _inject;
    private Tensor? _captured;
    private int _phase;
    private bool _keepGraph;

    private LinearizedPath(nn.Module<Tensor, Tensor> model, string source, string target)
    {
        _model = model;
        _source = source;
        _target = target;
    }

    /// <summary>Paths of the composite modules (modules with children) that ran between source and target in the last run.</summary>
    public IReadOnlyList<string> Composites => _composites;

    /// <summary>Attaches the hooks. Nothing changes the model until <see cref="Run"/> is called.</summary>
    public static LinearizedPath Attach(nn.Module<Tensor, Tensor> model, string source, string target)
    {
        if (source == target)
        {
            throw new CircuitsException($"The source and target layers are both '{source}'; expected two different layers, the source running before the target.");
        }

        var sourceModule = HookHandle.AsTensorModule(ModelLayers.Find(model, source), source, "the source of a linearized path");
        var targetModule = HookHandle.AsTensorModule(ModelLayers.Find(model, target), target, "the target of a linearized path");
        var path = new LinearizedPath(model, source, target);
        try
        {
            foreach (var (name, module) in model.named_modules())
            {
                if (name.Length == 0)
                {
                    continue;
                }

                bool leaf = !module.children().Any();
                if (leaf && module is nn.Module<Tensor, Tensor> typed)
                {
                    string layer = name;
                    path._hooks.Add(HookHandle.Forward(typed, (input, output) => path._phase == 1 ? path.Linearize(layer, typed, input, output) : null));
                }
                else if (!leaf && module is nn.Module<Tensor, Tensor> composite && module is not Sequential)
                {
                    // Composites with their own forward code: recorded when they are open while the path runs, to
                    // name them if a nonlinearity hidden in that code (a functional call) breaks linearity.
                    string layer = name;
                    path._hooks.Add(HookHandle.Pre(composite, _ =>
                    {
                        path._open.Add(layer);
                        if (path._phase == 1)
                        {
                            path._composites.Add(layer);
                        }

                        return null;
                    }));
                    path._hooks.Add(HookHandle.Forward(composite, (_, _) =>
                    {
                        path._open.Remove(layer);
                        return null;
                    }));
                }
            }

            // Attached after the linearization hooks, so that these see (and replace) the linearized outputs.
            path._hooks.Add(HookHandle.Forward(sourceModule, (_, output) => path.Inject(output)));
            path._hooks.Add(HookHandle.Forward(targetModule, (_, output) => path.Capture(output)));
            return path;
        }
        catch
        {
            path.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs the model on <paramref name="input"/> with the source's output replaced by <paramref name="inject"/>
    /// (given the real output) and returns the target's linearized output. With <paramref name="keepGraph"/> the
    /// autograd graph is kept; otherwise the run is under no_grad.
    /// </summary>
    public Tensor Run(Tensor input, Func<Tensor, Tensor> inject, bool keepGraph)
    {
        _phase = 0;
        _captured = null;
        _inject = inject;
        _keepGraph = keepGraph;
        _composites.Clear();
        _open.Clear();
        try
        {
            using (keepGraph ? enable_grad() : no_grad())
            {
                _model.call(input);
            }
        }
        catch (StopAtTarget)
        {
        }
        finally
        {
            _inject = null;
        }

        if (_phase == 0)
        {
            throw new HookNotFiredException(new[] { _source });
        }

        return _captured ?? throw new HookNotFiredException(new[] { _target });
    }

    /// <summary>
    /// Runs with the upstream network at batch 1 (its output is replaced anyway; anything it feeds around the
    /// source is the same for every batch item, so broadcasting it is exact), falling back to a zero input of
    /// the full <paramref name="batch"/> when the model cannot combine batch sizes (a concatenation around the source).
    /// </summary>
    public Tensor RunOnZeros(long[] inputShape, long batch, Func<Tensor, Tensor> inject, bool keepGraph)
    {
        long[] one = new long[] { 1 }.Concat(inputShape).ToArray();
        try
        {
            using Tensor zero = zeros(one);
            return Run(zero, inject, keepGraph);
        }
        catch (Exception e) when (e is not CircuitsException && batch > 1)
        {
            using Tensor zero = zeros(new[] { batch }.Concat(inputShape).ToArray());
            return Run(zero, inject, keepGraph);
        }
    }

    public void Dispose()
    {
        foreach (HookHandle hook in _hooks)
        {
            hook.Dispose();
        }

        _hooks.Clear();
    }

    private Tensor? Inject(Tensor output)
    {
        if (_phase != 0 || _inject is null)
        {
            return null;
        }

        Tensor replacement = _inject(output);
        _composites.AddRange(_open);
        _phase = 1;
        return replacement;
    }

    private Tensor? Capture(Tensor output)
    {
        if (_inject is null && _phase == 0)
        {
            return null;
        }

        if (_phase == 0)
        {
            throw new CircuitsException($"Layer '{_target}' ran before layer '{_source}'; expected the source layer to run first. Swap the two layers.");
        }

        _captured = output.alias();
        _phase = 2;
        throw new StopAtTarget();
    }

    /// <summary>
    /// The linear counterpart of one leaf module's output, or null to keep it:
    /// rectifiers become the identity; max-pooling becomes average pooling with the same window, stride and
    /// padding (padding not counted); adaptive max-pooling becomes adaptive average pooling; local response
    /// normalization becomes its Jacobian at zero, a scaling by k^-beta; constant padding with a non-finite
    /// value pads with 0; known linear modules run unchanged; known nonlinear modules stop the path; any other
    /// module is checked numerically to be affine on its actual input and stops the path if it is not (a module
    /// that turns finite inputs into non-finite outputs, such as TensorFlow-style SAME padding with -inf before a
    /// max-pool, has those values set to 0 first, as constant padding does).
    /// </summary>
    private Tensor? Linearize(string name, nn.Module<Tensor, Tensor> module, Tensor input, Tensor output)
    {
        string type = module.GetType().Name;
        if (Rectifiers.Contains(type))
        {
            // A new handle: containers such as Sequential dispose their intermediate tensors, the input included.
            return input.alias();
        }

        switch (module)
        {
            case MaxPool2d pool:
                if (pool.dilation is { } dilation && dilation.Any(d => d != 1))
                {
                    throw new NonlinearPathException(name,
                        $"Layer '{name}' (MaxPool2d) has dilation [{string.Join(", ", dilation)}]; average pooling has none, so the path cannot be linearized there. Expected dilation 1.");
                }

                long[] kernel = pool.kernel_size;
                return nn.functional.avg_pool2d(input, kernel, pool.stride ?? kernel, pool.padding ?? new long[] { 0 }, pool.ceil_mode, count_include_pad: false);
            case AdaptiveMaxPool2d:
                return nn.functional.adaptive_avg_pool2d(input, output.shape.Skip(2).ToArray());
            case LocalResponseNorm lrn:
                return input.mul(Math.Pow(lrn.k, -lrn.beta));
        }

        if (type.StartsWith("ConstantPad", StringComparison.Ordinal))
        {
            // Constant padding is affine; the constant cancels in the zero-source subtraction unless it is
            // infinite (max-pool padding), which must become a zero pad for the path to be linear.
            return where(isfinite(output), output, zeros_like(output));
        }

        if (KnownLinear.Contains(type))
        {
            return null;
        }

        if (Nonlinear.Contains(type))
        {
            throw new NonlinearPathException(name,
                $"Layer '{name}' ({type}) on the path is nonlinear and has no linear counterpart, so the path cannot be linearized. " +
                $"Linearized ops: {string.Join(", ", Rectifiers)} (as identity), MaxPool2d (as average pooling), AdaptiveMaxPool2d, " +
                "LocalResponseNorm (as k^-beta), ConstantPad*; linear ops and any module verified to be affine run unchanged. " +
                "Choose layers whose path avoids it.");
        }

        // A module that turns finite inputs into non-finite outputs pads for a max-pool (e.g. TensorFlow-style SAME
        // padding with -inf): like ConstantPad*, its non-finite values become 0, and the rest must be affine.
        bool sanitize = !isfinite(output).all().item<bool>() && isfinite(input).all().item<bool>();
        if (!_verified.Contains(module))
        {
            CheckAffine(name, type, module, input, output, sanitize);
            _verified.Add(module);
        }

        return sanitize ? Finite(output) : null;
    }

    private static Tensor Finite(Tensor t) => where(isfinite(t), t, zeros_like(t));

    private static void CheckAffine(string name, string type, nn.Module<Tensor, Tensor> module, Tensor input, Tensor output, bool sanitize)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Func<Tensor, Tensor> clean = sanitize ? Finite : t => t;
        Tensor y = clean(output.detach());
        Tensor y0 = clean(module.forward(zeros_like(input)));
        Tensor yNeg = clean(module.forward(input.neg()));
        Tensor y2 = clean(module.forward(input.mul(2)));
        double size = y.abs().max().item<float>() + y0.abs().max().item<float>() + y2.abs().max().item<float>();
        double odd = y.add(yNeg).sub(y0.mul(2)).abs().max().item<float>();
        double scale = y2.sub(y0).sub(y.sub(y0).mul(2)).abs().max().item<float>();
        double tolerance = (1e-4 * size) + 1e-6;
        if (!(odd <= tolerance) || !(scale <= tolerance))
        {
            throw new NonlinearPathException(name,
                $"Layer '{name}' ({type}) on the path is not affine (f(x) + f(-x) - 2 f(0) reaches {odd:G3}, f(2x) - f(0) - 2 (f(x) - f(0)) reaches {scale:G3}; " +
                $"tolerance {tolerance:G3}) and is not an op the library linearizes ({string.Join(", ", Rectifiers)}, MaxPool2d, AdaptiveMaxPool2d, " +
                "LocalResponseNorm, ConstantPad*). Choose layers whose path avoids it, or register its nonlinearity as one of those modules.");
        }
    }

    /// <summary>Thrown by the target's hook to end the forward pass once the target has run.</summary>
    private sealed class StopAtTarget : Exception
    {
    }
}
