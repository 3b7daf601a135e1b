using System.CommandLine;
using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The <c>--device cpu|cuda|cuda:N|auto</c> option. A name that is none of these is a usage error (exit 2, found
/// while parsing); <c>auto</c> is CUDA when TorchSharp sees a GPU, else the CPU; asking for CUDA where it is not
/// available (no GPU, or the CPU-only TorchSharp-cpu backend the tool ships with) is a failure (exit 1) that says so.
/// </summary>
internal static class DeviceChoice
{
    /// <summary>The shared option.</summary>
    public static Option<string> Create() => new("--device")
    {
        Description = "Where the model and the work run: cpu, cuda, cuda:N or auto (CUDA when available, else the CPU).",
        DefaultValueFactory = _ => "auto",
        Recursive = true,
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 0 ? "auto" : result.Tokens[0].Value;
            if (!IsName(text))
            {
                result.AddError($"--device '{text}' is not a device; expected cpu, cuda, cuda:N (N = 0, 1, ...) or auto.");
            }

            return text;
        },
    };

    /// <summary>The device <paramref name="name"/> stands for here (<see cref="ModelDevice.Parse"/>).</summary>
    /// <exception cref="UsageException">The name is not a device.</exception>
    /// <exception cref="CircuitsException">CUDA was asked for but is not available, or there is no such CUDA device.</exception>
    public static Device Resolve(string name)
    {
        if (!IsName(name))
        {
            throw new UsageException($"--device '{name}' is not a device; expected cpu, cuda, cuda:N (N = 0, 1, ...) or auto.");
        }

        Device device;
        try
        {
            device = ModelDevice.Parse(name);
        }
        catch (CircuitsException e)
        {
            throw new CircuitsException($"--device {name}: {e.Message} (This tool ships with TorchSharp-cpu; docs/gpu.md shows a GPU build.)");
        }

        if (device.type == DeviceType.CUDA && device.index >= cuda.device_count())
        {
            throw new CircuitsException($"--device {name}: there are {cuda.device_count()} CUDA devices here (cuda:0 to cuda:{cuda.device_count() - 1}).");
        }

        return device;
    }

    /// <summary>A device's name as TorchSharp spells it: cpu, cuda, cuda:1.</summary>
    public static string Name(Device device) => ModelDevice.Name(device);

    private static bool IsName(string text)
    {
        string n = text.Trim().ToLowerInvariant();
        return n is "cpu" or "cuda" or "auto"
               || (n.StartsWith("cuda:", StringComparison.Ordinal) && n.Length > 5 && n.Length <= 8
                   && n.AsSpan(5).IndexOfAnyExceptInRange('0', '9') < 0);
    }
}
