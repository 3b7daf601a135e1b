namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>Progress of an atlas build or merge.</summary>
/// <param name="Stage">What runs now, in words (for example "rendering curves (batch 3 of 8)", "writing pages").</param>
/// <param name="UnitsDone">Units of this shard finished (computed or found complete).</param>
/// <param name="Units">Units of this shard.</param>
/// <param name="Step">The optimization step of the current render (0 outside renders).</param>
/// <param name="Steps">Steps of the current render (0 outside renders).</param>
public readonly record struct AtlasProgress(string Stage, int UnitsDone, int Units, int Step, int Steps);
