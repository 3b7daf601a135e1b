using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>Finds a model's layers by module path, with helpful errors for names that do not exist.</summary>
public static class ModelLayers
{
    /// <summary>Every named submodule's path, in the order TorchSharp's <c>named_modules()</c> yields them.</summary>
    public static IReadOnlyList<string> Names(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.named_modules().Select(m => m.name).Where(n => n.Length > 0).ToList();
    }

    /// <summary>Returns the submodule at <paramref name="path"/>.</summary>
    /// <exception cref="UnknownLayerException">No submodule has that path; the message lists the closest ones.</exception>
    public static nn.Module Find(nn.Module model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        foreach (var (name, module) in model.named_modules())
        {
            if (name.Length > 0 && name == path)
            {
                return module;
            }
        }

        throw new UnknownLayerException(path, Closest(Names(model), path, 5));
    }

    /// <summary>The <paramref name="count"/> names closest to <paramref name="query"/> by edit distance (case-insensitive), nearest first.</summary>
    public static IReadOnlyList<string> Closest(IEnumerable<string> names, string query, int count)
    {
        string q = query.ToLowerInvariant();
        return names
            .Select(n => (name: n, score: Score(n.ToLowerInvariant(), q)))
            .OrderBy(t => t.score)
            .ThenBy(t => t.name, StringComparer.Ordinal)
            .Take(count)
            .Select(t => t.name)
            .ToList();
    }

    private static int Score(string name, string query)
    {
        int distance = Levenshtein(name, query);
        // A name that contains the query, or is contained in it, is a likelier intent than an equally
        // distant unrelated name ("conv" for "features.conv1").
        return name.Contains(query, StringComparison.Ordinal) || query.Contains(name, StringComparison.Ordinal) ? distance - 1 : distance;
    }

    internal static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
