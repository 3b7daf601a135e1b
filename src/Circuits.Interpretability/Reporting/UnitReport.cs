using Circuits.Interpretability.Analysis.DatasetExamples;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Reporting;

/// <summary>
/// Everything a report says about one unit (a channel of a layer): feature visualizations, dataset examples, the
/// strongest inputs and outputs through expanded weights (with weight images on one colour scale), tuning curves,
/// family and notes. Collect the parts with the <c>Add</c> methods (each copies what it needs, so the caller's
/// tensors and weight sets stay the caller's), then write the unit into a page with <see cref="WriteTo"/>. The
/// quick start, the CLI's <c>report</c> verb, the InceptionV1 samples and the atlas's unit pages all use it.
/// </summary>
/// <example>
/// <code>
/// var unit = new UnitReport("curves:4") { Summary = "Designed to prefer curves opening toward 90°." };
/// unit.AddVisualization(render.Images[0], "feature visualization (centre neuron)")
///     .AddInputs(expanded, top: 4)
///     .AddTuning(curve, "synthetic curves rotated in 5° steps");
/// var report = new HtmlReport("curves:4");
/// unit.WriteTo(report);
/// report.Save("out/curves_4.html");
/// </code>
/// </example>
public sealed class UnitReport
{
    private readonly List<ReportImage> _visualizations = new();
    private readonly List<UnitConnections> _connections = new();
    private readonly List<UnitTuning> _tuning = new();
    private readonly List<string> _notes = new();
    private readonly List<string> _methods = new();

    /// <summary>Starts the report of <paramref name="unit"/>.</summary>
    /// <exception cref="InvalidAddressException">The address has no channel.</exception>
    public UnitReport(NeuronAddress unit)
    {
        if (unit.Channel is null)
        {
            throw new InvalidAddressException($"A unit report needs a channel; '{unit}' names a whole layer. Expected layer:channel, e.g. {unit.Layer}:0.");
        }

        Unit = unit;
    }

    /// <summary>The unit.</summary>
    public NeuronAddress Unit { get; }

    /// <summary>The unit's channel.</summary>
    public int Channel => Unit.Channel!.Value;

    /// <summary>A sentence or two about the unit shown under its heading (what it was designed for, what it seems to do); empty for none.</summary>
    public string Summary { get; set; } = string.Empty;

    /// <summary>The family people put the unit in (for example "curve detectors"); empty for none.</summary>
    public string Family { get; set; } = string.Empty;

    /// <summary>Feature visualizations, in the order added.</summary>
    public IReadOnlyList<ReportImage> Visualizations => _visualizations;

    /// <summary>Strongest inputs and outputs, in the order added.</summary>
    public IReadOnlyList<UnitConnections> Connections => _connections;

    /// <summary>Tuning curves, in the order added.</summary>
    public IReadOnlyList<UnitTuning> Tuning => _tuning;

    /// <summary>Dataset examples, or null when none were added.</summary>
    public UnitExamples? Examples { get; private set; }

    /// <summary>People's notes on the unit, in the order added.</summary>
    public IReadOnlyList<string> Notes => _notes;

    /// <summary>How the parts were made (settings, method details): shown folded, in a details element.</summary>
    public IReadOnlyList<string> MethodDetails => _methods;

    /// <summary>Adds a feature visualization (C x H x W or 1 x C x H x W in [0, 1]) with a caption saying what it optimized.</summary>
    public UnitReport AddVisualization(Tensor image, string caption)
    {
        _visualizations.Add(ReportImage.FromTensor(image, caption));
        return this;
    }

    /// <summary>Adds an image made earlier (an embedded PNG or a <see cref="ReportImage.Linked"/> file) as a feature visualization; its caption says what it optimized.</summary>
    public UnitReport AddVisualization(ReportImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        _visualizations.Add(image);
        return this;
    }

