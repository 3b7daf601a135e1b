using System.Reflection;
using Circuits.Interpretability.Attribution;
using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Architecture;

/// <summary>
/// Public types that hold tensors are sealed classes, never records: a record's <c>with</c> copy would share the
/// tensors, so two objects would own (and dispose) the same native memory.
/// </summary>
public class OwnershipTests
{
    private static bool HoldsTensors(Type type) =>
        type == typeof(Tensor)
        || (type.IsArray && HoldsTensors(type.GetElementType()!))
        || (type.IsGenericType && !typeof(Delegate).IsAssignableFrom(type) && type.GetGenericArguments().Any(HoldsTensors));

    [Fact]
    public void Every_public_type_that_holds_tensors_is_a_sealed_class_and_not_a_record()
    {
        var holders = typeof(CircuitsException).Assembly.GetExportedTypes()
            .Where(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance).Any(p => HoldsTensors(p.PropertyType)))
            .ToList();

        holders.Should().Contain(new[] { typeof(IntegratedGradientsResult), typeof(Interpretability.Hooks.CaptureResult), typeof(Interpretability.Rendering.RenderResult) });
        var bad = holders
            .Where(t => t.IsAbstract ? false : !t.IsClass || !t.IsSealed || t.GetMethod("<Clone>$") is not null)
            .Select(t => t.FullName)
            .ToList();
        bad.Should().BeEmpty("a type that holds tensors must be a sealed class with explicit disposal, not a record or struct");
    }

    [Fact]
    public void Integrated_gradients_compute_their_total_once()
    {
        var model = nn.Sequential(("conv", nn.Conv2d(2, 1, 1)));
        using Tensor x = ones(1, 2, 2, 2);
        using IntegratedGradientsResult result = Attributions.IntegratedGradients(model, x, "conv:0", steps: 4);

        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        double total = 0;
        for (int i = 0; i < 10; i++)
        {
            total += result.Total;
        }

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before, "reading Total allocates no tensor");
        total.Should().BeApproximately(10 * HandBuiltNet.Values(result.Attribution).Sum(), 1e-4);
    }
}
