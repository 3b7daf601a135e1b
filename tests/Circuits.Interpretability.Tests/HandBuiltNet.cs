using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests;

/// <summary>
/// A network small enough to compute by hand. Input: one 3x3 channel holding 1..9 row by row.
///   conv1 (1 -> 2 channels, 2x2, no padding):
///     channel 0: kernel [[-1, 0], [0, 1]], bias 0  -> x[i+1,j+1] - x[i,j] = 4 everywhere
///     channel 1: kernel [[0, 1], [1, 0]],  bias 1  -> x[i,j+1] + x[i+1,j] + 1 = [[7, 9], [13, 15]]
///   relu1: both channels positive, unchanged.
///   conv2 (2 -> 1 channel, 2x2): channel 0 weights [[1, 1], [1, 1]], channel 1 weights [[1, 0], [0, 2]], bias -1
///     -> 4*4 + (7 + 2*15) - 1 = 52.
/// </summary>
internal static class HandBuiltNet
{
    public static Sequential Create()
    {
        var conv1 = nn.Conv2d(1, 2, 2);
        var conv2 = nn.Conv2d(2, 1, 2);
        using (no_grad())
        {
            conv1.weight!.copy_(tensor(new float[] { -1, 0, 0, 1, 0, 1, 1, 0 }).reshape(2, 1, 2, 2));
            conv1.bias!.copy_(tensor(new float[] { 0, 1 }));
            conv2.weight!.copy_(tensor(new float[] { 1, 1, 1, 1, 1, 0, 0, 2 }).reshape(1, 2, 2, 2));
            conv2.bias!.copy_(tensor(new float[] { -1 }));
        }

        return nn.Sequential(("conv1", conv1), ("relu1", nn.ReLU()), ("conv2", conv2));
    }

    public static Tensor Input(bool requiresGrad = false) =>
        tensor(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }).reshape(1, 1, 3, 3).requires_grad_(requiresGrad);

    /// <summary>The number of forward hooks TorchSharp holds on a module (read from its protected fields).</summary>
    public static int HookCount(nn.Module module)
    {
        int count = 0;
        for (Type? t = module.GetType(); t is not null; t = t.BaseType)
        {
            foreach (string field in new[] { "pre_hooks", "post_hooks", "module_pre_hooks", "module_post_hooks" })
            {
                var info = t.GetField(field, System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly);
                if (info?.GetValue(module) is System.Collections.ICollection hooks)
                {
                    count += hooks.Count;
                }
            }
        }

        return count;
    }

    public static float[] Values(Tensor t) => t.detach().cpu().contiguous().data<float>().ToArray();
}
