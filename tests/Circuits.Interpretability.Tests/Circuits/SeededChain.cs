using Circuits.Interpretability.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Circuits;

/// <summary>The small test models of the expanded-weights tests: an identity named "input", then the given modules, with seeded weights.</summary>
internal static class SeededChain
{
    public static Sequential Build(int seed, params (string, nn.Module<Tensor, Tensor>)[] modules)
    {
        var model = nn.Sequential(new[] { ("input", (nn.Module<Tensor, Tensor>)nn.Identity()) }.Concat(modules).ToArray());
        SeededInitialization.Apply(model, seed);
        return model;
    }
}
