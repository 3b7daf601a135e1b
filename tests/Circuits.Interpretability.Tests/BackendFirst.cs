using System.Runtime.CompilerServices;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Tests;

/// <summary>
/// Runs the library's backend gate before any test's code: many tests build TorchSharp modules and run convolutions
/// directly, and the gate must come before libtorch's first oneDNN kernel to limit oneDNN where the processor hides
/// its cache description (as an application's first call of the library does).
/// </summary>
internal static class BackendFirst
{
#pragma warning disable CA2255 // A test assembly is the application here: its first code must be the gate.
    [ModuleInitializer]
    internal static void Initialize() => TorchBackend.EnsureAvailable();
#pragma warning restore CA2255
}
