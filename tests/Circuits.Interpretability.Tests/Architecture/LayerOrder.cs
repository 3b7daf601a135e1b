namespace Circuits.Interpretability.Tests.Architecture;

/// <summary>
/// An order of layers, bottom first. Each row holds one or more layers (namespaces under <see cref="Root"/>);
/// a layer may use the layers of the rows below its own, never a layer of a row above nor a peer on its own
/// row. A namespace belongs to the declared layer that is its longest prefix (so <c>Circuits.Expanded</c>
/// belongs to <c>Circuits</c>); a namespace under the root that matches none is unassigned.
/// </summary>
internal sealed class LayerOrder
{
    private readonly Dictionary<string, int> _rowOf = new(StringComparer.Ordinal);
    private readonly HashSet<string> _private;

    /// <param name="root">The namespace every layer lives under, for example <c>Circuits.Interpretability</c>.</param>
    /// <param name="rows">The rows, bottom first; each names its layers relative to the root.</param>
    /// <param name="usedByNoOtherLayer">Layers that no other layer may use, whatever their rows.</param>
    public LayerOrder(string root, IReadOnlyList<string[]> rows, IEnumerable<string>? usedByNoOtherLayer = null)
    {
        Root = root;
        Rows = rows;
        for (int r = 0; r < rows.Count; r++)
        {
            foreach (string layer in rows[r])
            {
                if (!_rowOf.TryAdd(layer, r + 1))
                {
                    throw new ArgumentException($"Layer '{layer}' is declared twice.", nameof(rows));
                }
            }
        }

        _private = new HashSet<string>(usedByNoOtherLayer ?? Array.Empty<string>(), StringComparer.Ordinal);
        foreach (string layer in _private.Where(l => !_rowOf.ContainsKey(l)))
        {
            throw new ArgumentException($"Layer '{layer}' is not in any row.", nameof(usedByNoOtherLayer));
        }
    }

    /// <summary>The namespace all layers live under.</summary>
    public string Root { get; }

    /// <summary>The rows, bottom first.</summary>
    public IReadOnlyList<string[]> Rows { get; }

    /// <summary>Every declared layer.</summary>
    public IEnumerable<string> Layers => _rowOf.Keys;

    /// <summary>The row of a layer, 1 for the bottom row.</summary>
    public int RowOf(string layer) => _rowOf[layer];

    /// <summary>
    /// The layer <paramref name="ns"/> belongs to; null when it is outside the root (another library, or the
    /// compiler's own types), "" when it is under the root but in no declared layer.
    /// </summary>
    public string? LayerOf(string ns)
    {
        if (ns != Root && !ns.StartsWith(Root + ".", StringComparison.Ordinal))
        {
            return null;
        }

        string relative = ns == Root ? "" : ns[(Root.Length + 1)..];
        return _rowOf.Keys
            .Where(l => relative == l || relative.StartsWith(l + ".", StringComparison.Ordinal))
            .OrderByDescending(l => l.Length)
            .FirstOrDefault() ?? "";
    }

    /// <summary>
    /// One line per (using type, used type) pair that breaks the order, naming both types, their layers and rows,
    /// and where the use is; sorted, so the result is deterministic.
    /// </summary>
    public IReadOnlyList<string> Violations(IEnumerable<TypeDependency> dependencies)
    {
        var lines = new List<string>();
        foreach (var pair in dependencies.GroupBy(d => (d.From, d.To)))
        {
            TypeDependency d = pair.First();
            string? from = LayerOf(d.FromNamespace);
            string? to = LayerOf(d.ToNamespace);
            if (string.IsNullOrEmpty(from) || string.IsNullOrEmpty(to) || from == to)
            {
                continue;
            }

            int rowFrom = RowOf(from);
            int rowTo = RowOf(to);
            string? why = rowTo > rowFrom ? "a layer above it"
                : rowTo == rowFrom ? "a peer on its own row"
                : _private.Contains(to) ? "a layer that no other layer may use"
                : null;
            if (why is null)
            {
                continue;
            }

            string where = string.Join("; ", pair.Select(p => p.Via).Distinct().Order(StringComparer.Ordinal).Take(3));
            lines.Add($"{d.From} ({from}, row {rowFrom}) uses {d.To} ({to}, row {rowTo}), {why}: {where}");
        }

        return lines.Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Types that are neither compiler-made nor in a declared layer, as "type (namespace)".</summary>
    public IReadOnlyList<string> Unassigned(IEnumerable<(string Name, string Namespace, bool CompilerGenerated)> types) =>
        types.Where(t => !t.CompilerGenerated && string.IsNullOrEmpty(LayerOf(t.Namespace)))
            .Select(t => $"{t.Name} (namespace '{t.Namespace}')")
            .Order(StringComparer.Ordinal)
            .ToList();
}
