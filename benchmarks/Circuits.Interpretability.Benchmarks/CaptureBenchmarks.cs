using BenchmarkDotNet.Attributes;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// The cost of capturing activations: one inference forward pass of a conv net (batch 8, 3 x 64 x 64)
/// with 0 (baseline, a plain <c>call</c>), 1 and 10 captured layers. Target: 10 captures cost at most 5%
/// over none. libtorch runs on one thread and each case is launched three times, because on a shared
/// 2-core VM the process-to-process drift of a plain forward pass (up to 40%) is larger than the effect
/// measured; <see cref="CaptureOverheadBenchmarks"/> measures the hooks' own cost directly.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 3, warmupCount: 3, iterationCount: 15)]
public class CaptureBenchmarks
{
    private static readonly string[] AllLayers =
    {
        "features.conv1", "features.relu1", "features.pool1", "features.conv2", "features.relu2",
        "features.pool2", "features.conv3", "features.relu3", "features.pool3", "head.fc",
    };

    private SmallConvNet _model = null!;
    private Tensor _input = null!;
    private ActivationCapture? _capture;

    /// <summary>How many layers are captured.</summary>
    [Params(1, 10)]
    public int Captures { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        _model = new SmallConvNet(seed: 0, width: 32);
        _model.eval();
        _input = rand(new long[] { 8, 3, 64, 64 }, generator: new Generator(1));
        _capture = ActivationCapture.Attach(_model, AllLayers.Take(Captures));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _capture?.Dispose();
        _model.Dispose();
        _input.Dispose();
    }

    [Benchmark(Baseline = true, Description = "forward, no capture")]
    public float Forward()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return _model.call(_input).sum().item<float>();
    }

    [Benchmark(Description = "forward + capture")]
    public float ForwardWithCapture()
    {
        using var scope = NewDisposeScope();
        using var result = _capture!.Run(_input);
        return result.Output!.sum().item<float>();
    }
}

/// <summary>
/// The hooks' own cost, without the convolutions: a chain of 10 cheap modules (ReLU on a 1 x 8 x 4 x 4
/// tensor) with 0, 1 and 10 captured. The difference to the baseline is the absolute overhead of capturing,
/// to be compared with the forward time of a real model.
/// </summary>
[MemoryDiagnoser]
public class CaptureOverheadBenchmarks
{
    private TorchSharp.Modules.Sequential _chain = null!;
    private Tensor _input = null!;
    private ActivationCapture? _capture;

    /// <summary>How many layers are captured.</summary>
    [Params(1, 10)]
    public int Captures { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(1);
        _chain = nn.Sequential(Enumerable.Range(0, 10).Select(i => ($"relu{i}", (nn.Module<Tensor, Tensor>)nn.ReLU())).ToArray());
        _input = rand(1, 8, 4, 4);
        _capture = ActivationCapture.Attach(_chain, Enumerable.Range(0, Captures).Select(i => $"relu{i}"));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _capture?.Dispose();
        _chain.Dispose();
        _input.Dispose();
    }

    [Benchmark(Baseline = true, Description = "10 cheap modules, no capture")]
    public long Forward()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return _chain.call(_input).numel();
    }

    [Benchmark(Description = "10 cheap modules + capture")]
    public long ForwardWithCapture()
    {
        using var scope = NewDisposeScope();
        using var result = _capture!.Run(_input);
        return result.Output!.numel();
    }
}
