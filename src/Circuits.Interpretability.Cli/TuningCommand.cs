using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The <c>tuning</c> verb: a neuron's tuning curve over a sweep of synthetic stimuli, as a table, a CSV file and a
/// PNG plot whose names carry the unit, the swept parameter and the stimulus.
/// </summary>
internal static class TuningCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var unit = new Option<string>("--unit", "-u") { Description = "The neuron, layer:channel (read at the centre unless @y,x is given).", Required = true };
        var sweepKind = CliOptions.Choice("--sweep", "What to sweep", "orientation", "orientation", "curvature", "frequency");
        var stimulus = CliOptions.Choice("--stimulus", "The stimulus (orientation sweeps take any; curvature sweeps curves, frequency sweeps gratings)", null, "curve", "line", "edge", "grating");
        var step = CliOptions.Double("--step", "Orientation step in degrees", 5, 0, 180, "degrees");
        var outDir = new Option<string?>("--out", "-o") { Description = "Folder for the CSV table and the PNG plot (tuning-UNIT-PARAMETER-STIMULUS.csv/.png)." };
        var command = new Command("tuning", "Measure a neuron's tuning curve over a sweep of synthetic stimuli; print the table, write CSV and a PNG plot.")
        {
            unit, sweepKind, stimulus, step, outDir,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            NeuronAddress neuron = NeuronAddress.Parse(parse.GetValue(unit)!);
            if (neuron.Channel is null)
            {
                throw new UsageException($"--unit '{neuron}' names no channel; expected layer:channel, e.g. curves_relu:4.");
            }

            string kind = parse.GetValue(sweepKind)!;
            string stimulusName = Stimulus(kind, parse.GetValue(stimulus));
            if (kind != "orientation" && parse.GetResult(step) is { Implicit: false })
            {
                throw new UsageException($"--step applies to orientation sweeps; a {kind} sweep has fixed values.");
            }

            using ModelSession session = ModelSession.Open(parse, error);
            session.Check(neuron, "--unit");
            int size = session.InputSize;
            StimulusSweep sweep = Sweep(kind, stimulusName, parse.GetValue(step), size);
            TuningCurve curve = CliProgress.Run(error, "tuning", 1, 1, progress => TuningCurves.Measure(session.Model, neuron, sweep,
                new TuningOptions { Preprocess = session.Entry.Preprocess },
                new CliProgress.Forward<TuningProgress>(p => progress.Update(p.Total == 0 ? 1 : p.Done / (double)p.Total, $"{kind} sweep of {stimulusName}s", $"stimulus {p.Done}/{p.Total}")),
                cancellationToken));

            string? folder = parse.GetValue(outDir);
            string? csv = null;
            string? png = null;
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
                string stem = Path.Combine(folder, $"tuning-{SafeFileName.From(neuron.ToString())}-{curve.Parameter}-{stimulusName}");
                csv = stem + ".csv";
                png = stem + ".png";
                curve.SaveCsv(csv);
                curve.SavePlot(png);
            }

            if (session.Json)
            {
                output.WriteLine(session.JsonResult(new
                {
                    unit = neuron.ToString(),
                    label = session.Label(neuron),
                    parameter = curve.Parameter,
                    stimulus = stimulusName,
                    peak = new { value = curve.PeakValue, response = curve.PeakResponse },
                    values = curve.Values,
                    responses = curve.Responses,
                    csv,
                    plot = png,
                }));
            }
            else
            {
                string label = session.Label(neuron) is { } l ? $" ({l})" : string.Empty;
                output.WriteLine($"{neuron}{label}: {kind} sweep of {stimulusName}s ({session.Entry.Name}{session.RandomNote})");
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

    /// <summary>The stimulus of a sweep: the one asked for, or the sweep's own; a curvature sweep takes curves only, a frequency sweep gratings only.</summary>
    private static string Stimulus(string kind, string? asked)
    {
        string own = kind switch
        {
            "curvature" => "curve",
            "frequency" => "grating",
            _ => "curve",
        };
        if (asked is not null && kind != "orientation" && asked != own)
        {
            throw new UsageException($"--stimulus {asked} does not go with --sweep {kind}, which sweeps {own}s; leave --stimulus out or sweep orientation.");
        }

        return asked ?? own;
    }

    private static StimulusSweep Sweep(string kind, string stimulus, double step, int size)
    {
        switch (kind)
        {
            case "orientation":
                StimulusOptions template = stimulus switch
                {
                    "line" => new LineStimulus { Width = size, Height = size },
                    "edge" => new EdgeStimulus { Width = size, Height = size },
                    "grating" => new GratingStimulus { Width = size, Height = size },
                    _ => new CurveStimulus { Width = size, Height = size },
                };
                return StimulusSweep.Orientation(template, step);
            case "curvature":
                return StimulusSweep.Curvature(new CurveStimulus { Width = size, Height = size }, Enumerable.Range(0, 13).Select(i => i * 0.05));
            default:
                return StimulusSweep.Frequency(new GratingStimulus { Width = size, Height = size }, Enumerable.Range(1, 16).Select(i => i / 64.0));
        }
    }
}
