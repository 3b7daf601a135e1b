namespace Circuits.Interpretability.Core;

/// <summary>
/// The base of every exception this library throws on purpose. Messages name the bad value and what
/// was expected, so that a caller can act on them without reading the library's source.
/// </summary>
public class CircuitsException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    public CircuitsException(string message) : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public CircuitsException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}
