namespace Circuits.Interpretability.Reporting;

/// <summary>The dataset examples of a unit's report: the most exciting images of a folder, as crops.</summary>
/// <param name="Items">The examples, most exciting first.</param>
/// <param name="Folder">The folder searched.</param>
/// <param name="ImagesSearched">How many images were searched.</param>
/// <param name="Skipped">How many of them could not be read.</param>
public sealed record UnitExamples(IReadOnlyList<UnitExample> Items, string Folder, int ImagesSearched, int Skipped);
