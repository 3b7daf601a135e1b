using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Circuits;

[Collection(SequentialCircuitsCollection.Name)]
public class ExpandedWeightsTests
{
    private static Sequential Seeded(int seed, params (string, nn.Module<Tensor, Tensor>)[] modules) => SeededChain.Build(seed, modules);

    /// <summary>
    /// The weights by both fast methods: kernel composition (the default, checked to be the one used) and packed
    /// impulses (composition turned off), so that every test holds each of them to its truth.
    /// </summary>
    private static Both Fast(nn.Module<Tensor, Tensor> model, string source, string target, long[] shape, ExpandedWeightsOptions? options = null)
    {
        options ??= new ExpandedWeightsOptions();
        var composed = ExpandedWeights.Compute(model, source, target, shape, options);
        var packed = ExpandedWeights.Compute(model, source, target, shape, options with { Compose = false });
        composed.Method.Should().Be(ExpandedWeightMethod.KernelComposition, composed.MethodDetail);
        packed.Method.Should().Be(ExpandedWeightMethod.PackedImpulses, packed.MethodDetail);
        return new Both(composed, packed);
    }

    private static Tensor Weight(Sequential model, string name) => ((Conv2d)ModelLayers.Find(model, name)).weight!.detach();

    private static double MaxDiff(Tensor a, Tensor b) => a.sub(b).abs().max().item<float>();

    /// <summary>An average-pooling kernel as a conv kernel: 1/(k*k) on the diagonal of channels.</summary>
    private static Tensor AvgKernel(int channels, int k)
    {
        var w = zeros(channels, channels, k, k);
        for (int c = 0; c < channels; c++)
        {
            w[c, c] = full(k, k, 1f / (k * k));
        }

        return w;
    }

    [Fact]
    public void ConvConv_equals_analytic_kernel_composition()
    {
        var model = Seeded(1, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("conv2", nn.Conv2d(4, 5, 3, padding: 1)));
        using var both = Fast(model, "input", "conv2", new long[] { 3, 11, 11 });
        Tensor composed = ExpandedWeights.ComposeConvKernels(new[] { Weight(model, "conv1"), Weight(model, "conv2") });

        foreach (var fast in both.Each)
        {
            fast.Weights.shape.Should().Equal(5, 3, 5, 5);
            MaxDiff(fast.Weights, composed).Should().BeLessThan(1e-5);
        }

        composed.abs().max().item<float>().Should().BeGreaterThan(0.1f);
    }

    [Fact]
    public void Composition_loop_matches_a_direct_conv_of_the_chain()
    {
        // Independent check of the brute-force loop: conv2(conv1(x)) == conv(x, composed) on a random input.
        var w1 = randn(4, 3, 3, 3, generator: new Generator(3));
        var w2 = randn(2, 4, 5, 5, generator: new Generator(4));
        var x = randn(1, 3, 16, 16, generator: new Generator(5));
        Tensor chained = nn.functional.conv2d(nn.functional.conv2d(x, w1), w2);
        Tensor direct = nn.functional.conv2d(x, ExpandedWeights.ComposeConvKernels(new[] { w1, w2 }));
        MaxDiff(chained, direct).Should().BeLessThan(1e-3);
    }

