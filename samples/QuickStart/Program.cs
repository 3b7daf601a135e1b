// QuickStart: the library's main job in one command, with no download.
//   dotnet run --project samples/QuickStart -c Release [-- --units 0,4,8,12 --steps 192 --out out --weights inception5h.pth --device auto]
//
// On the built-in hand-built curve circuit (weights set by formula, so every result has a known right answer) it
//   1. renders feature visualizations of chosen curve units (one batched optimization),
//   2. extracts each unit's circuit one layer back (expanded weights from the line detectors) with weight images,
//      and checks them against the designed weights,
//   3. measures each unit's orientation tuning curve over synthetic curves,
// and writes everything into one self-contained HTML report in out/, printing its path. When InceptionV1's weights
// are in the model cache or given with --weights, it does the same for the curve detectors of mixed3b.
using System.Diagnostics;
using System.Globalization;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using Circuits.Interpretability.IO;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using Circuits.Interpretability.Reporting;
using Circuits.Interpretability.Samples;
using TorchSharp;
using static TorchSharp.torch;

var settings = new Settings();
try
{
    settings = Settings.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(Settings.Usage);
    return 2;
}

if (settings.Help)
{
    Console.WriteLine(Settings.Usage);
    return 0;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

try
{
    var clock = Stopwatch.StartNew();
    Device device = ModelDevice.Parse(settings.Device);
    Console.WriteLine($"Device: {ModelDevice.Name(device)}");
    TorchBackend.EnsureAvailable();
    if (TorchBackend.KernelWorkaround is string workaround)
    {
        Console.Error.WriteLine($"note: {workaround}");
    }

    torch.manual_seed(settings.Seed);
    var report = new HtmlReport("Circuits.Interpretability quick start");
    report.Paragraph("Feature visualizations, circuits one layer back (expanded weights) and tuning curves of chosen neurons, " +
                     $"made by samples/QuickStart on {DateTime.UtcNow:yyyy-MM-dd} with seed {settings.Seed}.");

    using (var curves = new CurveCircuit())
    {
        curves.to(device).eval();
        StudyCurveCircuit(curves, settings, report, cancel.Token);
    }

    WeightsLocation? weights = InceptionV1Weights.Locate(settings.WeightsPath);
    report.Heading("InceptionV1: curve detectors of mixed3b");
    if (weights is null)
    {
        string hint = $"InceptionV1's weights were not found, so this part was skipped. Put inception5h.pth ({ModelRegistry.Inception5h.Url}) at " +
                      $"{new ModelCache().PathFor(ModelRegistry.Inception5h)} or pass --weights PATH, and run again.";
        report.Paragraph(hint);
        Console.WriteLine(hint);
    }
    else
    {
        Console.WriteLine($"InceptionV1 from {weights.Path} ({weights.ModelId})");
        report.Paragraph($"Weights: {weights.Path} ({weights.ModelId}).");
        using var inception = InceptionV1.FromFile(weights.Path);
        inception.to(device).eval();
        StudyInception(inception, settings, report, cancel.Token);
    }

    Directory.CreateDirectory(settings.OutputFolder);
    string path = report.Save(Path.Combine(settings.OutputFolder, "quickstart-report.html"));
    Console.WriteLine($"Done in {clock.Elapsed.TotalSeconds:F0} s. Report: {path}");
    return 0;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("cancelled.");
    return 130;
}
catch (CircuitsException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

static void StudyCurveCircuit(CurveCircuit model, Settings settings, HtmlReport report, CancellationToken cancellationToken)
{
    int[] units = settings.Units ?? new[] { 0, 2, 4, 6, 8, 10, 12, 14 };
    int bad = units.FirstOrDefault(u => u < 0 || u >= model.CurveOrientations.Count, -1);
    if (bad != -1)
    {
        throw new CircuitsException($"Curve unit {bad} does not exist; the curve circuit has units 0 to {model.CurveOrientations.Count - 1}.");
    }

    report.Heading("The hand-built curve circuit");
    report.Paragraph($"{model.LineOrientations.Count} oriented line detectors (layer 'lines', 7 x 7) feed {model.CurveOrientations.Count} curve detectors " +
                     $"(layer 'curves', 13 x 13), each designed to prefer curves whose convex side points one way, {model.CurveStepDegrees:F1} degrees apart. " +
                     "Because the weights are set by formula, every result below has a known right answer.");

    // 1. Feature visualization: all chosen units in one batch, each maximizing its centre neuron.
    Console.WriteLine($"Rendering {units.Length} curve units ({settings.Steps} steps, {settings.Size} px, one batch)...");
    Objective objective = units.Select((u, i) => Objectives.Neuron(new NeuronAddress(CurveCircuit.CurvesLayer, u), batch: i)).Aggregate((a, b) => a + b);
    using RenderResult render = FeatureVisualization.Render(model, objective, new RenderOptions
    {
        Steps = settings.Steps,
        ImageSize = settings.Size,
        BatchSize = units.Length,
        Seed = settings.Seed,
        Transforms = Array.Empty<IImageTransform>(),
    }, StepProgress.Render(Console.Out, "rendering the curve units"), cancellationToken);

    // 2. Circuits one layer back: expanded weights from the line detectors (through their ReLU) to each curve unit.
    Console.WriteLine("Expanded weights lines -> curves...");
    long[] inputShape = { 3, model.Options.InputSize, model.Options.InputSize };
    using ExpandedWeightSet expanded = ExpandedWeights.Compute(model, CurveCircuit.LinesLayer, CurveCircuit.CurvesLayer, inputShape,
        new ExpandedWeightsOptions { CropSize = model.Options.CurveKernelSize, TargetChannels = units },
        StepProgress.Expanded(Console.Out, "expanded weights lines -> curves"), cancellationToken);
    double designError;
    using (Tensor designed = model.DesignedCurveWeights())
    using (Tensor chosen = designed.index_select(0, tensor(units.Select(u => (long)u).ToArray())))
    {
        designError = (expanded.Weights.cpu() - chosen).abs().max().item<float>();
    }

    // 3. Orientation tuning over synthetic curves, read at the centre neuron.
    Console.WriteLine("Tuning curves...");
    var sweep = StimulusSweep.Orientation(new CurveStimulus { Width = model.Options.InputSize, Height = model.Options.InputSize }, stepDegrees: 5);
    IReadOnlyList<TuningCurve> tuning = TuningCurves.MeasureMany(model, units.Select(u => new NeuronAddress(CurveCircuit.CurvesReluLayer, u)), sweep,
        progress: StepProgress.Tuning(Console.Out, "tuning curves"), cancellationToken: cancellationToken);

    report.Paragraph($"Expanded weights from 'lines' to 'curves' equal the designed curve weights to {designError:E1} (max absolute difference).");
    var rows = new List<IReadOnlyList<string>>();
    for (int i = 0; i < units.Length; i++)
    {
        int unit = units[i];
        double designed = model.CurveOrientations[unit];
        double peak = tuning[i].PeakValue;
        double off = Math.Abs(((peak - designed + 540) % 360) - 180);
        rows.Add(new[]
        {
            $"curves:{unit}", F(designed, "F1"), tuning[i].NeverResponded ? "never responded" : F(peak, "F1"), tuning[i].NeverResponded ? "-" : F(off, "F1"),
            F(tuning[i].PeakResponse, "F3"),
            string.Join(", ", expanded.TopSources(unit, 3).Select(s => $"lines:{s.SourceChannel} ({model.LineOrientations[s.SourceChannel]:F0}°)")),
        });
        Console.WriteLine($"  curves:{unit,-3} designed {designed,6:F1}°  tuning peak {peak,6:F1}°  (off by {off:F1}°)");
    }

    report.Table(new[] { "unit", "designed orientation (°)", "tuning peak (°)", "difference (°)", "peak response", "strongest inputs" }, rows);
    report.Details("Settings and methods", new[]
    {
        $"Feature visualization: the centre neuron of each unit, {settings.Steps} steps of Adam at {settings.Size} px, all units in one batch, seed {settings.Seed}, no transforms.",
        $"Expanded weights: {expanded}.",
        $"Tuning: the curve stimulus rotated in 5° steps at {model.Options.InputSize} px, read at the centre neuron after the ReLU.",
    });
    for (int i = 0; i < units.Length; i++)
    {
        int unit = units[i];
        var section = new UnitReport(new NeuronAddress(CurveCircuit.CurvesLayer, unit))
        {
            Family = "curve detector",
            Summary = $"Designed to prefer curves whose convex side points toward {model.CurveOrientations[unit]:F1}°; built from the line detectors along such a curve.",
        };
        using (Tensor image = render.Images[i])
        {
            section.AddVisualization(image, $"centre neuron, {settings.Steps} steps, {settings.Size} px");
        }

        section.AddInputs(expanded, 6, source => $"lines:{source} ({model.LineOrientations[source]:F0}° line)")
            .AddTuning(tuning[i], $"a synthetic curve rotated in 5° steps ({model.Options.InputSize} px, read at the centre)", $"designed {model.CurveOrientations[unit]:F1}°")
            .WriteTo(report);
    }

    using WeightFactors factors = NmfFactors(expanded);
    report.Heading("All units' weights at once", 3);
    report.Paragraph($"Each image shows one unit's weights over all {model.LineOrientations.Count} line detectors at once: the line detectors are reduced to three NMF factors, "
                     + "and each factor is drawn in one colour (as in the Visualizing Weights article). Where two factors overlap their colours mix.");
    report.Images(units.Select((u, i) => (factors.Images[i], $"curves:{u}")), displayWidth: 104);
    report.Svg(ColorLegend.Swatches(FactorLegend(factors, model), "NMF factors (colour: what it stands for)"),
        "What each colour means: the line detectors each factor loads on most (+ where they excite, - where they inhibit).");
}

static IReadOnlyList<(Rgb Color, string Label)> FactorLegend(WeightFactors factors, CurveCircuit model)
{
    int sources = factors.SourceLoadings.ColumnCount / 2;
    var colors = new[] { new Rgb(1, 0, 0), new Rgb(0, 0.8f, 0), new Rgb(0, 0, 1) };
    return Enumerable.Range(0, factors.SourceLoadings.RowCount).Select(f =>
    {
        var top = Enumerable.Range(0, 2 * sources).OrderByDescending(c => factors.SourceLoadings[f, c]).Take(3)
            .Select(c => $"{(c < sources ? "+" : "-")}lines:{c % sources} ({model.LineOrientations[c % sources]:F0}°)");
        return (colors[f], $"factor {f + 1}: {string.Join(", ", top)}");
    }).ToList();
}

static WeightFactors NmfFactors(ExpandedWeightSet expanded) => WeightImage.RenderNmf(expanded, factors: 3, scale: 8, iterations: 300, seed: 0);

static void StudyInception(InceptionV1 model, Settings settings, HtmlReport report, CancellationToken cancellationToken)
{
    int[] units = { 379, 406, 385, 343 };
    report.Paragraph("Curve detectors named by the Curve Detectors article, with Lucid's input convention (RGB in [0, 1] scaled as x * 255 - 117).");
    Console.WriteLine($"Rendering mixed3b {string.Join(", ", units)} ({settings.Steps} steps, 128 px, Lucid's transforms)...");
    Objective objective = units.Select((u, i) => Objectives.Channel(new NeuronAddress("mixed3b", u), batch: i)).Aggregate((a, b) => a + b);
    using RenderResult render = FeatureVisualization.Render(model, objective, new RenderOptions
    {
        Steps = settings.Steps,
        ImageSize = 128,
        BatchSize = units.Length,
        Seed = settings.Seed,
    }, StepProgress.Render(Console.Out, "rendering mixed3b"), cancellationToken);

    Console.WriteLine("Expanded weights mixed3a -> mixed3b...");
    using ExpandedWeightSet expanded = ExpandedWeights.Compute(model, "mixed3a", "mixed3b", new long[] { 3, 224, 224 },
        new ExpandedWeightsOptions { TargetChannels = units, CropSize = 5 }, StepProgress.Expanded(Console.Out, "expanded weights mixed3a -> mixed3b"), cancellationToken);

    Console.WriteLine("Tuning curves...");
    var sweep = StimulusSweep.Orientation(new CurveStimulus { Width = 224, Height = 224, Curvature = 0.05, ArcLength = 60, Thickness = 3 }, stepDegrees: 10);
    IReadOnlyList<TuningCurve> tuning = TuningCurves.MeasureMany(model, units.Select(u => new NeuronAddress("mixed3b", u)), sweep,
        new TuningOptions { BatchSize = 12 }, StepProgress.Tuning(Console.Out, "tuning mixed3b"), cancellationToken);

    for (int i = 0; i < units.Length; i++)
    {
        int unit = units[i];
        var section = new UnitReport(new NeuronAddress("mixed3b", unit)) { Family = "curve detector" };
        using (Tensor image = render.Images[i])
        {
            section.AddVisualization(image, $"channel objective, {settings.Steps} steps, 128 px");
        }

        section.AddInputs(expanded, 4)
            .AddTuning(tuning[i], "a synthetic curve rotated in 10° steps (224 px, read at the centre)")
            .AddMethodDetail($"Expanded weights: {expanded}.")
            .WriteTo(report);
        Console.WriteLine($"  mixed3b:{unit} {tuning[i].PeakSummary}, top input mixed3a:{expanded.TopSources(unit, 1)[0].SourceChannel}");
    }
}

static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

/// <summary>Command-line settings of the quick start.</summary>
internal sealed record Settings
{
    public const string Usage = "usage: QuickStart [--units 0,2,4,6,8,10,12,14] [--steps N] [--size PIXELS] [--seed N] [--out FOLDER] [--weights inception5h.pth] [--device cpu|cuda|auto]";

    public int[]? Units { get; init; }

    public int Steps { get; init; } = 192;

    public int Size { get; init; } = 48;

    public int Seed { get; init; }

    public string OutputFolder { get; init; } = "out";

    public string? WeightsPath { get; init; }

    public string Device { get; init; } = "auto";

    public bool Help { get; init; }

    public static Settings Parse(string[] args)
    {
        var s = new Settings();
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            int Int(string text, int min) => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min
                ? v
                : throw new ArgumentException($"{name} '{text}' is not valid; expected an integer of at least {min}.");
            s = name switch
            {
                "--units" => s with { Units = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(u => Int(u, 0)).ToArray() },
                "--steps" => s with { Steps = Int(Next(), 1) },
                "--size" => s with { Size = Int(Next(), 24) },
                "--seed" => s with { Seed = Int(Next(), 0) },
                "--out" => s with { OutputFolder = Next() },
                "--weights" => s with { WeightsPath = Next() },
                "--device" => s with { Device = DeviceName(Next()) },
                "-h" or "--help" => s with { Help = true },
                _ => throw new ArgumentException($"Unknown argument '{name}'; expected --units, --steps, --size, --seed, --out, --weights or --device."),
            };
        }

        return s;
    }

    /// <summary>cpu, cuda, cuda:N or auto; anything else is a usage error (whether CUDA is there is checked when it is used).</summary>
    private static string DeviceName(string text)
    {
        string n = text.Trim().ToLowerInvariant();
        return n is "cpu" or "cuda" or "auto" || (n.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(n.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            ? n
            : throw new ArgumentException($"--device '{text}' is not a device; expected cpu, cuda, cuda:N or auto.");
    }
}
