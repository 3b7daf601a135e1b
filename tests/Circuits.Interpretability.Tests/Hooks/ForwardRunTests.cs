using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Hooks;

public class ForwardRunTests
{
    /// <summary>An identity layer that counts how often its forward ran.</summary>
    private sealed class Counter : nn.Module<Tensor, Tensor>
    {
        public Counter(string name) : base(name)
        {
        }

        public int Calls { get; private set; }

        public override Tensor forward(Tensor input)
        {
            Calls++;
            return input * 1;
        }
    }

    private static (Sequential Model, Counter[] Counters) CountingChain()
    {
        var counters = new[] { new Counter("a"), new Counter("b"), new Counter("c"), new Counter("d") };
        return (nn.Sequential(("a", counters[0]), ("b", counters[1]), ("c", counters[2]), ("d", counters[3])), counters);
    }

    [Fact]
    public void Taps_hold_the_hand_computed_values_and_Ran_follows_the_forward_order()
    {
        using var model = HandBuiltNet.Create();

        using CaptureResult result = ForwardRun.Once(model, HandBuiltNet.Input(), new ForwardRunOptions { Taps = new[] { "conv2", "conv1:1", "relu1" } });

        result.Ran.Should().Equal("conv1", "relu1", "conv2");
        HandBuiltNet.Values(result["conv1"]).Should().Equal(4, 4, 4, 4, 7, 9, 13, 15);
        HandBuiltNet.Values(result["conv2"]).Should().Equal(52);
        result.Keys.Should().BeEquivalentTo("conv1", "relu1", "conv2");
    }

    [Fact]
    public void The_layers_after_the_deepest_tap_do_not_run()
    {
        var (model, counters) = CountingChain();
        using Tensor x = ones(1, 2);

        using (CaptureResult stopped = ForwardRun.Once(model, x, new ForwardRunOptions { Taps = new[] { "b", "a" } }))
        {
            counters.Select(c => c.Calls).Should().Equal(1, 1, 0, 0);
            stopped.RanToEnd.Should().BeFalse();
            stopped.Output.Should().BeNull();
            stopped.Ran.Should().Equal("a", "b");
        }

        using (CaptureResult full = ForwardRun.Once(model, x, new ForwardRunOptions { Taps = new[] { "b" }, StopAfterTaps = false }))
        {
            counters.Select(c => c.Calls).Should().Equal(2, 2, 1, 1);
            full.RanToEnd.Should().BeTrue();
            HandBuiltNet.Values(full.Output!).Should().Equal(1, 1);
        }

        using (CaptureResult none = ForwardRun.Once(model, x, new ForwardRunOptions()))
        {
            counters.Select(c => c.Calls).Should().Equal(new[] { 3, 3, 2, 2 }, "with no tap the pass runs to the end");
            none.RanToEnd.Should().BeTrue();
        }
    }

    [Fact]
    public void Edits_apply_before_the_taps_of_their_layer_and_of_later_layers()
    {
        using var model = HandBuiltNet.Create();
        var options = new ForwardRunOptions
        {
            Taps = new[] { "conv1", "conv2" },
            Interventions = new[] { Intervention.Zero("conv1:1") },
            // Runs after the intervention of the same layer: channel 1 becomes 0 + 1, channel 0 stays 4 + 1.
            Edits = new[] { LayerEdit.Output("conv1", (_, output) => output + 1) },
        };

        using CaptureResult result = ForwardRun.Once(model, HandBuiltNet.Input(), options);

        HandBuiltNet.Values(result["conv1"]).Should().Equal(5, 5, 5, 5, 1, 1, 1, 1);
        // conv2 = 5*4 (channel 0, all ones) + (1 + 2*1) (channel 1, [[1, 0], [0, 2]]) - 1.
        HandBuiltNet.Values(result["conv2"]).Should().Equal(22);
    }

    [Fact]
    public void An_input_edit_changes_what_the_layer_receives()
    {
        using var model = HandBuiltNet.Create();
        var options = new ForwardRunOptions { Taps = new[] { "conv2" }, Edits = new[] { LayerEdit.Input("conv2", input => input * 0) } };

        using CaptureResult result = ForwardRun.Once(model, HandBuiltNet.Input(), options);

        HandBuiltNet.Values(result["conv2"]).Should().Equal(new[] { -1f }, "only conv2's bias is left");
    }

    [Fact]
    public void Kept_graphs_give_gradients_through_taps_and_to_the_input()
    {
        using var model = HandBuiltNet.Create();
        Tensor input = HandBuiltNet.Input(requiresGrad: true);

        using CaptureResult result = ForwardRun.Once(model, input, new ForwardRunOptions { Taps = new[] { "relu1", "conv2" }, KeepGraph = true });
        var grads = torch.autograd.grad(new[] { result["conv2"].sum() }, new[] { result["relu1"], input });

        HandBuiltNet.Values(grads[0]).Should().Equal(1, 1, 1, 1, 1, 0, 0, 2);
        HandBuiltNet.Values(grads[1]).Should().Equal(-1, 0, 0, 0, 0, 3, 0, 3, 1);

        using CaptureResult detached = ForwardRun.Once(model, input, new ForwardRunOptions { Taps = new[] { "conv2" } });
        detached["conv2"].requires_grad.Should().BeFalse("without KeepGraph the pass runs under no_grad");
    }

