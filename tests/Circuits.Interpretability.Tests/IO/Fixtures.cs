using Circuits.Interpretability.Models;
using System.Text.Json;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>Paths of the files under tests/fixtures, found by walking up to the repository root.</summary>
internal static class Fixtures
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Circuits.Interpretability.sln")))
            {
                return Path.Combine(dir.FullName, "tests", "fixtures");
            }
        }

        throw new InvalidOperationException("The repository root (Circuits.Interpretability.sln) was not found above " + AppContext.BaseDirectory);
    });

    public static string InceptionV1(string file) => Path.Combine(Root.Value, "inceptionv1", file);

    public static JsonElement Json(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(InceptionV1(file)));
        return doc.RootElement.Clone();
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "circuits-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
