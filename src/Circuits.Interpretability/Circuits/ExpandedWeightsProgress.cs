namespace Circuits.Interpretability.Circuits;

/// <summary>Progress of <see cref="ExpandedWeights.Compute"/>: <paramref name="Done"/> of <paramref name="Total"/> passes of <paramref name="Method"/> (forward passes for the impulse methods, backward passes for the reference).</summary>
/// <param name="Method">The method that is running.</param>
/// <param name="Done">Passes done.</param>
/// <param name="Total">Passes this method makes.</param>
public readonly record struct ExpandedWeightsProgress(ExpandedWeightMethod Method, int Done, int Total);
