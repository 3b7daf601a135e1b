using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Analysis.Stimuli;

/// <summary>
/// A sweep of one stimulus parameter: the values, and the stimulus each value gives. Measure a neuron's
/// response over it with <see cref="global::Circuits.Interpretability.Analysis.Tuning.TuningCurves.Measure"/> (in the layer above).
/// </summary>
/// <param name="Parameter">The swept parameter's name, used in tables and plots (for example <c>orientation</c>).</param>
/// <param name="Values">The parameter's values, in sweep order.</param>
/// <param name="Stimulus">The stimulus for one value.</param>
public sealed record StimulusSweep(string Parameter, IReadOnlyList<double> Values, Func<double, StimulusOptions> Stimulus)
{
    /// <summary>The parameter's unit, shown in axis titles and peaks (for example <c>degrees</c>); empty when it has none.</summary>
    public string Unit { get; init; } = string.Empty;

    /// <summary>Orientation from 0° up to (not including) 360° in steps of <paramref name="stepDegrees"/>, of any stimulus.</summary>
    /// <exception cref="CircuitsException">The step is not in (0, 360].</exception>
    public static StimulusSweep Orientation(StimulusOptions template, double stepDegrees = 5)
    {
        ArgumentNullException.ThrowIfNull(template);
        if (!(stepDegrees > 0 && stepDegrees <= 360))
        {
            throw new CircuitsException($"The orientation step is {stepDegrees} degrees; expected more than 0 and at most 360.");
        }

        int count = (int)Math.Ceiling((360 / stepDegrees) - 1e-9);
        double[] values = Enumerable.Range(0, count).Select(i => i * stepDegrees).ToArray();
        return new StimulusSweep("orientation", values, v => template with { Orientation = v }) { Unit = "degrees" };
    }

    /// <summary>Curvature (1 / radius in 1/pixels; 0 is straight) of a curve stimulus, over <paramref name="curvatures"/>.</summary>
    public static StimulusSweep Curvature(CurveStimulus template, IEnumerable<double> curvatures)
    {
        ArgumentNullException.ThrowIfNull(template);
        return new StimulusSweep("curvature", NonEmpty(curvatures, "curvatures"), v => template with { Curvature = v }) { Unit = "1/pixel" };
    }

    /// <summary>Spatial frequency (cycles per pixel) of a grating, over <paramref name="frequencies"/>.</summary>
    public static StimulusSweep Frequency(GratingStimulus template, IEnumerable<double> frequencies)
    {
        ArgumentNullException.ThrowIfNull(template);
        return new StimulusSweep("frequency", NonEmpty(frequencies, "frequencies"), v => template with { Frequency = v }) { Unit = "cycles/pixel" };
    }

    /// <summary>Phase (degrees) of a grating from 0° up to 360° in steps of <paramref name="stepDegrees"/>.</summary>
    public static StimulusSweep Phase(GratingStimulus template, double stepDegrees = 15)
    {
        ArgumentNullException.ThrowIfNull(template);
        StimulusSweep orientation = Orientation(template, stepDegrees);
        return new StimulusSweep("phase", orientation.Values, v => template with { Phase = v }) { Unit = "degrees" };
    }

    private static double[] NonEmpty(IEnumerable<double> values, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        double[] array = values.ToArray();
        if (array.Length == 0)
        {
            throw new CircuitsException($"The sweep's {name} are empty; give at least one value.");
        }

        return array;
    }
}
