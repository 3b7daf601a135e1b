using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Hooks;

/// <summary>A layer whose module type the hook API cannot attach to for the requested operation.</summary>
public sealed class UnsupportedLayerException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public UnsupportedLayerException(string message) : base(message)
    {
    }
}
