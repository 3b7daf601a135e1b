using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Hooks;

/// <summary>
/// Interventions on <see cref="HandBuiltNet"/>, whose output is
/// out = sum(relu1[0]) * 1 + relu1[1][0,0] * 1 + relu1[1][1,1] * 2 - 1 with relu1[0] = 4 everywhere and
/// relu1[1] = [[7, 9], [13, 15]], so out = 16 + 7 + 30 - 1 = 52.
/// </summary>
public class InterventionTests
{
    private static float Output(nn.Module<Tensor, Tensor> model, params Intervention[] interventions)
    {
        using var scope = InterventionScope.Apply(model, interventions);
        using (no_grad())
        {
            return model.call(HandBuiltNet.Input()).item<float>();
        }
    }

    [Fact]
    public void Ablating_a_channel_changes_the_output_as_computed_by_hand()
    {
        using var model = HandBuiltNet.Create();
        Output(model, Intervention.Zero("relu1:0")).Should().Be(36);      // 52 - 16
        Output(model, Intervention.Zero("relu1:1")).Should().Be(15);      // 16 - 1
        Output(model, Intervention.Zero("relu1:1@0,0")).Should().Be(45);  // 52 - 7
        Output(model, Intervention.Zero("relu1:1@0,1")).Should().Be(52, "conv2 gives (0,1) of channel 1 weight 0");
        Output(model, Intervention.Zero("relu1")).Should().Be(-1);
    }

    [Fact]
    public void Scale_add_and_replace_change_the_output_as_computed_by_hand()
    {
        using var model = HandBuiltNet.Create();
        Output(model, Intervention.Scale("relu1:1@1,1", 2)).Should().Be(82);   // 52 + 2 * 15
        Output(model, Intervention.Add("relu1:1@0,0", 1)).Should().Be(53);
        Output(model, Intervention.Replace("relu1:0", 1)).Should().Be(40);     // 52 - 16 + 4
        Output(model, Intervention.Scale("relu1", 0.5, new[] { 0 }, new[] { (0, 0), (1, 1) })).Should().Be(48); // two 4s halved
    }

    [Fact]
    public void Several_interventions_apply_at_once_in_order()
    {
        using var model = HandBuiltNet.Create();
        Output(model, Intervention.Zero("relu1:0"), Intervention.Scale("relu1:1", 0.5)).Should().Be(17.5f);
        // On the same units, order matters: (4 + 1) * 2 versus 4 * 2 + 1 at relu1:0@0,0.
        Output(model, Intervention.Add("relu1:0@0,0", 1), Intervention.Scale("relu1:0@0,0", 2)).Should().Be(52 + 6);
        Output(model, Intervention.Scale("relu1:0@0,0", 2), Intervention.Add("relu1:0@0,0", 1)).Should().Be(52 + 5);
    }

    [Fact]
    public void An_intervention_on_the_input_edits_what_the_layer_receives()
    {
        using var model = HandBuiltNet.Create();
        Output(model, Intervention.Zero("conv2:0").OnInput()).Should().Be(36);
        // conv1 then sees zeros and outputs its biases (0 and 1): out = 1 * 1 + 1 * 2 - 1.
        Output(model, Intervention.Custom("conv1", x => x * 0).OnInput()).Should().Be(2);
    }

    [Fact]
    public void Replacing_with_another_inputs_activation_patches_it_in()
    {
        using var model = HandBuiltNet.Create();
        Tensor other = HandBuiltNet.Input() * 2;
        using var donor = ActivationCapture.Capture(model, other, new[] { "relu1" });
        float expected;
        using (no_grad())
        {
            expected = model.call(other).item<float>();
        }

        Output(model, Intervention.Replace("relu1", donor["relu1"])).Should().Be(expected);
        // Patch channel 1 only: channel 0 keeps 4s, channel 1 takes [[13, 17], [25, 29]].
        Output(model, Intervention.Replace("relu1", donor["relu1"], channels: new[] { 1 })).Should().Be(16 + 13 + 58 - 1);
    }

    [Fact]
    public void Adding_a_direction_tensor_broadcasts_over_positions()
    {
        using var model = HandBuiltNet.Create();
        using Tensor direction = tensor(new float[] { 1, -1 }).reshape(1, 2, 1, 1);
        Output(model, Intervention.Add("relu1", direction)).Should().Be(52 + 4 - 3);
    }

    [Fact]
    public void Gradients_flow_through_an_intervention()
    {
        using var model = HandBuiltNet.Create();
        Tensor input = HandBuiltNet.Input(requiresGrad: true);
        using (InterventionScope.Apply(model, Intervention.Zero("relu1:1")))
        {
            model.call(input).sum().backward();
        }

        // Only channel 0 remains: out = sum over the 2x2 window of x[i+1,j+1] - x[i,j].
        HandBuiltNet.Values(input.grad!).Should().Equal(-1, -1, 0, -1, 0, 1, 0, 1, 1);
    }

    [Fact]
    public void Hooks_are_gone_after_dispose()
    {
        using var model = HandBuiltNet.Create();
        var relu = ModelLayers.Find(model, "relu1");
        var conv2 = ModelLayers.Find(model, "conv2");
        var scope = InterventionScope.Apply(model, Intervention.Zero("relu1:0"), Intervention.Zero("conv2:1").OnInput());
        HandBuiltNet.HookCount(relu).Should().Be(1);
        HandBuiltNet.HookCount(conv2).Should().Be(1);

        scope.Dispose();
        scope.Dispose();

        HandBuiltNet.HookCount(relu).Should().Be(0);
        HandBuiltNet.HookCount(conv2).Should().Be(0);
        Output(model).Should().Be(52);
    }

    [Fact]
    public void Bad_targets_are_clear_errors()
    {
        using var model = HandBuiltNet.Create();
        var unknown = () => InterventionScope.Apply(model, Intervention.Zero("relu1:0"), Intervention.Zero("relu:0"));
        unknown.Should().Throw<UnknownLayerException>().WithMessage("Unknown layer 'relu'. Closest layers: 'relu1'*");
        HandBuiltNet.HookCount(ModelLayers.Find(model, "relu1")).Should().Be(0, "nothing is attached when one target is bad");

        var channel = () => Output(model, Intervention.Zero("relu1:7"));
        channel.Should().Throw<UnitOutOfRangeException>().WithMessage("Channel 7 is out of range for layer 'relu1', which has 2 channels (0 to 1).");

        var custom = () => Output(model, Intervention.Custom("relu1", x => x.sum()));
        custom.Should().Throw<CircuitsException>().WithMessage("*returned shape []*expected*[1, 2, 2, 2]*");
    }

    [Fact]
    public void Descriptions_are_readable()
    {
        Intervention.Scale("relu1:1@1,1", 2).ToString().Should().Be("scale(relu1:[1]@[1,1] x 2)");
        Intervention.Zero("conv2:0").OnInput().ToString().Should().Be("zero(conv2:[0] (input))");
    }
}
