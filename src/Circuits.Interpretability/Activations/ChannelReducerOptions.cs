namespace Circuits.Interpretability.Activations;

/// <summary>The decomposition a <see cref="ChannelReducer"/> applies to the channel dimension.</summary>
public enum ReductionMethod
{
    /// <summary>Non-negative matrix factorization (the default, as Lucid's): parts-based, for ReLU activations.</summary>
    Nmf,

    /// <summary>Principal component analysis: orthogonal directions of largest variance.</summary>
    Pca,

    /// <summary>Independent component analysis (FastICA): statistically independent directions.</summary>
    Ica,
}

/// <summary>Settings of a <see cref="ChannelReducer"/>.</summary>
public sealed record ChannelReducerOptions
{
    /// <summary>
    /// Concatenate relu(x) and relu(-x) along the channels before the decomposition (Lucent's <c>posneg</c>), so that
    /// NMF can factor signed data (pre-ReLU activations, weights); components then have 2 C entries, positive parts
    /// first. Default false.
    /// </summary>
    public bool PosNeg { get; init; }

    /// <summary>Iterations: NMF multiplicative updates (default 500) or FastICA fixed-point steps (at most; default 500).</summary>
    public int Iterations { get; init; } = 500;

    /// <summary>Seed of NMF's and ICA's random starts. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>
    /// When fitting over a model's layer (<see cref="ChannelReducer.FitLayer"/>), the most activation vectors kept
    /// (positions are drawn at random, seeded, beyond it). Default 200,000.
    /// </summary>
    public int MaxSamples { get; init; } = 200_000;
}
