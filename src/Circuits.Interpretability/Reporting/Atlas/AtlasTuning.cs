using Circuits.Interpretability.Analysis.Stimuli;

namespace Circuits.Interpretability.Reporting.Atlas;

/// <summary>
/// A tuning curve the atlas measures for every unit of one layer: the response to a sweep of synthetic stimuli
/// (for example the curve circuit's curve units over curves rotated in 5° steps).
/// </summary>
/// <param name="Layer">The atlas layer whose units get the curve (for example <c>curves</c>).</param>
/// <param name="ReadAt">The layer the response is read at, with the same channels (for example <c>curves_relu</c>, the units after their ReLU); often <paramref name="Layer"/> itself.</param>
/// <param name="Sweep">The stimuli and the swept parameter.</param>
/// <param name="Description">What was swept, in words, shown on the page (for example "a dark curve rotated in 5° steps, read at the centre position").</param>
public sealed record AtlasTuning(string Layer, string ReadAt, StimulusSweep Sweep, string Description);
