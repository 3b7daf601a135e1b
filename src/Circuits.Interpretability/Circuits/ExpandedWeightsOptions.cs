using static TorchSharp.torch;

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
    /// The total stride of the path (source positions per target position), the same on both axes. Null: inferred
    /// per axis by running the path once more with the input's spatial size doubled, as the growth of the source
    /// layer's map over the growth of the target layer's map (1 when both maps have the same size; exact for
    /// "same" and "valid" padding alike); only if the model refuses the doubled input, the rounded ratio of the
    /// two maps' sizes.
    /// </summary>
    public int? Stride { get; init; }

    /// <summary>
    /// The device the impulses run on; null (default): the model's (<see cref="Core.ModelDevice.Of"/>). Another device
    /// than the model's is refused with <see cref="Core.DeviceMismatchException"/>. Results are on the CPU either way.
    /// </summary>
    public Device? Device { get; init; }

    /// <summary>Seed of the random combination of impulses used to check that the path is linear.</summary>
    public int Seed { get; init; }

    /// <summary>Whether kernel composition may be tried first (it is, unless a test or benchmark measures the impulse methods). Internal.</summary>
    internal bool Compose { get; init; } = true;

    /// <summary>Source elements per forward pass when impulses go one per item through the caller's map (64 MB of float32); larger batches run in chunks. Internal: tests lower it.</summary>
    internal long ChunkElements { get; init; } = 16L << 20;
}
