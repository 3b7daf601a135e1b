using System.Buffers.Binary;
using System.Text;
using Circuits.Interpretability.IO;
using static Circuits.Interpretability.Tests.IO.WeightFileBuilders;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>Damaged and hostile weight files: each must give a clear WeightFormatException, never a crash,
/// a hang, or an allocation larger than the file justifies.</summary>
public class BadWeightFileTests
{
    private const long AllocationLimit = 8 << 20;

    // ---- PyTorch checkpoints -------------------------------------------------------------------------

    [Theory]
    [InlineData("loader_zip.pth")]
    [InlineData("loader_legacy.pth")]
    public void Every_truncation_of_a_checkpoint_is_a_format_error(string file)
    {
        byte[] bytes = File.ReadAllBytes(Fixtures.InceptionV1(file));
        for (int length = 0; length < bytes.Length; length += 7)
        {
            var act = () => PyTorchCheckpoint.Load(new MemoryStream(bytes, 0, length), file);
            act.Should().Throw<WeightFormatException>($"a file cut to {length} of {bytes.Length} bytes is incomplete");
        }
    }

    [Fact]
    public void A_corrupted_zip_entry_fails_its_CRC_check()
    {
        byte[] bytes = File.ReadAllBytes(Fixtures.InceptionV1("loader_zip.pth"));
        int data = IndexOf(bytes, Encoding.ASCII.GetBytes("loader_zip/data/0")) + "loader_zip/data/0".Length;
        // The first storage's bytes follow its local header (name, then an extra field padding to 64 bytes).
        int start = ((data + 63) / 64) * 64;
        bytes[start + 1] ^= 0x55;

        var act = () => PyTorchCheckpoint.Load(new MemoryStream(bytes), "corrupt.pth");
        act.Should().Throw<WeightFormatException>().WithMessage("*CRC-32*corrupted*");
    }

    [Fact]
    public void Random_byte_flips_never_escape_as_anything_but_a_format_error()
    {
        foreach (string file in new[] { "loader_zip.pth", "loader_legacy.pth" })
        {
            byte[] original = File.ReadAllBytes(Fixtures.InceptionV1(file));
            var random = new Random(3);
            for (int trial = 0; trial < 300; trial++)
            {
                byte[] bytes = (byte[])original.Clone();
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                try
                {
                    PyTorchCheckpoint.Load(new MemoryStream(bytes), file);
                }
                catch (WeightFormatException)
                {
                }
            }
        }
    }

    [Fact]
    public void Wrong_magic_is_named()
    {
        var act = () => PyTorchCheckpoint.Load(new MemoryStream(Encoding.ASCII.GetBytes("GIF89a not a checkpoint")), "image.gif");
        act.Should().Throw<WeightFormatException>().WithMessage("image.gif: unknown format*474946*zip*pickle*");

        // A pickle, but not a legacy checkpoint: the magic number is 5.
        var pickled = () => PyTorchCheckpoint.Load(new MemoryStream(new byte[] { 0x80, 2, (byte)'K', 5, (byte)'.' }), "five.pth");
        pickled.Should().Throw<WeightFormatException>().WithMessage("*wrong magic number*0x1950a86a20f9469cfc6c*");
    }

    [Fact]
    public void A_legacy_checkpoint_declaring_an_absurd_storage_is_rejected_before_allocating()
    {
        // Header pickles, then a state dict whose only storage claims 10^15 floats, in a file of a few hundred bytes.
        var pickle = new PickleWriter();
        byte[] header = LegacyHeader();
        pickle.Proto().EmptyDict().Str("w").Global("torch._utils", "_rebuild_tensor_v2")
            .Mark().Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Long(1_000_000_000_000_000).Tuple().BinPersId()
            .Int(0).Int(10).Tuple1().Int(1).Tuple1().False().Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce()
            .SetItem().Stop();
        var keys = new PickleWriter().Proto().EmptyList().Str("0").Append().Stop();
        var count = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(count, 1_000_000_000_000_000);
        byte[] file = header.Concat(pickle.Bytes).Concat(keys.Bytes).Concat(count).Concat(new byte[64]).ToArray();

        AssertRejectedCheaply(() => PyTorchCheckpoint.Load(new MemoryStream(file), "absurd.pth"), "*storage '0'*needs 4000000000000000 bytes*");
    }

