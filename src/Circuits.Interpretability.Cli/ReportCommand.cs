using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using Circuits.Interpretability.Reporting;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The <c>report</c> verb: for chosen units, feature visualizations (one batched optimization), their circuit one
/// layer back (expanded weights with weight images of the strongest inputs) and orientation tuning curves, in one
/// self-contained HTML report.
/// </summary>
internal static class ReportCommand
{
    /// <summary>What a model's report shows when the command line does not say.</summary>
    private sealed record Defaults(string Units, string Source, int Crop, Func<int, CurveStimulus> Stimulus, double Step);

    private static readonly Dictionary<string, Defaults> ByModel = new(StringComparer.Ordinal)
    {
        ["curve-circuit"] = new($"{CurveCircuit.CurvesLayer}:0,4,8,12", CurveCircuit.LinesLayer, 13, size => new CurveStimulus { Width = size, Height = size }, 5),
        ["small-convnet"] = new("features.conv3:0,1,2,3", "features.conv2", 5, size => new CurveStimulus { Width = size, Height = size }, 10),
        ["inceptionv1"] = new("mixed3b:379,406,385,343", "mixed3a", 5,
            size => new CurveStimulus { Width = size, Height = size, Curvature = 0.05, ArcLength = 60, Thickness = 3 }, 10),
    };

