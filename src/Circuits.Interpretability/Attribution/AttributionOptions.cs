using static TorchSharp.torch;

namespace Circuits.Interpretability.Attribution;

/// <summary>Settings shared by the methods of <see cref="Attributions"/>.</summary>
public sealed record AttributionOptions
{
    /// <summary>The defaults: the model's input convention and device.</summary>
    public static AttributionOptions Default { get; } = new();

    /// <summary>
    /// Applied to the input (and the baseline) before the model, inside the graph, so attributions are with respect
    /// to the image as given (for example RGB in [0, 1]). Null (default): the model's own input convention
    /// (<see cref="Core.IInputConvention"/>; InceptionV1's x·255 − 117), or none for a model that declares none;
    /// <see cref="Core.Preprocessing.None"/>: none, for inputs already in the model's convention.
    /// </summary>
    public Func<Tensor, Tensor>? Preprocess { get; init; }

    /// <summary>
    /// The device the computation runs on (the input and baseline are moved there, and results are returned there);
    /// null (default): the model's. Another device than the model's is refused with <see cref="Core.DeviceMismatchException"/>.
    /// </summary>
    public Device? Device { get; init; }
}