    [Fact]
    public void A_zip_entry_declaring_an_absurd_size_is_rejected_before_allocating()
    {
        byte[] zip = Zip(("archive/data.pkl", new PickleWriter().Proto().EmptyDict().Stop().Bytes), ("archive/data/0", new byte[16]));
        // Patch the central directory's uncompressed size of data.pkl to 2 GB - 1.
        int central = IndexOf(zip, new byte[] { (byte)'P', (byte)'K', 1, 2 });
        BinaryPrimitives.WriteInt32LittleEndian(zip.AsSpan(central + 24), int.MaxValue);

        AssertRejectedCheaply(() => PyTorchCheckpoint.Load(new MemoryStream(zip), "absurd.pth"), "*");
    }

    [Fact]
    public void A_pickle_string_declaring_more_bytes_than_the_file_holds_is_rejected()
    {
        byte[] pickle = new byte[] { 0x80, 2, (byte)'X', 0xff, 0xff, 0xff, 0x7f, (byte)'a', (byte)'.' };
        byte[] zip = Zip(("archive/data.pkl", pickle));

        AssertRejectedCheaply(() => PyTorchCheckpoint.Load(new MemoryStream(zip), "long-string.pth"), "*declares 2147483647 bytes*");
    }

    [Fact]
    public void A_storage_smaller_than_its_tensor_view_is_rejected()
    {
        var pickle = new PickleWriter().Proto().EmptyDict().Str("w").Global("torch._utils", "_rebuild_tensor_v2")
            .Mark().Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(4).Tuple().BinPersId()
            .Int(2).Int(2).Int(2).Tuple2().Int(2).Int(1).Tuple2().False().Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce()
            .SetItem().Stop();
        byte[] zip = Zip(("archive/data.pkl", pickle.Bytes), ("archive/data/0", new byte[16]));

        var act = () => PyTorchCheckpoint.Load(new MemoryStream(zip), "view.pth");
        act.Should().Throw<WeightFormatException>().WithMessage("*shape [2, 2], offset 2 and strides (2, 1) reaches element 5 of storage '0', which has 4*");
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("subprocess", "Popen")]
    [InlineData("torch", "load")]
    public void A_malicious_global_is_refused_by_name_and_nothing_runs(string module, string name)
    {
        string marker = Path.Combine(Path.GetTempPath(), "circuits-pwned-" + Guid.NewGuid().ToString("N"));
        byte[] pickle = new PickleWriter().Proto().Global(module, name).Str($"touch {marker}").Tuple1().Reduce().Stop().Bytes;

        var zipped = () => PyTorchCheckpoint.Load(new MemoryStream(Zip(("archive/data.pkl", pickle))), "evil.pth");
        zipped.Should().Throw<UnsafePickleException>().WithMessage($"evil.pth: the pickle asks for the global '{module}.{name}'*not allowed*Nothing was executed*");

        byte[] legacy = LegacyHeader().Concat(pickle).ToArray();
        var old = () => PyTorchCheckpoint.Load(new MemoryStream(legacy), "evil-legacy.pth");
        old.Should().Throw<UnsafePickleException>().WithMessage($"*'{module}.{name}'*");
        File.Exists(marker).Should().BeFalse();
    }

    [Fact]
    public void Stack_global_and_unsupported_opcodes_are_refused()
    {
        byte[] stackGlobal = new PickleWriter().Proto().Str("posix").Str("system").Op(0x93).Str("id").Tuple1().Reduce().Stop().Bytes;
        var act = () => PyTorchCheckpoint.Load(new MemoryStream(Zip(("archive/data.pkl", stackGlobal))), "evil.pth");
        act.Should().Throw<UnsafePickleException>().WithMessage("*'posix.system'*");

        // NEWOBJ (0x81), INST ('i') and OBJ ('o') build arbitrary objects; a state dict never uses them.
        foreach (byte op in new byte[] { 0x81, (byte)'i', (byte)'o' })
        {
            byte[] pickle = new PickleWriter().Proto().EmptyTuple().Op(op).Stop().Bytes;
            var bad = () => PyTorchCheckpoint.Load(new MemoryStream(Zip(("archive/data.pkl", pickle))), "evil.pth");
            bad.Should().Throw<UnsafePickleException>().WithMessage($"*opcode 0x{op:x2}*not accepted*");
        }
    }