    public static Command Create(TextWriter output, TextWriter error)
    {
        var units = new Option<string?>("--units", "-u")
        {
            Description = "Units to study, layer:channel, comma-separated; a bare channel keeps the previous layer (curves:0,4,8). Default: a few of the model's best-known units.",
        };
        var from = new Option<string?>("--from") { Description = "The source layer of the circuits (default: the model's layer before the units' layer)." };
        var top = new Option<int>("--top") { Description = "Strongest inputs shown per unit as weight images.", DefaultValueFactory = _ => 4 };
        var crop = new Option<int?>("--crop") { Description = "Side of each expanded weight's window (odd; default 13 for the curve circuit's kernels, else 5)." };
        var steps = new Option<int>("--steps") { Description = "Optimization steps of the feature visualizations.", DefaultValueFactory = _ => 192 };
        var size = new Option<int>("--size") { Description = "Feature visualization size in pixels.", DefaultValueFactory = _ => 64 };
        var objective = new Option<string>("--objective") { Description = "neuron (the centre position) or channel (the whole map).", DefaultValueFactory = _ => "neuron" };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder of the report.", DefaultValueFactory = _ => "out" };
        var command = new Command("report", "Feature visualizations, circuits one layer back (expanded weights) and tuning curves of chosen units, in one self-contained HTML report.")
        {
            units, from, top, crop, steps, size, objective, outDir,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            ModelEntry entry = ModelCatalog.Find(parse.GetValue(CircuitsCli.Model)!);
            bool json = parse.GetValue(CircuitsCli.Json);
            Defaults defaults = ByModel.TryGetValue(entry.Name, out var d) ? d : new Defaults(string.Empty, string.Empty, 5, s => new CurveStimulus { Width = s, Height = s }, 10);
            IReadOnlyList<NeuronAddress> chosen = ParseUnits(parse.GetValue(units) ?? defaults.Units);
            int k = Positive(parse.GetValue(top), "--top");
            int stepCount = Positive(parse.GetValue(steps), "--steps");
            int pixels = Positive(parse.GetValue(size), "--size");
            int cropSize = parse.GetValue(crop) ?? defaults.Crop;
            bool neuronObjective = parse.GetValue(objective)!.ToLowerInvariant() switch
            {
                "neuron" => true,
                "channel" => false,
                var other => throw new ArgumentException($"--objective '{other}' is not known; expected neuron or channel."),
            };
            int seed = parse.GetValue(CircuitsCli.Seed);
            string folder = parse.GetValue(outDir)!;

            using LoadedModel loaded = CircuitsCli.LoadModel(parse, entry);
            var model = loaded.Model;
            model.eval();
            foreach (string layer in chosen.Select(u => u.Layer).Distinct())
            {
                ModelLayers.Find(model, layer); // an unknown layer fails here, naming the nearest real ones
            }

            string source = parse.GetValue(from) ?? SourceFor(entry, defaults, chosen);
            int input = entry.DefaultInputSize;
            var report = new HtmlReport($"circuits report: {entry.Name}");
            report.Paragraph($"{entry.Description}. Weights: {loaded.WeightsSource} (id {loaded.Id}). Seed {seed}; made by 'circuits report' on {DateTime.UtcNow:yyyy-MM-dd}.");

            var (render, expanded, tuning) = CliProgress.Run(error, json, "report", stepCount + 2, update =>
            {
                // 1. Feature visualizations: every unit in one batched optimization.
                update(0, $"rendering {chosen.Count} units ({stepCount} steps, {pixels} px, one batch)");
                Objective goal = chosen.Select((u, i) => neuronObjective ? Objectives.Neuron(u, batch: i) : Objectives.Channel(u, batch: i)).Aggregate((a, b) => a + b);
                RenderResult rendered = FeatureVisualization.Render(model, goal, new RenderOptions
                {
                    Steps = stepCount,
                    ImageSize = pixels,
                    BatchSize = chosen.Count,
                    Seed = seed,
                    Preprocess = entry.Preprocess,
                    Transforms = input >= 128 ? null : Array.Empty<IImageTransform>(),
                }, new CliProgress.Forward<RenderProgress>(p => update(p.Step, $"rendering {chosen.Count} units ({stepCount} steps, {pixels} px, one batch)")), cancellationToken);
                try
                {
                    // 2. Circuits one layer back, one expanded-weight computation per target layer.
                    update(stepCount, $"expanded weights {source} -> {string.Join(", ", chosen.Select(u => u.Layer).Distinct())}");
                    var sets = new Dictionary<string, ExpandedWeightSet>(StringComparer.Ordinal);
                    try
                    {
                        foreach (var group in chosen.GroupBy(u => u.Layer))
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            sets[group.Key] = ExpandedWeights.Compute(model, source, group.Key, new long[] { 3, input, input },
                                new ExpandedWeightsOptions { TargetChannels = group.Select(u => u.Channel!.Value).Distinct().ToList(), CropSize = cropSize });
                        }

                        // 3. Orientation tuning over synthetic curves, read at the centre position.
                        update(stepCount + 1, "tuning curves");
                        var sweep = StimulusSweep.Orientation(defaults.Stimulus(input), defaults.Step);
                        IReadOnlyList<TuningCurve> curves = TuningCurves.MeasureMany(model, chosen, sweep, new TuningOptions { Preprocess = entry.Preprocess },
                            cancellationToken: cancellationToken);
                        update(stepCount + 2, "writing the report");
                        return (rendered, sets, curves);
                    }
                    catch
                    {
                        foreach (var set in sets.Values)
                        {
                            set.Dispose();
                        }

                        throw;
                    }
                }
                catch
                {
                    rendered.Dispose();
                    throw;
                }
            });

            try
            {
                var summaries = new List<object>();
                var rows = new List<IReadOnlyList<string>>();
                int scale = Math.Max(1, 96 / cropSize);
                for (int i = 0; i < chosen.Count; i++)
                {
                    NeuronAddress unit = chosen[i];
                    ExpandedWeightSet set = expanded[unit.Layer];
                    var inputs = set.TopSources(unit.Channel!.Value, k);
                    TuningCurve curve = tuning[i];
                    rows.Add(new[]
                    {
                        unit.ToString(), curve.PeakSummary,
                        string.Join(", ", inputs.Take(3).Select(s => $"{source}:{s.SourceChannel} ({F(s.Strength, "F3")})")),
                    });
                    summaries.Add(new
                    {
                        unit = unit.ToString(),
                        finalObjective = render.ObjectiveHistory.Count == 0 ? (double?)null : render.FinalObjective,
                        tuningPeak = curve.NeverResponded ? (double?)null : curve.PeakValue,
                        neverResponded = curve.NeverResponded,
                        tuningPeakResponse = curve.PeakResponse,
                        inputs = inputs.Select(s => new { unit = $"{source}:{s.SourceChannel}", strength = s.Strength }),
                    });
                }

                ExpandedWeightSet first = expanded.Values.First();
                report.Heading("Summary");
                report.Paragraph($"For each unit: the image that excites it most ({(neuronObjective ? "its centre neuron" : "the whole channel")}), "
                                 + $"its {k} strongest inputs from '{source}' with their weights, and its response to a curve turned through every orientation.");
                report.Table(new[] { "unit", "tuning", "strongest inputs (strength)" }, rows);
                report.Details("Settings and methods", new[]
                {
                    $"Feature visualizations: {(neuronObjective ? "the centre neuron" : "the whole channel")}, {stepCount} steps at {pixels} px, all units in one batch, seed {seed}.",
                    $"Circuits: expanded weights from '{source}' ({cropSize} x {cropSize}), computed by {first.Method}{(first.MethodDetail.Length > 0 ? ": " + first.MethodDetail : string.Empty)}.",
                    $"Tuning: curves rotated in {F(defaults.Step, "G4")}° steps at {input} px, read at the centre position.",
                });
                for (int i = 0; i < chosen.Count; i++)
                {
                    NeuronAddress unit = chosen[i];
                    var section = new UnitReport(unit);
                    using (Tensor visualization = render.Images[i])
                    {
                        section.AddVisualization(visualization, $"{(neuronObjective ? "centre neuron" : "channel")}, {stepCount} steps, {pixels} px");
                    }

                    section.AddInputs(expanded[unit.Layer], k)
                        .AddTuning(tuning[i], $"a synthetic curve rotated in {F(defaults.Step, "G4")}° steps (read at the centre position)")
                        .WriteTo(report);
                }

                Directory.CreateDirectory(folder);
                string path = report.Save(Path.Combine(folder, $"report-{SafeFileName.From(entry.Name)}.html"));
                if (json)
                {
                    output.WriteLine(JsonSerializer.Serialize(new { model = entry.Name, modelId = loaded.Id, report = path, source, units = summaries }, CircuitsCli.JsonOptions));
                }
                else
                {
                    foreach (var row in rows)
                    {
                        output.WriteLine($"  {row[0],-16} {row[1]}; strongest inputs: {row[2]}");
                    }

                    output.WriteLine($"Report: {path}");
                }
            }
            finally
            {
                render.Dispose();
                foreach (var set in expanded.Values)
                {
                    set.Dispose();
                }
            }

            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    /// <summary>Parses <c>curves:0,4,mixed3b:379</c>: a bare channel keeps the previous token's layer.</summary>
    internal static IReadOnlyList<NeuronAddress> ParseUnits(string text)
    {
        var result = new List<NeuronAddress>();
        string? layer = null;
        foreach (string token in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out int channel))
            {
                result.Add(new NeuronAddress(layer ?? throw new ArgumentException($"--units '{text}': channel {channel} comes before any layer; expected layer:channel first, e.g. curves:0,4,8."), channel));
                continue;
            }

            NeuronAddress unit = NeuronAddress.Parse(token);
            if (unit.Channel is null || unit.Y is not null)
            {
                throw new ArgumentException($"--units '{text}': '{token}' is not layer:channel; expected e.g. curves:0,4,8 or mixed3b:379,mixed4a:97.");
            }

            result.Add(unit);
            layer = unit.Layer;
        }

        if (result.Count == 0)
        {
            throw new ArgumentException($"--units '{text}' names no unit; expected layer:channel, e.g. curves:0,4,8.");
        }

        return result;
    }

    private static string SourceFor(ModelEntry entry, Defaults defaults, IReadOnlyList<NeuronAddress> units)
    {
        string[] layers = units.Select(u => u.Layer).Distinct().ToArray();
        IReadOnlyList<string> catalog = entry.CatalogLayers ?? Array.Empty<string>();
        int index = layers.Length == 1 ? catalog.ToList().IndexOf(layers[0]) : -1;
        if (index > 0)
        {
            return catalog[index - 1];
        }

        if (defaults.Source.Length > 0 && layers.Length == 1 && defaults.Units.StartsWith(layers[0] + ":", StringComparison.Ordinal))
        {
            return defaults.Source;
        }

        throw new ArgumentException($"No default source layer for {string.Join(", ", layers)} in model '{entry.Name}'; name the circuits' source layer with --from.");
    }

    private static int Positive(int value, string name) =>
        value > 0 ? value : throw new ArgumentException($"{name} {value} is not valid; expected a positive number.");

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
