using static TorchSharp.torch;

namespace Circuits.Interpretability.Analysis.DatasetExamples;

/// <summary>Settings of <see cref="DatasetExamples.Find"/>.</summary>
public sealed record DatasetExamplesOptions
{
    /// <summary>How many top-activating images to keep. Default 9.</summary>
    public int TopK { get; init; } = 9;

    /// <summary>Images run through the model together. Default 16.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>
    /// The model's input size: every image is centre-cropped to a square (its shorter side) and resized to
    /// InputSize x InputSize (area averaging when shrinking, bilinear when enlarging). Default 64.
    /// </summary>
    public int InputSize { get; init; } = 64;

    /// <summary>
    /// Side of the crop around the most active position, in input pixels; null (default): the unit's receptive
    /// field, measured once as the extent of input pixels with a non-zero gradient (see <see cref="DatasetExamples"/>).
    /// </summary>
    public int? CropSize { get; init; }

    /// <summary>
    /// A JSON file that records progress after every batch (written atomically), so that a run that stopped
    /// (cancelled, killed) continues where it stopped when started again with the same path and settings.
    /// Null (default): no state is kept.
    /// </summary>
    public string? StatePath { get; init; }

    /// <summary>Whether to search sub-folders too. Default true.</summary>
    public bool Recursive { get; init; } = true;

    /// <summary>File extensions read (case-insensitive). Default .png, .jpg, .jpeg.</summary>
    public IReadOnlyList<string> Extensions { get; init; } = new[] { ".png", ".jpg", ".jpeg" };

    /// <summary>
    /// Applied to each batch (RGB in [0, 1]) before the model. Null (default): the model's own input convention
    /// (<see cref="Core.IInputConvention"/>), or none; <see cref="Core.Preprocessing.None"/>: none.
    /// </summary>
    public Func<Tensor, Tensor>? Preprocess { get; init; }

    /// <summary>The device the images are moved to; null (default): the model's. Another device than the model's is refused.</summary>
    public Device? Device { get; init; }
}

/// <summary>Progress of a dataset-examples search.</summary>
/// <param name="Processed">Images looked at so far (read or skipped), including those of an earlier, resumed run.</param>
/// <param name="Total">Images in the folder.</param>
/// <param name="Skipped">Images that could not be read so far.</param>
public readonly record struct DatasetExamplesProgress(int Processed, int Total, int Skipped);
