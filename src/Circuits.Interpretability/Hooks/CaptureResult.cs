using Circuits.Interpretability.Core;
using System.Collections;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// What one forward pass (<see cref="ForwardRun"/>, <see cref="ActivationCapture"/>) produced: the activations of
/// the tapped layers by layer path, the layers that ran, and the model's output when the pass ran to the end.
/// The result owns its tensors, the output included: dispose it, or let an enclosing TorchSharp dispose scope do
/// it (<see cref="MoveToOuterDisposeScope"/> keeps them past one; <see cref="TakeOutput"/> hands the output over).
/// </summary>
public sealed class CaptureResult : IReadOnlyDictionary<string, Tensor>, IDisposable
{
    private readonly Dictionary<string, Tensor> _activations;
    private bool _disposed;

    internal CaptureResult(Dictionary<string, Tensor> activations, Tensor? output, IReadOnlyList<string> ran)
    {
        _activations = activations;
        Output = output;
        RanToEnd = output is not null;
        Ran = ran;
    }

    /// <summary>The model's output (what the forward returned) when the pass ran to the end; null when it stopped after the deepest tap.</summary>
    public Tensor? Output { get; private set; }

    /// <summary>Whether the pass ran to the end (it did not stop after the deepest tap).</summary>
    public bool RanToEnd { get; }

    /// <summary>The layers the run hooked (taps, edits, watched layers) that ran, in the order they first ran.</summary>
    public IReadOnlyList<string> Ran { get; }

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

    /// <summary>Hands the output over to the caller, who then owns it: the result no longer frees it.</summary>
    /// <exception cref="CircuitsException">The pass stopped before the output (after the deepest tap).</exception>
    public Tensor TakeOutput()
    {
        Tensor output = Output ?? throw new CircuitsException("The pass has no output: it stopped after the deepest tap. Run to the end to get the output.");
        Output = null;
        return output;
    }

    /// <summary>Frees the captured activations and the output. Safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (Tensor t in _activations.Values)
        {
            t.Dispose();
        }

        _activations.Clear();
        Output?.Dispose();
        Output = null;
    }
}