    [Fact]
    public void The_model_is_frozen_while_attached_and_restored_after()
    {
        using var model = HandBuiltNet.Create();
        model.train();
        var seen = new List<(bool Training, bool AnyRequiresGrad)>();
        var watch = LayerEdit.Output("conv2", (_, _) =>
        {
            seen.Add((model.training, model.parameters().Any(p => p.requires_grad)));
            return null;
        });

        using (var run = ForwardRun.Attach(model, new ForwardRunOptions { Edits = new[] { watch } }))
        {
            run.Run(HandBuiltNet.Input()).Dispose();
        }

        seen.Should().Equal((false, false));
        model.training.Should().BeTrue();
        model.modules().Should().OnlyContain(m => m.training);
        model.parameters().Should().OnlyContain(p => p.requires_grad);

        using (var unfrozen = ForwardRun.Attach(model, new ForwardRunOptions { Edits = new[] { watch }, Freeze = false }))
        {
            unfrozen.Run(HandBuiltNet.Input()).Dispose();
        }

        seen[^1].Should().Be((true, true), "Freeze = false leaves the model as it is");
    }

    [Fact]
    public void Hooks_act_only_inside_Run()
    {
        using var model = HandBuiltNet.Create();
        using var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { "conv2" }, Interventions = new[] { Intervention.Zero("conv1") } });

        using (no_grad())
        {
            HandBuiltNet.Values(model.call(HandBuiltNet.Input())).Should().Equal(52);
        }

        using CaptureResult edited = run.Run(HandBuiltNet.Input());
        HandBuiltNet.Values(edited["conv2"]).Should().Equal(-1);
    }

    [Fact]
    public void A_pass_that_throws_leaves_no_hooks_and_restores_the_model()
    {
        using var model = HandBuiltNet.Create();
        model.train();
        var failing = LayerEdit.Output("relu1", (_, _) => throw new InvalidOperationException("edit failed"));
        var modules = new[] { "conv1", "relu1", "conv2" }.Select(l => ModelLayers.Find(model, l)).ToList();

        FluentActions.Invoking(() => ForwardRun.Once(model, HandBuiltNet.Input(), new ForwardRunOptions { Taps = new[] { "conv2" }, Edits = new[] { failing } }))
            .Should().Throw<InvalidOperationException>().WithMessage("edit failed");
        modules.Select(HandBuiltNet.HookCount).Should().OnlyContain(n => n == 0);
        model.training.Should().BeTrue();
        model.parameters().Should().OnlyContain(p => p.requires_grad);

        FluentActions.Invoking(() =>
        {
            using var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { "conv2" }, Edits = new[] { failing } });
            run.Run(HandBuiltNet.Input());
        }).Should().Throw<InvalidOperationException>();
        modules.Select(HandBuiltNet.HookCount).Should().OnlyContain(n => n == 0);
        model.training.Should().BeTrue();
    }

    [Fact]
    public void A_tap_whose_layer_does_not_run_throws_and_a_bad_name_attaches_nothing()
    {
        var (model, counters) = CountingChain();
        using Tensor x = ones(1, 2);
        using var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { "c" } });

        run.Run(x).Dispose();
        FluentActions.Invoking(() => run.Run(() => counters[0].call(x))).Should().Throw<HookNotFiredException>().WithMessage("*'c'*");
        run.Run(x).Dispose(); // the run still works after a failed pass

        FluentActions.Invoking(() => ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { "b" }, Edits = new[] { LayerEdit.Output("x", (_, o) => o) } }))
            .Should().Throw<UnknownLayerException>().WithMessage("*'x'*");
        HandBuiltNet.HookCount(counters[1]).Should().Be(0, "a bad name is found before anything is attached");
        HandBuiltNet.HookCount(counters[2]).Should().Be(1, "the run above holds one hook on 'c'");
    }

    [Fact]
    public void The_result_owns_its_output_unless_it_is_taken()
    {
        using var model = HandBuiltNet.Create();
        Tensor kept;
        Tensor freed;
        using (CaptureResult a = ForwardRun.Once(model, HandBuiltNet.Input(), new ForwardRunOptions()))
        {
            freed = a.Output!;
        }

        using (CaptureResult b = ForwardRun.Once(model, HandBuiltNet.Input(), new ForwardRunOptions()))
        {
            kept = b.TakeOutput();
            b.RanToEnd.Should().BeTrue();
        }

        freed.IsInvalid.Should().BeTrue();
        HandBuiltNet.Values(kept).Should().Equal(52);
        kept.Dispose();
    }

    [Fact]
    public void Devices_come_from_the_model_and_a_mismatch_is_refused_before_anything_is_attached()
    {
        using var model = HandBuiltNet.Create();
        using (var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { "conv2" }, Device = CPU }))
        {
            run.Device.type.Should().Be(DeviceType.CPU);
            using CaptureResult result = run.Run(HandBuiltNet.Input());
            HandBuiltNet.Values(result["conv2"]).Should().Equal(52);
        }

        FluentActions.Invoking(() => ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { "conv2" }, Device = new Device(DeviceType.CUDA) }))
            .Should().Throw<DeviceMismatchException>().WithMessage("*ForwardRunOptions.Device is cuda*model's parameters are on cpu*");
        HandBuiltNet.HookCount(ModelLayers.Find(model, "conv2")).Should().Be(0);
    }
}
