using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.IO;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Models;

public class InceptionV1Tests
{
    private static readonly string[] Branches = { "1x1", "3x3_bottleneck", "3x3", "5x5_bottleneck", "5x5", "pool_reduce" };

    private static readonly Dictionary<string, long> MixedInputs = new()
    {
        ["mixed3a"] = 192, ["mixed3b"] = 256, ["mixed4a"] = 480, ["mixed4b"] = 508, ["mixed4c"] = 512,
        ["mixed4d"] = 512, ["mixed4e"] = 528, ["mixed5a"] = 832, ["mixed5b"] = 832,
    };

    /// <summary>Every layer and branch the articles name, with the channels it must have.</summary>
    public static IEnumerable<(string Path, long Channels)> NamedLayers()
    {
        yield return ("conv2d0.conv", 64);
        yield return ("conv2d0", 64);
        yield return ("conv2d0.relu", 64);
        yield return ("maxpool0", 64);
        yield return ("maxpool0.pool", 64);
        yield return ("localresponsenorm0", 64);
        yield return ("conv2d1.conv", 64);
        yield return ("conv2d1", 64);
        yield return ("conv2d2.conv", 192);
        yield return ("conv2d2", 192);
        yield return ("localresponsenorm1", 192);
        yield return ("maxpool1", 192);
        foreach (string mixed in InceptionV1.MixedLayerNames)
        {
            if (mixed == "mixed4a")
            {
                yield return ("maxpool4", 480);
            }

            if (mixed == "mixed5a")
            {
                yield return ("maxpool10", 832);
            }

            InceptionBranches b = InceptionV1.MixedBranches[mixed];
            long[] channels = { b.Conv1x1, b.Bottleneck3x3, b.Conv3x3, b.Bottleneck5x5, b.Conv5x5, b.PoolReduce };
            for (int i = 0; i < Branches.Length; i++)
            {
                yield return ($"{mixed}.conv_{Branches[i]}", channels[i]);
                yield return ($"{mixed}.relu_{Branches[i]}", channels[i]);
            }

            yield return ($"{mixed}.pool", MixedInputs[mixed]);
            yield return (mixed, InceptionV1.LayerChannels[mixed]);
        }

        yield return ("avgpool0", 1024);
        yield return ("softmax2_pre_activation", 1008);
        yield return ("softmax2", 1008);
    }

    [Fact]
    public void Has_7066380_parameters_and_the_published_channel_counts()
    {
        using var model = new InceptionV1(seed: 1);

        model.parameters().Sum(p => p.numel()).Should().Be(7_066_380).And.Be(InceptionV1.ParameterCount);
        InceptionV1.LayerChannels.Should().Equal(new Dictionary<string, int>
        {
            ["conv2d0"] = 64, ["conv2d1"] = 64, ["conv2d2"] = 192, ["mixed3a"] = 256, ["mixed3b"] = 480, ["mixed4a"] = 508,
            ["mixed4b"] = 512, ["mixed4c"] = 512, ["mixed4d"] = 528, ["mixed4e"] = 832, ["mixed5a"] = 832, ["mixed5b"] = 1024,
            ["softmax2"] = 1008,
        });
        InceptionV1.LayerNames.Should().Equal(InceptionV1.LayerChannels.Keys);
        foreach (string mixed in InceptionV1.MixedLayerNames)
        {
            InceptionV1.MixedBranches[mixed].OutputChannels.Should().Be(InceptionV1.LayerChannels[mixed], mixed);
        }
    }

