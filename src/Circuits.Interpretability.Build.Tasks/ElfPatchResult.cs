namespace Circuits.Interpretability.Build;

/// <summary>The result of analysing or patching one ELF file.</summary>
public sealed class ElfPatchResult
{
    /// <summary>Creates a result.</summary>
    /// <param name="outcome">What was found or done.</param>
    /// <param name="message">A sentence for a build log.</param>
    /// <param name="flagsOffset">File offset of the version entry's vna_flags field, or -1.</param>
    /// <param name="symbols">The undefined dynamic symbols bound to the version.</param>
    public ElfPatchResult(ElfPatchOutcome outcome, string message, long flagsOffset = -1, IReadOnlyList<string>? symbols = null)
    {
        Outcome = outcome;
        Message = message;
        FlagsOffset = flagsOffset;
        Symbols = symbols ?? Array.Empty<string>();
    }

    /// <summary>What was found or done.</summary>
    public ElfPatchOutcome Outcome { get; }

    /// <summary>A sentence for a build log.</summary>
    public string Message { get; }

    /// <summary>File offset of the two-byte vna_flags field of the version entry, or -1.</summary>
    public long FlagsOffset { get; }

    /// <summary>The undefined dynamic symbols bound to the version.</summary>
    public IReadOnlyList<string> Symbols { get; }
}
