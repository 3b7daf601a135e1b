using System.Globalization;

namespace Circuits.Interpretability.Samples.InceptionV1Samples;

/// <summary>The options every subcommand understands, parsed from <c>--name value</c> pairs.</summary>
public sealed record SampleOptions
{
    /// <summary>A weight file (inception5h.pth or safetensors); null: the model cache.</summary>
    public string? WeightsPath { get; init; }

    /// <summary>Use seeded random weights (shape and flow checks only: the images mean nothing).</summary>
    public bool RandomWeights { get; init; }

    /// <summary>The output folder; null: out/&lt;subcommand&gt;.</summary>
    public string? OutputFolder { get; init; }

    /// <summary>Optimization steps per feature visualization.</summary>
    public int Steps { get; init; } = 256;

    /// <summary>Rendered image size (and the input size of expanded weights) in pixels.</summary>
    public int Size { get; init; } = 128;

    /// <summary>Stimulus size for tuning curves in pixels.</summary>
    public int StimulusSize { get; init; } = 224;

    /// <summary>Orientation step of tuning sweeps in degrees.</summary>
    public double OrientationStep { get; init; } = 10;

    /// <summary>The units to study; null: the subcommand's default list (from its article).</summary>
    public IReadOnlyList<int>? Units { get; init; }

    /// <summary>Layers for early-vision; null: conv2d0, conv2d1, conv2d2, mixed3a, mixed3b.</summary>
    public IReadOnlyList<string>? Layers { get; init; }

    /// <summary>A shard i/n of the early-vision catalog; null: all of it.</summary>
    public string? Shard { get; init; }

    /// <summary>Units rendered together in one optimization.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>How many top inputs curve-circuits shows per unit.</summary>
    public int Top { get; init; } = 6;

    /// <summary>An image folder for dataset examples (zoom-in); null: none.</summary>
    public string? ImagesFolder { get; init; }

    /// <summary>The crop (in the source layer's positions) of expanded weights; null: the subcommand's default.</summary>
    public int? Crop { get; init; }

    /// <summary>Seed of renders (and of random weights).</summary>
    public int Seed { get; init; }

    /// <summary>Where the model and the work run: cpu, cuda, cuda:N or auto (CUDA when available, else the CPU).</summary>
    public string Device { get; init; } = "auto";

    /// <summary>Parses <paramref name="args"/> (after the subcommand).</summary>
    /// <exception cref="ArgumentException">An option is unknown, lacks its value, or the value is not valid.</exception>
    public static SampleOptions Parse(IReadOnlyList<string> args)
    {
        var o = new SampleOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            if (name == "--random-weights")
            {
                o = o with { RandomWeights = true };
                continue;
            }

            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"Option '{name}' needs a value.");
            }

            string value = args[++i];
            o = name switch
            {
                "--weights" => o with { WeightsPath = value },
                "--out" => o with { OutputFolder = value },
                "--steps" => o with { Steps = Positive(name, value) },
                "--size" => o with { Size = Positive(name, value) },
                "--stimulus-size" => o with { StimulusSize = Positive(name, value) },
                "--step" => o with { OrientationStep = PositiveDouble(name, value) },
                "--units" => o with { Units = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(u => NonNegative("--units", u)).ToArray() },
                "--layers" => o with { Layers = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "--shard" => o with { Shard = value },
                "--batch" => o with { BatchSize = Positive(name, value) },
                "--top" => o with { Top = Positive(name, value) },
                "--seed" => o with { Seed = NonNegative(name, value) },
                "--device" => o with { Device = DeviceName(value) },
                "--images" => o with { ImagesFolder = value },
                "--crop" => o with { Crop = Positive(name, value) },
                _ => throw new ArgumentException($"Unknown option '{name}'."),
            };
        }

        return o;
    }

    private static string DeviceName(string value)
    {
        string n = value.Trim().ToLowerInvariant();
        return n is "cpu" or "cuda" or "auto" || (n.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(n.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            ? n
            : throw new ArgumentException($"--device '{value}' is not a device; expected cpu, cuda, cuda:N or auto.");
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v
            : throw new ArgumentException($"{name} '{value}' is not valid; expected a positive whole number.");

    private static int NonNegative(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new ArgumentException($"{name} '{value}' is not valid; expected a whole number of 0 or more.");

    private static double PositiveDouble(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v)
            ? v
            : throw new ArgumentException($"{name} '{value}' is not valid; expected a positive number.");
}
