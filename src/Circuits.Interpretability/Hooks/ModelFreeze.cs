using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>
/// Puts a model in eval mode with no parameter requiring gradients, and restores both on dispose, so that an
/// analysis never trains, changes or leaves gradients on the model it reads.
/// </summary>
internal sealed class ModelFreeze : IDisposable
{
    private readonly nn.Module _model;
    private readonly bool _wasTraining;
    private readonly List<(TorchSharp.Modules.Parameter Parameter, bool RequiresGrad)> _parameters;

    private ModelFreeze(nn.Module model)
    {
        _model = model;
        _wasTraining = model.training;
        _parameters = model.parameters().Select(p => (p, p.requires_grad)).ToList();
        model.eval();
        foreach (var (p, _) in _parameters)
        {
            p.requires_grad_(false);
        }
    }

    public static ModelFreeze Apply(nn.Module model) => new(model);

    public void Dispose()
    {
        foreach (var (p, requiresGrad) in _parameters)
        {
            p.requires_grad_(requiresGrad);
        }

        _model.train(_wasTraining);
    }
}
