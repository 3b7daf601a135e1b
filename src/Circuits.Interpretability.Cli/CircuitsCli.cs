using System.CommandLine;
using System.Text.Json;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The <c>circuits</c> command-line tool. Verbs: <c>layers</c>, <c>render</c>, <c>circuit</c>, <c>tuning</c>, <c>examples</c>, <c>report</c>. Every verb takes <c>--json</c> for machine-readable output; errors go to standard error
/// with the exit codes of <see cref="ExitCodes"/>.
/// </summary>
public static class CircuitsCli
{
    /// <summary>Options every verb shares.</summary>
    internal static readonly Option<bool> Json = new("--json") { Description = "Write machine-readable JSON to standard output.", Recursive = true };

    internal static readonly Option<string> Model = new("--model", "-m")
    {
        Description = $"The model: {string.Join(", ", ModelCatalog.All.Select(m => m.Name))}.",
        DefaultValueFactory = _ => ModelCatalog.All[0].Name,
        Recursive = true,
    };

    internal static readonly Option<int> Seed = new("--seed") { Description = "Seed for the model's weights and every random choice.", DefaultValueFactory = _ => 0, Recursive = true };

    internal static readonly Option<string?> Weights = new("--weights", "-w") { Description = "A weight file (.pth or .safetensors) for models with real weights (inceptionv1).", Recursive = true };

    internal static readonly Option<bool> RandomWeights = new("--random-weights") { Description = "Run a model that needs real weights with seeded random ones (shape and flow checks only).", Recursive = true };

    internal static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Builds the command tree.</summary>
    public static RootCommand Build(TextWriter output, TextWriter? error = null)
    {
        var root = new RootCommand("circuits: reverse-engineer TorchSharp models neuron by neuron (Circuits.Interpretability).");
        root.Add(Json);
        root.Add(Model);
        root.Add(Seed);
        root.Add(Weights);
        root.Add(RandomWeights);
        root.Add(LayersCommand(output));
        root.Add(RenderCommand.Create(output, error ?? TextWriter.Null));
        root.Add(AnalysisCommands.Circuit(output));
        root.Add(AnalysisCommands.Tuning(output));
        root.Add(ExamplesCommand.Create(output, error ?? TextWriter.Null));
        root.Add(ReportCommand.Create(output, error ?? TextWriter.Null));
        return root;
    }

    /// <summary>Runs the tool with <paramref name="args"/>; returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        RootCommand root = Build(output, error);
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
            {
                await error.WriteLineAsync($"error: {e.Message}");
            }

            await error.WriteLineAsync("Run 'circuits --help' for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync("cancelled.");
            return ExitCodes.Cancelled;
        }
        catch (CircuitsException e)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failure;
        }
    }

    /// <summary>Loads the model the command line asks for (model, seed, weights).</summary>
    internal static LoadedModel LoadModel(ParseResult parse, ModelEntry entry) =>
        ModelCatalog.Load(entry.Name, new ModelRequest(parse.GetValue(Seed), parse.GetValue(Weights), parse.GetValue(RandomWeights)));

    private static Command LayersCommand(TextWriter output)
    {
        var size = new Option<int>("--input-size") { Description = "Square input size in pixels (default: the model's own)." };
        var command = new Command("layers", "List every layer of the model with its type, output shape and parameter count.") { size };
        command.SetAction(parse =>
        {
            ModelEntry entry = ModelCatalog.Find(parse.GetValue(Model)!);
            int pixels = parse.GetValue(size) is int s and > 0 ? s : entry.DefaultInputSize;
            using LoadedModel loaded = LoadModel(parse, entry);
            var model = loaded.Model;
            LayerTable table = LayerTable.Describe(model, new long[] { 1, 3, pixels, pixels });
            if (parse.GetValue(Json))
            {
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    model = entry.Name,
                    modelId = loaded.Id,
                    inputShape = new[] { 1, 3, pixels, pixels },
                    totalParameters = table.TotalParameters,
                    layers = table.Select(l => new { path = l.Path, type = l.TypeName, outputShape = l.OutputShape, parameters = l.ParameterCount, ran = l.Ran, capturable = l.Capturable }),
                }, JsonOptions));
            }
            else
            {
                output.WriteLine($"{entry.Description}; weights: {loaded.WeightsSource}; input 1 x 3 x {pixels} x {pixels}");
                output.WriteLine(table.ToTable());
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
