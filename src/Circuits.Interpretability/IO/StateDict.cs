using Circuits.Interpretability.Core;
using System.Collections;
using System.Diagnostics.CodeAnalysis;
using TorchSharp;

namespace Circuits.Interpretability.IO;

/// <summary>
/// Named tensors in file order: what a PyTorch checkpoint (<c>torch.save(model.state_dict())</c>) or a
/// safetensors file holds. Keys are the file's own names; <see cref="StateDictLoader"/> maps them onto a
/// module's parameter paths.
/// </summary>
public sealed class StateDict : IReadOnlyDictionary<string, TensorData>
{
    private readonly Dictionary<string, TensorData> _tensors = new(StringComparer.Ordinal);
    private readonly List<string> _order = new();

    /// <summary>Creates a state dict from named tensors, keeping their order.</summary>
    /// <exception cref="ArgumentException">A key appears twice.</exception>
    public StateDict(IEnumerable<KeyValuePair<string, TensorData>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        foreach (var (key, value) in tensors)
        {
            ArgumentNullException.ThrowIfNull(value);
            if (!_tensors.TryAdd(key, value))
            {
                throw new ArgumentException($"The key '{key}' appears twice; state-dict keys must be unique.", nameof(tensors));
            }

            _order.Add(key);
        }

        Metadata = metadata ?? new Dictionary<string, string>();
    }

    /// <summary>Free-form text metadata (safetensors <c>__metadata__</c>); empty for PyTorch checkpoints.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The number of tensors.</summary>
    public int Count => _order.Count;

    /// <summary>The keys in file order.</summary>
    public IEnumerable<string> Keys => _order;

    /// <summary>The tensors in file order.</summary>
    public IEnumerable<TensorData> Values => _order.Select(k => _tensors[k]);

    /// <summary>The total number of elements over all tensors.</summary>
    public long ElementCount => _tensors.Values.Sum(t => t.ElementCount);

    /// <summary>The tensor stored under <paramref name="key"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such key; the message lists the closest keys.</exception>
    public TensorData this[string key] => _tensors.TryGetValue(key, out TensorData? t)
        ? t
        : throw new KeyNotFoundException($"The state dict has no key '{key}'. Closest keys: {string.Join(", ", NameMatching.Closest(_order, key, 3).Select(k => $"'{k}'"))}.");

    /// <summary>Copies every parameter and buffer of <paramref name="module"/> (its <c>state_dict()</c>), keyed by module path.</summary>
    public static StateDict FromModule(torch.nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var entries = module.state_dict().Select(kv => KeyValuePair.Create(kv.Key, TensorData.FromTensor(kv.Value)));
        return new StateDict(entries);
    }

    /// <inheritdoc />
    public bool ContainsKey(string key) => _tensors.ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out TensorData value) => _tensors.TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, TensorData>> GetEnumerator() =>
        _order.Select(k => KeyValuePair.Create(k, _tensors[k])).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
