using System.Text.Json;
using Circuits.Interpretability.IO;

namespace Circuits.Interpretability.Tests.IO;

public class PyTorchCheckpointTests
{
    public static TheoryData<string> LoaderFiles => new() { "loader_zip.pth", "loader_legacy.pth" };

    [Theory]
    [MemberData(nameof(LoaderFiles))]
    public void Reads_every_dtype_and_view_exactly_as_PyTorch_wrote_them(string file)
    {
        StateDict state = PyTorchCheckpoint.Load(Fixtures.InceptionV1(file));
        JsonElement expected = Fixtures.Json("loader_expected.json");

        state.Keys.Should().Equal(expected.EnumerateObject().Select(p => p.Name), "keys keep the file's order");
        foreach (JsonProperty p in expected.EnumerateObject())
        {
            TensorData t = state[p.Name];
            t.DType.ToString().ToLowerInvariant().Should().Be(p.Value.GetProperty("dtype").GetString(), p.Name);
            t.Shape.Should().Equal(p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), p.Name);
            t.ToDoubleArray().Should().Equal(p.Value.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()), p.Name);
        }
    }

    [Fact]
    public void Views_are_copied_out_with_their_offsets_and_strides()
    {
        StateDict state = PyTorchCheckpoint.Load(Fixtures.InceptionV1("loader_zip.pth"));

        // base = arange(24).reshape(4, 6) / 8 - 1
        static double Base(int r, int c) => ((r * 6) + c) / 8.0 - 1;
        state["transposed"].Shape.Should().Equal(6, 4);
        state["transposed"].ToDoubleArray()[1].Should().Be(Base(1, 0));
        state["sliced"].ToDoubleArray().Should().Equal(Base(1, 2), Base(1, 3), Base(1, 4), Base(2, 2), Base(2, 3), Base(2, 4));
        state["stepped"].ToDoubleArray().Should().Equal(Base(0, 0), Base(0, 3), Base(2, 0), Base(2, 3));
        state["shared_a"].ToDoubleArray().Should().Equal(1.0, 1.5, 2.0, 2.5);
        state["scalar"].Shape.Should().BeEmpty();
        state["empty"].ElementCount.Should().Be(0);
    }

    [Fact]
    public void Reads_the_full_float16_InceptionV1_state_dict_with_inception5h_keys()
    {
        StateDict state = PyTorchCheckpoint.Load(Fixtures.InceptionV1("inception5h_random_fp16.pth"));

        state.Count.Should().Be(2 * 58);
        state.ElementCount.Should().Be(7_066_380);
        state.Values.Should().OnlyContain(t => t.DType == TensorDType.Float16);
        state["conv2d0_pre_relu_conv.weight"].Shape.Should().Equal(64, 3, 7, 7);
        state["mixed3b_3x3_bottleneck_pre_relu_conv.bias"].Shape.Should().Equal(128);
        state["softmax2_pre_activation_matmul.weight"].Shape.Should().Equal(1008, 1024);
    }

    [Fact]
    public void Tensors_convert_to_TorchSharp_with_their_dtype()
    {
        StateDict state = PyTorchCheckpoint.Load(Fixtures.InceptionV1("loader_zip.pth"));

        using var half = state["float16"].ToTensor();
        half.dtype.Should().Be(TorchSharp.torch.ScalarType.Float16);
        using var halfAsFloat = half.to_type(TorchSharp.torch.ScalarType.Float32);
        halfAsFloat.data<float>().ToArray().Select(v => (double)v).Should().Equal(state["float16"].ToDoubleArray());
        using var bf = state["bfloat16"].ToTensor();
        bf.dtype.Should().Be(TorchSharp.torch.ScalarType.BFloat16);
        using var longs = state["int64"].ToTensor();
        longs.data<long>().ToArray().Should().Equal(-(1L << 40), 1, 2, 3, 4, 1L << 50);
        using var flags = state["bool"].ToTensor();
        flags.data<bool>().ToArray().Should().Equal(true, false, true);
        using var scalar = state["scalar"].ToTensor();
        scalar.dim().Should().Be(0);
        scalar.item<float>().Should().Be(3.25f);
    }

    [Fact]
    public void WeightFile_recognizes_the_format_by_content()
    {
        using var dir = new TempDir();
        StateDict zip = WeightFile.Load(Fixtures.InceptionV1("loader_zip.pth"));
        SafeTensors.Save(dir.File("weights.bin"), zip);

        WeightFile.Load(Fixtures.InceptionV1("loader_legacy.pth")).Keys.Should().Equal(zip.Keys);
        WeightFile.Load(dir.File("weights.bin")).Keys.Should().Equal(zip.Keys);
    }
}
