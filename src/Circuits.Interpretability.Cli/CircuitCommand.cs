using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The <c>circuit</c> verb: the expanded weights from a source layer into one neuron, its strongest inputs ranked
/// as <see cref="ExpandedWeightSet.TopSources"/> states (ties by channel), each with its sign, what it is by the
/// model's design (the curve circuit's line orientations) and where its strongest weight lies.
/// </summary>
internal static class CircuitCommand
{
    /// <summary>One ranked input of the neuron.</summary>
    private sealed record Input(int Rank, int Channel, double Strength, double Sum, double Positive, double Negative, int PeakDy, int PeakDx, string? Label, float[,] Map)
    {
        public string Sign => Sum > 0 ? "+" : Sum < 0 ? "-" : "0";
    }

    public static Command Create(TextWriter output, TextWriter error)
    {
        var unit = new Option<string>("--unit", "-u") { Description = "The target neuron, layer:channel.", Required = true };
        var from = new Option<string>("--from") { Description = "The source layer whose output feeds the circuit (e.g. lines for curves, mixed3a for mixed3b).", Required = true };
        var top = CliOptions.Int("--top", "How many of the strongest inputs to list", 6, 1, 1000, "inputs");
        var crop = CliOptions.OptionalInt("--crop", "Side of each expanded weight's window; default: the model's kernel, 13 for the curve circuit, else 5", 1, 255, "positions", odd: true);
        var outDir = new Option<string?>("--out", "-o") { Description = "Folder for the graph (JSON, DOT, GraphML) and one PNG weight image per input." };
        var command = new Command("circuit", "The expanded weights from a source layer into one neuron: its strongest inputs with their sign and spatial weight maps.")
        {
            unit, from, top, crop, outDir,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            NeuronAddress target = NeuronAddress.Parse(parse.GetValue(unit)!);
            if (target.Channel is null || target.HasPosition)
            {
                throw new UsageException($"--unit '{target}' is not layer:channel; expected e.g. curves:4 or mixed3b:379.");
            }

            using ModelSession session = ModelSession.Open(parse, error);
            session.Check(target, "--unit");
            string source = parse.GetValue(from)!;
            session.ChannelCount(source); // an unknown source layer fails here, naming the nearest real ones
            int channel = target.Channel.Value;
            int k = parse.GetValue(top);
            int cropSize = parse.GetValue(crop) ?? session.Entry.DefaultCrop;

            string phase = $"expanded weights {source} -> {target.Layer}";
            using ExpandedWeightSet weights = CliProgress.Run(error, "circuit", 1, 0, progress =>
            {
                progress.Update(0, phase);
                return ExpandedWeights.Compute(session.Model, source, target.Layer, new long[] { 3, session.InputSize, session.InputSize },
                    new ExpandedWeightsOptions { TargetChannels = new[] { channel }, CropSize = cropSize },
                    new CliProgress.Forward<ExpandedWeightsProgress>(p => progress.Update(p.Total == 0 ? 0 : p.Done / (double)p.Total, phase, $"{p.Method} pass {p.Done}/{p.Total}")),
                    cancellationToken);
            });
            List<Input> inputs = weights.TopSources(channel, k).Select((s, i) => Describe(session, weights, channel, source, i + 1, s.SourceChannel, s.Strength)).ToList();

            // From here on the work is done: the files are written whole even if Ctrl+C comes now.
            string? folder = parse.GetValue(outDir);
            var images = new List<string>();
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
                foreach (Input input in inputs)
                {
                    string path = Path.Combine(folder, $"{SafeFileName.From(new NeuronAddress(source, input.Channel).ToString())}-to-{SafeFileName.From(target.ToString())}.png");
                    WeightImage.SaveFigure(weights, channel, input.Channel, path);
                    images.Add(path);
                }

                var graph = CircuitGraph.FromWeights(target, new[] { weights }, k);
                string stem = Path.Combine(folder, $"circuit-{SafeFileName.From(target.ToString())}");
                AtomicFile.WriteAllText(stem + ".json", graph.ToJson());
                AtomicFile.WriteAllText(stem + ".dot", graph.ToDot());
                AtomicFile.WriteAllText(stem + ".graphml", graph.ToGraphML());
            }

            if (session.Json)
            {
                output.WriteLine(session.JsonResult(new
                {
                    unit = target.ToString(),
                    label = session.Label(target),
                    source,
                    cropSize = weights.CropSize,
                    ranking = Ranking,
                    inputs = inputs.Select((s, i) => new
                    {
                        rank = s.Rank,
                        unit = $"{source}:{s.Channel}",
                        label = s.Label,
                        strength = s.Strength,
                        sign = s.Sign,
                        sum = s.Sum,
                        positive = s.Positive,
                        negative = s.Negative,
                        peak = new { dy = s.PeakDy, dx = s.PeakDx },
                        weights = s.Map.Cast<float>().Chunk(weights.CropSize),
                        image = i < images.Count ? images[i] : null,
                    }),
                }));
                return Task.FromResult(ExitCodes.Success);
            }

            string label = session.Label(target) is { } l ? $" ({l})" : string.Empty;
            output.WriteLine($"strongest inputs of {target}{label} from {source} (expanded weights, {weights.CropSize} x {weights.CropSize}{session.RandomNote})");
            output.WriteLine($"  {Ranking}");
            output.WriteLine("  sign: + when the map's weights sum above zero (the input mostly excites), - below (mostly inhibits); peak: (dy, dx) of the largest |weight| from the centre.");
            int width = inputs.Max(s => $"{source}:{s.Channel}".Length) + 2;
            output.WriteLine($"  {"rank",4}  {"input".PadRight(width)}{"strength",10}  sign  {"peak",-9} what");
            foreach (Input s in inputs)
            {
                output.WriteLine($"  {s.Rank,4}  {$"{source}:{s.Channel}".PadRight(width)}{F(s.Strength, "F6"),10}  {s.Sign,-4}  {$"({s.PeakDy}, {s.PeakDx})",-9} {s.Label ?? string.Empty}".TrimEnd());
            }

            if (folder is not null)
            {
                output.WriteLine($"wrote {images.Count} weight images and the graph (JSON, DOT, GraphML) to {Path.GetFullPath(folder)}");
            }

            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    /// <summary>How inputs are ranked, in words (also in the JSON as "ranking").</summary>
    internal static string Ranking =>
        $"ranked by strength (the L2 norm of the weight map), compared at {ExpandedWeightSet.RankingDigits} significant digits; equal strengths by channel, lowest first.";

    private static Input Describe(ModelSession session, ExpandedWeightSet weights, int target, string source, int rank, int channel, double strength)
    {
        float[,] map = weights.Map(target, channel);
        int size = map.GetLength(0), centre = size / 2;
        double sum = 0, positive = 0, negative = 0, peak = -1;
        int peakY = 0, peakX = 0;
        for (int y = 0; y < size; y++)
        {
            for (int x = 0; x < size; x++)
            {
                double v = map[y, x];
                sum += v;
                positive += Math.Max(0, v);
                negative += Math.Min(0, v);
                if (Math.Abs(v) > peak)
                {
                    (peak, peakY, peakX) = (Math.Abs(v), y, x);
                }
            }
        }

        return new Input(rank, channel, strength, sum, positive, negative, peakY - centre, peakX - centre, session.Label(new NeuronAddress(source, channel)), map);
    }

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
