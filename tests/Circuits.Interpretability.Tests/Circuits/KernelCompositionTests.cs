using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Circuits;

/// <summary>
/// Kernel composition (the default method) against the autograd reference: the op types it composes through,
/// exactness at the borders of small maps, and what happens when the trace is misleading (the verification on a
/// small map sends the computation to the impulse methods, or finds the path nonlinear).
/// </summary>
[Collection(SequentialCircuitsCollection.Name)]
public class KernelCompositionTests
{
    private static Sequential Seeded(int seed, params (string, nn.Module<Tensor, Tensor>)[] modules) => SeededChain.Build(seed, modules);

    private static void ComposedEqualsReference(nn.Module<Tensor, Tensor> model, string source, string target, long[] shape, ExpandedWeightsOptions? options = null)
    {
        using var composed = ExpandedWeights.Compute(model, source, target, shape, options);
        using var reference = ExpandedWeights.ComputeReference(model, source, target, shape, options);
        composed.Method.Should().Be(ExpandedWeightMethod.KernelComposition, composed.MethodDetail);
        double scale = reference.Weights.abs().max().item<float>();
        scale.Should().BeGreaterThan(1e-3, "the test needs weights that are not all zero");
        composed.Weights.sub(reference.Weights).abs().max().item<float>().Should().BeLessThan((float)(1e-5 * Math.Max(1, scale)));
    }

    [Fact]
    public void Strided_padded_dilated_and_grouped_convolutions_compose_exactly()
    {
        var model = Seeded(41, ("conv1", nn.Conv2d(3, 4, 3, stride: 2, padding: 1)), ("relu", nn.ReLU()),
            ("conv2", nn.Conv2d(4, 6, 3, padding: 2, dilation: 2)), ("depthwise", nn.Conv2d(6, 6, 3, padding: 1, groups: 3)), ("conv3", nn.Conv2d(6, 2, 1)));
        ComposedEqualsReference(model, "input", "conv3", new long[] { 3, 40, 40 }, new ExpandedWeightsOptions { CropSize = 13 });
    }

    [Fact]
    public void Batch_norm_and_average_pools_with_their_border_rules_compose_exactly()
    {
        var norm = nn.BatchNorm2d(4);
        var model = Seeded(42, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("norm", norm), ("pool", nn.AvgPool2d(3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: true)),
            ("conv2", nn.Conv2d(4, 3, 3, padding: 1)), ("pool2", nn.AvgPool2d(2, stride: 1)), ("conv3", nn.Conv2d(3, 2, 1)));
        using (no_grad())
        {
            norm.running_var!.copy_(linspace(0.5, 2, 4));
            norm.running_mean!.copy_(linspace(-1, 1, 4));
        }

        ComposedEqualsReference(model, "input", "conv3", new long[] { 3, 25, 25 }, new ExpandedWeightsOptions { CropSize = 9 });
    }

    [Fact]
    public void Weights_at_the_border_of_a_small_map_are_exact()
    {
        // On a 6 x 6 map a 7 x 7 crop reaches past the border and the pool's windows are clipped there: the derivative
        // of the real map (zeros outside, clipped divisors), not of an endless plane.
        var model = Seeded(43, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("relu", nn.ReLU()), ("pool", nn.MaxPool2d(3, stride: 1, padding: 1)),
            ("conv2", nn.Conv2d(4, 3, 5, padding: 2)), ("pool2", nn.AvgPool2d(3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: true)), ("conv3", nn.Conv2d(3, 2, 3, padding: 1)));
        foreach (long size in new long[] { 5, 6, 7 })
        {
            ComposedEqualsReference(model, "input", "conv2", new long[] { 3, size, size }, new ExpandedWeightsOptions { CropSize = 5 });
            ComposedEqualsReference(model, "input", "conv3", new long[] { 3, size, size }, new ExpandedWeightsOptions { CropSize = 5 });
        }
    }

    [Fact]
    public void A_misleading_trace_is_caught_by_the_verification_and_the_impulses_give_the_right_weights()
    {
        // conv2 reads conv1's output after an in-place doubling that no hook sees: the trace says conv1 -> conv2.
        var model = nn.Sequential(("input", nn.Identity()), ("block", new InPlaceBlock(relu: false)));
        SeededInitialization.Apply(model, 44);
        var shape = new long[] { 3, 11, 11 };
        using var fast = ExpandedWeights.Compute(model, "input", "block.conv2", shape);
        using var reference = ExpandedWeights.ComputeReference(model, "input", "block.conv2", shape);

        fast.Method.Should().Be(ExpandedWeightMethod.PackedImpulses);
        fast.MethodDetail.Should().Contain("not composed: the composed ops differ from the model's path");
        fast.Weights.sub(reference.Weights).abs().max().item<float>().Should().BeLessThan(1e-5f);
        reference.Weights.abs().max().item<float>().Should().BeGreaterThan(0.1f);
    }

    [Fact]
    public void An_in_place_rectifier_that_no_hook_sees_makes_the_path_nonlinear()
    {
        var model = nn.Sequential(("input", nn.Identity()), ("block", new InPlaceBlock(relu: true)));
        SeededInitialization.Apply(model, 45);
        var act = () => ExpandedWeights.Compute(model, "input", "block.conv2", new long[] { 3, 11, 11 });
        act.Should().Throw<NonlinearPathException>().Where(e => e.Message.Contains("'block'") && e.Message.Contains("not linear"));
    }

    [Fact]
    public void The_curve_circuit_is_composed_to_its_designed_weights()
    {
        using var model = new CurveCircuit();
        int k = model.Options.CurveKernelSize;
        using var composed = ExpandedWeights.Compute(model, CurveCircuit.LinesLayer, CurveCircuit.CurvesLayer, new long[] { 3, 64, 64 }, new ExpandedWeightsOptions { CropSize = k });
        using Tensor designed = model.DesignedCurveWeights();

        composed.Method.Should().Be(ExpandedWeightMethod.KernelComposition, composed.MethodDetail);
        composed.Weights.sub(designed).abs().max().item<float>().Should().BeLessThan(1e-6f);
        designed.abs().max().item<float>().Should().BeGreaterThan(0.01f);
    }

    /// <summary>conv2(f(conv1(x))) where f is done in place on conv1's output (same tensor object): doubling, or a ReLU.</summary>
    private sealed class InPlaceBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1 = nn.Conv2d(3, 4, 3, padding: 1);
        private readonly Conv2d conv2 = nn.Conv2d(4, 2, 3, padding: 1);
        private readonly bool _relu;

        public InPlaceBlock(bool relu) : base(nameof(InPlaceBlock))
        {
            _relu = relu;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            Tensor h = conv1.call(x);
            if (_relu)
            {
                h.relu_();
            }
            else
            {
                h.mul_(2);
            }

            return conv2.call(h);
        }
    }
}
