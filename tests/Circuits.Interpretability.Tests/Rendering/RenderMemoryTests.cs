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

    /// <summary>Each parameterization's own factory, as a render's <see cref="RenderOptions.Parameterization"/>.</summary>
    public static TheoryData<string> Parameterizations => new() { "fourier", "cppn", "pixel", "shared", "laplacian" };

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Parameterizations))]
    public void A_hundred_renders_leave_no_native_tensor_behind(string parameterization)
    {
        using var model = new SmallConvNet(seed: 5, width: 4);
        Func<int, int, int, int, ImageParameterization>? factory = parameterization switch
        {
            "cppn" => (n, h, w, seed) => new CppnImage(n, h, w, seed, layers: 2, hidden: 4),
            "pixel" => (n, h, w, seed) => new PixelImage(n, h, w, seed),
            "shared" => (n, h, w, seed) => new SharedImage(n, h, w, seed),
            "laplacian" => (n, h, w, seed) => new LaplacianImage(n, h, w, seed),
            _ => null, // the default: a FourierImage, with its spectrum scale
        };
        var options = new RenderOptions { Steps = 2, ImageSize = 16, Parameterization = factory, Thresholds = new[] { 1 } };

        void Render()
        {
            using var result = FeatureVisualization.Render(model, Objectives.Channel("features.conv2:1"), options);
        }

        Render(); // warm-up: anything created once per process (caches) is made here
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 100; i++)
        {
            Render();
        }

        // Thread statistics count a tensor as freed only when it is disposed on this thread, so a tensor left to the
        // finalizer still counts as live here.
        long grown = DisposeScopeManager.Statistics.ThreadTotalLiveCount - before;
        grown.Should().Be(0, $"100 renders with the {parameterization} parameterization must free every tensor they make");
    }

    [Fact]
    public void Disposing_a_parameterization_frees_its_constants_too()
    {
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var fourier = new FourierImage(1, 8, 8);
        var cppn = new CppnImage(1, 8, 8, layers: 1, hidden: 2);
        fourier.Dispose();
        cppn.Dispose();
        cppn.Dispose(); // a second call does nothing

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before);
    }
}
