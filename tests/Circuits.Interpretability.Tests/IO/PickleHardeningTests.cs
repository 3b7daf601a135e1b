using System.Diagnostics;
using Circuits.Interpretability.IO;
using static Circuits.Interpretability.Tests.IO.WeightFileBuilders;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>Pickles that expand or grow quadratically (issue 13, Loaders: pickle).</summary>
public class PickleHardeningTests
{
    private static readonly PickledTensor Empty = new("t", "0", 0, new long[] { 0 }, new long[] { 1 });

    /// <summary>
    /// Sixteen levels of dicts, each holding ten references (memo gets) to the level below: a pickle of about
    /// 2 KB that describes 10^16 leaves. With <paramref name="tensorLeaves"/>, the bottom dict holds an empty tensor.
    /// </summary>
    private static byte[] DictTree(bool tensorLeaves)
    {
        var p = new PickleWriter().Proto().EmptyDict();
        if (tensorLeaves)
        {
            p.Str(Empty.Key).Tensor(Empty).SetItem();
        }

        p.Put(0).Op((byte)'0');
        for (uint level = 1; level <= 16; level++)
        {
            p.EmptyDict().Mark();
            for (int k = 0; k < 10; k++)
            {
                p.Str($"k{k}").Get(level - 1);
            }

            p.SetItems().Put(level);
            if (level < 16)
            {
                p.Op((byte)'0'); // POP: the next level refers to this one through the memo only
            }
        }

        return p.Stop().Bytes;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_memo_shared_dict_tree_is_refused_at_once_in_both_formats(bool tensorLeaves)
    {
        byte[] pickle = DictTree(tensorLeaves);
        pickle.Length.Should().BeLessThan(2500);
        byte[] zip = Checkpoint(pickle, ("0", Array.Empty<byte>()));
        byte[] keys = (tensorLeaves ? new PickleWriter().Proto().EmptyList().Str("0").Append() : new PickleWriter().Proto().EmptyList()).Stop().Bytes;
        byte[] legacy = LegacyHeader().Concat(pickle).Concat(keys).Concat(new byte[8]).ToArray();

        foreach (byte[] file in new[] { zip, legacy })
        {
            var clock = Stopwatch.StartNew();
            long allocated = Allocated(() =>
            {
                var act = () => PyTorchCheckpoint.Load(new MemoryStream(file), "tree.pth");
                act.Should().Throw<WeightFormatException>().WithMessage("tree.pth: walking the pickle's dicts visits far more entries than the pickle's size allows*memo*");
            });

            // Generous hang detector: the walk stops after a few thousand nodes (milliseconds); unbounded it takes ~10^16 steps.
            clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10));
            allocated.Should().BeLessThan(4 << 20);
        }
    }

    [Fact]
    public void Tied_weights_under_two_keys_share_one_tensor_and_pass_the_walk_budget()
    {
        // state_dict() of a model with tied weights pickles the tensor once and refers to it again through the memo.
        var t = new PickledTensor("a", "0", 4, new long[] { 4 }, new long[] { 1 });
        byte[] pickle = new PickleWriter().Proto().Global("collections", "OrderedDict").EmptyTuple().Reduce()
            .Str("a").Tensor(t).Put(7).SetItem().Str("b").Get(7).SetItem().Stop().Bytes;
        byte[] data = new byte[16];
        BitConverter.GetBytes(1.5f).CopyTo(data, 4);

        StateDict state = PyTorchCheckpoint.Load(new MemoryStream(Checkpoint(pickle, ("0", data))), "tied.pth");

        state.Keys.Should().Equal("a", "b");
        state["b"].Should().BeSameAs(state["a"]);
        state["a"].ToFloatArray().Should().Equal(0f, 1.5f, 0f, 0f);
    }

    [Fact]
    public void A_dict_of_200000_keys_is_built_in_linear_time()
    {
        var p = new PickleWriter().Proto().EmptyDict().Mark();
        for (int i = 0; i < 200_000; i++)
        {
            p.Str($"key{i}").Int(i);
        }

        byte[] zip = Checkpoint(p.SetItems().Stop().Bytes);
        var clock = Stopwatch.StartNew();

        StateDict state = PyTorchCheckpoint.Load(new MemoryStream(zip), "wide.pth");

        state.Count.Should().Be(0, "the values are numbers, not tensors");
        // Generous hang detector, not a performance target: linear takes well under a second, the former quadratic build 22 s.
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(8));
    }

    [Fact]
    public void A_key_set_twice_keeps_its_first_position_and_its_last_value_as_Python_does()
    {
        var first = new PickledTensor("a", "0", 1, new long[] { 1 }, new long[] { 1 });
        var second = first with { StorageKey = "1" };
        var other = first with { Key = "z", StorageKey = "2" };
        byte[] pickle = new PickleWriter().Proto().EmptyDict()
            .Str("a").Tensor(first).SetItem().Str("z").Tensor(other).SetItem().Str("a").Tensor(second).SetItem().Stop().Bytes;
        byte[] zip = Checkpoint(pickle, ("0", BitConverter.GetBytes(1f)), ("1", BitConverter.GetBytes(2f)), ("2", BitConverter.GetBytes(3f)));

        StateDict state = PyTorchCheckpoint.Load(new MemoryStream(zip), "twice.pth");

        state.Keys.Should().Equal("a", "z");
        state["a"].ToFloatArray().Should().Equal(2f);
    }

    [Fact]
    public void A_string_that_is_not_UTF8_is_a_format_error()
    {
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Utf8(new byte[] { 0x77, 0xC3, 0x28 }).Int(1).SetItem().Stop().Bytes;

        var act = () => PyTorchCheckpoint.Load(new MemoryStream(Checkpoint(pickle)), "utf8.pth");

        act.Should().Throw<WeightFormatException>().WithMessage("utf8.pth: corrupted pickle: the string at byte 3 is not valid UTF-8.");
    }
}
