using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Circuits.Interpretability.Notebooks;

namespace Circuits.Interpretability.Tests.Notebooks;

/// <summary>The notebook runner writes notebooks people can diff: no needless escapes, and an unchanged notebook stays byte for byte.</summary>
[Collection(nameof(NotebookCollection))]
public sealed class NotebookRunnerFormatTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-notebook-format-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private const string Markdown = "Run `display(x)`: it shows \"quotes\", <tags> & accents (é, 45°) as they are.";

    private const string Code = "Console.WriteLine(\"a `b` \\\"c\\\" <d> & é, 90°\");\nConsole.WriteLine(6 * 7);";

    private static readonly string[] Lines = Code.Split('\n');

    private string Write(string name, JsonSerializerOptions options)
    {
        var notebook = new JsonObject
        {
            ["cells"] = new JsonArray(
                new JsonObject { ["cell_type"] = "markdown", ["metadata"] = new JsonObject(), ["source"] = new JsonArray(Markdown) },
                new JsonObject
                {
                    ["cell_type"] = "code",
                    ["execution_count"] = null,
                    ["metadata"] = new JsonObject(),
                    ["outputs"] = new JsonArray(),
                    ["source"] = new JsonArray(Lines.Select((l, i) => (JsonNode?)JsonValue.Create(i < Lines.Length - 1 ? l + "\n" : l)).ToArray()),
                }),
            ["metadata"] = new JsonObject { ["language_info"] = new JsonObject { ["name"] = "csharp" } },
            ["nbformat"] = 4,
            ["nbformat_minor"] = 5,
        };
        string path = Path.Combine(_folder, name);
        File.WriteAllText(path, notebook.ToJsonString(options) + "\n");
        return path;
    }

    [Fact]
    public async Task Running_an_unchanged_notebook_leaves_it_byte_identical()
    {
        string path = Write("fresh.ipynb", new JsonSerializerOptions { WriteIndented = true });

        NotebookRun first = await NotebookExecutor.RunAsync(path);
        first.Error.Should().BeNull();
        NotebookExecutor.Save(first, path).Should().BeTrue("the first run adds the outputs");
        byte[] written = File.ReadAllBytes(path);
        string text = Encoding.UTF8.GetString(written);
        text.Should().NotContain("\\u0060").And.NotContain("\\u0022").And.NotContain("\\u003C").And.NotContain("\\u0026").And.NotContain("\\u00E9");
        text.Should().Contain("`display(x)`").And.Contain("<tags> & accents (é, 45°)").And.Contain("a `b` \\\"c\\\" <d> & é, 90°");

        NotebookRun second = await NotebookExecutor.RunAsync(path);
        NotebookExecutor.Save(second, path).Should().BeFalse("nothing changed");
        File.ReadAllBytes(path).Should().Equal(written);

        // A notebook laid out by another tool (Jupyter indents by one space, escapes freely) is left as it is too.
        string other = Path.Combine(_folder, "other.ipynb");
        string relaid = JsonNode.Parse(text)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true, IndentSize = 1 }) + "\n";
        File.WriteAllText(other, relaid);
        byte[] before = File.ReadAllBytes(other);
        NotebookRun third = await NotebookExecutor.RunAsync(other);
        NotebookExecutor.Save(third, other).Should().BeFalse();
        File.ReadAllBytes(other).Should().Equal(before);
    }

    [Fact]
    public void The_committed_notebooks_are_in_the_runners_own_layout()
    {
        foreach (string path in Directory.GetFiles(Path.Combine(NotebookTests.RepositoryRoot(), "samples", "Notebooks"), "*.ipynb"))
        {
            string text = File.ReadAllText(path);
            NotebookExecutor.Format(JsonNode.Parse(text)!).Should().Be(text, $"{Path.GetFileName(path)} is what the runner writes, so a run that changes it changes only outputs");
            text.Should().NotContain("\\u0060", "backticks stay backticks");
        }
    }
}
