using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Hooks;

/// <summary>
/// Who owns which tensor around a <see cref="ForwardRun"/>: taps left to the caller's dispose scope are freed by it.
/// Finalizers run between passes, because a tensor registered with a scope that was already disposed throws from
/// its finalizer and ends the test process.
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
}
