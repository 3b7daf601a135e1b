using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Circuits;

/// <summary>
/// The path between two layers cannot be linearized: an op on it is neither linear nor one of the ops the
/// library knows how to linearize. The message names the op (module path and type) and the ops that are handled.
/// </summary>
public sealed class NonlinearPathException : CircuitsException
{
    /// <summary>Creates the exception for the op at <paramref name="layer"/>.</summary>
    public NonlinearPathException(string layer, string message) : base(message)
    {
        Layer = layer;
    }

    /// <summary>The module path of the op that stops the linearization (or the composite module that contains it).</summary>
    public string Layer { get; }
}
