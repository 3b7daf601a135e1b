using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Hooks;

public class LayerTableTests
{
    [Fact]
    public void Lists_every_layer_with_type_output_shape_and_parameters()
    {
        using var model = HandBuiltNet.Create();
        LayerTable table = LayerTable.Describe(model, new long[] { 1, 1, 3, 3 });

        table.Select(l => l.Path).Should().Equal("conv1", "relu1", "conv2");
        table["conv1"].TypeName.Should().Be("Conv2d");
        table["conv1"].OutputShape.Should().Equal(1, 2, 2, 2);
        table["conv1"].ParameterCount.Should().Be((2 * 1 * 2 * 2) + 2);
        table["conv2"].OutputShape.Should().Equal(1, 1, 1, 1);
        table["conv2"].ParameterCount.Should().Be((1 * 2 * 2 * 2) + 1);
        table["relu1"].ParameterCount.Should().Be(0);
        table.TotalParameters.Should().Be(19);
        table.Should().OnlyContain(l => l.Ran && l.Capturable);
        table.ToTable().Should().Contain("conv1").And.Contain("1 x 2 x 2 x 2").And.Contain("Total parameters: 19");
    }

    [Fact]
    public void Nested_modules_use_dotted_paths_and_the_model_mode_is_restored()
    {
        using var model = new SmallConvNet(seed: 1, width: 4);
        model.train();
        LayerTable table = LayerTable.Describe(model, new long[] { 2, 3, 16, 16 });

        model.training.Should().BeTrue();
        table.Select(l => l.Path).Should().Contain(new[] { "features", "features.conv1", "features.pool2", "head.fc" });
        table["features.pool2"].OutputShape.Should().Equal(2, 8, 4, 4);
        table["head.fc"].OutputShape.Should().Equal(2, 10);
        table["features"].Depth.Should().Be(0);
        table["features.conv3"].Depth.Should().Be(1);
        table.Invoking(t => t["features.conv9"]).Should().Throw<UnknownLayerException>().WithMessage("*'features.conv1'*");
        HandBuiltNet.HookCount(ModelLayers.Find(model, "features.conv1")).Should().Be(0);
    }

    [Fact]
    public void Small_conv_net_is_deterministic_for_a_seed()
    {
        using var a = new SmallConvNet(seed: 7);
        using var b = new SmallConvNet(seed: 7);
        using var c = new SmallConvNet(seed: 8);
        using var input = ones(1, 3, 8, 8);
        using (no_grad())
        {
            HandBuiltNet.Values(a.call(input)).Should().Equal(HandBuiltNet.Values(b.call(input)));
            HandBuiltNet.Values(a.call(input)).Should().NotEqual(HandBuiltNet.Values(c.call(input)));
        }
    }
}
