using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Models;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Circuits;

/// <summary>The expanded-weights API against the hand-built curve circuit's designed weights (the ground truth).</summary>
[Collection(SequentialCircuitsCollection.Name)]
public class CurveCircuitExpandedWeightsTests
{
    [Fact]
    public void Expanded_weights_from_the_line_detectors_equal_the_designed_curve_weights()
    {
        using var model = new CurveCircuit();
        int k = model.Options.CurveKernelSize;

        using var fast = ExpandedWeights.Compute(model, CurveCircuit.LinesLayer, CurveCircuit.CurvesLayer, new long[] { 3, 64, 64 }, new ExpandedWeightsOptions { CropSize = k });
        using var reference = ExpandedWeights.ComputeReference(model, CurveCircuit.LinesLayer, CurveCircuit.CurvesLayer, new long[] { 3, 64, 64 },
            new ExpandedWeightsOptions { CropSize = k, TargetChannels = new[] { 3, 11 } });
        using Tensor designed = model.DesignedCurveWeights();

        fast.Weights.shape.Should().Equal(16, 16, k, k);
        designed.abs().max().item<float>().Should().BeGreaterThan(0.01f);
        (fast.Weights - designed).abs().max().item<float>().Should().BeLessThan(1e-6f);
        (reference.Weights - designed.index_select(0, tensor(new long[] { 3, 11 }))).abs().max().item<float>().Should().BeLessThan(1e-6f);
    }
}
