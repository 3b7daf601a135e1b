using BenchmarkDotNet.Attributes;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// One feature-visualization step against a bare forward plus backward of the model up to the target layer
/// (features.conv3 of SmallConvNet, width 32, batch 1), at the input size the model actually sees: 128 x 128
/// without transformations, and 140 x 140 with Lucid's standard stack (pad 12, jitter 8, scale, rotate,
/// jitter 4 turn 128 into about 140). Target: a render step costs at most 1.15 times the bare pass. Steps are
/// steady-state (ReLU gradient redirection off; it runs only in the first 16 of 512 steps, and its cost is
/// measured separately). Each invocation runs 32 steps, so the per-render setup is included, amortized.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[SimpleJob(launchCount: 2, warmupCount: 3, iterationCount: 10)]
public class RenderStepBenchmarks
{
    private const int Steps = 32;
    private SmallConvNet _model = null!;
    private TorchSharp.Modules.Sequential _toTarget = null!;
    private Tensor _input128 = null!;
    private Tensor _input140 = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        _model = new SmallConvNet(seed: 0, width: 32);
        _model.eval();
        foreach (var p in _model.parameters())
        {
            p.requires_grad_(false);
        }

        string[] path = { "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3" };
        _toTarget = nn.Sequential(path.Select(n => (n, (nn.Module<Tensor, Tensor>)ModelLayers.Find(_model, "features." + n))).ToArray());
        _input128 = rand(new long[] { 1, 3, 128, 128 }, generator: new Generator(1));
        _input140 = rand(new long[] { 1, 3, 140, 140 }, generator: new Generator(1));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        _input128.Dispose();
        _input140.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Steps, Description = "bare forward+backward, 128 px")]
    [BenchmarkCategory("no transforms")]
    public float Bare128() => ForwardBackward(_input128);

    [Benchmark(OperationsPerInvoke = Steps, Description = "render step, no transforms")]
    [BenchmarkCategory("no transforms")]
    public double RenderPlain() => RenderSteps(Array.Empty<IImageTransform>(), redirect: 0);

    [Benchmark(OperationsPerInvoke = Steps, Description = "render step, no transforms, ReLU redirection on")]
    [BenchmarkCategory("no transforms")]
    public double RenderPlainRedirected() => RenderSteps(Array.Empty<IImageTransform>(), redirect: Steps);

    [Benchmark(Baseline = true, OperationsPerInvoke = Steps, Description = "bare forward+backward, 140 px")]
    [BenchmarkCategory("Lucid transforms")]
    public float Bare140() => ForwardBackward(_input140);

    [Benchmark(OperationsPerInvoke = Steps, Description = "render step, Lucid's transforms")]
    [BenchmarkCategory("Lucid transforms")]
    public double RenderStandard() => RenderSteps(null, redirect: 0);

    private float ForwardBackward(Tensor input)
    {
        float total = 0;
        for (int i = 0; i < Steps; i++)
        {
            using var scope = NewDisposeScope();
            Tensor x = input.detach().requires_grad_(true);
            Tensor value = _toTarget.call(x).select(1, 5).mean();
            value.backward();
            total += x.grad!.sum().item<float>();
        }

        return total;
    }

    private double RenderSteps(IReadOnlyList<IImageTransform>? transforms, int redirect)
    {
        using var result = FeatureVisualization.Render(_model, Objectives.Channel("features.conv3:5"),
            new RenderOptions { Steps = Steps, ImageSize = 128, Transforms = transforms, RedirectReluSteps = redirect });
        return result.FinalObjective;
    }
}

/// <summary>
/// 64 channels of features.conv2 rendered as one batch of 64 versus one after another (8 steps, 48 x 48), libtorch on
/// 2 threads; the batch with its automatic part size (RenderOptions.MicroBatch), and as one part of 64 (the whole
/// batch through the model at once, as before parts existed). Target (issue 18): per unit-step the batch costs at
/// most what a single render costs, i.e. the batch takes at most the time of the 64 single renders.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class BatchRenderBenchmarks
{
    private const int Units = 64;
    private SmallConvNet _model = null!;
    private readonly RenderOptions _options = new() { Steps = 8, ImageSize = 48 };

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(BenchmarkThreads.Count);
        _model = new SmallConvNet(seed: 0, width: 32);
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark(Baseline = true, Description = "64 renders one after another")]
    public double OneByOne()
    {
        double total = 0;
        for (int c = 0; c < Units; c++)
        {
            using var result = FeatureVisualization.Render(_model, Objectives.Channel($"features.conv2:{c}"), _options);
            total += result.FinalObjective;
        }

        return total;
    }

    [Benchmark(Description = "one render of batch 64, automatic parts")]
    public double Batched() => RenderBatch(null);

    [Benchmark(Description = "one render of batch 64, parts of 1")]
    public double BatchedParts1() => RenderBatch(1);

    [Benchmark(Description = "one render of batch 64, parts of 4")]
    public double BatchedParts4() => RenderBatch(4);

    [Benchmark(Description = "one render of batch 64, one part of 64")]
    public double BatchedWhole() => RenderBatch(Units);

    private double RenderBatch(int? part)
    {
        using var result = FeatureVisualization.Render(_model, Objectives.ChannelsInBatch("features.conv2", Enumerable.Range(0, Units).ToArray()),
            _options with { BatchSize = Units, MicroBatch = part });
        return result.FinalObjective;
    }
}
