using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// Interventions attached to a model: while the scope lives, every forward pass applies them, in the order
/// given (several on one layer compose in that order). Disposing the scope removes every hook. Hooks on
/// one module run in the order they were attached, so a capture attached after this scope sees the edited
/// activations and one attached before sees the originals.
/// </summary>
/// <example>
/// <code>
/// using (InterventionScope.Apply(model, Intervention.Zero("conv1:3"), Intervention.Scale("conv2:0@1,1", 2.0)))
/// {
///     Tensor ablated = model.call(input);
/// }
/// </code>
/// </example>
public sealed class InterventionScope : IDisposable
{
    private readonly List<HookHandle> _hooks = new();
    private readonly List<Tensor> _masks = new();
    private bool _disposed;

    private InterventionScope(IReadOnlyList<Intervention> interventions) => Interventions = interventions;

    /// <summary>The attached interventions.</summary>
    public IReadOnlyList<Intervention> Interventions { get; }

    /// <summary>Attaches <paramref name="interventions"/> to <paramref name="model"/>.</summary>
    /// <exception cref="UnknownLayerException">A layer does not exist; the message lists the closest names. Nothing is attached.</exception>
    /// <exception cref="UnsupportedLayerException">A layer is not a one-tensor-in, one-tensor-out module. Nothing is attached.</exception>
    public static InterventionScope Apply(nn.Module model, params Intervention[] interventions)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(interventions);
        var modules = interventions
            .Select(i => HookHandle.AsTensorModule(ModelLayers.Find(model, i.Layer), i.Layer, "an intervention"))
            .ToList();
        var scope = new InterventionScope(interventions);
        for (int i = 0; i < interventions.Length; i++)
        {
            Intervention intervention = interventions[i];
            var cache = new MaskCache(scope, intervention);
            scope._hooks.Add(intervention.Site == InterventionSite.Output
                ? HookHandle.Forward(modules[i], (_, output) => cache.Edit(output))
                : HookHandle.Pre(modules[i], input => cache.Edit(input)));
        }

        return scope;
    }

    /// <summary>Removes every hook and frees the cached masks. Safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (HookHandle hook in _hooks)
        {
            hook.Dispose();
        }

        foreach (Tensor mask in _masks)
        {
            mask.Dispose();
        }

        _hooks.Clear();
        _masks.Clear();
    }

    /// <summary>Validates an activation once per shape and keeps its selection mask across forward passes.</summary>
    private sealed class MaskCache
    {
        private readonly InterventionScope _scope;
        private readonly Intervention _intervention;
        private long[]? _shape;
        private (DeviceType Type, int Index) _device;
        private Tensor? _mask;

        public MaskCache(InterventionScope scope, Intervention intervention)
        {
            _scope = scope;
            _intervention = intervention;
        }

        public Tensor Edit(Tensor activation) => _intervention.Apply(activation, () => MaskFor(activation));

        private Tensor MaskFor(Tensor activation)
        {
            long[] shape = activation.shape;
            if (_mask is null || !shape.Skip(1).SequenceEqual(_shape!.Skip(1)) || (activation.device_type, activation.device_index) != _device)
            {
                UnitSelection.Validate(_intervention.Layer, shape, _intervention.Channels, _intervention.Positions);
                _mask = UnitSelection.Mask(shape, _intervention.Channels, _intervention.Positions, activation.device).DetachFromDisposeScope();
                _scope._masks.Add(_mask);
                _shape = shape;
                _device = (activation.device_type, activation.device_index);
            }

            return _mask;
        }
    }
}
