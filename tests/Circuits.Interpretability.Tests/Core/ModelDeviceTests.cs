using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Core;

public class ModelDeviceTests
{
    [Fact]
    public void The_device_is_the_parameters_device_and_none_for_a_model_without_state()
    {
        using var model = HandBuiltNet.Create();
        using var stateless = nn.Sequential(("relu", nn.ReLU()));

        ModelDevice.Of(model).type.Should().Be(DeviceType.CPU);
        ModelDevice.TryOf(stateless).Should().BeNull();
        ModelDevice.Of(stateless).type.Should().Be(DeviceType.CPU);
    }

    [Fact]
    public void An_explicit_device_must_be_the_models()
    {
        using var model = HandBuiltNet.Create();
        using var stateless = nn.Sequential(("relu", nn.ReLU()));

        ModelDevice.Resolve(model, CPU, "RenderOptions.Device").type.Should().Be(DeviceType.CPU);
        ModelDevice.Resolve(model, null).type.Should().Be(DeviceType.CPU);
        ModelDevice.Resolve(stateless, new Device(DeviceType.CUDA)).type.Should().Be(DeviceType.CUDA, "a model without parameters runs wherever it is asked to");
        FluentActions.Invoking(() => ModelDevice.Resolve(model, new Device(DeviceType.CUDA), "RenderOptions.Device"))
            .Should().Throw<DeviceMismatchException>()
            .WithMessage("RenderOptions.Device is cuda, but the model's parameters are on cpu; move the model first (model.to(cuda)) or leave RenderOptions.Device unset*");
    }

    [Fact]
    public void A_tensor_on_another_device_is_named_in_the_error()
    {
        using Tensor x = zeros(2);
        FluentActions.Invoking(() => ModelDevice.Require(x, CPU, "The input")).Should().NotThrow();
        FluentActions.Invoking(() => ModelDevice.Require(x, new Device("cuda:1"), "The input"))
            .Should().Throw<DeviceMismatchException>().WithMessage("The input is on cpu, but the model is on cuda:1*");
    }

    [Fact]
    public void Devices_compare_by_type_and_index_with_an_unset_index_matching_any()
    {
        ModelDevice.Same(CPU, new Device("cpu")).Should().BeTrue();
        ModelDevice.Same(new Device(DeviceType.CUDA), new Device("cuda:1")).Should().BeTrue();
        ModelDevice.Same(new Device("cuda:0"), new Device("cuda:1")).Should().BeFalse();
        ModelDevice.Same(CPU, new Device(DeviceType.CUDA)).Should().BeFalse();
        ModelDevice.Name(new Device("cuda:1")).Should().Be("cuda:1");
        ModelDevice.Name(CPU).Should().Be("cpu");
    }

    [Fact]
    public void Parse_reads_cpu_cuda_and_auto()
    {
        ModelDevice.Parse("cpu").type.Should().Be(DeviceType.CPU);
        ModelDevice.Parse(" CPU ").type.Should().Be(DeviceType.CPU);
        // auto is defined as: cuda when torch.cuda.is_available(), else cpu.
        ModelDevice.Parse("auto").type.Should().Be(cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU);
        FluentActions.Invoking(() => ModelDevice.Parse("gpu")).Should().Throw<CircuitsException>().WithMessage("'gpu' is not a device; expected 'cpu', 'cuda', 'cuda:N' or 'auto'.");
        FluentActions.Invoking(() => ModelDevice.Parse("cuda:x")).Should().Throw<CircuitsException>().WithMessage("*not a device*");
        if (!cuda.is_available())
        {
            FluentActions.Invoking(() => ModelDevice.Parse("cuda")).Should().Throw<CircuitsException>().WithMessage("*CUDA is not available*TorchSharp-cuda-linux*");
        }
        else
        {
            ModelDevice.Parse("cuda:0").index.Should().Be(0);
        }
    }
}
