using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>What people wrote about one unit in an atlas's notes file.</summary>
/// <param name="Unit">The unit, <c>layer:channel</c>.</param>
/// <param name="Family">The family people put it in (for example "curve detectors"); empty for none.</param>
/// <param name="Note">Free text about the unit; empty for none.</param>
/// <param name="Revision">How many times the line was changed; after a merge that kept two versions, the higher wins.</param>
public sealed record AtlasNote(NeuronAddress Unit, string Family, string Note, int Revision)
{
    /// <summary>True when the line says nothing (a cleared unit: it keeps its line so that merges cannot bring the old text back).</summary>
    public bool IsEmpty => Family.Length == 0 && Note.Length == 0;
}
