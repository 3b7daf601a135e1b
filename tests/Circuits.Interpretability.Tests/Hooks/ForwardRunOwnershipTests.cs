using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Hooks;

/// <summary>
/// Who owns which tensor around a <see cref="ForwardRun"/>: taps left to the caller's dispose scope are freed by it,
/// and a tensor an edit returns but did not make for the pass (a constant, the layer's input, a leaf the caller
/// keeps) stays the caller's, however often the pass runs. Finalizers run between passes, because a tensor
/// registered with a scope that was already disposed throws from its finalizer and ends the test process.
/// </summary>
public class ForwardRunOwnershipTests
{
    private static void CollectGarbage()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    [Fact]
    public void Taps_left_to_the_callers_dispose_scope_are_freed_by_it()
    {
        // HandBuiltNet opens no dispose scope of its own, so each tap is made in the caller's scope: the case in which
        // moving it to that same scope used to drop it from the scope's list while leaving it registered there.
        using var model = HandBuiltNet.Create();
        using var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { "relu1", "conv2" }, StopAfterTaps = false });
        for (int i = 0; i < 20; i++)
        {
            var taps = new List<Tensor>();
            using (NewDisposeScope())
            {
                CaptureResult result = run.Run(HandBuiltNet.Input()); // not disposed: the scope owns it
                HandBuiltNet.Values(result["conv2"]).Should().Equal(52);
                taps.AddRange(result.Values);
                taps.Add(result.Output!);
            }

            taps.Should().OnlyContain(t => t.IsInvalid, "the caller's dispose scope frees every tensor of the result");
            CollectGarbage();
        }
    }

    [Fact]
    public void Kept_graph_taps_left_to_the_callers_dispose_scope_are_freed_by_it()
    {
        using var model = HandBuiltNet.Create();
        Tensor tap;
        using (NewDisposeScope())
        {
            CaptureResult result = ForwardRun.Once(model, HandBuiltNet.Input(requiresGrad: true), new ForwardRunOptions { Taps = new[] { "relu1" }, KeepGraph = true });
            tap = result["relu1"];
        }

        tap.IsInvalid.Should().BeTrue();
        CollectGarbage();
    }

    [Fact]
    public void Edits_may_return_tensors_the_caller_keeps_and_the_pass_leaves_them_alone()
    {
        using var model = HandBuiltNet.Create();
        using Tensor constant = full(new long[] { 1, 2, 2, 2 }, 1f);   // made once, outside any scope
        using Tensor scalar = full(new long[] { 1, 1, 1, 1 }, 7f);
        Tensor? kept = null;
        var cases = new (string Name, LayerEdit Edit, float Expected)[]
        {
            // conv2 of all ones: 4 (channel 0) + 3 (channel 1) - 1.
            ("a constant in the middle", LayerEdit.Output("conv1", (_, _) => constant), 6),
            ("a constant as the model's output", LayerEdit.Output("conv2", (_, _) => scalar), 7),
            ("the layer's input, unchanged", LayerEdit.Output("relu1", (input, _) => input), 52),
            ("a constant as the input of the last layer", LayerEdit.Input("conv2", _ => constant), 6),
            // Made in the edit but detached from the dispose scopes: the edit's author owns it and frees it below.
            ("a leaf the caller keeps", LayerEdit.Output("relu1", (_, output) => kept = output.detach().requires_grad_(true).DetachFromDisposeScope()), 52),
        };

        foreach (var (name, edit, expected) in cases)
        {
            using var run = ForwardRun.Attach(model, new ForwardRunOptions { Taps = new[] { "relu1" }, Edits = new[] { edit }, StopAfterTaps = false, KeepGraph = true });
            for (int i = 0; i < 10; i++)
            {
                using (NewDisposeScope())
                {
                    using CaptureResult result = run.Run(HandBuiltNet.Input());
                    HandBuiltNet.Values(result.Output!).Should().Equal(new[] { expected }, "{0}, pass {1}", name, i);
                    if (kept is not null)
                    {
                        kept.IsInvalid.Should().BeFalse("the edit's caller keeps the leaf it returned ({0})", name);
                        HandBuiltNet.Values(autograd.grad(new[] { result.Output!.sum() }, new[] { kept })[0]).Should().Equal(1, 1, 1, 1, 1, 0, 0, 2);
                        kept.Dispose();
                        kept = null;
                    }
                }

                CollectGarbage();
            }
        }

        HandBuiltNet.Values(constant).Should().OnlyContain(v => v == 1f, "the pass never freed the caller's constant");
        HandBuiltNet.Values(scalar).Should().Equal(7f);
    }

    [Fact]
    public void A_tensor_the_edit_makes_for_the_pass_is_freed_like_any_layer_output()
    {
        using var model = HandBuiltNet.Create();
        var made = new List<Tensor>();
        var options = new ForwardRunOptions { Edits = new[] { LayerEdit.Output("conv1", (_, output) => { Tensor t = output + 1; made.Add(t); return t; }) } };

        using (CaptureResult result = ForwardRun.Once(model, HandBuiltNet.Input(), options))
        {
            // conv1 + 1: channel 0 is 5 everywhere, channel 1 is [[8, 10], [14, 16]]; conv2 = 5*4 + (8 + 2*16) - 1.
            HandBuiltNet.Values(result.Output!).Should().Equal(59);
        }

        made.Should().ContainSingle().Which.IsInvalid.Should().BeTrue("Sequential frees its intermediate outputs, the edited one too: it was handed on, not copied");
    }
}
