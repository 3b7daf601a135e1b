namespace Circuits.Interpretability.Core;

/// <summary>
/// TorchSharp's native backend (libtorch) cannot be used by this application. Thrown by the library's first call
/// that needs it (see <see cref="TorchBackend.EnsureAvailable"/>); the message says what to add or fix, and
/// <see cref="Exception.InnerException"/> is TorchSharp's own error, if it raised one.
/// </summary>
public class TorchBackendException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="problem">Why the backend cannot be used.</param>
    /// <param name="message">What to add or fix.</param>
    /// <param name="innerException">TorchSharp's own error; null when TorchSharp raised none (wrong results).</param>
    public TorchBackendException(TorchBackendProblem problem, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Problem = problem;
    }

    /// <summary>Why the backend cannot be used.</summary>
    public TorchBackendProblem Problem { get; }
}
