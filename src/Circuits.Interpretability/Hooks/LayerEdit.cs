using Circuits.Interpretability.Core;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// A function that may replace a layer's output (or input) while a <see cref="ForwardRun"/> runs: the general
/// form of an <see cref="Intervention"/>. It sees the layer's input and its current output and returns the
/// replacement, or null to keep the output (a pure observer). Edits of one layer run in the order given, and
/// always before that layer's tap, so a tap sees the edited tensor.
/// </summary>
/// <remarks>
/// Ownership of the returned tensor: one the edit made during the call (and left in the current dispose scope) is
/// handed on as the layer's result, and the model frees it like any layer output (TorchSharp's <c>Sequential</c>
/// disposes intermediate outputs). Any other tensor (the layer's input, a constant, a tensor kept from elsewhere, or
/// one the edit detached with <c>DetachFromDisposeScope</c> to keep it) stays its owner's: the model gets a new
/// handle to it (<c>alias()</c>: same values, same autograd node), so the same tensor can be returned pass after pass.
/// </remarks>
public sealed class LayerEdit
{
    private LayerEdit(string layer, InterventionSite site, Func<Tensor, Tensor, Tensor?>? output, Func<Tensor, Tensor?>? input)
    {
        ArgumentNullException.ThrowIfNull(layer);
        Layer = NeuronAddress.Parse(layer).Layer == layer
            ? layer
            : throw new InvalidAddressException($"'{layer}' is not a layer path; an edit applies to a whole layer (module path), for example 'mixed4a'.");
        Site = site;
        OutputEdit = output;
        InputEdit = input;
    }

    /// <summary>The layer's module path.</summary>
    public string Layer { get; }

    /// <summary>Whether the edit sees the layer's output (a forward hook) or its input (a pre-hook).</summary>
    public InterventionSite Site { get; }

    internal Func<Tensor, Tensor, Tensor?>? OutputEdit { get; }

    internal Func<Tensor, Tensor?>? InputEdit { get; }

    /// <summary>
    /// Edits the layer's output: <paramref name="edit"/>(input, output) returns the replacement, or null to keep
    /// the output. A replacement of another shape is passed on as is.
    /// </summary>
    public static LayerEdit Output(string layer, Func<Tensor, Tensor, Tensor?> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        return new LayerEdit(layer, InterventionSite.Output, edit, null);
    }

    /// <summary>Edits the layer's input before it runs: <paramref name="edit"/>(input) returns the replacement, or null to keep it.</summary>
    public static LayerEdit Input(string layer, Func<Tensor, Tensor?> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        return new LayerEdit(layer, InterventionSite.Input, null, edit);
    }

    /// <inheritdoc />
    public override string ToString() => $"edit({Layer}{(Site == InterventionSite.Input ? " (input)" : string.Empty)})";
}
