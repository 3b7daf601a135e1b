using Circuits.Interpretability.Attribution;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Circuits;

[Collection(SequentialCircuitsCollection.Name)]
public class AttributionTests
{
    /// <summary>input (2 ch) -> conv1 1x1 (3 ch) -> conv2 1x1 (2 ch) -> conv3 1x1 (1 ch), all linear with biases, seeded.</summary>
    private static Sequential LinearChain(int seed)
    {
        var model = nn.Sequential(("input", nn.Identity()), ("conv1", nn.Conv2d(2, 3, 1)), ("conv2", nn.Conv2d(3, 2, 1)), ("conv3", nn.Conv2d(2, 1, 1)));
        SeededInitialization.Apply(model, seed);
        return model;
    }

    private static float[,] W(Sequential model, string layer)
    {
        var conv = (Conv2d)ModelLayers.Find(model, layer);
        long o = conv.weight!.shape[0], i = conv.weight.shape[1];
        float[] v = HandBuiltNet.Values(conv.weight);
        var w = new float[o, i];
        for (int a = 0; a < o; a++)
        {
            for (int b = 0; b < i; b++)
            {
                w[a, b] = v[(a * i) + b];
            }
        }

        return w;
    }

    private static Tensor Input() => tensor(new float[] { 1, -2, 0.5f, 3, 2, 1, -1, 0.25f }).reshape(1, 2, 2, 2);

    [Fact]
    public void Gradient_times_activation_of_a_linear_layer_is_each_contribution()
    {
        var model = LinearChain(1);
        Tensor x = Input();
        using var capture = ActivationCapture.Capture(model, x, new[] { "conv2", "conv3" });
        float[] a2 = HandBuiltNet.Values(capture["conv2"]);
        float target = HandBuiltNet.Values(capture["conv3"]).Sum();
        float[,] w3 = W(model, "conv3");

        Tensor attribution = Attributions.GradientTimesActivation(model, x, "conv2", "conv3:0");
        float[] got = HandBuiltNet.Values(attribution);

        attribution.shape.Should().Equal(1, 2, 2, 2);
        for (int c = 0; c < 2; c++)
        {
            for (int p = 0; p < 4; p++)
            {
                got[(c * 4) + p].Should().BeApproximately(w3[0, c] * a2[(c * 4) + p], 1e-5f);
            }
        }

        float bias = ((Conv2d)ModelLayers.Find(model, "conv3")).bias!.item<float>();
        (got.Sum() + (4 * bias)).Should().BeApproximately(target, 1e-4f);
    }

    [Fact]
    public void Neuron_to_layer_gives_a_map_per_channel_and_totals()
    {
        var model = LinearChain(2);
        Tensor x = Input();
        using var capture = ActivationCapture.Capture(model, x, new[] { "conv1" });
        float[] a1 = HandBuiltNet.Values(capture["conv1"]);
        float[,] w2 = W(model, "conv2");

        using LayerAttribution result = Attributions.NeuronToLayer(model, x, "conv2:1@0,1", "conv1");

        result.Map.shape.Should().Equal(3, 2, 2);
        for (int c = 0; c < 3; c++)
        {
            // Only position (0, 1) feeds conv2:1@0,1 through 1x1 convs.
            result.ChannelTotals[c].Should().BeApproximately(w2[1, c] * a1[(c * 4) + 1], 1e-5);
            result.Map[c, 0, 0].item<float>().Should().Be(0);
        }

        result.Strongest(1).Single().Channel.Should().Be(Enumerable.Range(0, 3).OrderByDescending(c => Math.Abs(w2[1, c] * a1[(c * 4) + 1])).First());
    }

    [Fact]
    public void Integrated_gradients_of_a_linear_model_are_exact()
    {
        var model = LinearChain(3);
        Tensor x = Input();
        Tensor baseline = full(1, 2, 2, 2, 0.5f);
        float[,] w1 = W(model, "conv1"), w2 = W(model, "conv2"), w3 = W(model, "conv3");

        using var result = Attributions.IntegratedGradients(model, x, "conv3:0", baseline, steps: 8);

        float[] got = HandBuiltNet.Values(result.Attribution);
        float[] xs = HandBuiltNet.Values(x);
        for (int i = 0; i < 2; i++)
        {
            double slope = 0;
            for (int b = 0; b < 3; b++)
            {
                for (int c = 0; c < 2; c++)
                {
                    slope += w3[0, c] * w2[c, b] * w1[b, i];
                }
            }

            for (int p = 0; p < 4; p++)
            {
                got[(i * 4) + p].Should().BeApproximately((float)((xs[(i * 4) + p] - 0.5) * slope), 1e-5f);
            }
        }

        result.CompletenessError.Should().BeLessThan(1e-4);
    }

