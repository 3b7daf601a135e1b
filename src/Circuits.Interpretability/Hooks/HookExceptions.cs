namespace Circuits.Interpretability.Hooks;

/// <summary>A layer path that the model does not contain.</summary>
public sealed class UnknownLayerException : CircuitsException
{
    /// <summary>Creates the exception for <paramref name="layer"/>, listing the closest real names.</summary>
    public UnknownLayerException(string layer, IReadOnlyList<string> closest)
        : base(closest.Count == 0
            ? $"Unknown layer '{layer}': the model has no named submodules."
            : $"Unknown layer '{layer}'. Closest layers: {string.Join(", ", closest.Select(c => $"'{c}'"))}.")
    {
        Layer = layer;
        Closest = closest;
    }

    /// <summary>The path that was asked for.</summary>
    public string Layer { get; }

    /// <summary>Real layer paths nearest to <see cref="Layer"/>, closest first.</summary>
    public IReadOnlyList<string> Closest { get; }
}

/// <summary>A channel or spatial position outside a layer's output.</summary>
public sealed class UnitOutOfRangeException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public UnitOutOfRangeException(string message) : base(message)
    {
    }
}

/// <summary>A text address such as <c>mixed4a:10@3,4</c> that does not parse.</summary>
public sealed class InvalidAddressException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public InvalidAddressException(string message) : base(message)
    {
    }
}

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

/// <summary>A layer whose module type the hook API cannot attach to for the requested operation.</summary>
public sealed class UnsupportedLayerException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public UnsupportedLayerException(string message) : base(message)
    {
    }
}
