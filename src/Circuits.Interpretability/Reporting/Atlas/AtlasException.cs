using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// A neuron atlas cannot be built, merged or annotated as asked: a notes file with a bad line or two versions of one
/// unit, a shard the scheduler set inconsistently, a merge with units missing. The message names the value, the
/// file and line where there is one, and what to do.
/// </summary>
public sealed class AtlasException : CircuitsException
{
    /// <summary>Creates an exception with a message.</summary>
    public AtlasException(string message) : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    public AtlasException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
