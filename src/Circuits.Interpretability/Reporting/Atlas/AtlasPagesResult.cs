namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>What writing an atlas's pages did.</summary>
/// <param name="Folder">The site's folder.</param>
/// <param name="IndexPath">The index page.</param>
/// <param name="Layers">Layer pages.</param>
/// <param name="Units">Unit pages.</param>
/// <param name="Written">Pages whose content changed and were written.</param>
/// <param name="Unchanged">Pages that were already as they should be (left untouched).</param>
/// <param name="LargestPageBytes">The size of the largest page, in bytes (images are separate files).</param>
public sealed record AtlasPagesResult(string Folder, string IndexPath, int Layers, int Units, int Written, int Unchanged, long LargestPageBytes);