    [Fact]
    public void Allowed_globals_called_the_wrong_way_are_errors_not_crashes()
    {
        // _rebuild_tensor_v2 applied to strings instead of a storage.
        byte[] pickle = new PickleWriter().Proto().EmptyDict().Str("w").Global("torch._utils", "_rebuild_tensor_v2")
            .Str("a").Str("b").Tuple2().Reduce().SetItem().Stop().Bytes;
        var act = () => PyTorchCheckpoint.Load(new MemoryStream(Zip(("archive/data.pkl", pickle))), "odd.pth");
        act.Should().Throw<WeightFormatException>().WithMessage("*_rebuild_tensor_v2 called with*expected (storage*");

        // A storage type used as a function.
        byte[] call = new PickleWriter().Proto().Global("torch", "FloatStorage").EmptyTuple().Reduce().Stop().Bytes;
        var act2 = () => PyTorchCheckpoint.Load(new MemoryStream(Zip(("archive/data.pkl", call))), "odd.pth");
        act2.Should().Throw<UnsafePickleException>().WithMessage("*'torch.FloatStorage', which is not a function*");
    }

    [Fact]
    public void A_pickle_that_is_not_a_dict_is_named()
    {
        byte[] pickle = new PickleWriter().Proto().Str("hello").Stop().Bytes;
        var act = () => PyTorchCheckpoint.Load(new MemoryStream(Zip(("archive/data.pkl", pickle))), "str.pth");
        act.Should().Throw<WeightFormatException>().WithMessage("str.pth: the checkpoint holds the string 'hello'; expected a state dict*");
    }

    // ---- safetensors ---------------------------------------------------------------------------------

    [Fact]
    public void Every_truncation_of_a_safetensors_file_is_a_format_error()
    {
        using var stream = new MemoryStream();
        SafeTensors.Save(stream, PyTorchCheckpoint.Load(Fixtures.InceptionV1("loader_zip.pth")));
        byte[] bytes = stream.ToArray();
        for (int length = 0; length < bytes.Length; length += 5)
        {
            var act = () => SafeTensors.Load(new MemoryStream(bytes, 0, length), "cut.safetensors");
            act.Should().Throw<WeightFormatException>($"a file cut to {length} of {bytes.Length} bytes is incomplete");
        }
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 40)]
    [InlineData(1000UL)]
    public void An_absurd_header_length_is_rejected_before_allocating(ulong declared)
    {
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declared);
        bytes[8] = (byte)'{';
        AssertRejectedCheaply(() => SafeTensors.Load(new MemoryStream(bytes), "absurd.safetensors"), $"*header declares {declared} bytes*");
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000000000],\"data_offsets\":[0,4000000000000]}}", "*ends at data byte 4000000000000*holds 4 data bytes*")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", "*shape [4611686018427387904, 4] is too large*2^63 bytes*")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "*needs 8 bytes but its data_offsets [0, 4] span 4*")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "*shape [-1]; expected non-negative integers*")]
    [InlineData("{\"w\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", "*dtype 'Q7'; supported: F32*")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "*data_offsets [4, 0]*")]
    [InlineData("{\"w\":[1,2,3]}", "*header entry of 'w' is [1,2,3]*")]
    [InlineData("{\"__metadata__\":{\"a\":1}}", "*__metadata__ entry 'a' is a JSON Number; expected a string*")]
    [InlineData("[1,2]", "*header is a JSON Array; expected an object*")]
    [InlineData("{\"w\":", "*not valid JSON*")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "*'a' appears twice*")]
    public void Bad_headers_are_named(string header, string message)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);

        AssertRejectedCheaply(() => SafeTensors.Load(new MemoryStream(bytes), "bad.safetensors"), message);
    }

    [Fact]
    public void An_unknown_format_is_named_by_WeightFile()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("notes.txt"), "just some text");
        var act = () => WeightFile.Load(dir.File("notes.txt"));
        act.Should().Throw<WeightFormatException>().WithMessage("notes.txt: unknown weight format*expected a PyTorch checkpoint*or safetensors*");

        var missing = () => WeightFile.Load(dir.File("absent.pth"));
        missing.Should().Throw<WeightFormatException>().WithMessage("*absent.pth' does not exist*");
    }

    // ---- helpers -------------------------------------------------------------------------------------

    private static void AssertRejectedCheaply(Action load, string message)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        load.Should().Throw<WeightFormatException>().WithMessage(message);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        allocated.Should().BeLessThan(AllocationLimit, "a bad declared size must be caught before anything that large is allocated");
    }
}
