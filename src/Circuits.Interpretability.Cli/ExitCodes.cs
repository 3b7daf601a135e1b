namespace Circuits.Interpretability.Cli;

/// <summary>The exit codes of the <c>circuits</c> tool (docs/getting-started.md has the same table).</summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Success = 0;

    /// <summary>
    /// The command line was valid but the work failed: a file is missing or unreadable, weights do not fit the
    /// model, the request needs more memory than the machine has, CUDA is not available, the model cannot do it.
    /// </summary>
    public const int Failure = 1;

    /// <summary>
    /// The command line is wrong: an unknown verb or option, a missing or malformed value, a value out of its range,
    /// options that do not go together, or a name the model does not have (model, layer, channel, unit).
    /// </summary>
    public const int Usage = 2;

    /// <summary>Cancelled with Ctrl+C (SIGINT): finished units were kept, the current one discarded.</summary>
    public const int Cancelled = 130;

    /// <summary>Stopped by SIGTERM (for example a batch scheduler), as cooperatively as <see cref="Cancelled"/>.</summary>
    public const int Terminated = 143;
}
