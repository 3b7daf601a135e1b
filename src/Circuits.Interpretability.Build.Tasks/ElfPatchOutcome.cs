namespace Circuits.Interpretability.Build;

/// <summary>What <see cref="ElfVersionPatcher"/> found in an ELF file or did to it.</summary>
public enum ElfPatchOutcome
{
    /// <summary>The requirement was strong and is now marked weak (or, from <see cref="ElfVersionPatcher.Analyze"/>, can be).</summary>
    Patched,

    /// <summary>The requirement is already weak; nothing was written.</summary>
    AlreadyWeak,

    /// <summary>The file does not require the version; nothing was written.</summary>
    VersionNotRequired,

    /// <summary>The file is not an ELF object; nothing was written.</summary>
    NotElf,

    /// <summary>The file is an ELF object this patcher does not handle (big-endian); nothing was written.</summary>
    Unsupported,

    /// <summary>The file is truncated or its tables point outside it; nothing was written.</summary>
    Malformed,

    /// <summary>Symbols other than the allowed ones depend on the version; weakening it would be unsafe, so nothing was written.</summary>
    UnsafeSymbols,
}
