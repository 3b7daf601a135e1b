using BenchmarkDotNet.Attributes;
using Circuits.Interpretability.Attribution;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Tests.Circuits;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// All expanded weights from mixed3a to mixed3b (480 x 256 kernels of 5 x 5) on a block with mixed3b's structure
/// and channel counts (random seeded weights; its concatenation is a functional torch.cat), on 11 x 11 and 28 x 28
/// maps: kernel composition (the default), packed impulses (composition off) and the per-target-channel autograd
/// reference on all 480 targets (one forward, then one backward per target channel), in the same run.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
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
        _model = InceptionShapedBlock.Model(seed: 1);
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark(Baseline = true, Description = "reference autograd, all 480 targets")]
    public long ReferenceAll()
    {
        using var set = ExpandedWeights.ComputeReference(_model, "mixed3a", "mixed3b", InputShape);
        return set.Weights.numel();
    }

    [Benchmark(Description = "packed impulses, all 480 targets")]
    public long PackedAll()
    {
        using var set = ExpandedWeights.Compute(_model, "mixed3a", "mixed3b", InputShape, new ExpandedWeightsOptions { Compose = false });
        return set.Weights.numel();
    }

    [Benchmark(Description = "kernel composition, 48 of 480 targets")]
    public long Composed48()
    {
        using var set = ExpandedWeights.Compute(_model, "mixed3a", "mixed3b", InputShape, new ExpandedWeightsOptions { TargetChannels = Enumerable.Range(0, 480).Where(c => c % 10 == 0).ToList() });
        return set.Weights.numel();
    }

    [Benchmark(Description = "kernel composition, all 480 targets")]
    public long ComposedAll()
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