    /// <summary>
    /// Adds connections computed earlier (for example read back from files, as the neuron atlas does); the other
    /// parts' <c>Add</c> methods make them from live expanded weights.
    /// </summary>
    public UnitReport AddConnections(UnitConnections connections)
    {
        ArgumentNullException.ThrowIfNull(connections);
        _connections.Add(connections);
        return this;
    }

    /// <summary>Adds a tuning curve with its stimulus description (see <see cref="AddTuning(TuningCurve, string, string)"/>).</summary>
    /// <exception cref="CircuitsException">The curve is of another channel.</exception>
    public UnitReport AddTuning(UnitTuning tuning)
    {
        ArgumentNullException.ThrowIfNull(tuning);
        return AddTuning(tuning.Curve, tuning.Stimulus, tuning.Note);
    }

    /// <summary>Sets the dataset examples to examples gathered earlier (for example read back from files).</summary>
    public UnitReport AddDatasetExamples(UnitExamples examples)
    {
        Examples = examples ?? throw new ArgumentNullException(nameof(examples));
        return this;
    }

    /// <summary>
    /// Adds the <paramref name="top"/> strongest inputs of this unit from <paramref name="weights"/> (whose target layer
    /// is this unit's layer), strongest first, each with its weight image; all images share one colour scale.
    /// </summary>
    /// <param name="weights">Expanded weights into this unit's layer; it stays the caller's.</param>
    /// <param name="top">How many inputs to show.</param>
    /// <param name="label">How to name a source channel (default <c>layer:channel</c>).</param>
    /// <exception cref="CircuitsException">The set does not lead into this unit.</exception>
    public UnitReport AddInputs(ExpandedWeightSet weights, int top, Func<int, string>? label = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        if (weights.TargetLayer != Unit.Layer || !weights.TargetChannels.Contains(Channel))
        {
            throw new CircuitsException($"The expanded weights {weights.SourceLayer} -> {weights.TargetLayer} do not lead into {Unit}; expected a set whose target layer is '{Unit.Layer}' with channel {Channel} among its targets.");
        }

        var picks = weights.TopSources(Channel, top).Select(s => (Channel: s.SourceChannel, s.Strength)).ToList();
        _connections.Add(Connect(weights, ConnectionDirection.Inputs, weights.SourceLayer, picks, s => weights.Get(Channel, s), label));
        return this;
    }

    /// <summary>
    /// Adds the <paramref name="top"/> strongest outputs of this unit in <paramref name="weights"/> (whose source layer is
    /// this unit's layer): the target channels whose expanded weights from this unit have the largest L2 norm, ranked
    /// as <see cref="ExpandedWeightSet.TopSources"/> ranks inputs (at <see cref="ExpandedWeightSet.RankingDigits"/>
    /// significant digits, ties by channel, lowest first).
    /// </summary>
    /// <param name="weights">Expanded weights out of this unit's layer; it stays the caller's.</param>
    /// <param name="top">How many outputs to show.</param>
    /// <param name="label">How to name a target channel (default <c>layer:channel</c>).</param>
    /// <exception cref="CircuitsException">The set does not lead out of this unit.</exception>
    public UnitReport AddOutputs(ExpandedWeightSet weights, int top, Func<int, string>? label = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        if (weights.SourceLayer != Unit.Layer || !weights.SourceChannels.Contains(Channel))
        {
            throw new CircuitsException($"The expanded weights {weights.SourceLayer} -> {weights.TargetLayer} do not lead out of {Unit}; expected a set whose source layer is '{Unit.Layer}' with channel {Channel} among its sources.");
        }

        var picks = weights.TargetChannels
            .Select(t => (Channel: t, Strength: weights.Strength(t, Channel)))
            .OrderByDescending(p => ExpandedWeightSet.RankingKey(p.Strength)).ThenBy(p => p.Channel)
            .Take(top).ToList();
        _connections.Add(Connect(weights, ConnectionDirection.Outputs, weights.TargetLayer, picks, t => weights.Get(t, Channel), label));
        return this;
    }

