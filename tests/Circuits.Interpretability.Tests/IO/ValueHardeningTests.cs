using System.Text.Json;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.IO;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Tests.Cli;
using static Circuits.Interpretability.Tests.IO.WeightFileBuilders;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>Values that torch.load reads but the reader refused, and values it must refuse (issue 13, Values).</summary>
public class ValueHardeningTests
{
    [Theory]
    [InlineData("expanded.pth")]
    [InlineData("expanded_legacy.pth")]
    public void Tensors_expanded_with_stride_0_load_as_torch_load_reads_them(string file)
    {
        JsonElement expected = JsonDocument.Parse(File.ReadAllBytes(ZipHardeningTests.Hardening("expected.json"))).RootElement.GetProperty(file);
        expected.GetProperty("expanded").GetProperty("stride").EnumerateArray().Single().GetInt64().Should().Be(0, "the fixture really is a stride-0 view");

        StateDict state = PyTorchCheckpoint.Load(ZipHardeningTests.Hardening(file));

        state.Keys.Should().Equal(expected.EnumerateObject().Select(p => p.Name));
        foreach (JsonProperty p in expected.EnumerateObject())
        {
            state[p.Name].Shape.Should().Equal(p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), p.Name);
            state[p.Name].ToDoubleArray().Should().Equal(p.Value.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()), p.Name);
        }
    }

    [Fact]
    public void Expansion_beyond_the_view_allowance_is_refused_and_the_option_admits_it()
    {
        // One float expanded to 8M elements (32 MiB): 4 bytes in the file, 32 MiB in memory.
        var expanded = new PickledTensor("e", "0", 1, new long[] { 8 << 20 }, new long[] { 0 });
        byte[] zip = Checkpoint(StateDictPickle(expanded), ("0", BitConverter.GetBytes(0.5f)));

        long allocated = Allocated(() =>
        {
            var act = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "expand.pth");
            act.Should().Throw<WeightFormatException>().WithMessage("*take 33554432 bytes when copied out but their storages hold only 4 bytes*WeightLoadOptions.MaxViewExpansionBytes (16777216)*");
        });
        allocated.Should().BeLessThan(1 << 20);

        StateDict state = PyTorchCheckpoint.Load(new MemoryStream(zip), "expand.pth", new WeightLoadOptions { MaxViewExpansionBytes = 64 << 20 });
        state["e"].ToFloatArray().Should().HaveCount(8 << 20).And.OnlyContain(v => v == 0.5f);
    }

    [Fact]
    public void Many_views_of_one_storage_count_against_the_same_allowance()
    {
        // 1,000 distinct tensors all viewing the same 64 KiB storage: 64 MiB copied out of 64 KiB.
        var views = Enumerable.Range(0, 1000).Select(i => new PickledTensor($"v{i}", "0", 16384, new long[] { 16384 }, new long[] { 1 })).ToArray();
        byte[] zip = Checkpoint(StateDictPickle(views), ("0", new byte[65536]));

        var act = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "views.pth");

        act.Should().Throw<WeightFormatException>().WithMessage("*take 65536000 bytes when copied out but their storages hold only 65536 bytes*");
    }

    [Fact]
    public void A_zero_element_tensor_with_huge_other_dimensions_is_refused_at_load_in_both_formats()
    {
        const long Huge = 1L << 40;
        var empty = new PickledTensor("w", "0", 0, new long[] { 0, Huge, Huge }, new long[] { 1, 1, 1 });
        var pth = () => PyTorchCheckpoint.Load(new MemoryStream(Checkpoint(StateDictPickle(empty), ("0", Array.Empty<byte>()))), "empty.pth");
        pth.Should().Throw<WeightFormatException>().WithMessage("empty.pth: tensor 'w': shape [0, 1099511627776, 1099511627776] is too large: its dimensions other than 0 multiply to more than 2^63 bytes*(even though the tensor holds no elements).");

        byte[] st = SafeTensorsFile($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[0,{Huge},{Huge}],\"data_offsets\":[0,0]}}}}", Array.Empty<byte>());
        var safetensors = () => SafeTensors.Load(new MemoryStream(st), "empty.safetensors");
        safetensors.Should().Throw<WeightFormatException>().WithMessage("empty.safetensors: tensor 'w': shape [0, 1099511627776, 1099511627776] is too large*");

        // What libtorch can hold stays accepted, as torch.load accepts it: shape [0, 1000000].
        byte[] ok = SafeTensorsFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[0,1000000],\"data_offsets\":[0,0]}}", Array.Empty<byte>());
        using Tensor t = SafeTensors.Load(new MemoryStream(ok))["w"].ToTensor();
        t.shape.Should().Equal(0, 1000000);
    }

    [Fact]
    public void NaN_and_infinite_weights_are_refused_by_name_by_the_generic_loader_and_the_option_admits_them()
    {
        using var source = new SmallConvNet(seed: 1, width: 2);
        using var target = new SmallConvNet(seed: 2, width: 2);
        float[] before = target.parameters().SelectMany(p => p.detach().reshape(-1).data<float>().ToArray()).ToArray();
        var entries = StateDict.FromModule(source).ToList();
        entries[Index(entries, "features.conv1.bias")] = Replace(entries, "features.conv1.bias", (v, i) => i == 0 ? float.NaN : v);
        entries[Index(entries, "head.fc.weight")] = Replace(entries, "head.fc.weight", (v, i) => i < 2 ? float.PositiveInfinity : i == 2 ? float.NegativeInfinity : i == 3 ? float.NaN : v);
        var poisoned = new StateDict(entries);

        var act = () => StateDictLoader.Load(target, poisoned);

        var e = act.Should().Throw<NonFiniteWeightsException>().Which;
        e.TensorNames.Should().Equal("features.conv1.bias", "head.fc.weight");
        e.Message.Should().Contain("'features.conv1.bias' (1 NaN of 2)").And.Contain("'head.fc.weight' (1 NaN, 3 infinite of 80)").And.Contain("nothing was loaded").And.Contain("AllowNonFinite");
        e.Should().BeAssignableTo<CircuitsException>();
        target.parameters().SelectMany(p => p.detach().reshape(-1).data<float>().ToArray()).Should().Equal(before, "nothing is copied when a tensor is refused");

        StateDictLoader.Load(target, poisoned, allowNonFinite: true).Loaded.Should().HaveCount(8);
        float.IsNaN(target.state_dict()["features.conv1.bias"].data<float>()[0]).Should().BeTrue();
    }

    [Fact]
    public void InceptionV1_refuses_NaN_weights_from_a_file_naming_the_tensor_and_loads_them_when_allowed()
    {
        using var dir = new TempDir();
        StateDict weights = PyTorchCheckpoint.Load(Fixtures.InceptionV1("inception5h_random_fp16.pth"));
        var entries = weights.ToList();
        const string Key = "mixed4a_3x3_pre_relu_conv.bias";
        int at = Index(entries, Key);
        float[] bias = entries[at].Value.ToFloatArray();
        bias[7] = float.NaN;
        entries[at] = KeyValuePair.Create(Key, TensorData.FromFloats(entries[at].Value.Shape, bias));
        SafeTensors.Save(dir.File("nan.safetensors"), new StateDict(entries));

        var act = () => InceptionV1.FromFile(dir.File("nan.safetensors"));

        act.Should().Throw<NonFiniteWeightsException>().Which.Message.Should()
            .Contain($"'{Key} -> mixed4a.conv_3x3.bias' (1 NaN of 204)");

        using InceptionV1 model = InceptionV1.FromFile(dir.File("nan.safetensors"), new WeightLoadOptions { AllowNonFinite = true });
        float.IsNaN(model.state_dict()["mixed4a.conv_3x3.bias"].data<float>()[7]).Should().BeTrue();
    }

    [Fact]
    public async Task The_CLI_reports_a_header_with_a_lone_surrogate_as_an_error_instead_of_crashing()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("bad.safetensors"), SafeTensorsFile("{\"w\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]));

        var (code, output, error) = await CliTests.Run("layers", "--model", "inceptionv1", "--weights", dir.File("bad.safetensors"));

        code.Should().Be(ExitCodes.Failure, "a typed error exits with 1; the untyped one aborted the process (exit 134)");
        error.Should().Contain("bad.safetensors: a string in the header is not valid Unicode");
        output.Should().BeEmpty();
    }

    private static int Index(List<KeyValuePair<string, TensorData>> entries, string key) => entries.FindIndex(kv => kv.Key == key);

    private static KeyValuePair<string, TensorData> Replace(List<KeyValuePair<string, TensorData>> entries, string key, Func<float, int, float> change)
    {
        TensorData t = entries[Index(entries, key)].Value;
        return KeyValuePair.Create(key, TensorData.FromFloats(t.Shape, t.ToFloatArray().Select(change).ToArray()));
    }
}
