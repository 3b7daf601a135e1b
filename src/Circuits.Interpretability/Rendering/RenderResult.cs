using Circuits.Interpretability.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>The outcome of a render. Owns its tensors: dispose it to free them.</summary>
public sealed class RenderResult : IDisposable
{
    internal RenderResult(Objective objective, Tensor images, IReadOnlyList<(int Step, Tensor Images)> snapshots, IReadOnlyList<double> history)
    {
        Objective = objective;
        Images = images;
        Snapshots = snapshots;
        ObjectiveHistory = history;
    }

    /// <summary>The objective that was maximized.</summary>
    public Objective Objective { get; }

    /// <summary>The final images: N x C x H x W in [0, 1], on the CPU, without transformations.</summary>
    public Tensor Images { get; }

    /// <summary>Images kept at the requested thresholds, by step.</summary>
    public IReadOnlyList<(int Step, Tensor Images)> Snapshots { get; }

    /// <summary>The objective's value at every step (what was maximized; the loss is its negative).</summary>
    public IReadOnlyList<double> ObjectiveHistory { get; }

    /// <summary>The objective's value at the last step.</summary>
    public double FinalObjective => ObjectiveHistory.Count == 0 ? double.NaN : ObjectiveHistory[^1];

    /// <summary>Writes image <paramref name="index"/> as a PNG file (atomically).</summary>
    public void SavePng(string path, int index = 0)
    {
        if (index < 0 || index >= Images.shape[0])
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"Image {index} does not exist; the batch has {Images.shape[0]} images.");
        }

        ImageIO.SavePng(Images[index], path);
    }

    /// <summary>Writes all images as one grid PNG (atomically).</summary>
    public void SaveGrid(string path, int columns = 0)
    {
        using Tensor grid = ImageGrid.Make(Images, columns);
        ImageIO.SavePng(grid, path);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        foreach (var (_, images) in Snapshots)
        {
            images.Dispose();
        }
    }
}
