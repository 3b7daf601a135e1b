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
/// Run: <c>dotnet run -c Release --project benchmarks/Circuits.Interpretability.Benchmarks -- profile-render [rounds]</c>.
/// </summary>
internal static class RenderProfile
{
    private const string Layer = "mixed4a";
    private const int Unit = 10;

    public static void Run(int rounds)
    {
        torch.set_num_threads(2);
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
                Tensor y = bare.call(InceptionV1.Preprocess(input));
                double t2 = watch.Elapsed.TotalMilliseconds;
                Tensor value = y.select(1, Unit).mean();
                adam.zero_grad();
                value.neg().backward();
                double t3 = watch.Elapsed.TotalMilliseconds;
                adam.step();
                value.item<float>();
                double t4 = watch.Elapsed.TotalMilliseconds;
                Add("step: parameterization forward", t0);
                Add("step: transforms forward", t1 - t0);
                Add("step: model forward to mixed4a", t2 - t1);
                Add("step: backward (model, transforms, parameterization)", t3 - t2);
                Add("step: Adam", t4 - t3);
                Add("step: total (hand-written loop)", t4);
                Add("step: input side", input.shape[2]);
            }

            foreach (int redirect in new[] { 0, 8 })
            {
                var stamps = new List<double>();
                var watch = Stopwatch.StartNew();
                using var result = FeatureVisualization.Render(model, Objectives.Channel($"{Layer}:{Unit}"),
                    new RenderOptions { Steps = 8, ImageSize = 224, Seed = round, RedirectReluSteps = redirect },
                    new Stamps(() => stamps.Add(watch.Elapsed.TotalMilliseconds)));
                for (int i = 2; i < stamps.Count; i++)
                {
                    Add(redirect == 0 ? "Render step (library)" : "Render step, ReLU redirection on", stamps[i] - stamps[i - 1]);
                }
            }
        }

        Console.WriteLine($"InceptionV1 seed 0, 224 px, {Layer}:{Unit}, libtorch threads {torch.get_num_threads()}, {rounds} rounds; medians in ms");
        foreach (var (name, values) in phases)
        {
            values.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-56} {values[values.Count / 2],9:F2}   (min {values[0]:F2}, n {values.Count})"));
        }
    }

    private sealed class Stamps : IProgress<RenderProgress>
    {
        private readonly Action _stamp;

        public Stamps(Action stamp) => _stamp = stamp;

        public void Report(RenderProgress value) => _stamp();
    }
}
