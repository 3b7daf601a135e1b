namespace Circuits.Interpretability.Tests;

/// <summary>
/// Tests that measure the process's resident memory run alone (after the parallel collections, with nothing else
/// running), because other tests' allocations on other threads would show up in the measurement.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "Memory measurements (run alone)";
}
