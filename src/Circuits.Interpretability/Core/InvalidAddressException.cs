namespace Circuits.Interpretability.Core;

/// <summary>A text address such as <c>mixed4a:10@3,4</c> that does not parse (see <see cref="NeuronAddress.Parse"/>).</summary>
public sealed class InvalidAddressException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public InvalidAddressException(string message) : base(message)
    {
    }
}
