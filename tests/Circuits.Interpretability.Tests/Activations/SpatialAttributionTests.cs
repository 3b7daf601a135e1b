using Circuits.Interpretability.Activations;
using Circuits.Interpretability.Core;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Activations;

public class SpatialAttributionTests
{
    [Fact]
    public void On_a_linear_path_each_position_gets_activation_times_weight_as_a_naive_loop_computes()
    {
        manual_seed(2);
        var a = nn.Conv2d(3, 4, 3, padding: 1);
        var b = nn.Conv2d(4, 2, 3, padding: 1);
        var model = nn.Sequential(("a", a), ("b", b));
        Tensor image = rand(1, 3, 5, 6);

        using var result = SpatialAttribution.BetweenLayers(model, image, "a", "b");

        result.Maps.shape.Should().Equal(5 * 6, 5, 6);
        result.TargetHeight.Should().Be(5);
        result.Labels[result.IndexOf(2, 3)].Should().Be("b@2,3");
        float[] act = a.call(image).detach().contiguous().data<float>().ToArray();          // 4 x 5 x 6
        float[] w = b.weight!.detach().contiguous().data<float>().ToArray();                 // 2 x 4 x 3 x 3
        double worst = 0;
        for (int y2 = 0; y2 < 5; y2++)
        {
            for (int x2 = 0; x2 < 6; x2++)
            {
                Tensor map = result.Map(y2, x2);
                for (int y1 = 0; y1 < 5; y1++)
                {
                    for (int x1 = 0; x1 < 6; x1++)
                    {
                        // Naive: source (y1, x1) reaches target (y2, x2) through kernel tap (y1 - y2 + 1, x1 - x2 + 1).
                        int ky = y1 - y2 + 1, kx = x1 - x2 + 1;
                        double expected = 0;
                        if (ky is >= 0 and < 3 && kx is >= 0 and < 3)
                        {
                            for (int c = 0; c < 4; c++)
                            {
                                double weightSum = 0;
                                for (int o = 0; o < 2; o++)
                                {
                                    weightSum += w[(((o * 4) + c) * 9) + (ky * 3) + kx];
                                }

                                expected += act[(((c * 5) + y1) * 6) + x1] * weightSum;
                            }
                        }

                        worst = Math.Max(worst, Math.Abs(map[y1, x1].item<float>() - expected));
                    }
                }
            }
        }

        worst.Should().BeLessThan(1e-5);
        // Completeness on a linear path: a target position's map sums to its score minus the bias' share.
        Tensor target = b.call(a.call(image)).detach();
        double score = target[0, TensorIndex.Colon, 2, 3].sum().item<float>() - b.bias!.sum().item<float>();
        result.Map(2, 3).sum().item<float>().Should().BeApproximately((float)score, 1e-4f);
    }

    [Fact]
    public void Class_attribution_through_global_pooling_is_activation_times_the_class_weight_over_the_area()
    {
        manual_seed(3);
        var a = nn.Conv2d(3, 4, 1);
        var fc = nn.Linear(4, 5);
        var model = nn.Sequential(("a", a), ("pool", nn.AdaptiveAvgPool2d(1)), ("flat", nn.Flatten()), ("fc", fc));
        Tensor image = rand(1, 3, 4, 4);

        using var result = SpatialAttribution.ToClasses(model, image, "a", new[] { 1, 4 });

        result.Maps.shape.Should().Equal(2, 4, 4);
        result.Labels.Should().Equal("class 1", "class 4");
        Tensor act = a.call(image).detach()[0];                                             // 4 x 4 x 4
        Tensor expected = einsum("chw,kc->khw", act, fc.weight!.detach().index_select(0, tensor(new long[] { 1, 4 }))).div(16);
        (result.Maps - expected).abs().max().item<float>().Should().BeLessThan(1e-6f);
        FluentActions.Invoking(() => SpatialAttribution.ToClasses(model, image, "a", new[] { 5 })).Should().Throw<UnitOutOfRangeException>().WithMessage("Class 5 is out of range*");
    }

    [Fact]
    public void Heat_maps_colour_positive_and_negative_attribution_over_the_image()
    {
        Tensor maps = zeros(1, 2, 2);
        maps[0, 0, 0] = tensor(2f);
        maps[0, 1, 1] = tensor(-2f);
        using var result = new SpatialAttributionResult("a", "classes", maps, new[] { "class 0" }, 0, 0);

        using Tensor heat = result.HeatMap(0, ones(3, 2, 2));

        heat.shape.Should().Equal(3, 2, 2);
        var p = global::Circuits.Interpretability.Circuits.WeightImage.PositiveColor;
        var n = global::Circuits.Interpretability.Circuits.WeightImage.NegativeColor;
        heat[TensorIndex.Colon, 0, 0].data<float>().ToArray().Should().Equal(new[] { p.R, p.G, p.B }, (x, y) => Math.Abs(x - y) < 1e-6);
        heat[TensorIndex.Colon, 1, 1].data<float>().ToArray().Should().Equal(new[] { n.R, n.G, n.B }, (x, y) => Math.Abs(x - y) < 1e-6);
        heat[TensorIndex.Colon, 0, 1].data<float>().ToArray().Should().Equal(1f, 1f, 1f);
        FluentActions.Invoking(() => result.IndexOf(0, 0)).Should().Throw<UnitOutOfRangeException>().WithMessage("*classes*");
    }

    [Fact]
    public void Bad_requests_name_what_is_wrong()
    {
        var model = nn.Sequential(("a", nn.Conv2d(3, 2, 1)), ("b", nn.Conv2d(2, 2, 1)));
        FluentActions.Invoking(() => SpatialAttribution.BetweenLayers(model, rand(2, 3, 4, 4), "a", "b")).Should().Throw<CircuitsException>().WithMessage("*Expected batch size 1*");
        FluentActions.Invoking(() => SpatialAttribution.BetweenLayers(model, rand(1, 3, 4, 4), "b", "a")).Should().Throw<CircuitsException>().WithMessage("Layer 'a' ran before 'b'*");
        FluentActions.Invoking(() => SpatialAttribution.BetweenLayers(model, rand(1, 3, 4, 4), "a", "c")).Should().Throw<UnknownLayerException>();
    }
}
