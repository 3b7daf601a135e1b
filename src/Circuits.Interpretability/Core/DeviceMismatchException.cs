namespace Circuits.Interpretability.Core;

/// <summary>
/// A tensor or a chosen device does not match the device of the model it is used with (for example
/// <c>RenderOptions.Device</c> is CUDA while the model's parameters are on the CPU). The message names both
/// devices and how to make them agree.
/// </summary>
public sealed class DeviceMismatchException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public DeviceMismatchException(string message) : base(message)
    {
    }
}
