using Circuits.Interpretability.Core;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>Where an intervention applies: the layer's output (a forward hook) or its input (a pre-hook).</summary>
public enum InterventionSite
{
    /// <summary>The tensor the layer returns.</summary>
    Output,

    /// <summary>The tensor the layer receives.</summary>
    Input,
}

/// <summary>What an intervention does to the selected units.</summary>
public enum InterventionKind
{
    /// <summary>Set to zero (ablation).</summary>
    Zero,

    /// <summary>Multiply by a factor.</summary>
    Scale,

    /// <summary>Add a value or a broadcastable tensor.</summary>
    Add,

    /// <summary>Replace by a value or by a broadcastable tensor (activation patching).</summary>
    Replace,

    /// <summary>Replace the whole activation by the result of a function.</summary>
    Custom,
}

/// <summary>
/// One edit of a layer's activation during a forward pass: zero (ablate), scale, add to or replace chosen
/// channels at chosen spatial positions (all of either when not given), on the layer's output or input.
/// Apply edits with <see cref="InterventionScope.Apply"/>. Gradients flow through unselected units and,
/// for scale and add, through selected ones.
/// </summary>
public sealed class Intervention
{
    private readonly double _value;
    private readonly Tensor? _tensor;
    private readonly Func<Tensor, Tensor>? _edit;

    private Intervention(InterventionKind kind, string layer, IReadOnlyList<int>? channels, IReadOnlyList<(int Y, int X)>? positions,
        InterventionSite site, double value, Tensor? tensor, Func<Tensor, Tensor>? edit)
    {
        Kind = kind;
        Layer = NeuronAddress.Parse(layer).Layer == layer
            ? layer
            : throw new InvalidAddressException($"'{layer}' is not a layer path; give channels and positions as their own arguments or use an address overload.");
        Channels = channels;
        Positions = positions;
        Site = site;
        _value = value;
        _tensor = tensor;
        _edit = edit;
    }

    /// <summary>The kind of edit.</summary>
    public InterventionKind Kind { get; }

    /// <summary>The layer's module path.</summary>
    public string Layer { get; }

    /// <summary>The edited channels, or null for all.</summary>
    public IReadOnlyList<int>? Channels { get; }

    /// <summary>The edited spatial positions (row, column), or null for all.</summary>
    public IReadOnlyList<(int Y, int X)>? Positions { get; }

    /// <summary>Whether the edit applies to the layer's output or input.</summary>
    public InterventionSite Site { get; }

    /// <summary>Sets the addressed units to zero: a layer, a channel, or a channel at a position.</summary>
    public static Intervention Zero(NeuronAddress target) => FromAddress(InterventionKind.Zero, target, 0, null);

    /// <summary>Sets the chosen channels at the chosen positions of a layer to zero.</summary>
    public static Intervention Zero(string layer, IEnumerable<int>? channels, IEnumerable<(int Y, int X)>? positions = null) =>
        new(InterventionKind.Zero, layer, channels?.ToArray(), positions?.ToArray(), InterventionSite.Output, 0, null, null);

    /// <summary>Multiplies the addressed units by <paramref name="factor"/>.</summary>
    public static Intervention Scale(NeuronAddress target, double factor) => FromAddress(InterventionKind.Scale, target, factor, null);

    /// <summary>Multiplies the chosen channels at the chosen positions by <paramref name="factor"/>.</summary>
    public static Intervention Scale(string layer, double factor, IEnumerable<int>? channels, IEnumerable<(int Y, int X)>? positions = null) =>
        new(InterventionKind.Scale, layer, channels?.ToArray(), positions?.ToArray(), InterventionSite.Output, factor, null, null);

    /// <summary>Adds <paramref name="value"/> to the addressed units.</summary>
    public static Intervention Add(NeuronAddress target, double value) => FromAddress(InterventionKind.Add, target, value, null);

