namespace Circuits.Interpretability.Circuits;

/// <summary>A neuron of a circuit graph, <c>layer:channel</c>.</summary>
/// <param name="Layer">The layer's module path.</param>
/// <param name="Channel">The channel.</param>
/// <param name="Depth">Steps back from the graph's target (0 for the target).</param>
public sealed record CircuitNode(string Layer, int Channel, int Depth)
{
    /// <summary>The node's identifier, <c>layer:channel</c>.</summary>
    public string Id => $"{Layer}:{Channel}";
}
