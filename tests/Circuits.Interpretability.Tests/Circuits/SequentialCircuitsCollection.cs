namespace Circuits.Interpretability.Tests.Circuits;

/// <summary>
/// The circuits tests allocate batches of hundreds of feature maps. Run after every parallel collection and on
/// their own, so that they never disturb the resident-memory measurements of the memory tests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SequentialCircuitsCollection
{
    public const string Name = "Circuits (sequential)";
}
