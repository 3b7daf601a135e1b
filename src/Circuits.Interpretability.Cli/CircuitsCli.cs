using System.CommandLine;
using System.Text.Json;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The <c>circuits</c> command-line tool. Verbs: <c>layers</c>, <c>render</c>, <c>circuit</c>, <c>tuning</c>,
/// <c>examples</c>, <c>report</c>, <c>atlas</c>. Every verb takes <c>--json</c> for machine-readable output (results and errors);
/// the exit codes are those of <see cref="ExitCodes"/>.
/// </summary>
public static class CircuitsCli
{
    /// <summary>Options every verb shares.</summary>
    internal static readonly Option<bool> Json = new("--json") { Description = "Write one JSON object to standard output: the result, or the error.", Recursive = true };

    internal static readonly Option<string?> Model = new("--model", "-m")
    {
        Description = $"The model: {string.Join(", ", ModelCatalog.All.Select(m => m.Name))} (default {ModelCatalog.All[0].Name}); with --model-assembly, the class name of your model.",
        Recursive = true,
    };

    internal static readonly Option<string?> ModelAssembly = new("--model-assembly")
    {
        Description = "Your own model: the .dll holding a public class that derives from nn.Module<Tensor, Tensor> and has a public constructor without parameters (name it with --model when there are several; its weights with --weights).",
        Recursive = true,
    };

    internal static readonly Option<int> Seed = CliOptions.Int("--seed", "Seed for generated weights and every random choice", 0, 0, int.MaxValue, "seeds");

    internal static readonly Option<string?> Weights = new("--weights", "-w") { Description = "A weight file (.pth or .safetensors) for a model that reads one (inceptionv1, or your own).", Recursive = true };

    internal static readonly Option<bool> RandomWeights = new("--random-weights")
    {
        Description = "Run a model that reads a weight file with random weights instead (seeded for inceptionv1, as constructed for your own): shape and flow checks only.",
        Recursive = true,
    };

    internal static readonly Option<string> DeviceOption = DeviceChoice.Create();

    internal static readonly Option<int?> InputSize = CliOptions.OptionalInt("--input-size", "Square input size of the model in pixels; default: the model's own, 224 for your own model", 8, CliOptions.MaxPixels, "pixels");

    /// <summary>JSON as people and scripts read it: indented, camelCase, no needless escapes (quotes in messages stay quotes).</summary>
    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    static CircuitsCli()
    {
        Seed.Recursive = true;
        InputSize.Recursive = true;
    }

    /// <summary>Builds the command tree.</summary>
    public static RootCommand Build(TextWriter output, TextWriter? error = null)
    {
        error ??= TextWriter.Null;
        var root = new RootCommand("circuits: reverse-engineer TorchSharp models neuron by neuron (Circuits.Interpretability).")
        {
            Json, Model, ModelAssembly, Seed, Weights, RandomWeights, DeviceOption, InputSize,
        };
        root.Add(LayersCommand.Create(output, error));
        root.Add(RenderCommand.Create(output, error));
        root.Add(CircuitCommand.Create(output, error));
        root.Add(TuningCommand.Create(output, error));
        root.Add(ExamplesCommand.Create(output, error));
        root.Add(ReportCommand.Create(output, error));
        root.Add(AtlasCommand.Create(output, error));
        return root;
    }

    /// <summary>
    /// Runs the tool with <paramref name="args"/>; returns the exit code. Cancelling <paramref name="cancellationToken"/>
    /// (the tool's entry point does on Ctrl+C) stops the work at the next safe point: finished units are kept, the
    /// current one is discarded, and the exit code is <see cref="ExitCodes.Cancelled"/>.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        RootCommand root = Build(output, error);
        ParseResult parse = root.Parse(args);
        bool json = args.Contains("--json", StringComparer.Ordinal);
        if (parse.Errors.Count > 0)
        {
            CliErrors.Write(output, error, json, ExitCodes.Usage, parse.Errors.Select(e => e.Message).Distinct().ToList());
            return ExitCodes.Usage;
        }

        try
        {
            // The tool's entry point turns Ctrl+C into cancelling the token; System.CommandLine's own handler (which
            // would end the process two seconds later, mid-write) is off.
            return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, cancellationToken);
        }
        catch (Exception e)
        {
            // A cancellation nobody asked for (a timeout inside the work) is a failure, not Ctrl+C.
            int code = e is OperationCanceledException && !cancellationToken.IsCancellationRequested ? ExitCodes.Failure : CliErrors.ExitCode(e);
            CliErrors.Write(output, error, json, code, new[] { code == ExitCodes.Cancelled ? "cancelled" : CliErrors.Message(e) });
            if (Environment.GetEnvironmentVariable("CIRCUITS_DEBUG") == "1")
            {
                await error.WriteLineAsync(e.ToString());
            }

            return code;
        }
    }
}