    [Fact]
    public void Every_named_layer_and_branch_is_a_module_path_and_is_capturable_with_its_channels()
    {
        using var model = new InceptionV1(seed: 2);
        model.eval();
        var layers = NamedLayers().ToList();
        IReadOnlyList<string> names = ModelLayers.Names(model);
        names.Should().Contain(layers.Select(l => l.Path));
        names.Should().Contain(InceptionV1.MixedLayerNames.Select(m => $"{m}.concat"));

        using var scope = NewDisposeScope();
        using CaptureResult result = ActivationCapture.Capture(model, InceptionV1.Preprocess(rand(1, 3, 224, 224, generator: new Generator(5))), layers.Select(l => l.Path));

        foreach (var (path, channels) in layers)
        {
            result[path].shape[1].Should().Be(channels, path);
        }

        result["conv2d0"].shape.Should().Equal(1, 64, 112, 112);
        result["maxpool0"].shape.Should().Equal(1, 64, 56, 56);
        result["mixed3a"].shape.Should().Equal(1, 256, 28, 28);
        result["mixed4a"].shape.Should().Equal(1, 508, 14, 14);
        result["mixed5b"].shape.Should().Equal(1, 1024, 7, 7);
        result["mixed3b.pool"].shape.Should().Equal(1, 256, 28, 28);
        ((double)result["conv2d0.conv"].min()).Should().BeLessThan(0, "the conv output is pre-ReLU");
        ((double)result["conv2d0"].min()).Should().Be(0);
        ((double)result["mixed3a.relu_3x3"].min()).Should().BeGreaterThanOrEqualTo(0);
        result["softmax2"].shape.Should().Equal(1, 1008);
        ((double)result["softmax2"].sum()).Should().BeApproximately(1, 1e-4, "softmax2 holds probabilities");
        TensorsShouldBeClose(result["softmax2"], result["softmax2_pre_activation"].softmax(1), 1e-6);
        TensorsShouldBeClose(result.Output!, result["softmax2"], 0);

        // The mixed layer is the concatenation of its four ReLU outputs, in Lucid's order.
        using Tensor joined = cat(new[] { result["mixed3b.relu_1x1"], result["mixed3b.relu_3x3"], result["mixed3b.relu_5x5"], result["mixed3b.relu_pool_reduce"] }, 1);
        TensorsShouldBeClose(result["mixed3b"], joined, 0);
    }

    [Fact]
    public void Odd_and_small_inputs_get_TensorFlow_SAME_shapes()
    {
        using var model = new InceptionV1(seed: 3);
        model.eval();
        using var scope = NewDisposeScope();
        using CaptureResult result = ActivationCapture.Capture(model, zeros(2, 3, 97, 129), new[] { "conv2d0", "maxpool0", "maxpool1", "mixed5b" });

        result["conv2d0"].shape.Should().Equal(2, 64, 49, 65);
        result["maxpool0"].shape.Should().Equal(2, 64, 25, 33);
        result["maxpool1"].shape.Should().Equal(2, 192, 13, 17);
        result["mixed5b"].shape.Should().Equal(2, 1024, 4, 5);
        result.Output!.shape.Should().Equal(2, 1008);
    }

    [Theory]
    [InlineData(224, 7, 2, 2, 3)]
    [InlineData(112, 3, 2, 0, 1)]
    [InlineData(97, 7, 2, 3, 3)]
    [InlineData(49, 3, 2, 1, 1)]
    [InlineData(28, 3, 1, 1, 1)]
    [InlineData(1, 7, 2, 3, 3)]
    public void Same_padding_follows_TensorFlow(long size, int kernel, int stride, long before, long after)
    {
        SamePad2d.Pads(size, kernel, stride).Should().Be((before, after));
    }

    [Fact]
    public void Same_padding_module_fills_with_its_value()
    {
        using var pad = new SamePad2d(3, 2, double.NegativeInfinity);
        using Tensor padded = pad.call(ones(1, 1, 4, 4));
        padded.shape.Should().Equal(1, 1, 5, 5);
        float[] values = padded.data<float>().ToArray();
        values[4].Should().Be(float.NegativeInfinity, "the extra column goes on the right");
        values[20].Should().Be(float.NegativeInfinity, "the extra row goes at the bottom");
        values[0].Should().Be(1);
    }

    [Fact]
    public void The_same_seed_gives_the_same_weights()
    {
        using var a = new InceptionV1(seed: 7);
        using var b = new InceptionV1(seed: 7);
        using var c = new InceptionV1(seed: 8);
        string key = "mixed4c.conv_3x3.weight";
        TensorsShouldBeClose(a.state_dict()[key], b.state_dict()[key], 0);
        ((double)(a.state_dict()[key] - c.state_dict()[key]).abs().max()).Should().BeGreaterThan(0);
    }

