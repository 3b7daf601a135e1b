using static TorchSharp.torch;

namespace Circuits.Interpretability.Analysis.Tuning;

/// <summary>Which activation of a channel a tuning curve reads.</summary>
public enum TuningReadout
{
    /// <summary>The channel at one position: the address's position, or the centre (H / 2, W / 2) when it has none.</summary>
    Position,

    /// <summary>The channel's mean over all positions (any position in the address is ignored).</summary>
    ChannelMean,
}

/// <summary>Settings of <see cref="TuningCurves.Measure"/>.</summary>
public sealed record TuningOptions
{
    /// <summary>Stimuli run through the model together. Default 32.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>What to read from the channel. Default <see cref="TuningReadout.Position"/>.</summary>
    public TuningReadout Readout { get; init; } = TuningReadout.Position;

    /// <summary>
    /// Applied to each batch of stimuli (RGB in [0, 1]) before the model. Null (default): the model's own input
    /// convention (<see cref="Core.IInputConvention"/>), or none; <see cref="Core.Preprocessing.None"/>: none.
    /// </summary>
    public Func<Tensor, Tensor>? Preprocess { get; init; }

    /// <summary>The device the stimuli are moved to; null (default): the model's. Another device than the model's is refused.</summary>
    public Device? Device { get; init; }
}

/// <summary>Progress of a tuning measurement: stimuli run so far out of all.</summary>
/// <param name="Done">Stimuli run so far.</param>
/// <param name="Total">All stimuli.</param>
public readonly record struct TuningProgress(int Done, int Total);
