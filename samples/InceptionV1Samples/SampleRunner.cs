using Circuits.Interpretability.Core;
using Circuits.Interpretability.IO;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>What a subcommand works with: the model, its identity, the options, the output folder and the log.</summary>
/// <param name="Model">InceptionV1 in eval mode.</param>
/// <param name="ModelId">Identifies the weights (part of catalog keys).</param>
/// <param name="Options">The parsed options.</param>
/// <param name="OutputFolder">Where outputs go (created).</param>
/// <param name="Log">Progress and results for people.</param>
public sealed record SampleContext(InceptionV1 Model, string ModelId, SampleOptions Options, string OutputFolder, TextWriter Log)
{
    /// <summary>True when the weights are seeded random ones.</summary>
    public bool Random => Options.RandomWeights;

    /// <summary>Render settings from the options; InceptionV1 applies Lucid's input convention itself.</summary>
    public RenderOptions Render(int batch) => new()
    {
        Steps = Options.Steps,
        ImageSize = Options.Size,
        BatchSize = batch,
        Seed = Options.Seed,
    };

    /// <summary>A path inside the output folder.</summary>
    public string PathFor(string name) => Path.Combine(OutputFolder, name);

    /// <summary>The warning every output carries when the weights are random.</summary>
    public string WeightsNote => Random
        ? "Seeded random weights (--random-weights): a shape and flow check only; the images and numbers mean nothing."
        : $"Weights: {ModelId}.";
}

/// <summary>Parses the command line, loads InceptionV1 and runs one subcommand.</summary>
public static class SampleRunner
{
    /// <summary>The subcommands, with one line each for the usage text.</summary>
    public static IReadOnlyList<(string Name, string Description, Action<SampleContext> Run)> Commands { get; } = new (string, string, Action<SampleContext>)[]
    {
        ("early-vision", "Overview of Early Vision: a catalog of every neuron of conv2d0..mixed3b (--layers, --shard)", EarlyVision.Run),
        ("curve-detectors", "Curve Detectors: renders and orientation tuning of mixed3b 379, 406, 385, 343, 342, 388, 324, 340, 330, 349", CurveDetectors.Run),
        ("curve-circuits", "Curve Circuits: expanded weights from mixed3a into the curve detectors, top inputs, weight images", CurveCircuits.Run),
        ("equivariance", "Naturally Occurring Equivariance: rotation matching of the curve detectors' feature visualizations", EquivarianceSample.Run),
        ("high-low-frequency", "High-Low Frequency Detectors: mixed3a renders and tuning over frequency-boundary stimuli", HighLowFrequency.Run),
        ("zoom-in", "Zoom In: the car detector mixed4c:447, its dataset examples (--images DIR) and its circuit one layer back", ZoomIn.Run),
        ("visualizing-weights", "Visualizing Weights: expanded weights conv2d2 -> mixed3b (non-adjacent), NMF colours, weight images with a legend", VisualizingWeights.Run),
        ("branch-specialization", "Branch Specialization: mixed3b's branches, which hold the curve detectors, chance of that by luck", BranchSpecializationSample.Run),
        ("weight-banding", "Weight Banding: horizontal band strength of mixed5b's 3x3 and 5x5 kernels per unit, drawn with NMF", WeightBandingSample.Run),
    };

    /// <summary>Runs the command line; returns the exit code (0 success or no weights, 1 failure, 2 bad arguments).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            stdout.WriteLine(Usage());
            return args.Length == 0 ? 2 : 0;
        }

        var command = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (command.Name is null)
        {
            stderr.WriteLine($"error: unknown subcommand '{args[0]}'.");
            stderr.WriteLine(Usage());
            return 2;
        }

        SampleOptions options;
        try
        {
            options = SampleOptions.Parse(args.Skip(1).ToArray());
            if (options.Shard is not null)
            {
                _ = RenderCatalog.ParseShard(options.Shard);
            }
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 2;
        }

        InceptionV1? model = null;
        try
        {
            string id;
            if (options.RandomWeights)
            {
                if (options.WeightsPath is not null)
                {
                    stderr.WriteLine("error: --weights and --random-weights exclude each other.");
                    return 2;
                }

                model = new InceptionV1(options.Seed);
                id = InceptionV1Weights.RandomModelId(options.Seed);
                stdout.WriteLine($"warning: seeded random weights (seed {options.Seed}); outputs check shapes and flow only and mean nothing.");
            }
            else
            {
                WeightsLocation? weights;
                try
                {
                    weights = InceptionV1Weights.Locate(options.WeightsPath);
                }
                catch (WeightFileNotFoundException e)
                {
                    stderr.WriteLine($"error: {e.Message}");
                    return 2;
                }

                if (weights is null)
                {
                    stdout.WriteLine(InceptionV1Weights.Guidance());
                    stdout.WriteLine("Nothing was run.");
                    return 0;
                }

                stdout.WriteLine($"loading {weights.Path} ({weights.ModelId})");
                model = InceptionV1.FromFile(weights.Path);
                id = weights.ModelId;
            }

            Device device = ModelDevice.Parse(options.Device);
            model.to(device).eval();
            stdout.WriteLine($"device: {ModelDevice.Name(device)}");
            TorchBackend.EnsureAvailable();
            if (TorchBackend.KernelWorkaround is string workaround)
            {
                stderr.WriteLine($"note: {workaround}");
            }

            string folder = options.OutputFolder ?? Path.Combine("out", command.Name);
            Directory.CreateDirectory(folder);
            var context = new SampleContext(model, id, options, folder, stdout);
            using (var scope = NewDisposeScope())
            {
                command.Run(context);
            }

            stdout.WriteLine($"outputs in {Path.GetFullPath(folder)}");
            return 0;
        }
        catch (CircuitsException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
        finally
        {
            model?.Dispose();
        }
    }

    /// <summary>The usage text.</summary>
    public static string Usage() =>
        "usage: InceptionV1Samples <subcommand> [--weights PATH | --random-weights] [--device cpu|cuda|auto] [--out DIR] [--steps N] [--size N]\n" +
        "                          [--units a,b,c] [--layers l1,l2] [--shard i/n] [--batch N] [--stimulus-size N] [--step DEG] [--top N] [--seed N]\n" +
        "                          [--images DIR] [--crop N]\n\n" +
        "subcommands:\n" + string.Join("\n", Commands.Select(c => $"  {c.Name,-20} {c.Description}"));
}
