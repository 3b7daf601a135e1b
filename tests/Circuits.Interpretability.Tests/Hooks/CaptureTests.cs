using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Hooks;

public class CaptureTests
{
    [Fact]
    public void Captured_values_equal_the_hand_computed_activations()
    {
        using var model = HandBuiltNet.Create();
        using var result = ActivationCapture.Capture(model, HandBuiltNet.Input(), new[] { "conv1", "relu1", "conv2" });

        HandBuiltNet.Values(result["conv1"]).Should().Equal(4, 4, 4, 4, 7, 9, 13, 15);
        HandBuiltNet.Values(result["relu1"]).Should().Equal(4, 4, 4, 4, 7, 9, 13, 15);
        HandBuiltNet.Values(result["conv2"]).Should().Equal(52);
        HandBuiltNet.Values(result.Output!).Should().Equal(52);
        result["relu1"].shape.Should().Equal(1, 2, 2, 2);
    }

    [Fact]
    public void Addresses_select_a_channel_and_a_position()
    {
        using var model = HandBuiltNet.Create();
        using var result = ActivationCapture.Capture(model, HandBuiltNet.Input(), new[] { "relu1" });

        HandBuiltNet.Values(result.Get("relu1:1")).Should().Equal(7, 9, 13, 15);
        HandBuiltNet.Values(result.Get("relu1:1@1,0")).Should().Equal(13);
        result.Get("relu1").shape.Should().Equal(1, 2, 2, 2);
    }

    [Fact]
    public void Gradients_flow_through_a_captured_activation_when_the_graph_is_kept()
    {
        using var model = HandBuiltNet.Create();
        Tensor input = HandBuiltNet.Input(requiresGrad: true);
        using var result = ActivationCapture.Capture(model, input, new[] { "relu1" }, new CaptureOptions { KeepGraph = true });

        Tensor activation = result["relu1"];
        activation.requires_grad.Should().BeTrue();
        var grads = torch.autograd.grad(new[] { result.Output!.sum() }, new[] { activation, input });

        // d out / d relu1 is conv2's kernel; d out / d input follows through conv1 (every ReLU is active).
        HandBuiltNet.Values(grads[0]).Should().Equal(1, 1, 1, 1, 1, 0, 0, 2);
        HandBuiltNet.Values(grads[1]).Should().Equal(-1, 0, 0, 0, 0, 3, 0, 3, 1);
    }

    [Fact]
    public void Detached_captures_carry_no_graph()
    {
        using var model = HandBuiltNet.Create();
        using var result = ActivationCapture.Capture(model, HandBuiltNet.Input(requiresGrad: true), new[] { "conv1" });

        result["conv1"].requires_grad.Should().BeFalse();
        result.Output!.requires_grad.Should().BeFalse("the default capture runs under no_grad");
    }

