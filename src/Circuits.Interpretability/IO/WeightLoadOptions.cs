namespace Circuits.Interpretability.IO;

/// <summary>
/// Limits and switches for reading weight files and loading them into a model. The limits keep a small or
/// hostile file from making the reader allocate or compute far more than the tensors it holds justify; the
/// defaults admit any real checkpoint up to <see cref="MaxTotalBytes"/>. Budgets that are not options (the
/// zip slack, the pickle's node budget) are fixed and documented in docs/weight-formats.md.
/// </summary>
public sealed record WeightLoadOptions
{
    /// <summary>The default options.</summary>
    public static WeightLoadOptions Default { get; } = new();

    /// <summary>
    /// The most bytes the tensors of one file may take together, and the most bytes read or decompressed for
    /// them (default 4 GiB). A file over it is refused before its tensors are allocated; raise it for larger
    /// models you trust.
    /// </summary>
    public long MaxTotalBytes { get; init; } = 4L << 30;

    /// <summary>
    /// The most bytes one pickle (a checkpoint's <c>data.pkl</c>) may take (default 64 MiB; a state dict of
    /// 100,000 tensors needs about 15 MB).
    /// </summary>
    public long MaxPickleBytes { get; init; } = 64L << 20;

    /// <summary>
    /// How many more bytes the tensors may take than the storage bytes they are copied from (default 16 MiB).
    /// A view that repeats elements (stride 0, as <c>torch.ones(1).expand(4)</c> writes) or several tensors
    /// viewing one storage take more memory here than in the file, because each tensor is copied out
    /// contiguously.
    /// </summary>
    public long MaxViewExpansionBytes { get; init; } = 16L << 20;

    /// <summary>
    /// When false (the default), loading weights into a module refuses floating-point tensors that hold NaN or
    /// infinite values, naming them; when true they are loaded as they are. Reading a file never checks values.
    /// </summary>
    public bool AllowNonFinite { get; init; }

    /// <summary>Checks that every limit is positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A limit is zero or negative.</exception>
    internal WeightLoadOptions Validated()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxTotalBytes, nameof(MaxTotalBytes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxPickleBytes, nameof(MaxPickleBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxViewExpansionBytes, nameof(MaxViewExpansionBytes));
        return this;
    }
}
