using Circuits.Interpretability.Core;
using System.Collections;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// The activations one forward pass produced at the captured layers, by layer path, and the model's output
/// when the capture ran the model itself. The result owns its tensors: dispose it, or let an enclosing
/// TorchSharp dispose scope do it (<see cref="MoveToOuterDisposeScope"/> keeps them past one).
/// </summary>
public sealed class CaptureResult : IReadOnlyDictionary<string, Tensor>, IDisposable
{
    private readonly Dictionary<string, Tensor> _activations;

    internal CaptureResult(Dictionary<string, Tensor> activations, Tensor? output)
    {
        _activations = activations;
        Output = output;
    }

    /// <summary>The model's output, when the capture ran the model with an input tensor; otherwise null.</summary>
    public Tensor? Output { get; }

    /// <inheritdoc />
    public int Count => _activations.Count;

    /// <inheritdoc />
    public IEnumerable<string> Keys => _activations.Keys;

    /// <inheritdoc />
    public IEnumerable<Tensor> Values => _activations.Values;

    /// <summary>The activation of a captured layer.</summary>
    /// <exception cref="UnknownLayerException">The layer was not captured; the message lists the captured ones.</exception>
    public Tensor this[string layer] => _activations.TryGetValue(layer, out Tensor? t)
        ? t
        : throw new UnknownLayerException(layer, NameMatching.Closest(_activations.Keys, layer, 5));

    /// <summary>
    /// The activation at an address: the whole layer (N x C x H x W), one channel (N x H x W), or one
    /// channel at one position (N). Slices share memory with the layer's activation.
    /// </summary>
    /// <exception cref="UnitOutOfRangeException">The channel or position lies outside the layer's activation.</exception>
    public Tensor Get(NeuronAddress address)
    {
        Tensor layer = this[address.Layer];
        if (address.Channel is not int channel)
        {
            return layer;
        }

        var positions = address.HasPosition ? new[] { (address.Y!.Value, address.X!.Value) } : null;
        UnitSelection.Validate(address.Layer, layer.shape, new[] { channel }, positions);
        Tensor slice = layer.select(1, channel);
        return address.HasPosition ? slice.select(1, address.Y!.Value).select(1, address.X!.Value) : slice;
    }

    /// <inheritdoc />
    public bool ContainsKey(string key) => _activations.ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Tensor value) =>
        _activations.TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => _activations.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Moves every tensor of the result out of the current dispose scope, so it outlives it.</summary>
    public CaptureResult MoveToOuterDisposeScope()
    {
        foreach (Tensor t in _activations.Values)
        {
            t.MoveToOuterDisposeScope();
        }

        Output?.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Disposes the captured activations (not the model's output, which the caller owns).</summary>
    public void Dispose()
    {
        foreach (Tensor t in _activations.Values)
        {
            t.Dispose();
        }

        _activations.Clear();
    }
}