    [Fact]
    public void One_capture_serves_many_forward_passes_and_its_hooks_go_on_dispose()
    {
        using var model = HandBuiltNet.Create();
        var conv1 = ModelLayers.Find(model, "conv1");
        var capture = ActivationCapture.Attach(model, new[] { "conv1", "conv2" });
        HandBuiltNet.HookCount(conv1).Should().Be(1);

        using (var first = capture.Run(HandBuiltNet.Input()))
        using (var second = capture.Run(HandBuiltNet.Input() * 2))
        {
            HandBuiltNet.Values(first["conv2"]).Should().Equal(52);
            // conv1 doubles but its biases do not: channel 0 = 8, channel 1 = [[13, 17], [25, 29]].
            HandBuiltNet.Values(second["conv2"]).Should().Equal((4 * 8) + 13 + (2 * 29) - 1);
        }

        capture.Dispose();
        HandBuiltNet.HookCount(conv1).Should().Be(0);
        HandBuiltNet.HookCount(ModelLayers.Find(model, "conv2")).Should().Be(0);
        capture.Invoking(c => c.Run(HandBuiltNet.Input())).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void Hooks_are_removed_when_the_forward_throws()
    {
        using var model = HandBuiltNet.Create();
        var capture = ActivationCapture.Attach(model, new[] { "conv1" });

        // Three input channels where conv1 expects one: the forward fails inside conv1.
        capture.Invoking(c => c.Run(zeros(1, 3, 3, 3))).Should().Throw<Exception>();

        HandBuiltNet.HookCount(ModelLayers.Find(model, "conv1")).Should().Be(0);
        capture.Invoking(c => c.Run(HandBuiltNet.Input())).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void A_hook_that_never_fires_is_an_error_naming_the_layer_and_the_cause()
    {
        using var model = new ForwardCallingParent();
        var act = () => ActivationCapture.Capture(model, HandBuiltNet.Input(), new[] { "inner.conv1" });

        act.Should().Throw<HookNotFiredException>()
            .WithMessage("*'inner.conv1'*call()*")
            .Which.Layers.Should().Equal("inner.conv1");
        HandBuiltNet.HookCount(ModelLayers.Find(model, "inner.conv1")).Should().Be(0);
    }

    [Fact]
    public void An_unknown_layer_lists_the_closest_real_names()
    {
        using var model = HandBuiltNet.Create();
        var act = () => ActivationCapture.Attach(model, new[] { "conv3" });

        act.Should().Throw<UnknownLayerException>()
            .WithMessage("Unknown layer 'conv3'. Closest layers: 'conv1', 'conv2', 'relu1'.");
        HandBuiltNet.HookCount(ModelLayers.Find(model, "conv1")).Should().Be(0, "a bad name attaches nothing");
    }

    [Fact]
    public void A_channel_out_of_range_names_the_channel_count()
    {
        using var model = HandBuiltNet.Create();
        using var result = ActivationCapture.Capture(model, HandBuiltNet.Input(), new[] { "relu1" });

        result.Invoking(r => r.Get("relu1:2")).Should().Throw<UnitOutOfRangeException>()
            .WithMessage("Channel 2 is out of range for layer 'relu1', which has 2 channels (0 to 1).");
        result.Invoking(r => r.Get("relu1:0@2,0")).Should().Throw<UnitOutOfRangeException>()
            .WithMessage("Position (2,0) is out of range for layer 'relu1', whose activation is 2 x 2*");
        result.Invoking(r => r.Get("conv2")).Should().Throw<UnknownLayerException>().WithMessage("*'relu1'*");
    }

    [Fact]
    public void A_module_with_another_signature_is_refused_by_name()
    {
        using var model = new TwoInputParent();
        var act = () => ActivationCapture.Attach(model, new[] { "mix" });

        act.Should().Throw<UnsupportedLayerException>().WithMessage("Layer 'mix' is a Mixer (Module<Tensor, Tensor, Tensor>)*");
    }

    [Fact]
    public void Run_with_a_delegate_captures_models_of_any_signature()
    {
        using var model = new TwoInputParent();
        using var capture = ActivationCapture.Attach(model, new[] { "inner.conv1" });
        using var result = capture.Run(() => model.call(HandBuiltNet.Input()));

        HandBuiltNet.Values(result["inner.conv1"]).Should().Equal(4, 4, 4, 4, 7, 9, 13, 15);
    }

    /// <summary>Calls its child conv with forward(), which bypasses TorchSharp hooks.</summary>
    private sealed class ForwardCallingParent : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Sequential inner = HandBuiltNet.Create();

        public ForwardCallingParent() : base(nameof(ForwardCallingParent)) => RegisterComponents();

        public override Tensor forward(Tensor input) => ((TorchSharp.Modules.Conv2d)ModelLayers.Find(inner, "conv1")).forward(input);
    }

    private sealed class Mixer : nn.Module<Tensor, Tensor, Tensor>
    {
        public Mixer() : base(nameof(Mixer))
        {
        }

        public override Tensor forward(Tensor a, Tensor b) => a + b;
    }

    private sealed class TwoInputParent : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Sequential inner = HandBuiltNet.Create();
        private readonly Mixer mix = new();

        public TwoInputParent() : base(nameof(TwoInputParent)) => RegisterComponents();

        public override Tensor forward(Tensor input) => mix.call(inner.call(input), inner.call(input));
    }
}
