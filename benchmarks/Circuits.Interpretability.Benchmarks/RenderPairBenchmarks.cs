using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// Issue 18's two render ratios, each measured as pairs inside one invocation, so that a shared machine's slow and fast
/// minutes shift both sides of a ratio alike (BenchmarkDotNet runs one case's iterations before the next case's, and on a
/// virtual machine whose host changes speed by 20 to 40% from one minute to the next, a ratio of two such blocks says
/// more about the host than about the code). InceptionV1 with seeded random weights, 224 px, objective mixed4a:10,
/// Lucid's standard transforms, libtorch on 2 threads (<see cref="BenchmarkThreads"/>). Each invocation runs both sides
/// of its pair, one after the other, in alternating order:
/// <list type="bullet">
/// <item>a 32-step render (redirection off) against bare forward + backward passes up to mixed4a at the 32 sizes that
/// render's steps give the model (<see cref="RenderPeerBenchmarks.RenderSizes"/>); target: at most 1.10;</item>
/// <item>a 32-step render with ReLU gradient redirection on every step against the same render without it; target: at
/// most 1.05.</item>
/// </list>
/// BenchmarkDotNet's columns time the pair; the "paired ratio" column is the median, over the measured iterations, of
/// each invocation's own ratio (its range beside it). Every render includes its setup and first step (about 15 ms of a
/// 32-step render's 3 s); the bare passes have none, so the first ratio counts that setup against the render.
/// </summary>
[Config(typeof(PairConfig))]
public class RenderPairBenchmarks
{
    private const int Steps = 32;
    private const int Iterations = 16;
    private static readonly Dictionary<string, List<double>> Ratios = new();

    private InceptionV1 _model = null!;
    private TorchSharp.Modules.Sequential _toMixed4a = null!;
    private ModelFreeze _freeze = null!;
    private Tensor[] _rendered = null!;
    private int _invocation;

    [GlobalSetup]
    public void Setup()
    {
        TorchSharp.torch.set_num_threads(BenchmarkThreads.Count);
        _model = new InceptionV1(seed: 0);
        _freeze = ModelFreeze.Apply(_model);
        _toMixed4a = RenderPeerBenchmarks.Trunk(_model, "mixed4a");
        _rendered = RenderPeerBenchmarks.RenderSizes(new RenderOptions().Seed, Steps)
            .Select(s => rand(new long[] { 1, 3, s, s }, generator: new Generator(2))).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _freeze.Dispose();
        _model.Dispose();
        foreach (Tensor t in _rendered)
        {
            t.Dispose();
        }
    }

    [Benchmark(Description = "render step / bare pass at the same sizes")]
    public double RenderAgainstBare() => Pair(nameof(RenderAgainstBare), () => Render(redirect: 0), Bare);

    [Benchmark(Description = "render step with ReLU redirection / without")]
    public double RedirectAgainstPlain() => Pair(nameof(RedirectAgainstPlain), () => Render(redirect: Steps), () => Render(redirect: 0));

    private double Pair(string name, Action numerator, Action denominator)
    {
        bool numeratorFirst = _invocation++ % 2 == 0;
        double a, b;
        if (numeratorFirst)
        {
            a = Time(numerator);
            b = Time(denominator);
        }
        else
        {
            b = Time(denominator);
            a = Time(numerator);
        }

        if (!Ratios.TryGetValue(name, out List<double>? list))
        {
            Ratios[name] = list = new List<double>();
        }

        list.Add(a / b);
        return a / b;
    }

    private static double Time(Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalMilliseconds;
    }

    private void Render(int redirect)
    {
        using var result = FeatureVisualization.Render(_model, Objectives.Channel("mixed4a:10"),
            new RenderOptions { Steps = Steps, ImageSize = 224, RedirectReluSteps = redirect });
    }

    private void Bare()
    {
        foreach (Tensor input in _rendered)
        {
            RenderPeerBenchmarks.BarePass(_toMixed4a, input);
        }
    }

    /// <summary>The measured iterations' ratios of a case (the last <see cref="Iterations"/>: jitting and warm-up calls come first).</summary>
    private static List<double>? Measured(BenchmarkCase benchmark) =>
        Ratios.TryGetValue(benchmark.Descriptor.WorkloadMethod.Name, out List<double>? all) && all.Count >= Iterations
            ? all.Skip(all.Count - Iterations).OrderBy(r => r).ToList()
            : null;

    /// <summary>One launch in this process, one invocation per iteration, 2 warm-ups and 16 measured iterations.</summary>
    private sealed class PairConfig : ManualConfig
    {
        public PairConfig()
        {
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(Iterations).WithInvocationCount(1).WithUnrollFactor(1)
                .WithToolchain(InProcessEmitToolchain.Instance));
            AddColumn(new PeerColumn("paired ratio (median)", "The median over the measured iterations of each invocation's own ratio (first side's time over the second's)",
                (_, benchmark) => Measured(benchmark) is { } r ? ((r[(r.Count - 1) / 2] + r[r.Count / 2]) / 2).ToString("N3", CultureInfo.InvariantCulture) : "-"));
            AddColumn(new PeerColumn("paired ratio (range)", "The smallest and largest of those ratios",
                (_, benchmark) => Measured(benchmark) is { } r ? string.Create(CultureInfo.InvariantCulture, $"{r[0]:N3} - {r[^1]:N3}") : "-"));
        }
    }
}
