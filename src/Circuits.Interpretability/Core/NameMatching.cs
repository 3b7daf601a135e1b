namespace Circuits.Interpretability.Core;

/// <summary>
/// Suggests the real names nearest to a name that was not found (layer paths, state-dict keys, options), so
/// that an error message can say "did you mean ...". One rule for the whole library: case-insensitive edit
/// distance, where a name that contains the query (or is contained in it) counts as one edit closer.
/// </summary>
public static class NameMatching
{
    /// <summary>
    /// The <paramref name="count"/> names closest to <paramref name="query"/>, nearest first; ties are broken
    /// by ordinal order of the names, so the answer does not depend on the order of <paramref name="names"/>.
    /// </summary>
    /// <param name="names">The names that exist.</param>
    /// <param name="query">The name that was asked for.</param>
    /// <param name="count">How many suggestions to return at most (0 or more).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    public static IReadOnlyList<string> Closest(IEnumerable<string> names, string query, int count)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        string q = query.ToLowerInvariant();
        return names
            .Select(n => (name: n, score: Score(n.ToLowerInvariant(), q)))
            .OrderBy(t => t.score)
            .ThenBy(t => t.name, StringComparer.Ordinal)
            .Take(count)
            .Select(t => t.name)
            .ToList();
    }

    /// <summary>
    /// The Levenshtein distance between two strings: the fewest single-character insertions, deletions and
    /// substitutions that turn <paramref name="a"/> into <paramref name="b"/> (case-sensitive).
    /// </summary>
    public static int EditDistance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
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

    private static int Score(string name, string query)
    {
        int distance = EditDistance(name, query);
        // A name that contains the query, or is contained in it, is a likelier intent than an equally
        // distant unrelated name ("conv" for "features.conv1").
        return name.Contains(query, StringComparison.Ordinal) || query.Contains(name, StringComparison.Ordinal) ? distance - 1 : distance;
    }
}
