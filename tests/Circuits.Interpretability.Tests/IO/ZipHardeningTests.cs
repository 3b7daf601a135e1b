using System.Buffers.Binary;
using System.Text.Json;
using Circuits.Interpretability.IO;
using static Circuits.Interpretability.Tests.IO.WeightFileBuilders;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>Zip bombs and crafted archives (issue 13, Loaders): each is refused with a typed error before
/// the reader allocates or inflates more than the tensors need.</summary>
public class ZipHardeningTests
{
    private static readonly PickledTensor FourFloats = new("w", "0", 4, new long[] { 4 }, new long[] { 1 });

    public static string Hardening(string file) => Path.Combine(Path.GetDirectoryName(Fixtures.InceptionV1("x"))!, "..", "hardening", file);

    [Fact]
    public void A_deflated_storage_far_larger_than_its_tensors_is_refused_before_it_is_inflated()
    {
        // 64 MiB of zeros deflate to about 64 KB; the pickle declares a 16M-float storage viewed by a 4-element tensor.
        const int Floats = 16 << 20;
        byte[] pickle = StateDictPickle(FourFloats with { StorageCount = Floats });
        byte[] zip = Zip(new[] { ("archive/data.pkl", pickle), ("archive/data/0", new byte[Floats * 4]) }, "archive/data/0");
        zip.Length.Should().BeLessThan(1 << 20);

        long allocated = Allocated(() =>
        {
            var act = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "bomb.pth");
            act.Should().Throw<WeightFormatException>().WithMessage("bomb.pth: the deflated storages declare 67108864 bytes but the tensors view only 16*zip bomb*");
        });
        allocated.Should().BeLessThan(1 << 20, "nothing is inflated: the declared sizes already exceed the budget");
    }

    [Fact]
    public void A_deflated_entry_that_inflates_beyond_its_declared_size_stops_at_the_declared_size()
    {
        // The entry really inflates to 64 MiB but declares 16 bytes: inflation stops after the first chunk.
        byte[] pickle = StateDictPickle(FourFloats);
        byte[] zip = Zip(new[] { ("archive/data.pkl", pickle), ("archive/data/0", new byte[64 << 20]) }, "archive/data/0");
        SetDeclaredSize(zip, "archive/data/0", 16);

        long allocated = Allocated(() =>
        {
            var act = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "liar.pth");
            act.Should().Throw<WeightFormatException>().WithMessage("*entry 'archive/data/0' inflates to more than the 16 bytes it declares*");
        });
        allocated.Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void A_legitimately_large_deflated_tensor_loads_and_the_total_cap_bounds_it()
    {
        // A 4 MiB tensor of zeros, deflated: every inflated byte is viewed, so the default budget admits it.
        const int Floats = 1 << 20;
        var tensor = new PickledTensor("zeros", "0", Floats, new long[] { Floats }, new long[] { 1 });
        byte[] zip = Zip(new[] { ("archive/data.pkl", StateDictPickle(tensor)), ("archive/data/0", new byte[Floats * 4]) }, "archive/data/0");

        StateDict state = PyTorchCheckpoint.Load(new MemoryStream(zip), "zeros.pth");
        state["zeros"].ElementCount.Should().Be(Floats);
        state["zeros"].ToFloatArray().Should().OnlyContain(v => v == 0);

        var capped = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "zeros.pth", new WeightLoadOptions { MaxTotalBytes = 1 << 20 });
        capped.Should().Throw<WeightFormatException>().WithMessage("*need 4194304 bytes, more than WeightLoadOptions.MaxTotalBytes (1048576)*");
    }

    [Theory]
    [InlineData("archive/data.pkl", 0x7FFFFFD0u, "*entry 'archive/data.pkl' declares 2147483600 bytes, more than the 67108864 allowed*")]
    [InlineData("archive/data.pkl", 0x7FFFFFFFu, "*entry 'archive/data.pkl' declares 2147483647 bytes, more than the 67108864 allowed*")]
    [InlineData("archive/data/0", 0x7FFFFFD0u, "*tensor 'w' of shape [2147483600] takes 2147483600 bytes; at most 2147483591 bytes per tensor are supported*")]
    [InlineData("archive/data/0", 0x7FFFFFFFu, "*tensor 'w' of shape [2147483647] takes 2147483647 bytes; at most 2147483591 bytes per tensor are supported*")]
    public void An_entry_declaring_a_size_beyond_Array_MaxLength_is_a_typed_error(string entry, uint declared, string message)
    {
        // Array.MaxLength is 0x7FFFFFC7: sizes between it and int.MaxValue used to throw OutOfMemoryException.
        var huge = new PickledTensor("w", "0", declared, new long[] { declared }, new long[] { 1 }, StorageType: "ByteStorage");
        byte[] zip = Zip(new[] { ("archive/data.pkl", StateDictPickle(huge)), ("archive/data/0", new byte[64]) }, "archive/data.pkl", "archive/data/0");
        SetDeclaredSize(zip, entry, declared);

        long allocated = Allocated(() =>
        {
            var act = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "huge.pth");
            act.Should().Throw<WeightFormatException>().WithMessage(message);
        });
        allocated.Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void Duplicate_entry_names_are_refused_because_torch_load_reads_the_last_one()
    {
        // Made by PyTorch's generator: torch.load returns the second entry's weights (9, 9, 9, 9).
        JsonElement expected = JsonDocument.Parse(File.ReadAllBytes(Hardening("expected.json"))).RootElement.GetProperty("duplicate_entry.pth");
        expected.GetProperty("weight").GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).Should().Equal(9, 9, 9, 9);

        var act = () => PyTorchCheckpoint.Load(Hardening("duplicate_entry.pth"));
        act.Should().Throw<WeightFormatException>().WithMessage("duplicate_entry.pth: *two entries are named 'plain/data/0'; torch.load reads the last*");

        byte[] crafted = Zip(("archive/data.pkl", StateDictPickle(FourFloats)), ("archive/data/0", new byte[16]), ("archive/data/0", new byte[16]));
        var act2 = () => PyTorchCheckpoint.Load(new MemoryStream(crafted), "twice.pth");
        act2.Should().Throw<WeightFormatException>().WithMessage("*two entries are named 'archive/data/0'*");
    }

    [Fact]
    public void Entries_whose_data_overlap_are_refused()
    {
        // data/0 is made to claim the bytes of data/1 as well (a stored entry whose sizes cover its neighbour).
        byte[] zip = Zip(("archive/data.pkl", StateDictPickle(FourFloats)), ("archive/data/0", new byte[16]), ("archive/data/1", new byte[16]), ("archive/data/2", new byte[256]));
        int record = CentralRecord(zip, "archive/data/0");
        BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(record + 20), 80);
        BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(record + 24), 80);

        var act = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "overlap.pth");
        act.Should().Throw<WeightFormatException>().WithMessage("*entries 'archive/data/0' and 'archive/data/1' overlap*");
    }

    [Fact]
    public void Three_directory_entries_sharing_one_deflated_blob_are_refused()
    {
        // One real deflated storage; two more central records point at its local header under other names.
        byte[] pickle = StateDictPickle(FourFloats, FourFloats with { Key = "v", StorageKey = "1" }, FourFloats with { Key = "u", StorageKey = "2" });
        byte[] zip = Zip(new[] { ("archive/data.pkl", pickle), ("archive/data/0", new byte[16]), ("archive/data/1", new byte[16]), ("archive/data/2", new byte[16]) },
            "archive/data/0", "archive/data/1", "archive/data/2");
        uint shared = BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(CentralRecord(zip, "archive/data/0") + 42));
        foreach (string name in new[] { "archive/data/1", "archive/data/2" })
        {
            BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(CentralRecord(zip, name) + 42), shared);
        }

        var act = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "shared.pth");
        act.Should().Throw<WeightFormatException>().WithMessage("*'archive/data/1' has a different name in its local header*");
    }

    [Fact]
    public void Only_the_storage_bytes_a_tensor_views_are_kept()
    {
        // torch.save wrote the whole 100,000-float storage (400,000 bytes) for a 4-element slice.
        string path = Hardening("slice_of_large.pth");
        new FileInfo(path).Length.Should().BeGreaterThan(400_000);
        StateDict state = null!;

        long allocated = Allocated(() => state = PyTorchCheckpoint.Load(path));

        state["window"].ToDoubleArray().Should().Equal(10, 11, 12, 13);
        allocated.Should().BeLessThan(200_000, "the storage is streamed through its CRC check, only the viewed 16 bytes are kept");
    }

    [Fact]
    public void Entries_the_pickle_never_references_are_never_read()
    {
        // A 64 MiB deflated entry nobody references costs nothing (and could not fit the inflation budget).
        byte[] zip = Zip(new[] { ("archive/data.pkl", StateDictPickle(FourFloats)), ("archive/data/0", new byte[16]), ("archive/extra", new byte[64 << 20]) }, "archive/extra");

        long allocated = Allocated(() => PyTorchCheckpoint.Load(new MemoryStream(zip), "extra.pth")["w"].ElementCount.Should().Be(4));

        allocated.Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void A_deflated_checkpoint_that_torch_load_reads_is_read()
    {
        JsonElement expected = JsonDocument.Parse(File.ReadAllBytes(Hardening("expected.json"))).RootElement.GetProperty("deflated.pth");

        StateDict state = PyTorchCheckpoint.Load(Hardening("deflated.pth"));

        foreach (JsonProperty p in expected.EnumerateObject())
        {
            state[p.Name].Shape.Should().Equal(p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
            state[p.Name].ToDoubleArray().Should().Equal(p.Value.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()));
        }
    }

    [Fact]
    public void A_pickle_larger_than_the_pickle_limit_is_refused()
    {
        byte[] pickle = StateDictPickle(FourFloats);
        byte[] zip = Checkpoint(pickle, ("0", new byte[16]));
        var act = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "p.pth", new WeightLoadOptions { MaxPickleBytes = pickle.Length - 1 });
        act.Should().Throw<WeightFormatException>().WithMessage($"*entry 'archive/data.pkl' declares {pickle.Length} bytes, more than the {pickle.Length - 1} allowed (WeightLoadOptions.MaxPickleBytes)*");

        // The legacy format has no sizes up front: the reader stops once the pickle passes the limit.
        byte[] legacy = LegacyHeader().Concat(pickle).ToArray();
        var old = () => PyTorchCheckpoint.Load(new MemoryStream(legacy), "p.pth", new WeightLoadOptions { MaxPickleBytes = pickle.Length - 1 });
        old.Should().Throw<WeightFormatException>().WithMessage($"*the pickle is larger than {pickle.Length - 1} bytes (WeightLoadOptions.MaxPickleBytes)*");
    }
}
