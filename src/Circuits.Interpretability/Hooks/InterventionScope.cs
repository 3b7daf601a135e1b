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
    private readonly List<IDisposable> _attached = new(); // hooks first, then the editors whose masks they use
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
        var editors = interventions.Select(i => new InterventionEditor(i)).ToList();
        for (int i = 0; i < interventions.Length; i++)
        {
            InterventionEditor editor = editors[i];
            scope._attached.Add(interventions[i].Site == InterventionSite.Output
                ? HookHandle.Forward(modules[i], (_, output) => editor.Edit(output))
                : HookHandle.Pre(modules[i], input => editor.Edit(input)));
        }

        scope._attached.AddRange(editors);
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
        _attached.ForEach(a => a.Dispose());
        _attached.Clear();
    }
}
