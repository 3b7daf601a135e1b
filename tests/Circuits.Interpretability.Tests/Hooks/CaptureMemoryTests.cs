using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Hooks;

/// <summary>
/// Long capture loops must not grow native memory. Each pass below captures about 6 MB of activations
/// (batch 8 at 64 x 64), so a leak of the captured tensors would add some 600 MB over 100 passes.
/// </summary>
public class CaptureMemoryTests
{
    private static readonly string[] Layers = { "features.conv1", "features.relu1", "features.conv2", "features.conv3", "head.fc" };

    internal static long ResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Hundred_consecutive_captured_forward_passes_do_not_grow_native_memory(bool keepGraph)
    {
        using var model = new SmallConvNet(seed: 3, width: 16);
        using var input = rand(new long[] { 8, 3, 64, 64 }, generator: new Generator(5)).requires_grad_(keepGraph);
        using var capture = ActivationCapture.Attach(model, Layers, new CaptureOptions { KeepGraph = keepGraph });

        void Pass()
        {
            using var scope = NewDisposeScope();
            using var result = capture.Run(input);
            if (keepGraph)
            {
                result["features.conv2"].pow(2).sum().backward();
                input.grad!.zero_();
            }
            else
            {
                result["features.conv3"].sum().item<float>();
            }
        }

        for (int i = 0; i < 10; i++)
        {
            Pass();
        }

        long liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long rssBefore = ResidentBytes();
        for (int i = 0; i < 100; i++)
        {
            Pass();
        }

        long liveAfter = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long grown = ResidentBytes() - rssBefore;

        liveAfter.Should().Be(liveBefore, "every tensor a pass creates is disposed with it");
        grown.Should().BeLessThan(48L << 20, $"resident memory grew by {grown >> 20} MB over 100 passes; a leak would cost ~600 MB");
    }
}
