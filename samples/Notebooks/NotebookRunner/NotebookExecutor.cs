using Circuits.Interpretability.Core;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace Circuits.Interpretability.Notebooks;

/// <summary>The result of running one notebook.</summary>
/// <param name="Path">The notebook file.</param>
/// <param name="CellsRun">How many code cells ran.</param>
/// <param name="Error">The first failure (cell number and message), or null.</param>
/// <param name="Notebook">The notebook with the outputs of the cells that ran.</param>
public sealed record NotebookRun(string Path, int CellsRun, string? Error, JsonObject Notebook);

/// <summary>
/// Runs the C# cells of a Jupyter notebook (Polyglot Notebooks format) in order, in one Roslyn script
/// session, and records each cell's console output and displayed values as Jupyter outputs. <c>#r "nuget:
/// ..."</c> directives for this library and its dependencies are mapped to the assemblies already loaded;
/// any other directive is an error naming it.
/// </summary>
public static partial class NotebookExecutor
{
    private static readonly Dictionary<string, Type> KnownPackages = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Circuits.Interpretability"] = typeof(CircuitsException),
        ["TorchSharp-cpu"] = typeof(TorchSharp.torch),
        ["TorchSharp"] = typeof(TorchSharp.torch),
        ["SkiaSharp"] = typeof(SkiaSharp.SKBitmap),
    };

    private static readonly SemaphoreSlim ConsoleLock = new(1, 1);

    /// <summary>Runs the notebook at <paramref name="path"/>; stops at the first failing cell.</summary>
    public static async Task<NotebookRun> RunAsync(string path, CancellationToken cancellationToken = default)
    {
        JsonObject notebook = JsonNode.Parse(await File.ReadAllTextAsync(path, cancellationToken))?.AsObject()
            ?? throw new InvalidDataException($"'{path}' is not a JSON notebook.");
        JsonArray cells = notebook["cells"]?.AsArray() ?? throw new InvalidDataException($"'{path}' has no \"cells\" array.");
        ScriptOptions options = ScriptOptions.Default
            .WithReferences(KnownPackages.Values.Select(t => t.Assembly).Append(typeof(Enumerable).Assembly).Distinct())
            .WithImports("System", "System.IO", "System.Linq", "System.Collections.Generic", "System.Threading.Tasks")
            .WithFilePath(System.IO.Path.GetFullPath(path));
        var globals = new NotebookGlobals();
        ScriptState<object>? state = null;
        int ran = 0;
        int number = 0;
        string directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        foreach (JsonObject cell in cells.OfType<JsonObject>())
        {
            if ((string?)cell["cell_type"] != "code")
            {
                continue;
            }

            number++;
            string source = Source(cell);
            string code;
            try
            {
                code = MapDirectives(source);
            }
            catch (InvalidDataException e)
            {
                return new NotebookRun(path, ran, $"cell {number}: {e.Message}", notebook);
            }

            globals.Displayed.Clear();
            var stdout = new StringWriter();
            string? error = null;
            await ConsoleLock.WaitAsync(cancellationToken);
            TextWriter original = Console.Out;
            string originalDirectory = Environment.CurrentDirectory;
            Console.SetOut(stdout);
            Environment.CurrentDirectory = directory; // relative paths in a notebook are relative to it, as in VS Code
            try
            {
                state = state is null
                    ? await CSharpScript.RunAsync(code, options, globals, typeof(NotebookGlobals), cancellationToken)
                    : await state.ContinueWithAsync(code, options, cancellationToken);
                if (state.ReturnValue is not null)
                {
                    globals.display(state.ReturnValue);
                }
            }
            catch (CompilationErrorException e)
            {
                error = $"cell {number} does not compile: {string.Join("; ", e.Diagnostics.Take(5))}";
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                error = $"cell {number} threw {e.GetType().Name}: {e.Message}";
            }
            finally
            {
                Console.SetOut(original);
                Environment.CurrentDirectory = originalDirectory;
                ConsoleLock.Release();
            }

            cell["outputs"] = Outputs(stdout.ToString(), globals.Displayed, error);
            cell["execution_count"] = number;
            ran++;
            if (error is not null)
            {
                return new NotebookRun(path, ran, error, notebook);
            }
        }

        return new NotebookRun(path, ran, null, notebook);
    }

    /// <summary>How notebooks are written: indented, with only the escapes JSON needs (quotes and backticks stay as they are).</summary>
    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The text <see cref="Save"/> writes for <paramref name="notebook"/>.</summary>
    public static string Format(JsonNode notebook) => notebook.ToJsonString(WriteOptions) + "\n";

    /// <summary>
    /// Writes a run's notebook (with outputs) to <paramref name="path"/>, atomically, unless the file already holds the
    /// same notebook (the same JSON, however it is laid out): then the file is left byte for byte as it was.
    /// </summary>
    /// <returns>True when the file was written, false when it was already current.</returns>
    public static bool Save(NotebookRun run, string path)
    {
        if (File.Exists(path))
        {
            JsonNode? existing;
            try
            {
                existing = JsonNode.Parse(File.ReadAllText(path));
            }
            catch (JsonException)
            {
                existing = null;
            }

            if (JsonNode.DeepEquals(existing, run.Notebook))
            {
                return false;
            }
        }

        string temp = path + ".tmp";
        File.WriteAllText(temp, Format(run.Notebook));
        File.Move(temp, path, overwrite: true);
        return true;
    }

    /// <summary>Turns notebook directives into script code: known packages become references already made; anything else is refused.</summary>
    internal static string MapDirectives(string source)
    {
        var code = new StringBuilder();
        foreach (string line in source.Split('\n'))
        {
            string trimmed = line.Trim();
            if (trimmed.StartsWith("#i ", StringComparison.Ordinal))
            {
                code.AppendLine("// (package source directive: not needed by the runner) " + trimmed);
                continue;
            }

            if (trimmed.StartsWith("#r ", StringComparison.Ordinal))
            {
                Match nuget = NugetDirective().Match(trimmed);
                if (!nuget.Success || !KnownPackages.ContainsKey(nuget.Groups[1].Value))
                {
                    throw new InvalidDataException(
                        $"the directive '{trimmed}' cannot be run here; the runner maps only #r \"nuget: <package>[, <version>]\" for {string.Join(", ", KnownPackages.Keys)}.");
                }

                code.AppendLine("// (referenced by the runner) " + trimmed);
                continue;
            }

            code.AppendLine(line.TrimEnd('\r'));
        }

        return code.ToString();
    }

    private static string Source(JsonObject cell) => cell["source"] switch
    {
        JsonArray lines => string.Concat(lines.Select(l => (string?)l)),
        JsonValue text => (string?)text ?? string.Empty,
        _ => string.Empty,
    };

    private static JsonArray Outputs(string stdout, IEnumerable<CellOutput> displayed, string? error)
    {
        var outputs = new JsonArray();
        if (stdout.Length > 0)
        {
            outputs.Add(new JsonObject { ["output_type"] = "stream", ["name"] = "stdout", ["text"] = Lines(stdout) });
        }

        foreach (CellOutput output in displayed)
        {
            JsonNode data = output.MimeType == "image/png" ? JsonValue.Create(output.Data) : Lines(output.Data);
            outputs.Add(new JsonObject
            {
                ["output_type"] = "display_data",
                ["data"] = new JsonObject { [output.MimeType] = data },
                ["metadata"] = new JsonObject(),
            });
        }

        if (error is not null)
        {
            outputs.Add(new JsonObject { ["output_type"] = "error", ["ename"] = "Error", ["evalue"] = error, ["traceback"] = new JsonArray() });
        }

        return outputs;
    }

    private static JsonArray Lines(string text)
    {
        var lines = new JsonArray();
        string[] parts = text.Split('\n');
        for (int i = 0; i < parts.Length; i++)
        {
            if (i < parts.Length - 1)
            {
                lines.Add(parts[i] + "\n");
            }
            else if (parts[i].Length > 0)
            {
                lines.Add(parts[i]);
            }
        }

        return lines;
    }

    [GeneratedRegex("^#r\\s+\"nuget:\\s*([A-Za-z0-9_.\\-]+)\\s*(,\\s*[^\"]*)?\"\\s*$")]
    private static partial Regex NugetDirective();
}
