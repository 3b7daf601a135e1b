using Circuits.Interpretability.Analysis.DatasetExamples;

namespace Circuits.Interpretability.Reporting;

/// <summary>One dataset example in a unit's report: the crop around the most active position and where it came from.</summary>
/// <param name="Rank">1 for the most exciting image.</param>
/// <param name="Example">The example's file, activation, position (y, x) in the layer and crop box.</param>
/// <param name="Crop">The crop of the input around that position.</param>
/// <param name="FileLabel">The file as shown to people (relative to the searched folder).</param>
public sealed record UnitExample(int Rank, DatasetExample Example, ReportImage Crop, string FileLabel);
