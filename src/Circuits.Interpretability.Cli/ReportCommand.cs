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
        var top = CliOptions.Int("--top", "Strongest inputs shown per unit as weight images", 4, 1, 100, "inputs");
        var crop = CliOptions.OptionalInt("--crop", "Side of each expanded weight's window; default: the model's kernel, 13 for the curve circuit, else 5", 1, 255, "positions", odd: true);
        var steps = CliOptions.Int("--steps", "Optimization steps of the feature visualizations", 192, 1, 100_000, "steps");
        var size = CliOptions.Int("--size", "Feature visualization size in pixels", 64, 8, CliOptions.MaxPixels, "pixels");
        var objective = CliOptions.Choice("--objective", "What each visualization excites (its centre neuron or its whole channel)", "neuron", "neuron", "channel");
        var outDir = new Option<string>("--out", "-o") { Description = "Folder of the report.", DefaultValueFactory = _ => "out" };
        var command = new Command("report", "Feature visualizations, circuits one layer back (expanded weights) and tuning curves of chosen units, in one self-contained HTML report.")
        {
            units, from, top, crop, steps, size, objective, outDir,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            ModelEntry entry = ModelSession.ResolveEntry(parse);
            Defaults defaults = ByModel.TryGetValue(entry.Name, out var d) ? d : new Defaults(string.Empty, string.Empty, entry.DefaultCrop, s => new CurveStimulus { Width = s, Height = s }, 10);
            string? unitText = parse.GetValue(units) ?? (defaults.Units.Length > 0 ? defaults.Units : null)
                ?? throw new UsageException($"Model '{entry.Name}' has no default units; name them with --units, e.g. --units layer:0,1,2.");
            IReadOnlyList<NeuronAddress> chosen = ParseUnits(unitText);
            int k = parse.GetValue(top);
            int stepCount = parse.GetValue(steps);
            int pixels = parse.GetValue(size);
            int cropSize = parse.GetValue(crop) ?? entry.DefaultCrop;
            bool neuronObjective = parse.GetValue(objective) == "neuron";
            string folder = parse.GetValue(outDir)!;

            using ModelSession session = ModelSession.Open(parse, error, entry);
            bool json = session.Json;
            int seed = session.Seed;
            LoadedModel loaded = session.Loaded;
            var model = session.Model;
            foreach (NeuronAddress unit in chosen)
            {
                session.Check(unit, "--units"); // an unknown layer or channel fails here, before any work, naming what exists
            }

            string source = parse.GetValue(from) ?? SourceFor(entry, defaults, chosen);
            session.ChannelCount(source);
            int input = session.InputSize;
            foreach (string layer in chosen.Select(u => u.Layer).Distinct())
            {
                MemoryEstimate.Require(MemoryEstimate.Render(session, layer, pixels, chosen.Count), session,
                    $"Rendering {chosen.Count} units together at {pixels} x {pixels} px", "lower --size or name fewer --units");
            }

            var report = new HtmlReport($"circuits report: {entry.Name}");
            report.Paragraph($"{entry.Description}. Weights: {loaded.WeightsSource} (id {loaded.Id}). Seed {seed}; made by 'circuits report' on {DateTime.UtcNow:yyyy-MM-dd}.");

            var (render, expanded, tuning) = CliProgress.Run(error, "report", stepCount + 2, chosen.Count, progress =>
            {
                // 1. Feature visualizations: every unit in one batched optimization.
                string rendering = $"rendering {chosen.Count} units ({pixels} px, one batch)";
                progress.Update(0, rendering, $"step 0/{stepCount}", 0);
                Objective goal = chosen.Select((u, i) => neuronObjective ? Objectives.Neuron(u, batch: i) : Objectives.Channel(u, batch: i)).Aggregate((a, b) => a + b);
                RenderResult rendered = FeatureVisualization.Render(model, goal, new RenderOptions
                {
                    Steps = stepCount,
                    ImageSize = pixels,
                    BatchSize = chosen.Count,
                    Seed = seed,
                    Preprocess = entry.Preprocess,
                    Transforms = input >= 128 ? null : Array.Empty<IImageTransform>(),
                    Device = session.Device,
                }, new CliProgress.Forward<RenderProgress>(p => progress.Update(p.Step, rendering, $"step {p.Step}/{stepCount}", 0)), cancellationToken);
                try
                {
                    // 2. Circuits one layer back, one expanded-weight computation per target layer.
                    progress.Update(stepCount, $"expanded weights {source} -> {string.Join(", ", chosen.Select(u => u.Layer).Distinct())}", null, chosen.Count);
                    var sets = new Dictionary<string, ExpandedWeightSet>(StringComparer.Ordinal);
                    try
                    {
                        foreach (var group in chosen.GroupBy(u => u.Layer))
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            sets[group.Key] = ExpandedWeights.Compute(model, source, group.Key, new long[] { 3, input, input },
                                new ExpandedWeightsOptions { TargetChannels = group.Select(u => u.Channel!.Value).Distinct().ToList(), CropSize = cropSize }, cancellationToken: cancellationToken);
                        }

                        // 3. Orientation tuning over synthetic curves, read at the centre position.
                        progress.Update(stepCount + 1, "tuning curves");
                        var sweep = StimulusSweep.Orientation(defaults.Stimulus(input), defaults.Step);
                        IReadOnlyList<TuningCurve> curves = TuningCurves.MeasureMany(model, chosen, sweep, new TuningOptions { Preprocess = entry.Preprocess },
                            cancellationToken: cancellationToken);
                        progress.Update(stepCount + 2, "writing the report");
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
                    output.WriteLine(session.JsonResult(new { report = path, source, units = summaries }));
                }
                else
                {
                    foreach (var row in rows)
                    {
                        output.WriteLine($"  {row[0],-16} {row[1]}; strongest inputs: {row[2]}");
                    }

                    if (loaded.RandomWeights)
                    {
                        output.WriteLine($"  (RANDOM weights: {loaded.WeightsSource}; the report shows shapes and data flow, not learned features)");
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
                result.Add(new NeuronAddress(layer ?? throw new UsageException($"--units '{text}': channel {channel} comes before any layer; expected layer:channel first, e.g. curves:0,4,8."), channel));
                continue;
            }

            NeuronAddress unit = NeuronAddress.Parse(token);
            if (unit.Channel is null || unit.Y is not null)
            {
                throw new UsageException($"--units '{text}': '{token}' is not layer:channel; expected e.g. curves:0,4,8 or mixed3b:379,mixed4a:97.");
            }

            result.Add(unit);
            layer = unit.Layer;
        }

        if (result.Count == 0)
        {
            throw new UsageException($"--units '{text}' names no unit; expected layer:channel, e.g. curves:0,4,8.");
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

        throw new UsageException($"No default source layer for {string.Join(", ", layers)} in model '{entry.Name}'; name the circuits' source layer with --from.");
    }

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
