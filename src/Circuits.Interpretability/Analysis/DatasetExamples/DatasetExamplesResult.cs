using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Analysis.DatasetExamples;

/// <summary>The outcome of <see cref="DatasetExamples.Find"/>. Owns <see cref="Crops"/>: dispose it to free them.</summary>
public sealed class DatasetExamplesResult : IDisposable
{
    internal DatasetExamplesResult(NeuronAddress neuron, IReadOnlyList<DatasetExample> examples, Tensor? crops,
        IReadOnlyList<SkippedImage> skipped, int total, int resumedFrom)
    {
        Neuron = neuron;
        Examples = examples;
        Crops = crops;
        Skipped = skipped;
        Total = total;
        ResumedFrom = resumedFrom;
    }

    /// <summary>The neuron searched for.</summary>
    public NeuronAddress Neuron { get; }

    /// <summary>The top images, most active first; equal activations in ordinal order of their paths.</summary>
    public IReadOnlyList<DatasetExample> Examples { get; }

    /// <summary>The crops around the most active positions, one per example (K x 3 x s x s), or null when there are no examples.</summary>
    public Tensor? Crops { get; }

    /// <summary>Images that could not be read or used, with the reason; the search went on without them.</summary>
    public IReadOnlyList<SkippedImage> Skipped { get; }

    /// <summary>Images found in the folder.</summary>
    public int Total { get; }

    /// <summary>Images an earlier run had already processed when this run resumed from the state file (0 for a fresh run).</summary>
    public int ResumedFrom { get; }

    /// <summary>
    /// Writes the crops as one grid PNG (atomically), each pixel enlarged to <paramref name="scale"/> x
    /// <paramref name="scale"/> pixels (nearest neighbour) so that small crops can be seen.
    /// </summary>
    /// <param name="path">The PNG file.</param>
    /// <param name="columns">Crops per row (0: about square).</param>
    /// <param name="scale">How many times to enlarge the grid; 1 keeps input pixels as they are.</param>
    /// <exception cref="CircuitsException">There are no examples.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> is less than 1.</exception>
    public void SaveGrid(string path, int columns = 0, int scale = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        if (Crops is null)
        {
            throw new CircuitsException($"There are no dataset examples of {Neuron} to save: no image in the folder could be read.");
        }

        using Tensor grid = ImageGrid.Make(Crops, columns);
        using Tensor big = scale == 1 ? grid.alias() : grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2);
        ImageIO.SavePng(big, path);
    }

    /// <inheritdoc />
    public void Dispose() => Crops?.Dispose();
}
