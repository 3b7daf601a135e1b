using System.Globalization;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// Estimates the memory a render needs before it starts, and refuses one that cannot fit. The estimate scales one
/// measured forward pass: the output elements of every innermost layer the model defines up to and including the
/// objective's layer, at the model's input size (<see cref="ModelSession.Layers"/>), times the rendered image's area
/// over that input's area, times the batch, times <see cref="BytesPerActivation"/> (measured), plus the parameters
/// and a fixed allowance for the process and libtorch. It is compared with what the machine has: the physical memory or the container's limit
/// (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>). A GPU's memory is not checked.
/// </summary>
internal static class MemoryEstimate
{
    /// <summary>
    /// Bytes per activation element of a render: peak resident memory over the elements, measured at 23-24 (about
    /// six float32 copies: the activation, autograd's saved tensors, gradients, the transformed input) for the curve
    /// circuit (256 px, 16 units) and InceptionV1 (mixed4a, 224 px, 8 units); see docs/getting-started.md.
    /// </summary>
    public const double BytesPerActivation = 24;

    /// <summary>What the process and libtorch take before any work, in bytes (measured: 170-300 MB with the model).</summary>
    public const double Baseline = 256.0 * 1024 * 1024;

    /// <summary>The activation elements per image up to and including <paramref name="layer"/> at the table's input size.</summary>
    public static double ActivationsUpTo(LayerTable table, string layer)
    {
        var paths = table.Select(l => l.Path).ToList();
        int last = paths.FindLastIndex(p => p == layer || p.StartsWith(layer + ".", StringComparison.Ordinal));
        if (last < 0)
        {
            throw new UsageException($"Layer '{layer}' is not in the model's layer table.");
        }

        double total = 0;
        for (int i = 0; i <= last; i++)
        {
            LayerInfo info = table[i];
            if (info.Path.Length == 0)
            {
                continue;
            }

            bool leaf = !paths.Any(p => p.StartsWith(info.Path + ".", StringComparison.Ordinal));
            if (leaf && info.OutputShape is { } shape)
            {
                total += shape.Aggregate(1.0, (a, d) => a * d) / Math.Max(1, shape[0]);
            }
        }

        return total;
    }

    /// <summary>The estimated bytes of rendering <paramref name="batch"/> images of <paramref name="imageSize"/> pixels towards <paramref name="layer"/>.</summary>
    public static double Render(ModelSession session, string layer, int imageSize, int batch)
    {
        double area = (double)imageSize * imageSize / ((double)session.InputSize * session.InputSize);
        double activations = ActivationsUpTo(session.Layers, layer) * area * batch;
        return Baseline + (session.Layers.TotalParameters * 4.0) + (activations * BytesPerActivation);
    }

    /// <summary>The memory this process may use: the physical memory or the container's limit.</summary>
    public static double Available() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>Throws when <paramref name="bytes"/> exceeds <see cref="Available"/> (on the CPU; a GPU is not checked).</summary>
    /// <exception cref="CircuitsException">The estimate does not fit; the message gives both figures and what to lower.</exception>
    public static void Require(double bytes, ModelSession session, string what, string remedy)
    {
        double available = Available();
        if (session.Device.type == TorchSharp.DeviceType.CPU && bytes > available)
        {
            throw new CircuitsException($"{what} needs about {Format(bytes)} of memory, more than this machine has ({Format(available)}); " +
                                        $"{remedy} (memory grows with the image's area times the number of images rendered together).");
        }
    }

    /// <summary>Bytes in words: "3.2 GB".</summary>
    public static string Format(double bytes) =>
        bytes >= 1e15 ? $"{(bytes / 1e15).ToString("G3", CultureInfo.InvariantCulture)} PB"
        : bytes >= 1e12 ? $"{(bytes / 1e12).ToString("G3", CultureInfo.InvariantCulture)} TB"
        : bytes >= 1e9 ? $"{(bytes / 1e9).ToString("G3", CultureInfo.InvariantCulture)} GB"
        : $"{(bytes / 1e6).ToString("G3", CultureInfo.InvariantCulture)} MB";
}
