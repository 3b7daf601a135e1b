using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// How each leaf module on a linearized path is treated (docs/circuits.md, "How each op is linearized"): the
/// rules only, with no hooks; <see cref="LinearizedPath"/> applies them while the model runs.
/// </summary>
internal static class PathLinearizer
{
    /// <summary>Elementwise rectifier-like activations: their slope on the positive side is 1, so they become the identity.</summary>
    public static readonly HashSet<string> Rectifiers = new(StringComparer.Ordinal)
    {
        "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "CELU", "GELU", "SiLU", "Mish", "Hardswish", "Hardtanh", "Softplus",
    };

    /// <summary>Modules that are linear or affine in eval mode and run unchanged.</summary>
    public static readonly HashSet<string> KnownLinear = new(StringComparer.Ordinal)
    {
        "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Linear", "Identity",
        "Flatten", "Unflatten", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
        "AdaptiveAvgPool3d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
        "AlphaDropout", "FeatureAlphaDropout", "ZeroPad2d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
        "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "Upsample", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle",
    };

    /// <summary>Modules known to be nonlinear with no linearization: the path stops there.</summary>
    public static readonly HashSet<string> Nonlinear = new(StringComparer.Ordinal)
    {
        "Sigmoid", "Tanh", "Softmax", "Softmax2d", "LogSoftmax", "Softmin", "LogSigmoid", "Softsign", "Tanhshrink", "Softshrink",
        "Hardshrink", "Hardsigmoid", "SELU", "GLU", "Threshold", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
        "InstanceNorm3d", "MaxPool1d", "MaxPool3d", "FractionalMaxPool2d", "FractionalMaxPool3d", "LPPool1d", "LPPool2d",
        "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool3d", "Bilinear", "MultiheadAttention",
    };

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
    /// <param name="name">The module's path.</param>
    /// <param name="module">The module.</param>
    /// <param name="input">Its input.</param>
    /// <param name="output">Its output.</param>
    /// <param name="verified">Modules already checked to be affine; a module checked here on a non-zero input is added.</param>
    public static Tensor? Linearize(string name, nn.Module<Tensor, Tensor> module, Tensor input, Tensor output, ISet<nn.Module> verified)
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
        if (input.numel() == 0)
        {
            return null; // a shape-only pass: nothing to check or clean
        }

        bool sanitize = !isfinite(output).all().item<bool>() && isfinite(input).all().item<bool>();
        if (!verified.Contains(module))
        {
            CheckAffine(name, type, module, input, output, sanitize);
            if (input.abs().max().item<float>() > 0)
            {
                verified.Add(module); // a check on a zero input proves nothing about other inputs
            }
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

}
