using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Hooks;

/// <summary>Finds a model's layers by module path, with helpful errors for names that do not exist.</summary>
public static class ModelLayers
{
    /// <summary>Every named submodule's path, in the order TorchSharp's <c>named_modules()</c> yields them.</summary>
    public static IReadOnlyList<string> Names(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.named_modules().Select(m => m.name).Where(n => n.Length > 0).ToList();
    }

    /// <summary>Returns the submodule at <paramref name="path"/>.</summary>
    /// <exception cref="UnknownLayerException">No submodule has that path; the message lists the closest ones (<see cref="NameMatching.Closest"/>).</exception>
    public static nn.Module Find(nn.Module model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        foreach (var (name, module) in model.named_modules())
        {
            if (name.Length > 0 && name == path)
            {
                return module;
            }
        }

        throw new UnknownLayerException(path, NameMatching.Closest(Names(model), path, 5));
    }
}
