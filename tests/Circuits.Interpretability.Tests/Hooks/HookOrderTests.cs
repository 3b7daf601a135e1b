using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Hooks;

public class HookOrderTests
{
    [Fact]
    public void Hooks_on_one_module_run_in_attach_order_even_after_others_were_removed()
    {
        using var model = HandBuiltNet.Create();
        // Attach and remove hooks first: TorchSharp's own table then reuses freed slots in reverse order.
        for (int i = 0; i < 3; i++)
        {
            using var warm = InterventionScope.Apply(model, Intervention.Zero("relu1:0"), Intervention.Zero("relu1:1"));
        }

        using var before = ActivationCapture.Attach(model, new[] { "relu1" });
        using var edit = InterventionScope.Apply(model, Intervention.Scale("relu1:1", 10));
        using var after = ActivationCapture.Attach(model, new[] { "relu1" });

        using var seenBefore = before.Run(HandBuiltNet.Input());
        using var seenAfter = after.Run(HandBuiltNet.Input());

        HandBuiltNet.Values(seenBefore.Get("relu1:1")).Should().Equal(7, 9, 13, 15);
        HandBuiltNet.Values(seenAfter.Get("relu1:1")).Should().Equal(70, 90, 130, 150);
        HandBuiltNet.HookCount(ModelLayers.Find(model, "relu1")).Should().Be(1, "one dispatcher hook serves all of ours");
    }
}
