using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Core;

public class ModelFreezeTests
{
    [Fact]
    public void Freezes_and_restores_each_module_and_parameter_exactly()
    {
        using var model = HandBuiltNet.Create();
        model.train();
        var conv1 = (nn.Module)model.named_children().First(c => c.name == "conv1").module;
        conv1.eval();                                     // a mixed state: the parent trains, one child does not
        var parameters = model.named_parameters().ToList();
        parameters.First(p => p.name == "conv2.bias").parameter.requires_grad_(false);

        using (ModelFreeze.Apply(model))
        {
            model.training.Should().BeFalse();
            model.modules().Should().OnlyContain(m => !m.training);
            model.parameters().Should().OnlyContain(p => !p.requires_grad);
        }

        model.training.Should().BeTrue();
        conv1.training.Should().BeFalse();
        parameters.Where(p => p.name != "conv2.bias").Should().OnlyContain(p => p.parameter.requires_grad);
        parameters.First(p => p.name == "conv2.bias").parameter.requires_grad.Should().BeFalse();
    }

    [Fact]
    public void Input_gradients_still_flow_and_parameters_collect_none()
    {
        using var model = HandBuiltNet.Create();
        using Tensor x = HandBuiltNet.Input(requiresGrad: true);
        using (ModelFreeze.Apply(model))
        {
            using Tensor y = model.call(x).sum();
            y.backward();
        }

        x.grad.Should().NotBeNull();
        x.grad!.abs().sum().item<float>().Should().BeGreaterThan(0);
        model.parameters().Select(p => p.grad is null || p.grad.IsInvalid).Should().OnlyContain(none => none);
    }

    [Fact]
    public void Disposing_twice_restores_once()
    {
        using var model = HandBuiltNet.Create();
        model.train();
        var outer = ModelFreeze.Apply(model);
        outer.Dispose();
        model.eval();
        outer.Dispose();
        model.training.Should().BeFalse("a second Dispose must not put back a state recorded earlier");
    }
}
