using System.Diagnostics;
using System.Globalization;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// Where a render step's time goes: InceptionV1 (seeded random weights) at 224 px, objective mixed4a:10, libtorch
/// on 2 threads. Times each phase of the step the way FeatureVisualization runs it (parameterization, transforms,
/// forward to mixed4a, backward, Adam), the whole step through FeatureVisualization.Render (from its progress
/// reports), and the bare forward + backward up to mixed4a at the size the model sees. Phases are interleaved over
/// rounds and reported as medians, so a shared machine's load shifts all of them alike.
/// Run: <c>dotnet run -c Release --project benchmarks/Circuits.Interpretability.Benchmarks -- profile-render [rounds] [threads]</c>.
/// </summary>
internal static class RenderProfile
{
    private const string Layer = "mixed4a";
    private const int Unit = 10;

    public static void Run(int rounds, int threads = 2)
    {
        torch.set_num_threads(threads);
        using var model = new InceptionV1(seed: 0);
        using var freeze = ModelFreeze.Apply(model);
        var bare = RenderPeerBenchmarks.Trunk(model, Layer);
        var phases = new Dictionary<string, List<double>>();
        void Add(string name, double ms)
        {
            if (!phases.TryGetValue(name, out var list))
            {
                phases[name] = list = new List<double>();
            }

            list.Add(ms);
        }

        var random = new Random(0);
        using var image = new FourierImage(1, 224, 224, seed: 0);
        using var adam = optim.Adam(image.Parameters, 0.05);
        IReadOnlyList<IImageTransform> standard = Transforms.Standard();
        for (int round = 0; round < rounds; round++)
        {
            // The bare pass at 236 px, the mean size Lucid's stack gives a 224 px image (224 + 24 - 8 - 4).
            foreach (int size in new[] { 224, 236 })
            {
                using var scope = NewDisposeScope();
                Tensor x = rand(new long[] { 1, 3, size, size }, generator: new Generator((ulong)round)).requires_grad_(true);
                var watch = Stopwatch.StartNew();
                Tensor y = bare.call(InceptionV1.Preprocess(x));
                double forward = watch.Elapsed.TotalMilliseconds;
                y.select(1, Unit).mean().backward();
                Add($"bare fwd+bwd {size} px", watch.Elapsed.TotalMilliseconds);
                Add($"bare fwd {size} px", forward);
            }

            // One step, phase by phase, as the render loop runs it (with the same stop after mixed4a).
            using (var scope = NewDisposeScope())
            {
                var watch = Stopwatch.StartNew();
                Tensor current = image.Image();
                double t0 = watch.Elapsed.TotalMilliseconds;
                Tensor input = Transforms.ApplyAll(standard, current, random);
                double t1 = watch.Elapsed.TotalMilliseconds;
                Tensor leaf = input.detach().requires_grad_(true);
                Tensor y = bare.call(InceptionV1.Preprocess(leaf));
                double t2 = watch.Elapsed.TotalMilliseconds;
                Tensor value = y.select(1, Unit).mean();
                adam.zero_grad();
                value.neg().backward();
                double t25 = watch.Elapsed.TotalMilliseconds;
                input.backward(new[] { leaf.grad! });
                double t3 = watch.Elapsed.TotalMilliseconds;
                adam.step();
                value.item<float>();
                double t4 = watch.Elapsed.TotalMilliseconds;
                Add("step: backward through the model", t25 - t2);
                Add("step: backward through transforms and parameterization", t3 - t25);
                Add("step: parameterization forward", t0);
                Add("step: transforms forward", t1 - t0);
                Add("step: model forward to mixed4a", t2 - t1);
                Add("step: Adam", t4 - t3);
                Add("step: total (hand-written loop)", t4);
                Add("step: input side", input.shape[2]);
            }

            // The same model pass through ForwardRun (hooks, stop after mixed4a by an exception) and through the bare trunk.
            using (var run = Hooks.ForwardRun.Attach(model, new Hooks.ForwardRunOptions { Taps = new[] { Layer }, KeepGraph = true, Freeze = false }))
            {
                foreach (bool viaRun in new[] { false, true, false, true })
                {
                    using var scope = NewDisposeScope();
                    Tensor x = rand(new long[] { 1, 3, 236, 236 }, generator: new Generator((ulong)round)).requires_grad_(true);
                    var watch = Stopwatch.StartNew();
                    if (viaRun)
                    {
                        using var taps = run.Run(InceptionV1.Preprocess(x));
                        taps[Layer].select(1, Unit).mean().backward();
                    }
                    else
                    {
                        bare.call(InceptionV1.Preprocess(x)).select(1, Unit).mean().backward();
                    }

                    Add(viaRun ? "model pass via ForwardRun (stop after mixed4a)" : "model pass via the bare trunk", watch.Elapsed.TotalMilliseconds);
                }
            }

            // Whole renders as BenchmarkDotNet times them: setup, first step and the rest.
            foreach (int redirect in new[] { 0, 8 })
            {
                string name = redirect == 0 ? "whole render of 8 steps" : "whole render of 8 steps, ReLU redirection on";
                var stamps = new List<double>();
                var watch = Stopwatch.StartNew();
                using (FeatureVisualization.Render(model, Objectives.Channel($"{Layer}:{Unit}"),
                    new RenderOptions { Steps = 8, ImageSize = 224, Seed = round, RedirectReluSteps = redirect }, new Stamps(() => stamps.Add(watch.Elapsed.TotalMilliseconds))))
                {
                }

                Add($"{name}: per step", watch.Elapsed.TotalMilliseconds / 8);
                Add($"{name}: setup + first step", stamps[0]);
                Add($"{name}: later steps", (stamps[^1] - stamps[0]) / 7);
                Add($"{name}: after the last step", watch.Elapsed.TotalMilliseconds - stamps[^1]);
            }

            // Library render steps, each paired with a bare pass run right after it (inside the progress report, outside
            // the step's time), so that a ratio compares two passes made under the same load.
            foreach (int redirect in new[] { 0, 8 })
            {
                string name = redirect == 0 ? "Render step (library)" : "Render step, ReLU redirection on";
                double last = 0, lastCpu = CpuMs();
                int seen = 0;
                var watch = Stopwatch.StartNew();
                using Tensor bareInput = rand(new long[] { 1, 3, 236, 236 }, generator: new Generator((ulong)round));
                var pairing = new Stamps(() =>
                {
                    double end = watch.Elapsed.TotalMilliseconds, endCpu = CpuMs();
                    double step = end - last, stepCpu = endCpu - lastCpu;
                    double bareMs = BareMs(bare, bareInput);
                    double bareCpu = CpuMs() - endCpu;
                    last = watch.Elapsed.TotalMilliseconds;
                    lastCpu = CpuMs();
                    if (++seen > 1)
                    {
                        Add(name, step);
                        Add($"{name}: bare pass paired with it", bareMs);
                        Add($"{name} / paired bare pass", step / bareMs);
                        Add($"{name}, CPU time", stepCpu);
                        Add($"{name}, CPU time / paired bare pass's", stepCpu / bareCpu);
                    }
                });
                using var result = FeatureVisualization.Render(model, Objectives.Channel($"{Layer}:{Unit}"),
                    new RenderOptions { Steps = 8, ImageSize = 224, Seed = round, RedirectReluSteps = redirect }, pairing);
            }
        }

        Console.WriteLine($"InceptionV1 seed 0, 224 px, {Layer}:{Unit}, libtorch threads {torch.get_num_threads()}, {rounds} rounds; medians in ms");
        foreach (var (name, values) in phases)
        {
            values.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-62} {values[values.Count / 2],9:F3}   (min {values[0]:F3}, n {values.Count})"));
        }
    }

    /// <summary>The process's CPU time (all threads), which shared machines disturb far less than wall-clock time.</summary>
    private static double CpuMs()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime.TotalMilliseconds;
    }

    private static double BareMs(TorchSharp.Modules.Sequential bare, Tensor input)
    {
        var watch = Stopwatch.StartNew();
        RenderPeerBenchmarks.BarePass(bare, input);
        return watch.Elapsed.TotalMilliseconds;
    }

    private sealed class Stamps : IProgress<RenderProgress>
    {
        private readonly Action _stamp;

        public Stamps(Action stamp) => _stamp = stamp;

        public void Report(RenderProgress value) => _stamp();
    }
}
