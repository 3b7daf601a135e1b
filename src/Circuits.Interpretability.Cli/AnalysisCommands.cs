using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;

namespace Circuits.Interpretability.Cli;

/// <summary>The <c>tuning</c> and <c>circuit</c> verbs.</summary>
internal static class AnalysisCommands
{
    /// <summary><c>tuning --unit L:C [--sweep orientation|curvature|frequency] [--stimulus curve|line|edge|grating]</c>.</summary>
    public static Command Tuning(TextWriter output)
    {
        var unit = new Option<string>("--unit", "-u") { Description = "The neuron, layer:channel (read at the centre unless @y,x is given).", Required = true };
        var sweepKind = new Option<string>("--sweep") { Description = "What to sweep: orientation, curvature (curve stimuli) or frequency (gratings).", DefaultValueFactory = _ => "orientation" };
        var stimulus = new Option<string>("--stimulus") { Description = "Stimulus of an orientation sweep: curve, line, edge or grating.", DefaultValueFactory = _ => "curve" };
        var step = new Option<double>("--step") { Description = "Orientation step in degrees.", DefaultValueFactory = _ => 5 };
        var outDir = new Option<string?>("--out", "-o") { Description = "Folder for the CSV table and the PNG plot." };
        var command = new Command("tuning", "Measure a neuron's tuning curve over a sweep of synthetic stimuli; print the table, write CSV and a PNG plot.")
        {
            unit, sweepKind, stimulus, step, outDir,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            ModelEntry entry = ModelCatalog.Find(parse.GetValue(CircuitsCli.Model)!);
            using LoadedModel loaded = CircuitsCli.LoadModel(parse, entry);
            NeuronAddress neuron = NeuronAddress.Parse(parse.GetValue(unit)!);
            int size = entry.DefaultInputSize;
            StimulusSweep sweep = Sweep(parse.GetValue(sweepKind)!, parse.GetValue(stimulus)!, parse.GetValue(step), size);
            TuningCurve curve = TuningCurves.Measure(loaded.Model, neuron, sweep, new TuningOptions { Preprocess = entry.Preprocess },
                cancellationToken: cancellationToken);

            string? folder = parse.GetValue(outDir);
            string? csv = null;
            string? png = null;
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
                string stem = Path.Combine(folder, $"tuning-{SafeFileName.From(neuron.ToString())}-{curve.Parameter}");
                csv = stem + ".csv";
                png = stem + ".png";
                curve.SaveCsv(csv);
                curve.SavePlot(png);
            }

            if (parse.GetValue(CircuitsCli.Json))
            {
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    model = entry.Name,
                    modelId = loaded.Id,
                    unit = neuron.ToString(),
                    parameter = curve.Parameter,
                    peak = new { value = curve.PeakValue, response = curve.PeakResponse },
                    values = curve.Values,
                    responses = curve.Responses,
                    csv,
                    plot = png,
                }, CircuitsCli.JsonOptions));
            }
            else
            {
                output.WriteLine(curve.ToText());
                output.WriteLine($"peak: {curve.Parameter} = {curve.PeakValue.ToString("G4", CultureInfo.InvariantCulture)} (response {curve.PeakResponse.ToString("F4", CultureInfo.InvariantCulture)})");
                if (csv is not null)
                {
                    output.WriteLine($"wrote {csv} and {png}");
                }
            }

            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    /// <summary><c>circuit --unit L:C --from SOURCE [--top K] [--crop N] [--out DIR]</c>.</summary>
    public static Command Circuit(TextWriter output)
    {
        var unit = new Option<string>("--unit", "-u") { Description = "The target neuron, layer:channel.", Required = true };
        var from = new Option<string>("--from") { Description = "The source layer whose output feeds the circuit (e.g. lines for curves, mixed3a for mixed3b).", Required = true };
        var top = new Option<int>("--top") { Description = "How many of the strongest inputs to list.", DefaultValueFactory = _ => 6 };
        var crop = new Option<int>("--crop") { Description = "Side of each expanded weight's spatial window (odd).", DefaultValueFactory = _ => 5 };
        var outDir = new Option<string?>("--out", "-o") { Description = "Folder for the graph (JSON, DOT, GraphML) and one PNG weight image per input." };
        var command = new Command("circuit", "The expanded weights from a source layer into one neuron: its strongest inputs with their spatial weight maps.")
        {
            unit, from, top, crop, outDir,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            ModelEntry entry = ModelCatalog.Find(parse.GetValue(CircuitsCli.Model)!);
            using LoadedModel loaded = CircuitsCli.LoadModel(parse, entry);
            NeuronAddress neuron = NeuronAddress.Parse(parse.GetValue(unit)!);
            int channel = neuron.Channel ?? throw new InvalidAddressException($"--unit '{neuron}' names no channel; expected layer:channel.");
            int k = parse.GetValue(top);
            if (k <= 0)
            {
                throw new ArgumentException($"--top {k} is not valid; expected a positive count.");
            }

            string source = parse.GetValue(from)!;
            long[] inputShape = { 3, entry.DefaultInputSize, entry.DefaultInputSize };
            cancellationToken.ThrowIfCancellationRequested();
            using ExpandedWeightSet weights = ExpandedWeights.Compute(loaded.Model, source, neuron.Layer, inputShape,
                new ExpandedWeightsOptions { TargetChannels = new[] { channel }, CropSize = parse.GetValue(crop) }, cancellationToken: cancellationToken);
            var inputs = weights.TopSources(channel, k);

            string? folder = parse.GetValue(outDir);
            var images = new List<string>();
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
                foreach (var (sourceChannel, _) in inputs)
                {
                    string path = Path.Combine(folder, $"{SafeFileName.From(new NeuronAddress(source, sourceChannel).ToString())}-to-{SafeFileName.From(neuron.ToString())}.png");
                    WeightImage.SaveFigure(weights, channel, sourceChannel, path);
                    images.Add(path);
                }

                var graph = CircuitGraph.FromWeights(neuron, new[] { weights }, k);
                string stem = Path.Combine(folder, $"circuit-{SafeFileName.From(neuron.ToString())}");
                AtomicFile.WriteAllText(stem + ".json", graph.ToJson());
                AtomicFile.WriteAllText(stem + ".dot", graph.ToDot());
                AtomicFile.WriteAllText(stem + ".graphml", graph.ToGraphML());
            }

            if (parse.GetValue(CircuitsCli.Json))
            {
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    model = entry.Name,
                    modelId = loaded.Id,
                    unit = neuron.ToString(),
                    source,
                    cropSize = weights.CropSize,
                    inputs = inputs.Select((s, i) => new
                    {
                        unit = $"{source}:{s.SourceChannel}",
                        strength = s.Strength,
                        weights = weights.Map(channel, s.SourceChannel).Cast<float>().Chunk(weights.CropSize),
                        image = i < images.Count ? images[i] : null,
                    }),
                }, CircuitsCli.JsonOptions));
            }
            else
            {
                output.WriteLine($"strongest inputs of {neuron} from {source} (expanded weights, {weights.CropSize} x {weights.CropSize}):");
                foreach (var (sourceChannel, strength) in inputs)
                {
                    output.WriteLine($"  {source}:{sourceChannel,-6} strength {strength.ToString("F4", CultureInfo.InvariantCulture)}");
                }

                if (folder is not null)
                {
                    output.WriteLine($"wrote {images.Count} weight images and the graph (JSON, DOT, GraphML) to {Path.GetFullPath(folder)}");
                }
            }

            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static StimulusSweep Sweep(string kind, string stimulus, double step, int size)
    {
        switch (kind.ToLowerInvariant())
        {
            case "orientation":
                StimulusOptions template = stimulus.ToLowerInvariant() switch
                {
                    "curve" => new CurveStimulus { Width = size, Height = size },
                    "line" => new LineStimulus { Width = size, Height = size },
                    "edge" => new EdgeStimulus { Width = size, Height = size },
                    "grating" => new GratingStimulus { Width = size, Height = size },
                    _ => throw new ArgumentException($"Stimulus '{stimulus}' is not known; expected curve, line, edge or grating."),
                };
                if (!(step > 0 && step <= 180))
                {
                    throw new ArgumentException($"--step {step} is not valid; expected degrees in (0, 180].");
                }

                return StimulusSweep.Orientation(template, step);
            case "curvature":
                return StimulusSweep.Curvature(new CurveStimulus { Width = size, Height = size }, Enumerable.Range(0, 13).Select(i => i * 0.05));
            case "frequency":
                return StimulusSweep.Frequency(new GratingStimulus { Width = size, Height = size }, Enumerable.Range(1, 16).Select(i => i / 64.0));
            default:
                throw new ArgumentException($"Sweep '{kind}' is not known; expected orientation, curvature or frequency.");
        }
    }

}

