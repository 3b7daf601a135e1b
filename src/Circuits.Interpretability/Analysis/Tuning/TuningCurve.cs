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
    internal TuningCurve(NeuronAddress neuron, TuningReadout readout, string parameter, IReadOnlyList<double> values, IReadOnlyList<double> responses)
    {
        Neuron = neuron;
        Readout = readout;
        Parameter = parameter;
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

    /// <summary>Draws the curve as a 3 x H x W image: axes with ticks, the responses as a line with points, and the peak marked in red.</summary>
    public Tensor Plot(LinePlotOptions? options = null)
    {
        options ??= new LinePlotOptions();
        if (options.XTickStep is null && Parameter is "orientation" or "phase")
        {
            options = options with { XTickStep = 45, XMax = options.XMax ?? 360 };
        }

        return LinePlot.Render(Values, Responses, options);
    }

    /// <summary>Writes <see cref="Plot"/> as a PNG file (atomically).</summary>
    public void SavePlot(string path, LinePlotOptions? options = null)
    {
        using Tensor image = Plot(options);
        ImageIO.SavePng(image, path);
    }
}
