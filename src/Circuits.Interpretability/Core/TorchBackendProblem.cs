namespace Circuits.Interpretability.Core;

/// <summary>Why TorchSharp's native backend could not be used (see <see cref="TorchBackendException"/>).</summary>
public enum TorchBackendProblem
{
    /// <summary>
    /// The application references no backend package: no libtorch beside it. Add TorchSharp-cpu,
    /// TorchSharp-cuda-linux or TorchSharp-cuda-windows.
    /// </summary>
    NoBackendPackage,

    /// <summary>
    /// libtorch is there, but TorchSharp's native wrapper (libLibTorchSharp) does not load because the system's
    /// libstdc++ lacks a symbol version it asks for (Debian 12, Ubuntu 22.04: GLIBCXX_3.4.32), and this copy was not
    /// fixed by the library's build step.
    /// </summary>
    LibStdCxxTooOld,

    /// <summary>libtorch is there but failed to load for another reason; the message quotes the loader's error.</summary>
    LoadFailed,

    /// <summary>
    /// libtorch loads but returns wrong values for small convolutions that the library checks against plain loops,
    /// even with its oneDNN kernels turned off; the message names the cases and the workaround.
    /// </summary>
    WrongKernelResults,
}
