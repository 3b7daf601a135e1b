namespace Circuits.Interpretability.IO;

/// <summary>A Python global (module attribute) that the allow-list accepted; it is a name, never code.</summary>
internal sealed record PyGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
}

/// <summary>A Python tuple.</summary>
internal sealed record PyTuple(object?[] Items);

/// <summary>
/// A Python dict or OrderedDict, in insertion order. Setting a key is O(1): an index maps each key to its
/// position, so a dict of n keys is built in O(n) (a pickle of 200,000 keys must not take quadratic time).
/// </summary>
internal sealed class PyDict
{
    private readonly List<KeyValuePair<object?, object?>> _items = new();
    private readonly Dictionary<object, int> _index = new();
    private int _noneIndex = -1;

    public IReadOnlyList<KeyValuePair<object?, object?>> Items => _items;

    public void Set(object? key, object? value)
    {
        if (key is null)
        {
            if (_noneIndex >= 0)
            {
                _items[_noneIndex] = KeyValuePair.Create(key, value);
                return;
            }

            _noneIndex = _items.Count;
        }
        else if (_index.TryGetValue(key, out int at))
        {
            // Python keeps the first position of a key and replaces its value.
            _items[at] = KeyValuePair.Create<object?, object?>(key, value);
            return;
        }
        else
        {
            _index[key] = _items.Count;
        }

        _items.Add(KeyValuePair.Create(key, value));
    }

    /// <summary>The value under a string key, or null.</summary>
    public object? Get(string key) => _index.TryGetValue(key, out int at) ? _items[at].Value : null;
}
