using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.IO;

/// <summary>A weight file named by the caller does not exist.</summary>
public sealed class WeightFileNotFoundException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public WeightFileNotFoundException(string message, string path)
        : base(message)
    {
        Path = path;
    }

    /// <summary>The path that was given.</summary>
    public string Path { get; }
}
