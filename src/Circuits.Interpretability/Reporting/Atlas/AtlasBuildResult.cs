namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>What an atlas build did.</summary>
/// <param name="Folder">The site's folder.</param>
/// <param name="Shard">The shard built.</param>
/// <param name="Units">Units of this shard.</param>
/// <param name="UnitsComputed">Units of which at least one part was computed in this run (the others were complete).</param>
/// <param name="Renders">Feature-visualization images optimized in this run (channel, neuron and diverse images).</param>
/// <param name="ConnectionSets">Units whose strongest inputs or outputs were computed in this run.</param>
/// <param name="TuningCurves">Tuning curves measured in this run.</param>
/// <param name="ExampleSearches">Dataset-example searches run (one per unit, when an image folder is given).</param>
/// <param name="Seconds">Wall-clock time of the run.</param>
/// <param name="Pages">The pages written, or null when this shard is one of several (run <see cref="NeuronAtlas.Merge"/> after all of them).</param>
public sealed record AtlasBuildResult(string Folder, AtlasShard Shard, int Units, int UnitsComputed, int Renders, int ConnectionSets, int TuningCurves,
    int ExampleSearches, double Seconds, AtlasPagesResult? Pages);
