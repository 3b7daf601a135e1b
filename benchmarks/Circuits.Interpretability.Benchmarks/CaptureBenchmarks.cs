using BenchmarkDotNet.Attributes;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// The cost of capturing activations: one inference forward pass of a conv net (batch 8, 3 x 64 x 64)
/// with 0 (baseline, a plain <c>call</c>), 1 and 10 captured layers. Target: 10 captures cost at most 5%
/// over none.
/// </summary>
[MemoryDiagnoser]
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
        torch.set_num_threads(Environment.ProcessorCount);
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
