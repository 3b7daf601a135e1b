namespace Circuits.Interpretability.Core;

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

    /// <summary>Real layer paths nearest to <see cref="Layer"/>, closest first (see <see cref="NameMatching.Closest"/>).</summary>
    public IReadOnlyList<string> Closest { get; }
}
