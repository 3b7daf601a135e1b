namespace Circuits.Interpretability.Core;

/// <summary>A channel or spatial position outside a layer's output.</summary>
public sealed class UnitOutOfRangeException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public UnitOutOfRangeException(string message) : base(message)
    {
    }
}