    /// <summary>
    /// Adds a tensor broadcastable to the layer's activation (for example a direction of shape 1 x C x 1 x 1)
    /// at the chosen channels and positions (all when null). The caller keeps ownership of the tensor.
    /// </summary>
    public static Intervention Add(string layer, Tensor delta, IEnumerable<int>? channels = null, IEnumerable<(int Y, int X)>? positions = null)
    {
        ArgumentNullException.ThrowIfNull(delta);
        return new(InterventionKind.Add, layer, channels?.ToArray(), positions?.ToArray(), InterventionSite.Output, 0, delta, null);
    }

    /// <summary>Replaces the addressed units by <paramref name="value"/>.</summary>
    public static Intervention Replace(NeuronAddress target, double value) => FromAddress(InterventionKind.Replace, target, value, null);

    /// <summary>
    /// Replaces the chosen channels and positions (all when null) by the matching entries of a tensor
    /// broadcastable to the activation, for example the same layer's activation on another input
    /// (activation patching). The caller keeps ownership of the tensor.
    /// </summary>
    public static Intervention Replace(string layer, Tensor value, IEnumerable<int>? channels = null, IEnumerable<(int Y, int X)>? positions = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(InterventionKind.Replace, layer, channels?.ToArray(), positions?.ToArray(), InterventionSite.Output, 0, value, null);
    }

    /// <summary>Replaces a layer's whole activation by <paramref name="edit"/>(activation), which must keep its shape.</summary>
    public static Intervention Custom(string layer, Func<Tensor, Tensor> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        return new(InterventionKind.Custom, layer, null, null, InterventionSite.Output, 0, null, edit);
    }

    /// <summary>The same edit applied to the layer's input instead of its output.</summary>
    public Intervention OnInput() => new(Kind, Layer, Channels, Positions, InterventionSite.Input, _value, _tensor, _edit);

    /// <summary>A readable description such as <c>scale(conv2:[3] x 0.5)</c>.</summary>
    public override string ToString()
    {
        string units = Layer
            + (Channels is null ? string.Empty : ":[" + string.Join(",", Channels) + "]")
            + (Positions is null ? string.Empty : "@[" + string.Join(";", Positions.Select(p => $"{p.Y},{p.X}")) + "]")
            + (Site == InterventionSite.Input ? " (input)" : string.Empty);
        string value = _tensor is not null ? "tensor" : _value.ToString(CultureInfo.InvariantCulture);
        return Kind switch
        {
            InterventionKind.Zero => $"zero({units})",
            InterventionKind.Scale => $"scale({units} x {value})",
            InterventionKind.Add => $"add({units} + {value})",
            InterventionKind.Replace => $"replace({units} = {value})",
            _ => $"custom({units})",
        };
    }

    /// <summary>Returns the edited activation; <paramref name="mask"/> selects the edited units.</summary>
    internal Tensor Apply(Tensor activation, Func<Tensor> mask)
    {
        if (Kind == InterventionKind.Custom)
        {
            Tensor edited = _edit!(activation);
            if (!edited.shape.SequenceEqual(activation.shape))
            {
                throw new CircuitsException(
                    $"The custom intervention on '{Layer}' returned shape [{string.Join(", ", edited.shape)}]; expected the activation's shape [{string.Join(", ", activation.shape)}].");
            }

            return edited;
        }

        Tensor m = mask();
        Tensor? other = _tensor?.to(activation.dtype, activation.device);
        return Kind switch
        {
            InterventionKind.Zero => activation.masked_fill(m, 0),
            InterventionKind.Scale => where(m, activation * _value, activation),
            InterventionKind.Add => where(m, other is null ? activation + _value : activation + other, activation),
            InterventionKind.Replace => other is null ? activation.masked_fill(m, _value) : where(m, other.expand_as(activation), activation),
            _ => throw new InvalidOperationException($"Unknown intervention kind {Kind}."),
        };
    }

    private static Intervention FromAddress(InterventionKind kind, NeuronAddress target, double value, Tensor? tensor) =>
        new(kind, target.Layer,
            target.Channel is int c ? new[] { c } : null,
            target.HasPosition ? new[] { (target.Y!.Value, target.X!.Value) } : null,
            InterventionSite.Output, value, tensor, null);
}
