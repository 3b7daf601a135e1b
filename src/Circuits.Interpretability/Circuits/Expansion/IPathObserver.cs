using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>Told by <see cref="LinearizedPath"/> about the tensors of the path while it runs (phase "on the path" only).</summary>
internal interface IPathObserver
{
    /// <summary>The source layer's output was replaced by <paramref name="replacement"/>.</summary>
    void SourceReplaced(Tensor replacement);

    /// <summary>A leaf module ran on the path: its inputs and its output after linearization.</summary>
    void LeafRan(string name, nn.Module module, IReadOnlyList<Tensor> inputs, Tensor output);

    /// <summary>The target layer produced <paramref name="output"/>; the run stops.</summary>
    void TargetReached(Tensor output);
}