    /// <summary>
    /// Adds a tuning curve of this unit with a description of the stimulus swept, and an optional remark after the peak.
    /// The curve may be read at a layer that only passes the unit on (such as its ReLU: <c>curves_relu:4</c> for
    /// <c>curves:4</c>); its channel must be this unit's.
    /// </summary>
    /// <exception cref="CircuitsException">The curve is of another channel.</exception>
    public UnitReport AddTuning(TuningCurve curve, string stimulus, string note = "")
    {
        ArgumentNullException.ThrowIfNull(curve);
        ArgumentNullException.ThrowIfNull(stimulus);
        if (curve.Neuron.Channel != Channel)
        {
            throw new CircuitsException($"The tuning curve of {curve.Neuron} does not belong in the report of {Unit}.");
        }

        _tuning.Add(new UnitTuning(curve, stimulus, note ?? string.Empty));
        return this;
    }

    /// <summary>Adds dataset examples (crops around the most active positions); files are shown relative to the searched folder.</summary>
    /// <param name="result">The search's result; its crops are copied, it stays the caller's.</param>
    /// <param name="folder">The folder that was searched.</param>
    public UnitReport AddDatasetExamples(DatasetExamplesResult result, string folder)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(folder);
        var items = new List<UnitExample>();
        for (int i = 0; i < result.Examples.Count && result.Crops is not null; i++)
        {
            DatasetExample e = result.Examples[i];
            string file = Path.GetRelativePath(Path.GetFullPath(folder), e.Path);
            using Tensor crop = result.Crops[i];
            items.Add(new UnitExample(i + 1, e, ReportImage.FromTensor(crop, $"#{i + 1}: {file}, activation {F(e.Activation)} at (y, x) = ({e.Y}, {e.X})"), file));
        }

        Examples = new UnitExamples(items, Path.GetFullPath(folder), result.Total, result.Skipped.Count);
        return this;
    }

    /// <summary>Adds a note (shown as a list item under "Notes").</summary>
    public UnitReport AddNote(string note)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(note);
        _notes.Add(note);
        return this;
    }

    /// <summary>Adds a line about how the parts were made (settings, method internals); shown folded.</summary>
    public UnitReport AddMethodDetail(string detail)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(detail);
        _methods.Add(detail);
        return this;
    }

    /// <summary>Writes this unit as a section of <paramref name="report"/> (see <see cref="UnitReportOptions"/> for headings, sizes and links).</summary>
    public void WriteTo(HtmlReport report, UnitReportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        UnitReportWriter.Write(this, report, options ?? new UnitReportOptions());
    }

    private static UnitConnections Connect(ExpandedWeightSet weights, ConnectionDirection direction, string otherLayer, List<(int Channel, double Strength)> picks,
        Func<int, Tensor> map, Func<int, string>? label)
    {
        using var scope = NewDisposeScope();
        double maxAbs = picks.Select(p => (double)map(p.Channel).abs().max().item<float>()).DefaultIfEmpty(0).Max();
        var items = picks.Select(p =>
        {
            var unit = new NeuronAddress(otherLayer, p.Channel);
            string name = label?.Invoke(p.Channel) ?? unit.ToString();
            Tensor image = WeightImage.Render(map(p.Channel), scale: 1, maxAbs: maxAbs > 0 ? maxAbs : null);
            return new UnitConnection(unit, name, p.Strength, ReportImage.FromTensor(image, $"{name}, strength {F(p.Strength)}"));
        }).ToList();
        string detail = weights.MethodDetail.Length > 0 ? $"{weights.Method}: {weights.MethodDetail}" : weights.Method.ToString();
        return new UnitConnections(direction, otherLayer, items, maxAbs, weights.CropSize,
            $"Expanded weights {weights.SourceLayer} -> {weights.TargetLayer}, {weights.CropSize} x {weights.CropSize} window, computed by {detail}.");
    }

    internal static string F(double value) => value.ToString(Math.Abs(value) >= 1000 || (value != 0 && Math.Abs(value) < 0.001) ? "G3" : "0.###", System.Globalization.CultureInfo.InvariantCulture);
}
