using System.Text.Json.Nodes;
using Circuits.Interpretability.Notebooks;

namespace Circuits.Interpretability.Tests.Notebooks;

[CollectionDefinition(nameof(NotebookCollection), DisableParallelization = true)]
public sealed class NotebookCollection
{
}

/// <summary>Runs every notebook under samples/Notebooks, cell by cell, as a reader would.</summary>
[Collection(nameof(NotebookCollection))]
public class NotebookTests
{
    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Circuits.Interpretability.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (with Circuits.Interpretability.sln) was not found above " + AppContext.BaseDirectory);
    }

    public static TheoryData<string> Notebooks()
    {
        var data = new TheoryData<string>();
        foreach (string path in Directory.GetFiles(Path.Combine(RepositoryRoot(), "samples", "Notebooks"), "*.ipynb").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(path));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Notebooks))]
    [Trait("Category", "Slow")]
    public async Task Every_cell_of_the_notebook_runs(string name)
    {
        string path = Path.Combine(RepositoryRoot(), "samples", "Notebooks", name);
        int codeCells = JsonNode.Parse(File.ReadAllText(path))!["cells"]!.AsArray().Count(c => (string?)c!["cell_type"] == "code");

        NotebookRun run = await NotebookExecutor.RunAsync(path);

        run.Error.Should().BeNull();
        run.CellsRun.Should().Be(codeCells);
        codeCells.Should().BeGreaterThan(0);
        run.Notebook["cells"]!.AsArray().Where(c => (string?)c!["cell_type"] == "code")
            .Should().OnlyContain(c => c!["outputs"]!.AsArray().All(o => (string?)o!["output_type"] != "error"));
    }

    [Fact]
    public void The_committed_notebooks_show_their_outputs()
    {
        foreach (string path in Directory.GetFiles(Path.Combine(RepositoryRoot(), "samples", "Notebooks"), "*.ipynb"))
        {
            var cells = JsonNode.Parse(File.ReadAllText(path))!["cells"]!.AsArray();
            cells.Where(c => (string?)c!["cell_type"] == "code").Sum(c => c!["outputs"]!.AsArray().Count)
                .Should().BeGreaterThan(0, $"{Path.GetFileName(path)} should be committed with its outputs (run samples/Notebooks/NotebookRunner)");
        }
    }

    [Fact]
    public async Task A_failing_cell_stops_the_run_and_names_the_cell()
    {
        string dir = Directory.CreateTempSubdirectory("circuits-nb-").FullName;
        try
        {
            string path = Path.Combine(dir, "bad.ipynb");
            File.WriteAllText(path, """
                {"cells": [
                  {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["var x = 1 + 1;\n", "Console.WriteLine(x);"]},
                  {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["throw new InvalidOperationException(\"boom\");"]},
                  {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["Console.WriteLine(\"never\");"]}
                ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
                """);

            NotebookRun run = await NotebookExecutor.RunAsync(path);

            run.Error.Should().Be("cell 2 threw InvalidOperationException: boom");
            run.CellsRun.Should().Be(2);
            ((string?)run.Notebook["cells"]![0]!["outputs"]![0]!["text"]![0]).Should().Be("2\n");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("#r \"nuget: Newtonsoft.Json, 13.0.1\"")]
    [InlineData("#r \"/some/path/lib.dll\"")]
    public void Unknown_directives_are_refused_by_name(string directive)
    {
        var act = () => NotebookExecutor.MapDirectives(directive + "\nvar y = 2;");
        act.Should().Throw<InvalidDataException>().WithMessage($"the directive '{directive}' cannot be run here*");
        NotebookExecutor.MapDirectives("#r \"nuget: TorchSharp-cpu, 0.107.0\"\nvar y = 2;").Should().Contain("var y = 2;");
    }
}
