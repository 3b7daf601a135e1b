namespace Circuits.Interpretability.Circuits;

/// <summary>Options for <see cref="ExpandedWeights"/>.</summary>
public sealed record ExpandedWeightsOptions
{
    /// <summary>Channels of the target layer to compute (all when null), in the order given.</summary>
    public IReadOnlyList<int>? TargetChannels { get; init; }

    /// <summary>Channels of the source layer to compute (all when null), in the order given.</summary>
    public IReadOnlyList<int>? SourceChannels { get; init; }

    /// <summary>
    /// Side of the square spatial window of source positions, centred on the source position aligned with the
    /// target's centre. Must be odd. 5 covers the receptive field of mixed3a to mixed3b in InceptionV1.
    /// </summary>
    public int CropSize { get; init; } = 5;

    /// <summary>Signed weights, or only their positive or negative part.</summary>
    public ExpandedWeightPart Part { get; init; } = ExpandedWeightPart.Signed;

    /// <summary>
    /// The total stride of the path (source positions per target position), when it cannot be read from the
    /// layers' sizes. Null: round(source size / target size), per axis.
    /// </summary>
    public int? Stride { get; init; }

    /// <summary>Seed of the random combination of impulses used to check that the path is linear.</summary>
    public int Seed { get; init; }

    /// <summary>Source elements per forward pass when impulses go one per item through the caller's map (64 MB of float32); larger batches run in chunks. Internal: tests lower it.</summary>
    internal long ChunkElements { get; init; } = 16L << 20;
}
