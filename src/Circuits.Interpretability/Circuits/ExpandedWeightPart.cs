namespace Circuits.Interpretability.Circuits;

/// <summary>Which part of the expanded weights to return.</summary>
public enum ExpandedWeightPart
{
    /// <summary>The signed weights.</summary>
    Signed,

    /// <summary>The positive part, max(W, 0): excitatory connections only.</summary>
    Positive,

    /// <summary>The negative part as a magnitude, max(-W, 0): inhibitory connections only.</summary>
    Negative,
}
