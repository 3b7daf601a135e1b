namespace Circuits.Interpretability.Circuits;

/// <summary>Progress of <see cref="CircuitGraph.Build"/>: the expanded weights of layer <paramref name="Layer"/> (0-based, nearest the target first) of <paramref name="Layers"/> are being computed.</summary>
/// <param name="Layer">The index of the earlier layer being expanded.</param>
/// <param name="Layers">How many earlier layers the graph reaches.</param>
/// <param name="SourceLayer">That layer's module path.</param>
/// <param name="Step">The passes of its expanded weights.</param>
public readonly record struct CircuitGraphProgress(int Layer, int Layers, string SourceLayer, ExpandedWeightsProgress Step);
