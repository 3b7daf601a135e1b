namespace Circuits.Interpretability.Analysis.DatasetExamples;

/// <summary>
/// One top-activating image: its path, the neuron's activation, the position where it was largest, and the
/// square of input pixels around that position (in the resized input the model saw).
/// </summary>
/// <param name="Path">The image file.</param>
/// <param name="Activation">The neuron's largest activation over positions (or at the address's position).</param>
/// <param name="Y">Row of that activation in the layer's output.</param>
/// <param name="X">Column of that activation in the layer's output.</param>
/// <param name="Top">First row of the crop in the resized input.</param>
/// <param name="Left">First column of the crop in the resized input.</param>
/// <param name="Size">Side of the crop in input pixels.</param>
public sealed record DatasetExample(string Path, double Activation, int Y, int X, int Top, int Left, int Size);

/// <summary>An image that could not be used, and why.</summary>
/// <param name="Path">The file.</param>
/// <param name="Reason">What went wrong, for example that it does not decode as an image.</param>
public sealed record SkippedImage(string Path, string Reason);
