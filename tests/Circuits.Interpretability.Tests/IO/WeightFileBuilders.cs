using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>A tensor of a hand-built state-dict pickle: a view of storage <paramref name="StorageKey"/>.</summary>
internal sealed record PickledTensor(string Key, string StorageKey, long StorageCount, long[] Size, long[] Stride, long Offset = 0, string StorageType = "FloatStorage");

/// <summary>Builds hostile and crafted weight files by hand: pickles opcode by opcode, zip archives entry by entry.</summary>
internal static class WeightFileBuilders
{
    /// <summary>A pickle of an OrderedDict of the given tensors, as torch.save writes it (protocol 2).</summary>
    public static byte[] StateDictPickle(params PickledTensor[] tensors)
    {
        var p = new PickleWriter().Proto().Global("collections", "OrderedDict").EmptyTuple().Reduce();
        foreach (PickledTensor t in tensors)
        {
            p.Str(t.Key).Tensor(t).SetItem();
        }

        return p.Stop().Bytes;
    }

    /// <summary>A zip archive (stored entries unless a name is in <paramref name="deflate"/>); duplicate names are kept.</summary>
    public static byte[] Zip(IEnumerable<(string Name, byte[] Data)> entries, params string[] deflate)
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, data) in entries)
            {
                using Stream s = zip.CreateEntry(name, deflate.Contains(name) ? CompressionLevel.SmallestSize : CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
        }

        return stream.ToArray();
    }

    public static byte[] Zip(params (string Name, byte[] Data)[] entries) => Zip(entries.AsEnumerable());

    /// <summary>A checkpoint archive named "archive" with the pickle and the storages' bytes.</summary>
    public static byte[] Checkpoint(byte[] pickle, params (string Key, byte[] Data)[] storages) =>
        Zip(new[] { ("archive/data.pkl", pickle) }.Concat(storages.Select(s => ($"archive/data/{s.Key}", s.Data))));

    /// <summary>The byte offset of the central-directory record of entry <paramref name="name"/> (the n-th of that name).</summary>
    public static int CentralRecord(byte[] zip, string name, int occurrence = 0)
    {
        byte[] wanted = Encoding.UTF8.GetBytes(name);
        for (int i = 0; i + 46 <= zip.Length; i++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(i)) == 0x02014b50)
            {
                int length = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(i + 28));
                if (i + 46 + length <= zip.Length && zip.AsSpan(i + 46, length).SequenceEqual(wanted) && occurrence-- == 0)
                {
                    return i;
                }
            }
        }

        throw new InvalidOperationException($"no central record for '{name}'");
    }

    /// <summary>Sets the uncompressed size a central-directory record declares.</summary>
    public static void SetDeclaredSize(byte[] zip, string name, uint size) =>
        BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(CentralRecord(zip, name) + 24), size);

    /// <summary>The header pickles of a legacy (pre-1.6) checkpoint: magic, protocol 1001, system info.</summary>
    public static byte[] LegacyHeader()
    {
        var magic = new PickleWriter().Proto().Op(0x8a).Raw(10).Raw(Convert.FromHexString("1950a86a20f9469cfc6c").Reverse().ToArray()).Stop();
        var protocol = new PickleWriter().Proto().Int(1001).Stop();
        var info = new PickleWriter().Proto().EmptyDict().Str("little_endian").True().SetItem().Stop();
        return magic.Bytes.Concat(protocol.Bytes).Concat(info.Bytes).ToArray();
    }

    /// <summary>A safetensors file from a raw JSON header and data bytes (the header is not padded).</summary>
    public static byte[] SafeTensorsFile(string header, byte[] data) => SafeTensorsFile(Encoding.UTF8.GetBytes(header), data);

    public static byte[] SafeTensorsFile(byte[] header, byte[] data)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    public static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i <= haystack.Length - needle.Length; i++)
        {
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
            {
                return i;
            }
        }

        throw new InvalidOperationException("not found");
    }

    /// <summary>The managed bytes <paramref name="action"/> allocates on this thread.</summary>
    public static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}

/// <summary>Writes pickle opcodes by hand, to build hostile files.</summary>
internal sealed class PickleWriter
{
    private readonly List<byte> _bytes = new();

    public byte[] Bytes => _bytes.ToArray();

    public int Length => _bytes.Count;

    public PickleWriter Op(byte op)
    {
        _bytes.Add(op);
        return this;
    }

    public PickleWriter Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public PickleWriter Proto() => Op(0x80).Raw(2);

    public PickleWriter Stop() => Op((byte)'.');

    public PickleWriter Mark() => Op((byte)'(');

    public PickleWriter Tuple() => Op((byte)'t');

    public PickleWriter Tuple1() => Op(0x85);

    public PickleWriter Tuple2() => Op(0x86);

    public PickleWriter EmptyTuple() => Op((byte)')');

    public PickleWriter EmptyDict() => Op((byte)'}');

    public PickleWriter EmptyList() => Op((byte)']');

    public PickleWriter Append() => Op((byte)'a');

    public PickleWriter SetItem() => Op((byte)'s');

    public PickleWriter SetItems() => Op((byte)'u');

    public PickleWriter Reduce() => Op((byte)'R');

    public PickleWriter BinPersId() => Op((byte)'Q');

    public PickleWriter True() => Op(0x88);

    public PickleWriter False() => Op(0x89);

    /// <summary>LONG_BINPUT: stores the top of the stack in memo slot <paramref name="index"/>.</summary>
    public PickleWriter Put(uint index) => OpUInt32((byte)'r', index);

    /// <summary>LONG_BINGET: pushes memo slot <paramref name="index"/>.</summary>
    public PickleWriter Get(uint index) => OpUInt32((byte)'j', index);

    public PickleWriter Int(int value)
    {
        Op((byte)'J');
        var b = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, value);
        return Raw(b);
    }

    public PickleWriter Long(long value)
    {
        Op(0x8a).Raw(8);
        var b = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, value);
        return Raw(b);
    }

    public PickleWriter Str(string value) => Utf8(Encoding.UTF8.GetBytes(value));

    /// <summary>BINUNICODE with the given bytes, valid UTF-8 or not.</summary>
    public PickleWriter Utf8(byte[] utf8)
    {
        Op((byte)'X');
        var b = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, utf8.Length);
        return Raw(b).Raw(utf8);
    }

    private PickleWriter OpUInt32(byte op, uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return Op(op).Raw(b);
    }

    public PickleWriter Global(string module, string name) => Op((byte)'c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));

    /// <summary>Pushes torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()).</summary>
    public PickleWriter Tensor(PickledTensor t)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Mark().Str("storage").Global("torch", t.StorageType).Str(t.StorageKey).Str("cpu").Long(t.StorageCount).Tuple().BinPersId()
            .Long(t.Offset).Mark();
        foreach (long s in t.Size)
        {
            Long(s);
        }

        Tuple().Mark();
        foreach (long s in t.Stride)
        {
            Long(s);
        }

        return Tuple().False().Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce();
    }
}
