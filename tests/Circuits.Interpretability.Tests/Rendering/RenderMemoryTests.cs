using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using Circuits.Interpretability.Tests.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

[Collection(MemoryCollection.Name)]
public class RenderMemoryTests
{
    private sealed class Recorder : IProgress<RenderProgress>
    {
        public Dictionary<int, (long Live, long Resident)> Samples { get; } = new();

        public void Report(RenderProgress value)
        {
            if (value.Step is 32 or 512)
            {
                Samples[value.Step] = (DisposeScopeManager.Statistics.ThreadTotalLiveCount, CaptureMemoryTests.ResidentBytes());
            }
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void A_512_step_render_does_not_grow_native_memory_after_warm_up()
    {
        using var model = new SmallConvNet(seed: 4, width: 8);
        var recorder = new Recorder();

        using var result = FeatureVisualization.Render(model, Objectives.Channel("features.conv3:1") - (0.01 * Objectives.TotalVariation()),
            new RenderOptions { Steps = 512, ImageSize = 48, BatchSize = 2 }, recorder);

        var (liveWarm, rssWarm) = recorder.Samples[32];
        var (liveEnd, rssEnd) = recorder.Samples[512];
        liveEnd.Should().Be(liveWarm, "every tensor a step creates is disposed with the step");
        (rssEnd - rssWarm).Should().BeLessThan(48L << 20, $"resident memory grew by {(rssEnd - rssWarm) >> 20} MB over 480 steps");
    }
}
