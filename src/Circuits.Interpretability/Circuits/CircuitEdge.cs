namespace Circuits.Interpretability.Circuits;

/// <summary>A connection of a circuit graph: the expanded weight from a source neuron to a target neuron.</summary>
/// <param name="Source">The source node's <see cref="CircuitNode.Id"/>.</param>
/// <param name="Target">The target node's <see cref="CircuitNode.Id"/>.</param>
/// <param name="Strength">The L2 norm of the spatial map.</param>
/// <param name="Sum">The sum of the spatial map: its net sign and size (excitatory when positive).</param>
/// <param name="Weights">The spatial map, [row][column], offsets from -r to r.</param>
public sealed record CircuitEdge(string Source, string Target, double Strength, double Sum, float[][] Weights);
