using Circuits.Interpretability.Analysis.Stimuli;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Analysis;

public class CurveCircuitTests
{
    private readonly ITestOutputHelper _output;

    public CurveCircuitTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Every_stage_is_a_named_module_the_hook_API_can_capture()
    {
        using var model = new CurveCircuit();
        model.named_modules().Select(m => m.name).Where(n => n.Length > 0)
            .Should().Equal("lines", "lines_relu", "curves", "curves_relu");

        using Tensor image = Stimuli.Render(new CurveStimulus());
        using var result = ActivationCapture.Capture(model, image, new[] { "lines", "lines_relu", "curves", "curves_relu" });
        result["lines"].shape.Should().Equal(1, 16, 64, 64);
        result["curves_relu"].shape.Should().Equal(1, 16, 64, 64);
        result.Get(CurveCircuit.CurveUnit(0, 32, 32)).item<float>().Should().BeGreaterThan(0);
    }

    [Fact]
    public void The_conv_weights_are_the_designed_weights()
    {
        using var model = new CurveCircuit();
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using Tensor lines = model.DesignedLineWeights();
        using Tensor curves = model.DesignedCurveWeights();

        lines.shape.Should().Equal(16, 3, 7, 7);
        curves.shape.Should().Equal(16, 16, 13, 13);
        HandBuiltNet.Values(parameters["lines.weight"]).Should().Equal(HandBuiltNet.Values(lines));
        HandBuiltNet.Values(parameters["curves.weight"]).Should().Equal(HandBuiltNet.Values(curves));
    }

    [Fact]
    public void Line_kernels_sum_to_zero_so_a_uniform_image_of_any_grey_gives_no_line_response()
    {
        using var model = new CurveCircuit();
        using Tensor lines = model.DesignedLineWeights();
        lines.sum(new long[] { 1, 2, 3 }).abs().max().item<float>().Should().BeLessThan(1e-6f);
        lines.clamp_min(0).sum(new long[] { 1, 2, 3 }).mean().item<float>().Should().BeApproximately(1f, 1e-5f);

        foreach (float grey in new[] { 0f, 0.3f, 1f })
        {
            using Tensor image = full(1, 3, 32, 32, grey);
            using var result = ActivationCapture.Capture(model, image, new[] { "lines" });
            result["lines"].sub(-0.02f).abs().max().item<float>().Should().BeLessThan(1e-5f, "only the bias remains");
        }
    }

    [Fact]
    public void The_designed_input_to_curve_composition_equals_a_naive_kernel_composition_loop()
    {
        using var model = new CurveCircuit();
        float[] line = HandBuiltNet.Values(model.DesignedLineWeights());   // L x 3 x a x a
        float[] curve = HandBuiltNet.Values(model.DesignedCurveWeights()); // K x L x b x b
        using Tensor composed = model.DesignedInputToCurveWeights();
        int l = 16, k = 16, a = 7, b = 13, s = a + b - 1;
        composed.shape.Should().Equal(k, 3, s, s);

        var naive = new double[k * 3 * s * s];
        for (int unit = 0; unit < k; unit++)
        {
            for (int i = 0; i < l; i++)
            {
                for (int p = 0; p < b; p++)
                {
                    for (int q = 0; q < b; q++)
                    {
                        double wc = curve[(((unit * l) + i) * b * b) + (p * b) + q];
                        for (int c = 0; c < 3; c++)
                        {
                            for (int r = 0; r < a; r++)
                            {
                                for (int t = 0; t < a; t++)
                                {
                                    naive[(((unit * 3) + c) * s * s) + ((p + r) * s) + q + t] += wc * line[(((i * 3) + c) * a * a) + (r * a) + t];
                                }
                            }
                        }
                    }
                }
            }
        }

        float[] actual = HandBuiltNet.Values(composed);
        double worst = naive.Select((v, j) => Math.Abs(v - actual[j])).Max();
        _output.WriteLine($"max |composed - naive| = {worst:E2}");
        worst.Should().BeLessThan(1e-6);
    }

    [Fact]
    public void With_the_ReLU_linearized_the_circuit_is_one_conv_with_the_composed_kernel_away_from_the_border()
    {
        using var model = new CurveCircuit(new CurveCircuitOptions { LineBias = 0 });
        using var scope = NewDisposeScope();
        Tensor image = rand(new long[] { 2, 3, 48, 48 }, generator: new Generator(3));
        using var capture = ActivationCapture.Capture(model, image, new[] { "lines" });
        // The linear path: the lines conv (bias 0), no ReLU, then the curves conv without padding.
        Tensor viaLayers = nn.functional.conv2d(capture["lines"], model.DesignedCurveWeights());
        Tensor direct = nn.functional.conv2d(image, model.DesignedInputToCurveWeights());
        // The lines conv pads by 3 with replicated pixels; 3 positions in from the border it sees only real pixels.
        Tensor interior = viaLayers[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(3, -3), TensorIndex.Slice(3, -3)];
        interior.shape.Should().Equal(direct.shape);
        double worst = (interior - direct).abs().max().item<float>();
        _output.WriteLine($"max |layers - composed| = {worst:E2}, max |response| = {direct.abs().max().item<float>():F3}");
        worst.Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Each_curve_unit_responds_most_to_the_curve_of_its_designed_orientation_among_16()
    {
        using var model = new CurveCircuit();
        using var scope = NewDisposeScope();
        Tensor batch = Stimuli.RenderBatch(model.CurveOrientations.Select(o => new CurveStimulus { Orientation = o, Width = 32, Height = 32 }));
        using var result = ActivationCapture.Capture(model, batch, new[] { "curves_relu" });
        Tensor centre = result["curves_relu"][TensorIndex.Colon, TensorIndex.Colon, 16, 16]; // stimulus x unit
        long[] best = centre.argmax(0).data<long>().ToArray();
        _output.WriteLine("best stimulus per unit: " + string.Join(", ", best));
        _output.WriteLine("diag / max off-diag: " + string.Join(", ", Enumerable.Range(0, 16).Select(k =>
            $"{centre[k, k].item<float>():F3}/{centre[TensorIndex.Colon, k].clone().index_put_(tensor(-1f), tensor(new long[] { k })).max().item<float>():F3}")));
        best.Should().Equal(Enumerable.Range(0, 16).Select(i => (long)i));
    }

    [Fact]
    public void Bad_options_name_the_option_and_the_valid_range()
    {
        var act = () => new CurveCircuit(new CurveCircuitOptions { CurveKernelSize = 8 });
        act.Should().Throw<CircuitsException>().WithMessage("*CurveKernelSize is 8*odd*");
        var act2 = () => new CurveCircuit(new CurveCircuitOptions { LineOrientations = 2 });
        act2.Should().Throw<CircuitsException>().WithMessage("*LineOrientations is 2*at least 4*");
    }
}
