using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;

namespace Circuits.Interpretability.IO;

/// <summary>
/// Reads PyTorch checkpoints written by <c>torch.save(state_dict)</c>, without Python: the zip format of
/// PyTorch 1.6 and later and the legacy format before it. The pickle inside is read by a minimal reader that
/// accepts only what state dicts use (<c>torch._utils._rebuild_tensor_v2</c>, <c>collections.OrderedDict</c>,
/// the storage types, persistent ids); nothing in the file is ever executed. Views (storage offsets, strides)
/// are copied out into contiguous tensors; storages shared by several tensors are read once.
/// </summary>
public static class PyTorchCheckpoint
{
    /// <summary>The value the legacy format pickles first.</summary>
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("1950a86a20f9469cfc6c", System.Globalization.NumberStyles.HexNumber);

    /// <summary>Reads a checkpoint file.</summary>
    /// <exception cref="WeightFormatException">The file is not a readable state dict; the message says why.</exception>
    /// <exception cref="UnsafePickleException">The pickle uses an opcode or global a state dict never needs.</exception>
    public static StateDict Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new WeightFormatException($"The checkpoint '{path}' does not exist.");
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Load(stream, Path.GetFileName(path));
    }

    /// <summary>Reads a checkpoint from a seekable stream.</summary>
    /// <param name="stream">The checkpoint; must support seeking and report its length.</param>
    /// <param name="source">A name for messages (the file name).</param>
    /// <exception cref="WeightFormatException">The stream is not a readable state dict.</exception>
    public static StateDict Load(Stream stream, string source = "checkpoint")
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            throw new ArgumentException("The stream must be seekable; copy it into a MemoryStream first.", nameof(stream));
        }

        Span<byte> head = stackalloc byte[4];
        long start = stream.Position;
        int read = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        stream.Position = start;
        if (read < 4)
        {
            throw new WeightFormatException($"{source}: the file has {read} bytes; a PyTorch checkpoint is at least a zip header or a pickle.");
        }

        try
        {
            if (head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4)
            {
                return LoadZip(stream, source);
            }

            if (head[0] == 0x80)
            {
                return LoadLegacy(stream, source);
            }
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new WeightFormatException($"{source}: the file could not be read ({e.Message}); it is probably truncated or corrupted.", e);
        }
        catch (InvalidDataException e)
        {
            throw new WeightFormatException($"{source}: the zip structure is damaged ({e.Message}); the file is probably truncated or corrupted.", e);
        }

        throw new WeightFormatException($"{source}: unknown format: the file starts with bytes {Convert.ToHexString(head)}; " +
            "expected a zip archive (504B0304, PyTorch 1.6 and later) or a pickle (80, legacy PyTorch).");
    }

    private static StateDict LoadZip(Stream stream, string source)
    {
        long fileLength = stream.Length;
        using var zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        var pickles = zip.Entries.Where(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1).ToList();
        if (pickles.Count != 1)
        {
            throw new WeightFormatException($"{source}: a PyTorch zip checkpoint holds one '<name>/data.pkl'; this archive holds {pickles.Count} " +
                $"(entries: {string.Join(", ", zip.Entries.Take(10).Select(e => e.FullName))}).");
        }

        string prefix = pickles[0].FullName[..^"data.pkl".Length];
        ZipArchiveEntry? byteOrder = zip.GetEntry(prefix + "byteorder");
        if (byteOrder is not null)
        {
            string order = System.Text.Encoding.ASCII.GetString(ReadEntry(byteOrder, 16, fileLength, source)).Trim();
            if (order != "little")
            {
                throw new WeightFormatException($"{source}: byte order '{order}' is not supported; expected 'little'.");
            }
        }

        byte[] pickle = ReadEntry(pickles[0], fileLength, fileLength, source);
        var storages = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
        StorageRef PersistentLoad(PyTuple pid)
        {
            StorageRef reference = ParseStorageId(pid, source, legacy: false);
            if (storages.TryGetValue(reference.Key, out StorageRef? known))
            {
                return known;
            }

            ZipArchiveEntry entry = zip.GetEntry(prefix + "data/" + reference.Key)
                ?? throw new WeightFormatException($"{source}: the pickle refers to storage '{reference.Key}' but the archive has no entry '{prefix}data/{reference.Key}'.");
            long bytes = reference.ByteLength;
            if (entry.Length != bytes)
            {
                throw new WeightFormatException($"{source}: storage '{reference.Key}' declares {reference.ElementCount} {reference.DType} elements ({bytes} bytes) but its entry holds {entry.Length} bytes.");
            }

            reference.Data = ReadEntry(entry, bytes, fileLength, source);
            storages[reference.Key] = reference;
            return reference;
        }

        using var pickleStream = new MemoryStream(pickle, writable: false);
        var reader = new PickleReader(pickleStream, source, PersistentLoad, (g, args) => Call(g, args, source));
        object? root = reader.Load();
        return Build(root, source, fileLength);
    }

    private static StateDict LoadLegacy(Stream stream, string source)
    {
        long fileLength = stream.Length;
        static object Nothing(PyTuple pid) => throw new WeightFormatException("unexpected persistent id");
        object? magic = new PickleReader(stream, source, Nothing, (g, a) => Call(g, a, source)).Load();
        if (magic is not BigInteger m || m != LegacyMagic)
        {
            throw new WeightFormatException($"{source}: wrong magic number {PickleReader.Describe(magic)}; a legacy PyTorch checkpoint starts with 0x1950a86a20f9469cfc6c.");
        }

        object? protocol = new PickleReader(stream, source, Nothing, (g, a) => Call(g, a, source)).Load();
        if (protocol is not 1001L)
        {
            throw new WeightFormatException($"{source}: legacy protocol version {PickleReader.Describe(protocol)} ({protocol}); expected 1001.");
        }

        object? sysInfo = new PickleReader(stream, source, Nothing, (g, a) => Call(g, a, source)).Load();
        if (sysInfo is PyDict info && info.Items.FirstOrDefault(kv => Equals(kv.Key, "little_endian")).Value is false)
        {
            throw new WeightFormatException($"{source}: the checkpoint was written on a big-endian machine; only little-endian checkpoints are supported.");
        }

        var storages = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
        StorageRef PersistentLoad(PyTuple pid)
        {
            StorageRef reference = ParseStorageId(pid, source, legacy: true);
            if (storages.TryGetValue(reference.Key, out StorageRef? known))
            {
                return known;
            }

            storages[reference.Key] = reference;
            return reference;
        }

        object? root = new PickleReader(stream, source, PersistentLoad, (g, a) => Call(g, a, source)).Load();
        object? keys = new PickleReader(stream, source, Nothing, (g, a) => Call(g, a, source)).Load();
        if (keys is not List<object?> keyList)
        {
            throw new WeightFormatException($"{source}: the storage key list is {PickleReader.Describe(keys)}; expected a list of strings.");
        }

        Span<byte> countBytes = stackalloc byte[8];
        foreach (object? key in keyList)
        {
            if (key is not string k || !storages.TryGetValue(k, out StorageRef? storage))
            {
                throw new WeightFormatException($"{source}: the storage key list names {PickleReader.Describe(key)}, which no tensor uses.");
            }

            if (stream.ReadAtLeast(countBytes, 8, throwOnEndOfStream: false) < 8)
            {
                throw new WeightFormatException($"{source}: the file ends before the data of storage '{k}' (truncated).");
            }

            long count = BinaryPrimitives.ReadInt64LittleEndian(countBytes);
            if (count != storage.ElementCount)
            {
                throw new WeightFormatException($"{source}: storage '{k}' declares {count} elements in its data but {storage.ElementCount} in the pickle.");
            }

            long remaining = stream.Length - stream.Position;
            if (storage.ByteLength > remaining || storage.ByteLength > int.MaxValue)
            {
                throw new WeightFormatException($"{source}: storage '{k}' needs {storage.ByteLength} bytes but only {remaining} remain (truncated or corrupted).");
            }

            storage.Data = new byte[storage.ByteLength];
            stream.ReadExactly(storage.Data);
        }

        return Build(root, source, fileLength);
    }

    private static StorageRef ParseStorageId(PyTuple pid, string source, bool legacy)
    {
        object?[] p = pid.Items;
        if (p.Length < 5 || p[0] is not "storage" || p[1] is not PyGlobal type || p[2] is not string key || p[4] is not long count)
        {
            throw new WeightFormatException($"{source}: persistent id {Describe(pid)} is not a storage reference; expected ('storage', <storage type>, key, location, element count).");
        }

        if (legacy && p.Length > 5 && p[5] is not null)
        {
            throw new WeightFormatException($"{source}: storage '{key}' is a storage view (pre-0.4 PyTorch), which is not supported; re-save the state dict with a newer PyTorch.");
        }

        TensorDType dtype = type.Name switch
        {
            "FloatStorage" => TensorDType.Float32,
            "DoubleStorage" => TensorDType.Float64,
            "HalfStorage" => TensorDType.Float16,
            "BFloat16Storage" => TensorDType.BFloat16,
            "LongStorage" => TensorDType.Int64,
            "IntStorage" => TensorDType.Int32,
            "ShortStorage" => TensorDType.Int16,
            "CharStorage" => TensorDType.Int8,
            "ByteStorage" => TensorDType.UInt8,
            "BoolStorage" => TensorDType.Bool,
            _ => throw new UnsafePickleException($"{source}: storage type '{type.FullName}' is not supported."),
        };
        if (count < 0 || count > long.MaxValue / 8)
        {
            throw new WeightFormatException($"{source}: storage '{key}' declares {count} elements; expected a count from 0 to the file size.");
        }

        return new StorageRef(key, dtype, count);
    }

    private static object? Call(PyGlobal global, PyTuple args, string source)
    {
        object?[] a = args.Items;
        switch (global.FullName)
        {
            case "collections.OrderedDict":
                if (a.Length != 0)
                {
                    throw new UnsafePickleException($"{source}: collections.OrderedDict called with {a.Length} arguments; a state dict calls it with none.");
                }

                return new PyDict();
            case "torch._utils._rebuild_tensor":
            case "torch._utils._rebuild_tensor_v2":
                if (a.Length < 4 || a[0] is not StorageRef storage || a[1] is not long offset || a[2] is not PyTuple size || a[3] is not PyTuple stride)
                {
                    throw new WeightFormatException($"{source}: {global.FullName} called with {Describe(args)}; expected (storage, offset, size tuple, stride tuple, ...).");
                }

                return new PendingTensor(storage, offset, Longs(size, "size", source), Longs(stride, "stride", source));
            case "torch._utils._rebuild_parameter":
                if (a.Length < 1 || a[0] is not PendingTensor data)
                {
                    throw new WeightFormatException($"{source}: torch._utils._rebuild_parameter called with {Describe(args)}; expected a tensor first.");
                }

                return data;
            default:
                throw new UnsafePickleException($"{source}: the pickle calls '{global.FullName}', which is not a function; nothing was executed.");
        }
    }

    private static long[] Longs(PyTuple tuple, string what, string source)
    {
        var values = new long[tuple.Items.Length];
        if (values.Length > 64)
        {
            throw new WeightFormatException($"{source}: a tensor {what} has {values.Length} dimensions; at most 64 are supported.");
        }

        for (int i = 0; i < values.Length; i++)
        {
            values[i] = tuple.Items[i] is long v && v >= 0
                ? v
                : throw new WeightFormatException($"{source}: tensor {what} {Describe(tuple)} holds {PickleReader.Describe(tuple.Items[i])} ({tuple.Items[i]}); expected non-negative integers.");
        }

        return values;
    }

    private static StateDict Build(object? root, string source, long fileLength)
    {
        if (root is not PyDict dict)
        {
            throw new WeightFormatException($"{source}: the checkpoint holds {PickleReader.Describe(root)}; expected a state dict (a dict of tensors), as torch.save(model.state_dict()) writes.");
        }

        var entries = new List<KeyValuePair<string, TensorData>>();
        long budget = Math.Max(fileLength, 1) * 16;
        Flatten(dict, "", entries, source, ref budget, 0);
        try
        {
            return new StateDict(entries);
        }
        catch (ArgumentException e)
        {
            throw new WeightFormatException($"{source}: {e.Message}", e);
        }
    }

    private static void Flatten(PyDict dict, string prefix, List<KeyValuePair<string, TensorData>> entries, string source, ref long budget, int depth)
    {
        if (depth > 16)
        {
            throw new WeightFormatException($"{source}: dicts nested deeper than 16 levels; expected a state dict.");
        }

        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name)
            {
                throw new WeightFormatException($"{source}: a state-dict key is {PickleReader.Describe(key)}; expected strings.");
            }

            switch (value)
            {
                case PendingTensor pending:
                    entries.Add(KeyValuePair.Create(prefix + name, pending.Materialize(source, ref budget)));
                    break;
                case PyDict nested:
                    // A checkpoint such as {"state_dict": {...}, "epoch": 3}: nested tensors get dotted names.
                    Flatten(nested, prefix + name + ".", entries, source, ref budget, depth + 1);
                    break;
                default:
                    // Numbers, strings and other non-tensor entries of a training checkpoint carry no weights.
                    break;
            }
        }
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry, long expected, long fileLength, string source)
    {
        long declared = entry.Length;
        bool stored = entry.CompressedLength == entry.Length;
        // Stored entries cannot be larger than the file; deflated ones cannot expand more than about 1032:1.
        long limit = stored ? fileLength : Math.Min(entry.CompressedLength * 1032, int.MaxValue);
        if (declared < 0 || declared > limit || declared > int.MaxValue || declared > expected)
        {
            throw new WeightFormatException($"{source}: entry '{entry.FullName}' declares {declared} bytes, more than the {fileLength}-byte file can hold or than expected ({expected}); the file is corrupted.");
        }

        var data = new byte[declared];
        using (Stream s = entry.Open())
        {
            int read = s.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
            if (read < data.Length)
            {
                throw new WeightFormatException($"{source}: entry '{entry.FullName}' ends after {read} of its {declared} bytes (truncated).");
            }
        }

        if (Crc32.Compute(data) != entry.Crc32)
        {
            throw new WeightFormatException($"{source}: entry '{entry.FullName}' fails its CRC-32 check (stored {entry.Crc32:x8}, computed {Crc32.Compute(data):x8}); the file is corrupted.");
        }

        return data;
    }

    private static string Describe(PyTuple tuple) =>
        "(" + string.Join(", ", tuple.Items.Select(i => i is long or string ? i.ToString() : PickleReader.Describe(i))) + ")";

    /// <summary>A storage named by a persistent id; its bytes are filled in when read.</summary>
    private sealed class StorageRef
    {
        public StorageRef(string key, TensorDType dtype, long elementCount)
        {
            Key = key;
            DType = dtype;
            ElementCount = elementCount;
        }

        public string Key { get; }

        public TensorDType DType { get; }

        public long ElementCount { get; }

        public long ByteLength => ElementCount * DType.ElementSize();

        public byte[]? Data { get; set; }
    }

    /// <summary>A tensor view of a storage, copied out once every storage is read.</summary>
    private sealed record PendingTensor(StorageRef Storage, long Offset, long[] Size, long[] Stride)
    {
        public TensorData Materialize(string source, ref long budget)
        {
            byte[] data = Storage.Data ?? throw new WeightFormatException($"{source}: the data of storage '{Storage.Key}' is missing (truncated).");
            string shape = $"[{string.Join(", ", Size)}]";
            if (Size.Length != Stride.Length)
            {
                throw new WeightFormatException($"{source}: a tensor of shape {shape} has {Stride.Length} strides; expected {Size.Length}.");
            }

            long count = TensorData.ElementCountOf(Size);
            if (count < 0 || count > Storage.ElementCount)
            {
                throw new WeightFormatException($"{source}: a tensor of shape {shape} has more elements than its storage '{Storage.Key}' ({Storage.ElementCount}).");
            }

            int size = Storage.DType.ElementSize();
            var output = new byte[count * size];
            if (count > 0)
            {
                // The last element the view touches must lie inside the storage.
                BigInteger last = Offset;
                for (int d = 0; d < Size.Length; d++)
                {
                    last += (BigInteger)(Size[d] - 1) * Stride[d];
                }

                if (Offset < 0 || last >= Storage.ElementCount)
                {
                    throw new WeightFormatException($"{source}: a tensor of shape {shape}, offset {Offset} and strides ({string.Join(", ", Stride)}) reaches element {last} of storage '{Storage.Key}', which has {Storage.ElementCount}.");
                }

                budget -= output.LongLength;
                if (budget < 0)
                {
                    throw new WeightFormatException($"{source}: the tensors' views add up to far more data than the file holds; the file is corrupted or malicious.");
                }

                Copy(data, output, size, count);
            }

            return new TensorData(Storage.DType, Size, output);
        }

        private void Copy(byte[] source, byte[] output, int size, long count)
        {
            int dims = Size.Length;
            long expectedStride = 1;
            bool contiguous = true;
            for (int d = dims - 1; d >= 0; d--)
            {
                if (Size[d] != 1 && Stride[d] != expectedStride)
                {
                    contiguous = false;
                    break;
                }

                expectedStride *= Size[d];
            }

            if (contiguous)
            {
                Buffer.BlockCopy(source, (int)(Offset * size), output, 0, (int)(count * size));
                return;
            }

            var index = new long[dims];
            long position = Offset;
            for (long i = 0; i < count; i++)
            {
                Buffer.BlockCopy(source, (int)(position * size), output, (int)(i * size), size);
                for (int d = dims - 1; d >= 0; d--)
                {
                    index[d]++;
                    position += Stride[d];
                    if (index[d] < Size[d])
                    {
                        break;
                    }

                    position -= Stride[d] * Size[d];
                    index[d] = 0;
                }
            }
        }
    }
}
