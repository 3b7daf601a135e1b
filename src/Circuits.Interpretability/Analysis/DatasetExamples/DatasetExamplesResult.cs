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

    /// <summary>Writes the crops as one grid PNG (atomically).</summary>
    /// <exception cref="CircuitsException">There are no examples.</exception>
    public void SaveGrid(string path, int columns = 0)
    {
        if (Crops is null)
        {
            throw new CircuitsException($"There are no dataset examples of {Neuron} to save: no image in the folder could be read.");
        }

        using Tensor grid = ImageGrid.Make(Crops, columns);
        ImageIO.SavePng(grid, path);
    }

    /// <inheritdoc />
    public void Dispose() => Crops?.Dispose();
}
