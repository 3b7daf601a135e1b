using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Imaging;

/// <summary>A tensor that is not an image, or bytes that do not decode to one.</summary>
public sealed class ImageFormatException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public ImageFormatException(string message) : base(message)
    {
    }
}
