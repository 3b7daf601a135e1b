using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Core;

/// <summary>
/// Puts a model in eval mode with no parameter requiring gradients, and restores both on dispose, so that an
/// analysis never trains, changes or leaves gradients on the model it reads.
/// </summary>
/// <remarks>
/// Use it with <c>using</c>: <c>using var freeze = ModelFreeze.Apply(model);</c>. Every module's training
/// flag and every parameter's <c>requires_grad</c> are recorded when it is applied and put back exactly when
/// it is disposed, so freezes nest and a model that was partly trainable comes back partly trainable. Gradients
/// with respect to the input still flow: only the parameters stop collecting them.
/// </remarks>
public sealed class ModelFreeze : IDisposable
{
    private readonly List<(nn.Module Module, bool Training)> _modules;
    private readonly List<(TorchSharp.Modules.Parameter Parameter, bool RequiresGrad)> _parameters;
    private bool _disposed;

    private ModelFreeze(nn.Module model)
    {
        // Parents first: train(bool) recurses into children, so restoring in this order ends with each
        // module's own flag.
        _modules = model.named_modules()
            .Where(m => m.name.Length > 0)
            .OrderBy(m => m.name.Count(c => c == '.'))
            .Select(m => (m.module, m.module.training))
            .Prepend((model, model.training))
            .ToList();
        _parameters = model.parameters().Select(p => (p, p.requires_grad)).ToList();
        model.eval();
        foreach (var (p, _) in _parameters)
        {
            p.requires_grad_(false);
        }
    }

    /// <summary>Freezes <paramref name="model"/> until the returned object is disposed.</summary>
    /// <param name="model">The model to put in eval mode, with its parameters' gradients turned off.</param>
    /// <returns>The handle that restores the model's modes and <c>requires_grad</c> flags on dispose.</returns>
    public static ModelFreeze Apply(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new ModelFreeze(model);
    }

    /// <summary>Restores every module's training flag and every parameter's <c>requires_grad</c>; a second call does nothing.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var (p, requiresGrad) in _parameters)
        {
            p.requires_grad_(requiresGrad);
        }

        foreach (var (module, training) in _modules)
        {
            module.train(training);
        }
    }
}
