using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Models;
using TorchSharp;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// All expanded weights (every target channel, every source channel, 5 x 5 crop) for each consecutive pair of
/// InceptionV1's named layers, on the real module with seeded random weights (timing does not depend on the
/// values) at 224 x 224, libtorch on 1 and on 2 threads (2 cores, shared), with the default method (kernel composition for every pair), and
/// all eleven pairs one after another ("all"). Cold start, three iterations in one process: the first pays the
/// process's first-call costs (JIT, libtorch's kernel setup), the median is the steady state. Target (issue 18):
/// every pair together at most 3 s.
/// </summary>
[SimpleJob(RunStrategy.ColdStart, launchCount: 1, warmupCount: 0, iterationCount: 3)]
public class InceptionV1PairsBenchmarks
{
    private static readonly string[] Layers =
        { "conv2d0", "conv2d1", "conv2d2", "mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a", "mixed5b" };

    private InceptionV1 _model = null!;

    /// <summary>The pairs, written <c>source-&gt;target</c>, and "all" for the eleven in a row.</summary>
    public static IEnumerable<string> Pairs() => Layers.Zip(Layers.Skip(1), (a, b) => $"{a}->{b}").Append("all");

    /// <summary>The pair of this case.</summary>
    [ParamsSource(nameof(Pairs))]
    public string Pair { get; set; } = "";

    /// <summary>libtorch's threads.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Threads);
        _model = new InceptionV1(seed: 1);
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark(Description = "all expanded weights of the pair")]
    public long AllWeights()
    {
        long count = 0;
        foreach (string pair in Pair == "all" ? Pairs().SkipLast(1) : new[] { Pair })
        {
            string[] ends = pair.Split("->");
            using var set = ExpandedWeights.Compute(_model, ends[0], ends[1], new long[] { 3, 224, 224 });
            count += set.Weights.numel();
        }

        return count;
    }
}