    [Fact]
    public void Preprocess_maps_the_unit_range_to_Lucids_value_range()
    {
        using Tensor x = InceptionV1.Preprocess(tensor(new float[] { 0, 0.5f, 1 }));
        x.data<float>().ToArray().Should().Equal(-117f, 10.5f, 138f);
    }

    [Theory]
    [InlineData("conv2d0_pre_relu_conv.weight", "conv2d0.conv.weight")]
    [InlineData("conv2d2_pre_relu_conv.bias", "conv2d2.conv.bias")]
    [InlineData("mixed3b_3x3_bottleneck_pre_relu_conv.bias", "mixed3b.conv_3x3_bottleneck.bias")]
    [InlineData("mixed5b_pool_reduce_pre_relu_conv.weight", "mixed5b.conv_pool_reduce.weight")]
    [InlineData("mixed4e_5x5_pre_relu_conv.weight", "mixed4e.conv_5x5.weight")]
    [InlineData("softmax2_pre_activation_matmul.weight", "softmax2_pre_activation.weight")]
    [InlineData("mixed3a.conv_1x1.weight", "mixed3a.conv_1x1.weight")]
    [InlineData("softmax0_pre_activation_matmul.weight", "softmax0_pre_activation_matmul.weight")]
    public void Inception5h_keys_map_to_module_paths(string key, string path)
    {
        InceptionV1.MapInception5hKey(key).Should().Be(path);
    }

    [Fact]
    public void Every_inception5h_key_names_a_parameter_of_the_model()
    {
        StateDict state = PyTorchCheckpoint.Load(IO.Fixtures.InceptionV1("inception5h_random_fp16.pth"));
        using var model = new InceptionV1();
        var parameters = model.state_dict();
        state.Keys.Select(InceptionV1.MapInception5hKey).Should().BeEquivalentTo(parameters.Keys);
    }

    [Theory]
    [InlineData("conv2d0", "conv2d0")]
    [InlineData("conv2d0_pre_relu", "conv2d0.conv")]
    [InlineData("mixed3b", "mixed3b")]
    [InlineData("mixed3b_3x3_pre_relu", "mixed3b.conv_3x3")]
    [InlineData("mixed3b_3x3", "mixed3b.relu_3x3")]
    [InlineData("mixed4a_3x3_bottleneck", "mixed4a.relu_3x3_bottleneck")]
    [InlineData("mixed4a_pool", "mixed4a.pool")]
    [InlineData("mixed4a_pool_reduce_pre_relu", "mixed4a.conv_pool_reduce")]
    [InlineData("maxpool10", "maxpool10")]
    [InlineData("localresponsenorm1", "localresponsenorm1")]
    [InlineData("softmax2_pre_activation", "softmax2_pre_activation")]
    public void Lucid_tensor_names_map_to_module_paths(string lucid, string path)
    {
        InceptionV1.ModulePath(lucid).Should().Be(path);
        using var model = new InceptionV1();
        ModelLayers.Names(model).Should().Contain(path);
    }

    [Fact]
    public void An_unknown_Lucid_name_is_an_error_with_examples()
    {
        var act = () => InceptionV1.ModulePath("mixed6a");
        act.Should().Throw<CircuitsException>().WithMessage("'mixed6a' is not a tensor of Lucid's InceptionV1 graph*Expected e.g.*mixed3b_3x3_bottleneck*");
    }

    [Fact]
    public void Wrong_input_shapes_are_named()
    {
        using var model = new InceptionV1();
        var act = () => model.call(zeros(1, 1, 64, 64));
        act.Should().Throw<CircuitsException>().WithMessage("*[N, 3, H, W]; got [1, 1, 64, 64]*");
    }

    internal static void TensorsShouldBeClose(Tensor actual, Tensor expected, double tolerance)
    {
        actual.shape.Should().Equal(expected.shape);
        double difference = actual.numel() == 0 ? 0 : (double)(actual.to_type(ScalarType.Float64) - expected.to_type(ScalarType.Float64)).abs().max();
        difference.Should().BeLessThanOrEqualTo(tolerance);
    }
}
