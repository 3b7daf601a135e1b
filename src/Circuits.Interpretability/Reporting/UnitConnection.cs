using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Reporting;

/// <summary>One connection of a unit's report: the unit at the other end, how strong it is, and its expanded weights as an image.</summary>
/// <param name="Unit">The unit at the other end (a source for inputs, a target for outputs).</param>
/// <param name="Label">How people know that unit, for example <c>lines:3 (45°)</c>.</param>
/// <param name="Strength">The L2 norm of the connection's spatial weights.</param>
/// <param name="Weights">The spatial weights as an image (blue excites, red inhibits), on the set's shared scale.</param>
public sealed record UnitConnection(NeuronAddress Unit, string Label, double Strength, ReportImage Weights);
