using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// Applies one <see cref="Intervention"/> to activations: validates each new activation shape once and keeps the
/// selection mask across forward passes. Shared by <see cref="InterventionScope"/> and <see cref="ForwardRun"/>;
/// dispose it to free the masks.
/// </summary>
internal sealed class InterventionEditor : IDisposable
{
    private readonly Intervention _intervention;
    private readonly List<Tensor> _masks = new();
    private long[]? _shape;
    private (DeviceType Type, int Index) _device;
    private Tensor? _mask;

    public InterventionEditor(Intervention intervention) => _intervention = intervention;

    public Intervention Intervention => _intervention;

    public Tensor Edit(Tensor activation) => _intervention.Apply(activation, () => MaskFor(activation));

    public void Dispose()
    {
        foreach (Tensor mask in _masks)
        {
            mask.Dispose();
        }

        _masks.Clear();
        _mask = null;
    }

    private Tensor MaskFor(Tensor activation)
    {
        long[] shape = activation.shape;
        if (_mask is null || !shape.Skip(1).SequenceEqual(_shape!.Skip(1)) || (activation.device_type, activation.device_index) != _device)
        {
            UnitSelection.Validate(_intervention.Layer, shape, _intervention.Channels, _intervention.Positions);
            _mask = UnitSelection.Mask(shape, _intervention.Channels, _intervention.Positions, activation.device).DetachFromDisposeScope();
            _masks.Add(_mask);
            _shape = shape;
            _device = (activation.device_type, activation.device_index);
        }

        return _mask;
    }
}
