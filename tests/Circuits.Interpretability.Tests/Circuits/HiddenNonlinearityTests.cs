using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Circuits;

/// <summary>
/// Regression (issue 14): a ReLU called as a function right after the source layer, which no hook can linearize.
/// One-hot impulses are positive, so they pass such a ReLU unchanged; a linearity check whose random mix happens
/// to be all positive (likely with few channels) passed as well, and Compute returned the weights of the path
/// without the ReLU while the reference (the Jacobian at zero, where the ReLU's slope is 0) returned zeros.
/// </summary>
[Collection(SequentialCircuitsCollection.Name)]
public class HiddenNonlinearityTests
{
    public static TheoryData<int, int> ChannelsAndSeeds()
    {
        var data = new TheoryData<int, int>();
        foreach (int channels in new[] { 1, 2, 4, 16 })
        {
            foreach (int seed in new[] { 0, 1, 2, 3 })
            {
                data.Add(channels, seed);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ChannelsAndSeeds))]
    public void A_functional_relu_after_the_source_is_never_silently_linearized(int channels, int seed)
    {
        var model = nn.Sequential(("input", nn.Identity()), ("block", new FunctionalReluBlock(channels)));
        SeededInitialization.Apply(model, seed);
        var shape = new long[] { 3, 11, 11 };
        var options = new ExpandedWeightsOptions { Seed = seed };
        using (var reference = ExpandedWeights.ComputeReference(model, "block.conv1", "block.conv2", shape, options))
        {
            // The ground truth at zero: the hidden ReLU's slope there is 0, so no impulse gets through.
            reference.Weights.abs().max().item<float>().Should().Be(0f);
        }

        var act = () => ExpandedWeights.Compute(model, "block.conv1", "block.conv2", shape, options);
        act.Should().Throw<NonlinearPathException>().Where(e => e.Message.Contains("'block'") && e.Message.Contains("not linear"));
    }

    /// <summary>conv2(relu(conv1(x))) with the ReLU called as a function inside forward.</summary>
    private sealed class FunctionalReluBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1;
        private readonly Conv2d conv2;

        public FunctionalReluBlock(int channels) : base(nameof(FunctionalReluBlock))
        {
            conv1 = nn.Conv2d(3, channels, 3, padding: 1);
            conv2 = nn.Conv2d(channels, 2, 3, padding: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => conv2.call(nn.functional.relu(conv1.call(x)));
    }
}
