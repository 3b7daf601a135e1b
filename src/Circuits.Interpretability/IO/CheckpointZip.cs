using System.Text;

namespace Circuits.Interpretability.IO;

/// <summary>
/// The zip format of <c>torch.save</c> (PyTorch 1.6 and later): <c>&lt;name&gt;/data.pkl</c>, one
/// <c>&lt;name&gt;/data/&lt;key&gt;</c> entry per storage, <c>&lt;name&gt;/version</c> and, in newer files,
/// <c>&lt;name&gt;/byteorder</c>. Only the entries the pickle references are read, and of each storage only the
/// bytes its tensors view. Bytes inflated from deflated entries are bounded by what the tensors need plus
/// <see cref="InflateSlack"/>, and by <see cref="WeightLoadOptions.MaxTotalBytes"/>.
/// </summary>
internal static class CheckpointZip
{
    /// <summary>Bytes deflated entries may inflate to beyond the pickle and the storage bytes the tensors view.</summary>
    public const long InflateSlack = 1 << 20;

    private const int MaxByteOrderBytes = 16;

    public static StateDict Load(Stream stream, string source, WeightLoadOptions options)
    {
        ZipDirectory zip = ZipDirectory.Read(stream, source, options.MaxPickleBytes);
        var pickles = zip.Entries.Where(e => e.Name.EndsWith("data.pkl", StringComparison.Ordinal) && e.Name.Count(c => c == '/') == 1).ToList();
        if (pickles.Count != 1)
        {
            throw new WeightFormatException($"{source}: a PyTorch zip checkpoint holds one '<name>/data.pkl'; this archive holds {pickles.Count} " +
                $"(entries: {string.Join(", ", zip.Entries.Take(10).Select(e => e.Name))}).");
        }

        string prefix = pickles[0].Name[..^"data.pkl".Length];
        var reader = new ZipEntryReader(zip, options.MaxPickleBytes + MaxByteOrderBytes);
        ZipEntry? byteOrder = zip.Find(prefix + "byteorder");
        if (byteOrder is not null)
        {
            string order = Encoding.ASCII.GetString(reader.ReadAll(byteOrder, MaxByteOrderBytes, "a byte-order record")).Trim();
            if (order != "little")
            {
                throw new WeightFormatException($"{source}: byte order '{order}' is not supported; expected 'little'.");
            }
        }

        byte[] pickle = reader.ReadAll(pickles[0], options.MaxPickleBytes, "WeightLoadOptions.MaxPickleBytes");
        var storages = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
        StorageRef PersistentLoad(PyTuple pid)
        {
            if (TorchCalls.KeyOf(pid) is string known && storages.TryGetValue(known, out StorageRef? existing))
            {
                return existing;
            }

            string key = TorchCalls.KeyOf(pid) ?? "";
            ZipEntry? entry = zip.Find(prefix + "data/" + key);
            StorageRef reference = TorchCalls.ParseStorageId(pid, source, legacy: false, entry);
            if (entry is null)
            {
                throw new WeightFormatException($"{source}: the pickle refers to storage '{key}' but the archive has no entry '{prefix}data/{key}'.");
            }

            if (entry.Size != reference.ByteLength)
            {
                throw new WeightFormatException($"{source}: storage '{key}' declares {reference.ElementCount} {reference.DType} elements ({reference.ByteLength} bytes) but its entry holds {entry.Size} bytes.");
            }

            storages[key] = reference;
            return reference;
        }

        using var pickleStream = new MemoryStream(pickle, writable: false);
        object? root = new PickleReader(pickleStream, source, PersistentLoad, (g, args) => TorchCalls.Call(g, args, source), options.MaxPickleBytes).Load();
        return CheckpointAssembler.Assemble(root, source, pickle.Length, options, referenced => ReadStorages(reader, referenced, source, options));
    }

    private static void ReadStorages(ZipEntryReader reader, IReadOnlyList<StorageRef> storages, string source, WeightLoadOptions options)
    {
        // Deflated entries are inflated from their start to their end (to check the CRC); everything beyond the
        // bytes the tensors view is waste, and the waste of all entries together must fit in the slack. Checked
        // on the declared sizes before anything is inflated, then enforced on the bytes actually inflated.
        var deflated = storages.Where(s => ((ZipEntry)s.Location!).Deflated).ToList();
        long needed = deflated.Sum(s => s.SpanBytes);
        long budget = Math.Min(options.MaxTotalBytes, reader.Inflated + needed + InflateSlack);
        long declared = deflated.Sum(s => ((ZipEntry)s.Location!).Size);
        if (reader.Inflated + declared > budget)
        {
            throw new WeightFormatException($"{source}: the deflated storages declare {declared} bytes but the tensors view only {needed}; " +
                $"more than {InflateSlack} bytes (or WeightLoadOptions.MaxTotalBytes, {options.MaxTotalBytes}) would be inflated for nothing. The file is a zip bomb or stores far more than its tensors use.");
        }

        reader.SetInflateBudget(budget);
        foreach (StorageRef storage in storages)
        {
            storage.Data = reader.Read((ZipEntry)storage.Location!, storage.SpanStartBytes, storage.SpanBytes);
        }
    }
}
