using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// A hook was registered on a layer but never ran during a forward pass. TorchSharp runs hooks only when a
/// module is invoked with <c>call()</c>; a parent that invokes <c>child.forward(x)</c> bypasses them.
/// </summary>
public sealed class HookNotFiredException : CircuitsException
{
    /// <summary>Creates the exception for the layers whose hooks did not run.</summary>
    public HookNotFiredException(IReadOnlyList<string> layers)
        : base($"The hook on {string.Join(", ", layers.Select(l => $"'{l}'"))} did not run during the forward pass. " +
               "Either the layer is not used for this input, or its parent invokes it with forward(x) instead of call(x); " +
               "TorchSharp runs hooks only through Module.call().")
    {
        Layers = layers;
    }

    /// <summary>The layers whose hooks did not run.</summary>
    public IReadOnlyList<string> Layers { get; }
}
