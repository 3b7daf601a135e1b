using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Core;

/// <summary>
/// Where a model lives and where a computation on it runs. Every part of the library that makes tensors for a
/// model (renders, expanded weights, attribution, tuning curves, dataset examples, captures) takes its device
/// from the model through <see cref="Resolve"/>: the device of the model's parameters and buffers, unless the
/// caller chose one explicitly, which must then be the model's.
/// </summary>
public static class ModelDevice
{
    /// <summary>The names <see cref="Parse"/> accepts.</summary>
    public const string Choices = "'cpu', 'cuda', 'cuda:N' or 'auto'";

    /// <summary>
    /// The device of <paramref name="model"/>'s parameters and buffers, or null when it has none (a model without
    /// state runs wherever its input is).
    /// </summary>
    /// <exception cref="DeviceMismatchException">The parameters and buffers lie on more than one device; choose the device explicitly.</exception>
    public static Device? TryOf(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Device? found = null;
        foreach (Tensor t in model.parameters().Cast<Tensor>().Concat(model.buffers()))
        {
            if (found is null)
            {
                found = t.device;
            }
            else if (!Same(found, t.device))
            {
                throw new DeviceMismatchException(
                    $"The model's parameters and buffers lie on more than one device ({Name(found)} and {Name(t.device)}); " +
                    "move the whole model to one device with model.to(device), or choose the device explicitly.");
            }
        }

        return found;
    }

    /// <summary>The device of <paramref name="model"/>'s parameters and buffers; the CPU for a model without any.</summary>
    /// <exception cref="DeviceMismatchException">The parameters and buffers lie on more than one device.</exception>
    public static Device Of(nn.Module model) => TryOf(model) ?? CPU;

    /// <summary>
    /// The device a computation on <paramref name="model"/> uses: <paramref name="chosen"/> when given (it must be
    /// the model's device; a model without parameters accepts any), otherwise the model's device (the CPU for a
    /// model without parameters).
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="chosen">The device the caller chose, or null for the model's.</param>
    /// <param name="optionName">The option that holds <paramref name="chosen"/>, named in the error (for example <c>RenderOptions.Device</c>).</param>
    /// <exception cref="DeviceMismatchException">The chosen device is not the model's; nothing was run.</exception>
    public static Device Resolve(nn.Module model, Device? chosen, string optionName = "the device")
    {
        Device? own = TryOf(model);
        if (chosen is null)
        {
            return own ?? CPU;
        }

        if (own is not null && !Same(own, chosen))
        {
            throw new DeviceMismatchException(
                $"{optionName} is {Name(chosen)}, but the model's parameters are on {Name(own)}; move the model first " +
                $"(model.to({Name(chosen)})) or leave {optionName} unset to use the model's device.");
        }

        // The model's device is the more specific one ('cuda:1' rather than 'cuda').
        return own ?? chosen;
    }

    /// <summary>Throws when <paramref name="tensor"/> does not lie on <paramref name="device"/>.</summary>
    /// <param name="tensor">The tensor to check.</param>
    /// <param name="device">The device it must be on.</param>
    /// <param name="what">What the tensor is, for the message (for example <c>the input</c>).</param>
    /// <exception cref="DeviceMismatchException">The devices differ; the message names both.</exception>
    public static void Require(Tensor tensor, Device device, string what)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ArgumentNullException.ThrowIfNull(device);
        if (!Same(tensor.device, device))
        {
            throw new DeviceMismatchException(
                $"{what} is on {Name(tensor.device)}, but the model is on {Name(device)}; move it with .to({Name(device)}) first.");
        }
    }

    /// <summary>
    /// Parses a device name: <c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>, or <c>auto</c>, which is <c>cuda</c> when
    /// <c>torch.cuda.is_available()</c> and <c>cpu</c> otherwise (what a <c>--device</c> option needs).
    /// </summary>
    /// <exception cref="CircuitsException">The name is none of these, or CUDA was asked for but is not available (a CPU-only backend such as TorchSharp-cpu, or no GPU).</exception>
    public static Device Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string n = name.Trim().ToLowerInvariant();
        if (n == "auto")
        {
            return cuda.is_available() ? CUDA : CPU;
        }

        if (n == "cpu")
        {
            return CPU;
        }

        if (n == "cuda" || (n.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(n.AsSpan(5), out int index) && index >= 0))
        {
            if (!cuda.is_available())
            {
                throw new CircuitsException(
                    $"Device '{name}' asks for CUDA, but CUDA is not available here (no GPU, or a CPU-only TorchSharp backend such as TorchSharp-cpu; " +
                    "a GPU needs TorchSharp-cuda-linux or TorchSharp-cuda-windows). Use 'cpu' or 'auto'.");
            }

            return n == "cuda" ? CUDA : new Device(n);
        }

        throw new CircuitsException($"'{name}' is not a device; expected {Choices}.");
    }

    /// <summary>Whether two devices are the same (an unspecified index, as in <c>cuda</c>, matches any index of its type).</summary>
    public static bool Same(Device a, Device b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return a.type == b.type && (a.type == DeviceType.CPU || a.index < 0 || b.index < 0 || a.index == b.index);
    }

    /// <summary>A device's name as TorchSharp spells it: <c>cpu</c>, <c>cuda</c>, <c>cuda:1</c>.</summary>
    public static string Name(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        string type = device.type.ToString().ToLowerInvariant();
        return device.index < 0 || device.type == DeviceType.CPU ? type : $"{type}:{device.index}";
    }
}
