using Circuits.Interpretability.Core;
using Circuits.Interpretability.Imaging;
using System.Globalization;
using System.Text;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Analysis.Tuning;

/// <summary>
/// A neuron's response over a sweep of one stimulus parameter, as <see cref="TuningCurves.Measure"/> returns
/// it: a table (<see cref="ToCsv"/>, <see cref="ToText"/>) and a plot (<see cref="Plot"/>, <see cref="SavePlot"/>).
/// </summary>
public sealed class TuningCurve
{
    internal TuningCurve(NeuronAddress neuron, TuningReadout readout, string parameter, IReadOnlyList<double> values, IReadOnlyList<double> responses,
        string parameterUnit = "")
    {
        Neuron = neuron;
        Readout = readout;
        Parameter = parameter;
        ParameterUnit = parameterUnit;
        Values = values;
        Responses = responses;
        PeakIndex = Enumerable.Range(0, responses.Count).Aggregate((best, i) => responses[i] > responses[best] ? i : best);
    }

    /// <summary>The neuron measured.</summary>
    public NeuronAddress Neuron { get; }

    /// <summary>What was read from the channel.</summary>
    public TuningReadout Readout { get; }

    /// <summary>The swept parameter's name.</summary>
    public string Parameter { get; }

    /// <summary>The parameter's unit, for example <c>degrees</c> (from <see cref="global::Circuits.Interpretability.Analysis.Stimuli.StimulusSweep.Unit"/>); empty when it has none.</summary>
    public string ParameterUnit { get; }

    /// <summary>The parameter's values, in sweep order.</summary>
    public IReadOnlyList<double> Values { get; }

    /// <summary>The neuron's response to each value.</summary>
    public IReadOnlyList<double> Responses { get; }

    /// <summary>The index of the largest response (the first of equal ones).</summary>
    public int PeakIndex { get; }

    /// <summary>The parameter value with the largest response.</summary>
    public double PeakValue => Values[PeakIndex];

    /// <summary>The largest response.</summary>
    public double PeakResponse => Responses[PeakIndex];

    /// <summary>
    /// True when the response is 0 at every value (a unit after a ReLU that no stimulus of the sweep excited): then
    /// there is no peak to speak of, and reports say "never responded" instead of naming <see cref="PeakValue"/>.
    /// </summary>
    public bool NeverResponded => Responses.All(r => r == 0);

    /// <summary>True when every response is the same (no peak): <see cref="NeverResponded"/> is the case where it is 0.</summary>
    public bool IsFlat => Responses.All(r => r == Responses[0]);

    /// <summary>The axis title of the parameter, with its unit: <c>orientation (degrees)</c>.</summary>
    public string ParameterLabel => ParameterUnit.Length > 0 ? $"{Parameter} ({ParameterUnit})" : Parameter;

    /// <summary>
    /// The peak in words, for tables and captions: <c>peak at 67.5° (response 1.23)</c>, or <c>never responded (0 at
    /// every orientation)</c>, or <c>flat: 0.5 at every orientation</c>.
    /// </summary>
    public string PeakSummary => NeverResponded
        ? $"never responded (0 at every {Parameter})"
        : IsFlat
            ? string.Create(CultureInfo.InvariantCulture, $"flat: {PeakResponse:G4} at every {Parameter}")
            : string.Create(CultureInfo.InvariantCulture, $"peak at {PeakValue:0.###}{UnitSuffix} (response {PeakResponse:G4})");

    private string UnitSuffix => ParameterUnit == "degrees" ? "°" : ParameterUnit.Length > 0 ? " " + ParameterUnit : string.Empty;

    /// <summary>The table as CSV: a header <c>parameter,response</c>, then one line per value (invariant culture, round-trip precision).</summary>
    public string ToCsv()
    {
        var text = new StringBuilder();
        text.Append(Parameter).Append(",response\n");
        for (int i = 0; i < Values.Count; i++)
        {
            text.Append(Values[i].ToString("R", CultureInfo.InvariantCulture)).Append(',')
                .Append(Responses[i].ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>The table as aligned text with a title line and the peak marked by <c>&lt;- peak</c>.</summary>
    public string ToText()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Tuning of {Neuron} ({(Readout == TuningReadout.ChannelMean ? "channel mean" : "position")}) over {Parameter}; peak {PeakResponse:G5} at {PeakValue:G6}\n");
        text.Append(CultureInfo.InvariantCulture, $"{Parameter,12}  {"response",12}\n");
        for (int i = 0; i < Values.Count; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{Values[i],12:G6}  {Responses[i],12:G5}{(i == PeakIndex ? "  <- peak" : string.Empty)}\n");
        }

        return text.ToString();
    }

    /// <summary>Writes <see cref="ToCsv"/> to <paramref name="path"/> (atomically: a temporary file renamed over it).</summary>
    public void SaveCsv(string path) => AtomicFile.WriteAllText(path, ToCsv());

    /// <summary>
    /// The plot settings for this curve: a title naming the neuron, axis titles with units, ticks every 45° for angles,
    /// the peak marked, or "never responded" written across a curve that is 0 everywhere. <paramref name="options"/>
    /// overrides: its non-default size, title and labels are kept.
    /// </summary>
    public LinePlotOptions PlotOptions(LinePlotOptions? options = null)
    {
        options ??= new LinePlotOptions();
        bool angle = ParameterUnit == "degrees" || Parameter is "orientation" or "phase";
        string readout = Readout == TuningReadout.ChannelMean ? "channel mean" : "activation";
        return options with
        {
            Title = options.Title.Length > 0 ? options.Title : $"{Neuron}: response over {Parameter}",
            XLabel = options.XLabel.Length > 0 ? options.XLabel : ParameterLabel,
            YLabel = options.YLabel.Length > 0 ? options.YLabel : $"response ({readout})",
            XUnitSuffix = options.XUnitSuffix.Length > 0 ? options.XUnitSuffix : UnitSuffix,
            XTickStep = options.XTickStep ?? (angle ? 45 : null),
            XMin = options.XMin ?? (angle ? 0 : null),
            XMax = options.XMax ?? (angle ? 360 : null),
            MarkPeak = options.MarkPeak && !IsFlat,
            Note = options.Note.Length > 0 ? options.Note : NeverResponded ? $"never responded (0 at every {Parameter})" : string.Empty,
        };
    }

    /// <summary>Draws the curve as a 3 x H x W image (see <see cref="PlotOptions"/>).</summary>
    public Tensor Plot(LinePlotOptions? options = null) => LinePlot.Render(Values, Responses, PlotOptions(options));

    /// <summary>Draws the curve as an inline SVG element for HTML (see <see cref="PlotOptions"/>).</summary>
    public string PlotSvg(LinePlotOptions? options = null) => LinePlot.RenderSvg(Values, Responses, PlotOptions(options));

    /// <summary>Writes <see cref="Plot"/> as a PNG file (atomically).</summary>
    public void SavePlot(string path, LinePlotOptions? options = null) => LinePlot.SavePng(path, Values, Responses, PlotOptions(options));
}
