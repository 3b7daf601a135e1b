using BenchmarkDotNet.Attributes;
using Circuits.Interpretability.Attribution;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// All expanded weights from mixed3a to mixed3b (480 x 256 kernels of 5 x 5) on a block with mixed3b's structure
/// and channel counts (random seeded weights), on 11 x 11 and 28 x 28 maps: the impulse method (one forward pass) against the
/// per-target-channel autograd reference. The reference runs on 48 of the 480 target channels (one backward
/// each, after one forward): multiply by 10 for all 480, which slightly overstates it (the forward is shared).
/// Target: the fast method at least 20x faster than the full reference and under 1 s.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class ExpandedWeightsBenchmarks
{
    private Sequential _model = null!;

    /// <summary>The side of mixed3a's map: 11 (enough for crop 5), 28 (InceptionV1 at 224 x 224).</summary>
    [Params(11, 28)]
    public int MapSize { get; set; }

    private long[] InputShape => new long[] { 256, MapSize, MapSize };

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        _model = MixedBlock.Model(seed: 1);
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark(Baseline = true, Description = "reference autograd, 48 of 480 targets")]
    public long Reference48()
    {
        using var set = ExpandedWeights.ComputeReference(_model, "mixed3a", "mixed3b", InputShape, new ExpandedWeightsOptions { TargetChannels = Enumerable.Range(0, 480).Where(c => c % 10 == 0).ToList() });
        return set.Weights.numel();
    }

    [Benchmark(Description = "impulses, 48 of 480 targets")]
    public long Fast48()
    {
        using var set = ExpandedWeights.Compute(_model, "mixed3a", "mixed3b", InputShape, new ExpandedWeightsOptions { TargetChannels = Enumerable.Range(0, 480).Where(c => c % 10 == 0).ToList() });
        return set.Weights.numel();
    }

    [Benchmark(Description = "impulses, all 480 targets")]
    public long FastAll()
    {
        using var set = ExpandedWeights.Compute(_model, "mixed3a", "mixed3b", InputShape);
        return set.Weights.numel();
    }
}

/// <summary>
/// Integrated gradients with 32 steps (one batched forward and backward of 34 items: the 32 midpoints plus the
/// input and baseline for the completeness check) against one forward plus backward at batch 32, on the
/// built-in conv net (width 16, 3 x 64 x 64 input). Target: at most 1.3x.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 10)]
public class IntegratedGradientsBenchmarks
{
    private SmallConvNet _model = null!;
    private Tensor _input = null!;
    private Tensor _batch = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        _model = new SmallConvNet(seed: 0, width: 16);
        _model.eval();
        foreach (var p in _model.parameters())
        {
            p.requires_grad_(false);
        }

        _input = rand(new long[] { 1, 3, 64, 64 }, generator: new Generator(1));
        _batch = rand(new long[] { 32, 3, 64, 64 }, generator: new Generator(2));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        _input.Dispose();
        _batch.Dispose();
    }

    [Benchmark(Baseline = true, Description = "forward + backward, batch 32")]
    public float ForwardBackward()
    {
        using var scope = NewDisposeScope();
        Tensor x = _batch.detach().requires_grad_(true);
        Tensor value = _model.call(x).select(1, 3).sum();
        return torch.autograd.grad(new[] { value }, new[] { x })[0].sum().item<float>();
    }

    [Benchmark(Description = "integrated gradients, 32 steps")]
    public float IntegratedGradients()
    {
        using var result = Attributions.IntegratedGradients(_model, _input, "head.fc:3", steps: 32);
        return (float)result.Total;
    }
}

/// <summary>mixed3b's structure: 1x1 (128), 3x3 (128 -> 192), 5x5 (32 -> 96), pool -> 1x1 (64), ReLU modules, concatenated.</summary>
internal sealed class MixedBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_1x1 = nn.Conv2d(256, 128, 1);
    private readonly ReLU relu_1x1 = nn.ReLU();
    private readonly Conv2d conv_3x3_bottleneck = nn.Conv2d(256, 128, 1);
    private readonly ReLU relu_3x3_bottleneck = nn.ReLU();
    private readonly Conv2d conv_3x3 = nn.Conv2d(128, 192, 3, padding: 1);
    private readonly ReLU relu_3x3 = nn.ReLU();
    private readonly Conv2d conv_5x5_bottleneck = nn.Conv2d(256, 32, 1);
    private readonly ReLU relu_5x5_bottleneck = nn.ReLU();
    private readonly Conv2d conv_5x5 = nn.Conv2d(32, 96, 5, padding: 2);
    private readonly ReLU relu_5x5 = nn.ReLU();
    private readonly MaxPool2d pool = nn.MaxPool2d(3, stride: 1, padding: 1);
    private readonly Conv2d conv_pool_reduce = nn.Conv2d(256, 64, 1);
    private readonly ReLU relu_pool_reduce = nn.ReLU();

    public MixedBlock() : base("mixed")
    {
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        Tensor a = relu_1x1.call(conv_1x1.call(x));
        Tensor b = relu_3x3.call(conv_3x3.call(relu_3x3_bottleneck.call(conv_3x3_bottleneck.call(x))));
        Tensor c = relu_5x5.call(conv_5x5.call(relu_5x5_bottleneck.call(conv_5x5_bottleneck.call(x))));
        Tensor d = relu_pool_reduce.call(conv_pool_reduce.call(pool.call(x)));
        return cat(new[] { a, b, c, d }, 1);
    }

    public static Sequential Model(int seed)
    {
        var block = new MixedBlock();
        SmallConvNet.InitializeWeights(block, seed);
        return nn.Sequential(("mixed3a", nn.ReLU()), ("mixed3b", block));
    }
}