    [Fact]
    public void Relu_is_identity_and_biases_are_dropped()
    {
        var model = Seeded(2, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("relu", nn.ReLU()), ("conv2", nn.Conv2d(4, 5, 3, padding: 1)));
        using var both = Fast(model, "input", "conv2", new long[] { 3, 11, 11 });
        using var reference = ExpandedWeights.ComputeReference(model, "input", "conv2", new long[] { 3, 11, 11 });
        Tensor composed = ExpandedWeights.ComposeConvKernels(new[] { Weight(model, "conv1"), Weight(model, "conv2") });

        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, composed) < 1e-5);
        MaxDiff(reference.Weights, composed).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Valid_convolutions_align_the_crop_on_the_receptive_field()
    {
        var model = Seeded(3, ("conv1", nn.Conv2d(2, 3, 3)), ("conv2", nn.Conv2d(3, 2, 3)));
        using var both = Fast(model, "input", "conv2", new long[] { 2, 12, 12 });
        using var reference = ExpandedWeights.ComputeReference(model, "input", "conv2", new long[] { 2, 12, 12 });
        Tensor composed = ExpandedWeights.ComposeConvKernels(new[] { Weight(model, "conv1"), Weight(model, "conv2") });

        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, composed) < 1e-5);
        MaxDiff(reference.Weights, composed).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Max_pool_becomes_average_pool()
    {
        // Stride 1, "same" padding: in the interior the linearized pool is a 3x3 mean, i.e. a conv kernel of 1/9.
        var model = Seeded(4, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("relu", nn.ReLU()), ("pool", nn.MaxPool2d(3, stride: 1, padding: 1)), ("conv2", nn.Conv2d(4, 2, 1)));
        using var both = Fast(model, "input", "conv2", new long[] { 3, 13, 13 });
        Tensor composed = ExpandedWeights.ComposeConvKernels(new[] { Weight(model, "conv1"), AvgKernel(4, 3), Weight(model, "conv2") });

        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, composed) < 1e-5);
    }

    [Fact]
    public void Infinite_constant_padding_becomes_zero_padding()
    {
        // A TensorFlow-style "same" max-pool: an explicit -inf pad, then an unpadded pool.
        var model = Seeded(5, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("pad", nn.ConstantPad2d(1, double.NegativeInfinity)),
            ("pool", nn.MaxPool2d(3, stride: 1)), ("conv2", nn.Conv2d(4, 2, 1)));
        using var both = Fast(model, "input", "conv2", new long[] { 3, 13, 13 });
        Tensor composed = ExpandedWeights.ComposeConvKernels(new[] { Weight(model, "conv1"), AvgKernel(4, 3), Weight(model, "conv2") });

        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, composed) < 1e-5, "the difference is NaN if -inf reached the weights");
    }

    [Fact]
    public void An_unknown_module_padding_with_minus_infinity_pads_with_zero_instead()
    {
        // TensorFlow-style SAME padding before a max-pool (the InceptionV1 model's SamePad2d) is not a ConstantPad
        // module; its -inf values must still become 0, or they turn every response they reach into NaN.
        var model = Seeded(7, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("pad", new SamePad2d(3, 2, double.NegativeInfinity)),
            ("pool", nn.MaxPool2d(3, stride: 2)), ("conv2", nn.Conv2d(4, 3, 3, padding: 1)));
        var options = new ExpandedWeightsOptions { CropSize = 7 };
        using var both = Fast(model, "input", "conv2", new long[] { 3, 24, 24 }, options);
        using var reference = ExpandedWeights.ComputeReference(model, "input", "conv2", new long[] { 3, 24, 24 }, options);

        reference.Weights.isfinite().all().item<bool>().Should().BeTrue();
        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, reference.Weights) < 1e-5);
        reference.Weights.abs().sum().item<float>().Should().BeGreaterThan(0.1f);
    }

    [Fact]
    public void Strided_pooling_path_agrees_with_the_reference()
    {
        var maxModel = Seeded(6, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("relu", nn.ReLU()), ("pool", nn.MaxPool2d(2)), ("conv2", nn.Conv2d(4, 3, 3, padding: 1)));
        var avgModel = Seeded(6, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("relu", nn.ReLU()), ("pool", nn.AvgPool2d(2)), ("conv2", nn.Conv2d(4, 3, 3, padding: 1)));
        var options = new ExpandedWeightsOptions { CropSize = 9 };
        using var both = Fast(maxModel, "input", "conv2", new long[] { 3, 20, 20 }, options);
        using var reference = ExpandedWeights.ComputeReference(maxModel, "input", "conv2", new long[] { 3, 20, 20 }, options);
        using var avgReference = ExpandedWeights.ComputeReference(avgModel, "input", "conv2", new long[] { 3, 20, 20 }, options);

        foreach (var fast in both.Each)
        {
            fast.Stride.Should().Be((2, 2));
            MaxDiff(fast.Weights, reference.Weights).Should().BeLessThan(1e-5);
            MaxDiff(fast.Weights, avgReference.Weights).Should().BeLessThan(1e-5);
        }

        reference.Weights.abs().sum().item<float>().Should().BeGreaterThan(1f);
    }

    [Fact]
    public void Local_response_norm_is_its_jacobian_at_zero()
    {
        var model = Seeded(7, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("lrn", nn.LocalResponseNorm(5, alpha: 1e-2, beta: 0.75, k: 2)), ("conv2", nn.Conv2d(4, 2, 3, padding: 1)));
        using var both = Fast(model, "input", "conv2", new long[] { 3, 11, 11 });
        Tensor composed = ExpandedWeights.ComposeConvKernels(new[] { Weight(model, "conv1"), Weight(model, "conv2") }).mul(Math.Pow(2, -0.75));

        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, composed) < 1e-5);
    }

    [Fact]
    public void An_unknown_affine_module_is_accepted()
    {
        var model = Seeded(8, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("affine", new AffineOp()), ("conv2", nn.Conv2d(4, 2, 3, padding: 1)));
        using var both = Fast(model, "input", "conv2", new long[] { 3, 11, 11 });
        Tensor composed = ExpandedWeights.ComposeConvKernels(new[] { Weight(model, "conv1"), Weight(model, "conv2") }).mul(3);

        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, composed) < 1e-5);
    }

    [Fact]
    public void A_nonlinear_module_is_named()
    {
        var model = Seeded(9, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("squash", nn.Sigmoid()), ("conv2", nn.Conv2d(4, 2, 3, padding: 1)));
        var act = () => ExpandedWeights.Compute(model, "input", "conv2", new long[] { 3, 11, 11 });
        act.Should().Throw<NonlinearPathException>().Where(e => e.Layer == "squash" && e.Message.Contains("Sigmoid") && e.Message.Contains("MaxPool2d"));
    }

    [Fact]
    public void An_unknown_nonlinear_module_is_named()
    {
        var model = Seeded(10, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("square", new SquareOp()), ("conv2", nn.Conv2d(4, 2, 3, padding: 1)));
        var act = () => ExpandedWeights.Compute(model, "input", "conv2", new long[] { 3, 11, 11 });
        act.Should().Throw<NonlinearPathException>().Where(e => e.Layer == "square" && e.Message.Contains("SquareOp") && e.Message.Contains("not affine"));
    }

    [Fact]
    public void A_functional_nonlinearity_inside_a_forward_is_caught_by_the_linearity_check()
    {
        var model = Seeded(11, ("block", new HiddenReluBlock()));
        var act = () => ExpandedWeights.Compute(model, "input", "block.conv2", new long[] { 3, 11, 11 });
        act.Should().Throw<NonlinearPathException>().Where(e => e.Message.Contains("'block'") && e.Message.Contains("not linear"));
    }

    [Fact]
    public void Channels_crop_and_part_are_honoured()
    {
        var model = Seeded(12, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("conv2", nn.Conv2d(4, 5, 3, padding: 1)));
        Tensor composed = ExpandedWeights.ComposeConvKernels(new[] { Weight(model, "conv1"), Weight(model, "conv2") });
        var options = new ExpandedWeightsOptions { TargetChannels = new[] { 4, 1 }, SourceChannels = new[] { 2 }, CropSize = 3, Part = ExpandedWeightPart.Positive };
        using var fast = ExpandedWeights.Compute(model, "input", "conv2", new long[] { 3, 11, 11 }, options);
        using var negative = ExpandedWeights.Compute(model, "input", "conv2", new long[] { 3, 11, 11 }, options with { Part = ExpandedWeightPart.Negative });

        fast.Weights.shape.Should().Equal(2, 1, 3, 3);
        Tensor expected = composed[4, 2, TensorIndex.Slice(1, 4), TensorIndex.Slice(1, 4)];
        MaxDiff(fast.Get(4, 2), expected.clamp_min(0)).Should().BeLessThan(1e-5);
        MaxDiff(negative.Get(4, 2), expected.neg().clamp_min(0)).Should().BeLessThan(1e-5);
        fast.Map(1, 2)[1, 1].Should().BeApproximately(Math.Max(0f, composed[1, 2, 2, 2].item<float>()), 1e-5f);
        fast.Strength(4, 2).Should().BeApproximately(expected.clamp_min(0).square().sum().sqrt().item<float>(), 1e-5);
        var bad = () => fast.Get(0, 2);
        bad.Should().Throw<UnitOutOfRangeException>().WithMessage("*Channel 0*4, 1*");
    }

    [Fact]
    public void Bad_arguments_name_the_value_and_the_choices()
    {
        var model = Seeded(13, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("conv2", nn.Conv2d(4, 5, 3, padding: 1)));
        long[] shape = { 3, 11, 11 };
        FluentActions.Invoking(() => ExpandedWeights.Compute(model, "input", "conv3", shape)).Should().Throw<UnknownLayerException>().WithMessage("*conv3*conv2*");
        FluentActions.Invoking(() => ExpandedWeights.Compute(model, "input", "conv2", shape, new() { CropSize = 4 })).Should().Throw<CircuitsException>().WithMessage("*Crop size 4*odd*");
        FluentActions.Invoking(() => ExpandedWeights.Compute(model, "input", "conv2", shape, new() { CropSize = 13 })).Should().Throw<CircuitsException>().WithMessage("*11 x 11*crop size 13*larger input*");
        FluentActions.Invoking(() => ExpandedWeights.Compute(model, "input", "conv2", shape, new() { TargetChannels = new[] { 5 } })).Should().Throw<UnitOutOfRangeException>().WithMessage("*Channel 5*0 to 4*");
        FluentActions.Invoking(() => ExpandedWeights.Compute(model, "conv2", "conv1", shape)).Should().Throw<CircuitsException>().WithMessage("*'conv1' ran before*'conv2'*");
    }

    [Fact]
    public void Progress_is_reported_cancellation_stops_and_a_disposed_set_says_so()
    {
        var model = Seeded(15, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("relu", nn.ReLU()), ("conv2", nn.Conv2d(4, 5, 3, padding: 1)));
        var shape = new long[] { 3, 11, 11 };
        var reports = new List<ExpandedWeightsProgress>();
        var set = ExpandedWeights.Compute(model, "input", "conv2", shape, null, new SynchronousProgress<ExpandedWeightsProgress>(reports.Add));
        reports.Should().NotBeEmpty().And.OnlyContain(r => r.Method == set.Method && r.Done >= 1 && r.Done <= r.Total);
        reports[^1].Done.Should().Be(reports[^1].Total);

        var referenceReports = new List<ExpandedWeightsProgress>();
        using (ExpandedWeights.ComputeReference(model, "input", "conv2", shape, null, new SynchronousProgress<ExpandedWeightsProgress>(referenceReports.Add)))
        {
            referenceReports.Select(r => r.Done).Should().Equal(1, 2, 3, 4, 5); // one backward pass per target channel
        }

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        FluentActions.Invoking(() => ExpandedWeights.Compute(model, "input", "conv2", shape, null, null, cancelled.Token)).Should().Throw<OperationCanceledException>();
        FluentActions.Invoking(() => ExpandedWeights.ComputeReference(model, "input", "conv2", shape, null, null, cancelled.Token)).Should().Throw<OperationCanceledException>();

        set.ToString().Should().StartWith("input -> conv2: 5 x 3 x 5 x 5 (KernelComposition: ");
        set.Dispose();
        set.Dispose(); // twice is harmless
        FluentActions.Invoking(() => set.Weights).Should().Throw<ObjectDisposedException>().WithMessage("*'input' to 'conv2' were disposed*");
        FluentActions.Invoking(() => set.Get(0, 0)).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void The_model_is_left_as_it_was()
    {
        var model = Seeded(14, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("relu", nn.ReLU()), ("conv2", nn.Conv2d(4, 5, 3, padding: 1)));
        model.train();
        var before = model.parameters().Select(p => p.detach().clone()).ToList();
        using (ExpandedWeights.ComputeReference(model, "input", "conv2", new long[] { 3, 11, 11 }))
        using (ExpandedWeights.Compute(model, "input", "conv2", new long[] { 3, 11, 11 }))
        {
        }

        model.training.Should().BeTrue();
        model.parameters().Select(p => p.requires_grad).Should().OnlyContain(r => r);
        model.parameters().Select(p => p.grad is null || p.grad.IsInvalid).Should().OnlyContain(none => none);
        model.parameters().Zip(before).Should().OnlyContain(t => MaxDiff(t.First, t.Second) == 0);
        HandBuiltNet.HookCount(ModelLayers.Find(model, "relu")).Should().Be(0);

        // The model runs normally again: its output is conv2(relu(conv1(x))), computed here by hand, and the ReLU
        // really clips (without it, i.e. still linearized as the identity, the output would differ).
        var conv1 = (Conv2d)ModelLayers.Find(model, "conv1");
        var conv2 = (Conv2d)ModelLayers.Find(model, "conv2");
        Tensor x = randn(new long[] { 1, 3, 11, 11 }, generator: new Generator(14));
        Tensor hidden = nn.functional.conv2d(x, conv1.weight!.detach(), conv1.bias!.detach(), padding: new long[] { 1, 1 });
        Tensor expected = nn.functional.conv2d(hidden.relu(), conv2.weight!.detach(), conv2.bias!.detach(), padding: new long[] { 1, 1 });
        Tensor linear = nn.functional.conv2d(hidden, conv2.weight!.detach(), conv2.bias!.detach(), padding: new long[] { 1, 1 });
        model.eval();
        Tensor y;
        using (no_grad())
        {
            y = model.call(x);
        }

        MaxDiff(y, expected).Should().BeLessThan(1e-5);
        MaxDiff(expected, linear).Should().BeGreaterThan(1e-2, "the check must tell a clipping ReLU from the identity");
    }

    [Fact]
    public void Inception_shaped_block_has_the_analytic_branch_weights()
    {
        var model = InceptionShapedBlock.Model(seed: 21);
        var block = (InceptionShapedBlock)ModelLayers.Find(model, "mixed3b");
        using var both = Fast(model, "mixed3a", "mixed3b", new long[] { 256, 11, 11 });
        both.Composed.Weights.shape.Should().Equal(480, 256, 5, 5);

        Tensor Pad(Tensor k) => nn.functional.pad(k, new long[] { (5 - k.shape[3]) / 2, (5 - k.shape[3]) / 2, (5 - k.shape[2]) / 2, (5 - k.shape[2]) / 2 });
        Tensor oneByOne = Pad(block.conv_1x1.weight!.detach());
        Tensor threeByThree = Pad(ExpandedWeights.ComposeConvKernels(new[] { block.conv_3x3_bottleneck.weight!.detach(), block.conv_3x3.weight!.detach() }));
        Tensor fiveByFive = ExpandedWeights.ComposeConvKernels(new[] { block.conv_5x5_bottleneck.weight!.detach(), block.conv_5x5.weight!.detach() });
        Tensor pool = Pad(ExpandedWeights.ComposeConvKernels(new[] { AvgKernel(256, 3), block.conv_pool_reduce.weight!.detach() }));
        Tensor expected = cat(new[] { oneByOne, threeByThree, fiveByFive, pool }, 0);
        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, expected) < 1e-4);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Inception_shaped_block_fast_and_reference_agree()
    {
        var model = InceptionShapedBlock.Model(seed: 22);
        using var both = Fast(model, "mixed3a", "mixed3b", new long[] { 256, 11, 11 });
        using var reference = ExpandedWeights.ComputeReference(model, "mixed3a", "mixed3b", new long[] { 256, 11, 11 });

        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, reference.Weights) < 1e-4);
        reference.Weights.abs().max().item<float>().Should().BeGreaterThan(0.01f);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Inception_shaped_block_at_InceptionV1s_map_size_packs_the_impulses_and_agrees_with_the_reference()
    {
        var model = InceptionShapedBlock.Model(seed: 23);
        var shape = new long[] { 256, 28, 28 };
        var options = new ExpandedWeightsOptions { TargetChannels = Enumerable.Range(0, 480).Where(c => c % 16 == 3).ToList() };
        using var both = Fast(model, "mixed3a", "mixed3b", shape, options);
        using var reference = ExpandedWeights.ComputeReference(model, "mixed3a", "mixed3b", shape, options);

        // 256 impulses + 3 check tiles, reach 2 (the 5 x 5 branch): 4 x 5 tiles 5 apart (one spare pixel around) on
        // 13 maps, plus the zero map: 14 x 22 x 27 = 8,316 source pixels, against 259 x 28 x 28 = 203,056 unpacked.
        both.Packed.MethodDetail.Should().Be("4 x 5 tiles 5 x 5 apart on 13 maps of 22 x 27");

        // Composition verifies on the map cut down to the 5 x 5 window the centre depends on.
        both.Composed.MethodDetail.Should().EndWith("verified on a 5 x 5 map");

        // In bounded-memory chunks (each with its own zero map): the same weights.
        using var chunked = ExpandedWeights.Compute(model, "mixed3a", "mixed3b", shape, options with { ChunkElements = 5 * 256 * 22 * 27, Compose = false });
        chunked.MethodDetail.Should().EndWith("in 4 passes");
        double tolerance = 1e-4 * reference.Weights.abs().max().item<float>();
        MaxDiff(chunked.Weights, reference.Weights).Should().BeLessThan(tolerance);
        both.Each.Should().OnlyContain(fast => MaxDiff(fast.Weights, reference.Weights) < tolerance);
    }

    [Fact]
    public void A_deep_stride_4_path_packs_every_phase_and_agrees_with_the_reference()
    {
        var model = Seeded(31, ("conv1", nn.Conv2d(3, 5, 3, padding: 1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(5, 6, 3, padding: 1)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(3, stride: 2, padding: 1)), ("conv3", nn.Conv2d(6, 4, 3, padding: 1)));
        var options = new ExpandedWeightsOptions { CropSize = 13 };
        var shape = new long[] { 3, 48, 48 };
        using var both = Fast(model, "input", "conv3", shape, options);
        using var reference = ExpandedWeights.ComputeReference(model, "input", "conv3", shape, options);

        foreach (var fast in both.Each)
        {
            fast.Stride.Should().Be((4, 4));
            MaxDiff(fast.Weights, reference.Weights).Should().BeLessThan(1e-5 + (1e-4 * reference.Weights.abs().max().item<float>()));
        }

        reference.Weights.abs().sum().item<float>().Should().BeGreaterThan(0.1f);
    }

    [Fact]
    public void A_position_dependent_path_falls_back_to_the_exact_reference()
    {
        // Linear but not translation invariant: the packed tiles' check and the moved probe on the caller's map
        // both fail, so reading offsets from one impulse would be wrong; the reference is used instead.
        var model = Seeded(32, ("conv1", nn.Conv2d(3, 4, 3, padding: 1)), ("ramp", new RampOp()), ("conv2", nn.Conv2d(4, 2, 3, padding: 1)));
        foreach (int size in new[] { 9, 15 })
        {
            // Small chunks: the caller's-map pass runs as several forward passes, each with its own zero item.
            using var fast = ExpandedWeights.Compute(model, "input", "conv2", new long[] { 3, size, size }, new ExpandedWeightsOptions { ChunkElements = 2 * 3 * size * size });
            using var reference = ExpandedWeights.ComputeReference(model, "input", "conv2", new long[] { 3, size, size });

            fast.Method.Should().Be(ExpandedWeightMethod.AutogradReference);
            fast.MethodDetail.Should().Contain("not translation invariant");
            MaxDiff(fast.Weights, reference.Weights).Should().BeLessThan(1e-5);
        }
    }

    [Fact]
    public void A_path_whose_model_rejects_another_map_size_falls_back_and_agrees_with_the_reference()
    {
        var model = nn.Sequential(("block", new SkipBlock()));
        SeededInitialization.Apply(model, 33);
        using var fast = ExpandedWeights.Compute(model, "block.conv1", "block", new long[] { 3, 13, 13 });
        using var reference = ExpandedWeights.ComputeReference(model, "block.conv1", "block", new long[] { 3, 13, 13 });

        fast.Method.Should().Be(ExpandedWeightMethod.ImpulsesOnCallersMap);
        MaxDiff(fast.Weights, reference.Weights).Should().BeLessThan(1e-5);

        // In chunks of 1 to 3 impulses (each with its own zero item): the same weights.
        foreach (long items in new[] { 4, 5, 6 })
        {
            using var chunked = ExpandedWeights.Compute(model, "block.conv1", "block", new long[] { 3, 13, 13 }, new ExpandedWeightsOptions { ChunkElements = items * 4 * 13 * 13 });
            chunked.Method.Should().Be(ExpandedWeightMethod.ImpulsesOnCallersMap);
            MaxDiff(chunked.Weights, reference.Weights).Should().BeLessThan(1e-5);
        }
        reference.Weights.abs().sum().item<float>().Should().BeGreaterThan(0.1f);
    }

    /// <summary>The two fast methods' weights; disposes both.</summary>
    private sealed record Both(ExpandedWeightSet Composed, ExpandedWeightSet Packed) : IDisposable
    {
        public IEnumerable<ExpandedWeightSet> Each => new[] { Composed, Packed };

        public void Dispose()
        {
            Composed.Dispose();
            Packed.Dispose();
        }
    }

    /// <summary>Multiplies each row by a weight that grows down the map: linear, not translation invariant.</summary>
    private sealed class RampOp : nn.Module<Tensor, Tensor>
    {
        public RampOp() : base(nameof(RampOp))
        {
        }

        public override Tensor forward(Tensor x) => x.mul(linspace(0.5, 2.0, x.shape[2]).reshape(1, 1, -1, 1));
    }

    /// <summary>conv2(conv1(x)) + skip(x): the skip bypasses conv1, so conv1's output must keep x's map size.</summary>
    private sealed class SkipBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1 = nn.Conv2d(3, 4, 3, padding: 1);
        private readonly Conv2d conv2 = nn.Conv2d(4, 2, 3, padding: 1);
        private readonly Conv2d skip = nn.Conv2d(3, 2, 1);

        public SkipBlock() : base(nameof(SkipBlock))
        {
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => conv2.call(conv1.call(x)).add(skip.call(x));
    }

    /// <summary>y = 3x + 1: affine, not in any list of known modules.</summary>
    private sealed class AffineOp : nn.Module<Tensor, Tensor>
    {
        public AffineOp() : base(nameof(AffineOp))
        {
        }

        public override Tensor forward(Tensor x) => x.mul(3).add(1);
    }

    private sealed class SquareOp : nn.Module<Tensor, Tensor>
    {
        public SquareOp() : base(nameof(SquareOp))
        {
        }

        public override Tensor forward(Tensor x) => x.square();
    }

    /// <summary>Applies a ReLU as a function, which no hook can see.</summary>
    private sealed class HiddenReluBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1 = nn.Conv2d(3, 4, 3, padding: 1);
        private readonly Conv2d conv2 = nn.Conv2d(4, 2, 3, padding: 1);

        public HiddenReluBlock() : base(nameof(HiddenReluBlock))
        {
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => conv2.call(nn.functional.relu(conv1.call(x)));
    }
}