    [Fact]
    public void Integrated_gradients_satisfy_completeness_on_a_nonlinear_model()
    {
        var model = nn.Sequential(("conv1", nn.Conv2d(3, 8, 3, padding: 1)), ("act1", nn.Tanh()), ("conv2", nn.Conv2d(8, 8, 3, padding: 1)),
            ("act2", nn.Softplus()), ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(8, 4)));
        SeededInitialization.Apply(model, 4);
        Tensor x = rand(new long[] { 1, 3, 12, 12 }, generator: new Generator(5)).mul(4);

        using var atInput = Attributions.IntegratedGradients(model, x, "fc:2", steps: 32);
        using var atLayer = Attributions.IntegratedGradients(model, x, "fc:2", steps: 32, layer: "conv1");

        // Independent values of the target at the input and the baseline.
        using (no_grad())
        {
            float fx = model.call(x)[0, 2].item<float>();
            float f0 = model.call(zeros_like(x))[0, 2].item<float>();
            atInput.TargetAtInput.Should().BeApproximately(fx, 1e-5);
            atInput.TargetAtBaseline.Should().BeApproximately(f0, 1e-5);
            Math.Abs(atInput.Total - (fx - f0)).Should().BeLessThan(0.01 * Math.Abs(fx - f0));
            Math.Abs(fx - f0).Should().BeGreaterThan(1e-3f);
        }

        atInput.Attribution.shape.Should().Equal(1, 3, 12, 12);
        atLayer.Attribution.shape.Should().Equal(1, 8, 12, 12);
        atLayer.CompletenessError.Should().BeLessThan(0.01);
    }

    [Fact]
    public void Path_attribution_of_a_linear_chain_is_the_product_of_path_weights()
    {
        var model = LinearChain(6);
        Tensor x = Input();
        using var capture = ActivationCapture.Capture(model, x, new[] { "conv1", "conv2", "conv3" });
        float[] a1 = HandBuiltNet.Values(capture["conv1"]);
        float[] a2 = HandBuiltNet.Values(capture["conv2"]);
        float[,] w2 = W(model, "conv2"), w3 = W(model, "conv3");

        using PathAttribution result = Attributions.AlongPath(model, x, new NeuronAddress[] { "conv1:2", "conv2:0", "conv3:0" });

        result.Steps.Should().HaveCount(2);
        result.TargetValue.Should().BeApproximately(HandBuiltNet.Values(capture["conv3"]).Sum(), 1e-4);
        for (int p = 0; p < 4; p++)
        {
            result.Steps[0].Map[p / 2, p % 2].item<float>().Should().BeApproximately(a1[(2 * 4) + p] * w2[0, 2] * w3[0, 0], 1e-5f);
            result.Steps[1].Map[p / 2, p % 2].item<float>().Should().BeApproximately(a2[p] * w3[0, 0], 1e-5f);
        }

        result.Steps[0].Total.Should().BeApproximately(Enumerable.Range(0, 4).Sum(p => a1[8 + p]) * w2[0, 2] * w3[0, 0], 1e-4);
    }

    [Fact]
    public void Attribution_errors_name_the_bad_value()
    {
        var model = LinearChain(7);
        Tensor x = Input();
        FluentActions.Invoking(() => Attributions.GradientTimesActivation(model, x, "conv2", "conv3:4")).Should().Throw<UnitOutOfRangeException>().WithMessage("*Channel 4*0 to 0*");
        FluentActions.Invoking(() => Attributions.GradientTimesActivation(model, x, "conv9", "conv3:0")).Should().Throw<UnknownLayerException>();
        FluentActions.Invoking(() => Attributions.GradientTimesActivation(model, x, "conv3", "conv1:0")).Should().Throw<CircuitsException>().WithMessage("*'conv3'*");
        FluentActions.Invoking(() => Attributions.IntegratedGradients(model, x, "conv3:0", steps: 0)).Should().Throw<CircuitsException>().WithMessage("*got 0*");
        FluentActions.Invoking(() => Attributions.IntegratedGradients(model, cat(new[] { x, x }), "conv3:0")).Should().Throw<CircuitsException>().WithMessage("*batch*[2, 2, 2, 2]*");
        FluentActions.Invoking(() => Attributions.AlongPath(model, x, new NeuronAddress[] { "conv2:0", "conv1:0", "conv3:0" })).Should().Throw<CircuitsException>().WithMessage("*'conv1' ran before 'conv2'*");
    }

    [Fact]
    public void Attribution_leaves_the_model_unchanged()
    {
        var model = LinearChain(8);
        model.train();
        using (Attributions.IntegratedGradients(model, Input(), "conv3:0"))
        {
        }

        Attributions.GradientTimesActivation(model, Input(), "conv1", "conv3:0").Dispose();
        model.training.Should().BeTrue();
        model.parameters().Select(p => p.requires_grad).Should().OnlyContain(r => r);
        model.parameters().Select(p => p.grad is null || p.grad.IsInvalid).Should().OnlyContain(none => none);
        HandBuiltNet.HookCount(ModelLayers.Find(model, "conv3")).Should().Be(0);
    }
}
