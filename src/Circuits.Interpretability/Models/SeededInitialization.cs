using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Models;

/// <summary>The seeded weight initialization shared by the library's generated models (<see cref="SmallConvNet"/>, random <see cref="InceptionV1"/>).</summary>
internal static class SeededInitialization
{
    /// <summary>
    /// Fills every parameter of <paramref name="module"/> from a seeded generator: weights uniform in
    /// +-sqrt(6 / fan_in) (He-uniform), biases uniform in +-0.1.
    /// </summary>
    public static void Apply(nn.Module module, int seed)
    {
        var random = new Random(seed);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in module.named_parameters())
        {
            long count = parameter.numel();
            bool isBias = name.EndsWith("bias", StringComparison.Ordinal);
            double bound = isBias ? 0.1 : Math.Sqrt(6.0 / Math.Max(1, count / parameter.shape[0]));
            var values = new float[count];
            for (long i = 0; i < count; i++)
            {
                values[i] = (float)(((2 * random.NextDouble()) - 1) * bound);
            }

            parameter.copy_(tensor(values).reshape(parameter.shape));
        }
    }
}
