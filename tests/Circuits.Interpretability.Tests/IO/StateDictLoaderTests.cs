using Circuits.Interpretability.IO;
using Circuits.Interpretability.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.IO;

public class StateDictLoaderTests
{
    [Fact]
    public void A_state_dict_round_trips_into_another_module()
    {
        using var source = new SmallConvNet(seed: 1, width: 2);
        using var target = new SmallConvNet(seed: 2, width: 2);

        StateDictLoadReport report = StateDictLoader.Load(target, StateDict.FromModule(source));

        report.Loaded.Should().BeEquivalentTo(source.state_dict().Keys);
        report.MissingKeys.Should().BeEmpty();
        foreach (var (key, value) in source.state_dict())
        {
            ((double)(target.state_dict()[key] - value).abs().max()).Should().Be(0, key);
        }
    }

    [Fact]
    public void Missing_unexpected_and_misshapen_keys_are_all_named_and_nothing_is_loaded()
    {
        using var source = new SmallConvNet(seed: 1, width: 2);
        using var target = new SmallConvNet(seed: 2, width: 2);
        float[] before = Snapshot(target);
        var entries = StateDict.FromModule(source).Where(kv => kv.Key != "features.conv2.bias").ToList();
        entries.Add(KeyValuePair.Create("features.conv9.weight", TensorData.FromFloats(new long[] { 1 }, new float[] { 1 })));
        int head = entries.FindIndex(kv => kv.Key == "head.fc.weight");
        entries[head] = KeyValuePair.Create("head.fc.weight", TensorData.FromFloats(new long[] { 10, 3 }, new float[30]));

        var act = () => StateDictLoader.Load(target, new StateDict(entries));

        var e = act.Should().Throw<StateDictMismatchException>().Which;
        e.MissingKeys.Should().Equal("features.conv2.bias");
        e.UnexpectedKeys.Should().Equal("features.conv9.weight");
        e.ShapeMismatches.Should().Equal("head.fc.weight: file [10, 3] vs module [10, 8]");
        e.Message.Should().Contain("nothing was loaded").And.Contain("'features.conv2.bias'").And.Contain("'features.conv9.weight'");
        Snapshot(target).Should().Equal(before, "validation happens before any copy");
    }

    [Fact]
    public void A_shape_mismatch_fails_even_when_not_strict_but_missing_keys_are_only_reported()
    {
        using var source = new SmallConvNet(seed: 1, width: 2);
        using var target = new SmallConvNet(seed: 2, width: 2);
        var partial = new StateDict(StateDict.FromModule(source).Where(kv => kv.Key.StartsWith("features.", StringComparison.Ordinal)));

        StateDictLoadReport report = StateDictLoader.Load(target, partial, strict: false);

        report.MissingKeys.Should().Equal("head.fc.weight", "head.fc.bias");
        ((double)(target.state_dict()["features.conv1.weight"] - source.state_dict()["features.conv1.weight"]).abs().max()).Should().Be(0);
    }

    [Fact]
    public void The_key_map_renames_and_two_keys_mapped_to_one_path_are_an_error()
    {
        using var source = new SmallConvNet(seed: 1, width: 2);
        using var target = new SmallConvNet(seed: 2, width: 2);
        var renamed = new StateDict(StateDict.FromModule(source).Select(kv => KeyValuePair.Create("model." + kv.Key, kv.Value)));

        StateDictLoader.Load(target, renamed, k => k["model.".Length..]).Loaded.Should().HaveCount(8);

        var act = () => StateDictLoader.Load(target, renamed, _ => "head.fc.bias");
        act.Should().Throw<StateDictMismatchException>().WithMessage("*also mapped from*");
    }

    [Fact]
    public void InceptionV1_refuses_a_truncated_state_dict_by_name_and_stays_unchanged()
    {
        StateDict full = PyTorchCheckpoint.Load(Fixtures.InceptionV1("inception5h_random_fp16.pth"));
        var partial = new StateDict(full.Where(kv => kv.Key != "mixed4d_5x5_pre_relu_conv.weight"));
        using var model = new InceptionV1(seed: 4);
        float[] before = model.state_dict()["mixed3a.conv_1x1.weight"].data<float>().ToArray();

        var act = () => model.LoadWeights(partial);

        act.Should().Throw<StateDictMismatchException>().Which.MissingKeys.Should().Equal("mixed4d.conv_5x5.weight");
        model.state_dict()["mixed3a.conv_1x1.weight"].data<float>().ToArray().Should().Equal(before);
    }

    [Fact]
    public void InceptionV1_loads_its_own_safetensors_with_module_path_keys()
    {
        using var dir = new TempDir();
        using var source = new InceptionV1(seed: 5);
        SafeTensors.Save(dir.File("inceptionv1.safetensors"), StateDict.FromModule(source), new Dictionary<string, string> { ["model"] = "InceptionV1" });

        using var loaded = InceptionV1.FromFile(dir.File("inceptionv1.safetensors"));

        foreach (string key in new[] { "conv2d0.conv.weight", "mixed5b.conv_pool_reduce.bias", "softmax2_pre_activation.weight" })
        {
            ((double)(loaded.state_dict()[key] - source.state_dict()[key]).abs().max()).Should().Be(0, key);
        }
    }

    private static float[] Snapshot(nn.Module module) =>
        module.parameters().SelectMany(p => p.detach().reshape(-1).data<float>().ToArray()).ToArray();
}
