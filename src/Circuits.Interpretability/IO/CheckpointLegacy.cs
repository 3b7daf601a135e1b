using System.Buffers.Binary;
using System.Numerics;

namespace Circuits.Interpretability.IO;

/// <summary>
/// The legacy format of <c>torch.save</c> (before PyTorch 1.6): five pickles in a row (magic number, protocol
/// version 1001, system info, the object, the list of storage keys), then each storage as an 8-byte element
/// count and its bytes. Of each storage only the bytes its tensors view are kept; the rest is skipped.
/// </summary>
internal static class CheckpointLegacy
{
    /// <summary>The value the legacy format pickles first.</summary>
    private static readonly BigInteger Magic = BigInteger.Parse("1950a86a20f9469cfc6c", System.Globalization.NumberStyles.HexNumber);

    public static StateDict Load(Stream stream, string source, WeightLoadOptions options)
    {
        object? Header(Func<PyTuple, object> persistentLoad, out long bytes)
        {
            var reader = new PickleReader(stream, source, persistentLoad, (g, a) => TorchCalls.Call(g, a, source), options.MaxPickleBytes);
            object? value = reader.Load();
            bytes = reader.BytesRead;
            return value;
        }

        static object Nothing(PyTuple pid) => throw new WeightFormatException("unexpected persistent id");
        object? magic = Header(Nothing, out _);
        if (magic is not BigInteger m || m != Magic)
        {
            throw new WeightFormatException($"{source}: wrong magic number {PickleReader.Describe(magic)}; a legacy PyTorch checkpoint starts with 0x1950a86a20f9469cfc6c.");
        }

        object? protocol = Header(Nothing, out _);
        if (protocol is not 1001L)
        {
            throw new WeightFormatException($"{source}: legacy protocol version {PickleReader.Describe(protocol)} ({protocol}); expected 1001.");
        }

        object? sysInfo = Header(Nothing, out _);
        if (sysInfo is PyDict info && info.Get("little_endian") is false)
        {
            throw new WeightFormatException($"{source}: the checkpoint was written on a big-endian machine; only little-endian checkpoints are supported.");
        }

        var storages = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
        StorageRef PersistentLoad(PyTuple pid)
        {
            StorageRef reference = TorchCalls.ParseStorageId(pid, source, legacy: true);
            if (storages.TryGetValue(reference.Key, out StorageRef? known))
            {
                return known;
            }

            storages[reference.Key] = reference;
            return reference;
        }

        object? root = Header(PersistentLoad, out long pickleBytes);
        object? keys = Header(Nothing, out _);
        if (keys is not List<object?> keyList)
        {
            throw new WeightFormatException($"{source}: the storage key list is {PickleReader.Describe(keys)}; expected a list of strings.");
        }

        return CheckpointAssembler.Assemble(root, source, pickleBytes, options, _ => ReadStorages(stream, keyList, storages, source));
    }

    private static void ReadStorages(Stream stream, List<object?> keyList, Dictionary<string, StorageRef> storages, string source)
    {
        Span<byte> countBytes = stackalloc byte[8];
        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (object? key in keyList)
        {
            if (key is not string k || !storages.TryGetValue(k, out StorageRef? storage))
            {
                throw new WeightFormatException($"{source}: the storage key list names {PickleReader.Describe(key)}, which no tensor uses.");
            }

            if (!done.Add(k))
            {
                throw new WeightFormatException($"{source}: the storage key list names '{k}' twice.");
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
            if (storage.ByteLength > remaining)
            {
                throw new WeightFormatException($"{source}: storage '{k}' needs {storage.ByteLength} bytes but only {remaining} remain (truncated or corrupted).");
            }

            long end = stream.Position + storage.ByteLength;
            if (storage.IsReferenced)
            {
                stream.Position += storage.SpanStartBytes;
                storage.Data = new byte[storage.SpanBytes];
                stream.ReadExactly(storage.Data);
            }

            stream.Position = end;
        }

        if (storages.Values.FirstOrDefault(s => s.IsReferenced && s.Data is null) is StorageRef missing)
        {
            throw new WeightFormatException($"{source}: the storage key list does not name storage '{missing.Key}', which a tensor uses (truncated or corrupted).");
        }
    }
}
