using System.Diagnostics;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Benchmarks;

/// <summary>
/// What ReLU gradient redirection adds, measured in pairs so that a shared machine's load shifts both sides alike:
/// InceptionV1 (seeded random weights) forward + backward to mixed4a with an output edit on each of its 57 ReLU modules
/// (none, one returning null, the render's <c>RedirectedRelu.Redirect</c>, <c>RedirectedRelu.apply</c> on the input,
/// and a plain multiply for scale), interleaved round by round; then whole 16-step renders of mixed4a:10 with
/// redirection off and on, with the same seed (so the same transform sizes), alternating which goes first.
/// Run: <c>dotnet run -c Release --project benchmarks/Circuits.Interpretability.Benchmarks -- profile-redirect [rounds] [threads]</c>.
/// </summary>
internal static class RedirectProfile
{
    public static void Run(int rounds, int threads)
    {
        torch.set_num_threads(threads);
        using var model = new InceptionV1(seed: 0);
        Console.WriteLine($"InceptionV1 seed 0, libtorch threads {torch.get_num_threads()}, {rounds} rounds; times in ms");
        ModelPasses(model, rounds);
        Renders(model, rounds);
    }

    private static void ModelPasses(InceptionV1 model, int rounds)
    {
        var relus = model.named_modules().Where(m => m.name.Length > 0 && m.module is TorchSharp.Modules.ReLU).Select(m => m.name).ToList();
        var variants = new (string, IReadOnlyList<Hooks.LayerEdit>)[]
        {
            ("no edits", Array.Empty<Hooks.LayerEdit>()),
            ("edits returning null", relus.Select(n => Hooks.LayerEdit.Output(n, (i, o) => null)).ToList()),
            ("edits returning RedirectedRelu.Redirect (the render's)", relus.Select(n => Hooks.LayerEdit.Output(n, (i, o) => Rendering.RedirectedRelu.Redirect(i, o))).ToList()),
            ("edits returning RedirectedRelu.apply(input), which computes relu again", relus.Select(n => Hooks.LayerEdit.Output(n, (i, o) => Rendering.RedirectedRelu.apply(i))).ToList()),
            ("edits returning output * 1", relus.Select(n => Hooks.LayerEdit.Output(n, (i, o) => o.mul(1))).ToList()),
        };
        var times = variants.ToDictionary(v => v.Item1, _ => new List<double>());
        Console.WriteLine($"{relus.Count} ReLU modules");
        using var input = rand(new long[] { 1, 3, 236, 236 }, generator: new Generator(2));
        for (int r = 0; r < rounds; r++)
        {
            for (int v = 0; v < variants.Length; v++)
            {
                // One run attached at a time, so that no other variant's hooks are on the model.
                using var run = Hooks.ForwardRun.Attach(model, new Hooks.ForwardRunOptions { Taps = new[] { "mixed4a" }, Edits = variants[v].Item2, KeepGraph = true });
                using var scope = NewDisposeScope();
                Tensor x = input.detach().requires_grad_(true);
                var w = Stopwatch.StartNew();
                using (var taps = run.Run(InceptionV1.Preprocess(x)))
                {
                    taps["mixed4a"].select(1, 10).mean().backward();
                }

                times[variants[v].Item1].Add(w.Elapsed.TotalMilliseconds);
            }
        }

        foreach (var (name, _) in variants)
        {
            var l = times[name].Skip(2).OrderBy(x => x).ToList();
            Console.WriteLine($"forward + backward to mixed4a, 236 px, {name,-72} median {l[l.Count / 2]:F1} min {l[0]:F1}");
        }
    }

    private static void Renders(InceptionV1 model, int rounds)
    {
        var ratios = new List<double>();
        var on = new List<double>();
        var off = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            double a = 0, b = 0;
            foreach (int redirect in r % 2 == 0 ? new[] { 0, 16 } : new[] { 16, 0 })
            {
                var w = Stopwatch.StartNew();
                using (Rendering.FeatureVisualization.Render(model, Rendering.Objectives.Channel("mixed4a:10"), new Rendering.RenderOptions { Steps = 16, ImageSize = 224, Seed = r, RedirectReluSteps = redirect }))
                {
                }

                double ms = w.Elapsed.TotalMilliseconds / 16;
                if (redirect == 0) { a = ms; off.Add(ms); } else { b = ms; on.Add(ms); }
            }

            ratios.Add(b / a);
        }

        static double Median(List<double> l) { var s = l.OrderBy(x => x).ToList(); return s[s.Count / 2]; }
        Console.WriteLine($"whole renders of 16 steps, seeds 0 to {rounds - 1}: redirection off median {Median(off):F1} ms, on median {Median(on):F1} ms, paired ratio median {Median(ratios):F3}  all {string.Join(" ", ratios.Select(x => x.ToString("F3")))}");
    }
}
