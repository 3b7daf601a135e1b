namespace Circuits.Interpretability.Cli;

/// <summary>The exit codes of the <c>circuits</c> tool.</summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Success = 0;

    /// <summary>The command was well formed but failed: an unknown layer, an unreadable file, bad data.</summary>
    public const int Failure = 1;

    /// <summary>The command line itself is wrong: an unknown verb or option, a missing or malformed value.</summary>
    public const int Usage = 2;

    /// <summary>The command was cancelled (Ctrl+C); finished work was kept.</summary>
    public const int Cancelled = 130;
}
