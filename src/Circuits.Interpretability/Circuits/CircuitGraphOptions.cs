namespace Circuits.Interpretability.Circuits;

/// <summary>Options for <see cref="CircuitGraph.Build"/>.</summary>
public sealed record CircuitGraphOptions
{
    /// <summary>How many of the strongest inputs to keep per node.</summary>
    public int TopK { get; init; } = 3;

    /// <summary>The side of each edge's spatial map (odd).</summary>
    public int CropSize { get; init; } = 5;

    /// <summary>Rank inputs by the signed weights, or by their positive or negative part only.</summary>
    public ExpandedWeightPart Part { get; init; } = ExpandedWeightPart.Signed;
}
