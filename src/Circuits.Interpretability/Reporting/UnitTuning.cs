using Circuits.Interpretability.Analysis.Tuning;

namespace Circuits.Interpretability.Reporting;

/// <summary>A tuning curve in a unit's report, with what the stimulus was.</summary>
/// <param name="Curve">The measured curve.</param>
/// <param name="Stimulus">What was swept, in words, for example "synthetic curves (radius 10 px) rotated in 5° steps".</param>
/// <param name="Note">A remark after the peak, for example "designed orientation 67.5°"; empty for none.</param>
public sealed record UnitTuning(TuningCurve Curve, string Stimulus, string Note = "");
