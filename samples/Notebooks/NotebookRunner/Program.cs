// Runs notebooks and writes their outputs back, so the committed notebooks show their results:
//   dotnet run -c Release --project samples/Notebooks/NotebookRunner -- samples/Notebooks/*.ipynb
// Exit code: 0 when every notebook ran, 1 when a cell failed (that notebook is left unchanged), 2 on bad arguments.
using Circuits.Interpretability.Notebooks;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: NotebookRunner NOTEBOOK.ipynb [...]");
    return 2;
}

int failures = 0;
foreach (string path in args)
{
    if (!File.Exists(path))
    {
        Console.Error.WriteLine($"error: notebook '{path}' does not exist.");
        return 2;
    }

    NotebookRun run = await NotebookExecutor.RunAsync(path);
    if (run.Error is null)
    {
        bool written = NotebookExecutor.Save(run, path);
        Console.WriteLine($"{path}: {run.CellsRun} cells ran; {(written ? "outputs written back" : "outputs unchanged, file left as it was")}.");
    }
    else
    {
        failures++;
        Console.Error.WriteLine($"{path}: {run.Error} (notebook left unchanged)");
    }
}

return failures == 0 ? 0 : 1;
