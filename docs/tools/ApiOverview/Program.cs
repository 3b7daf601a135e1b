using Circuits.Interpretability.Docs;

// Writes docs/api-overview.md from the library this tool is built against; with --check, only says whether
// the file is current (exit code 1 when it is stale).
bool check = args.Contains("--check");
if (args.Any(a => a != "--check"))
{
    Console.Error.WriteLine($"Unknown argument(s): {string.Join(" ", args.Where(a => a != "--check"))}. Usage: {ApiOverviewDocument.Command} [-- --check]");
    return 2;
}

string path = ApiOverviewDocument.DefaultPath();
string text = ApiOverviewDocument.Generate();
string? current = File.Exists(path) ? File.ReadAllText(path) : null;
if (check)
{
    if (current == text)
    {
        Console.WriteLine($"{path} is current.");
        return 0;
    }

    Console.Error.WriteLine($"{path} is stale; regenerate it with: {ApiOverviewDocument.Command}");
    return 1;
}

if (current == text)
{
    Console.WriteLine($"{path} is already current.");
}
else
{
    File.WriteAllText(path, text);
    Console.WriteLine($"Wrote {path}.");
}

return 0;
