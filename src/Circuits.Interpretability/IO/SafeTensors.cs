using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Circuits.Interpretability.IO;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a UTF-8 JSON header
/// mapping each tensor name to its <c>dtype</c>, <c>shape</c> and <c>data_offsets</c> (begin and end relative
/// to the data that follows the header), an optional <c>__metadata__</c> map of strings, then the raw
/// little-endian tensor bytes. Every declared size is checked against the file before anything is allocated.
/// </summary>
public static class SafeTensors
{
    /// <summary>The largest header accepted (the reference implementation's limit, 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    /// <summary>Reads a safetensors file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Limits; <see cref="WeightLoadOptions.Default"/> when null.</param>
    /// <exception cref="WeightFormatException">The file is not valid safetensors or exceeds a limit; the message says why.</exception>
    public static StateDict Load(string path, WeightLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new WeightFormatException($"The safetensors file '{path}' does not exist.");
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Load(stream, Path.GetFileName(path), options);
    }

    /// <summary>
    /// Reads safetensors from a seekable stream, starting at its current position. As the reference
    /// implementation does, the tensors' data_offsets must tile the data exactly: sorted by offset, each tensor
    /// starts where the previous one ends (no overlap, no hole) and the last one ends where the file ends.
    /// </summary>
    /// <param name="stream">The file's bytes; must support seeking and report its length.</param>
    /// <param name="source">A name for messages (the file name).</param>
    /// <param name="options">Limits; <see cref="WeightLoadOptions.Default"/> when null.</param>
    /// <exception cref="WeightFormatException">The stream is not valid safetensors or exceeds a limit.</exception>
    public static StateDict Load(Stream stream, string source = "safetensors", WeightLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            throw new ArgumentException("The stream must be seekable; copy it into a MemoryStream first.", nameof(stream));
        }

        options = (options ?? WeightLoadOptions.Default).Validated();
        long available = stream.Length - stream.Position;
        Span<byte> lengthBytes = stackalloc byte[8];
        if (available < 8 || stream.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) < 8)
        {
            throw new WeightFormatException($"{source}: the file has {available} bytes; safetensors starts with an 8-byte header length.");
        }

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength < 2 || headerLength > MaxHeaderBytes || headerLength > (ulong)(available - 8))
        {
            throw new WeightFormatException($"{source}: the header declares {headerLength} bytes; expected 2 to {Math.Min(MaxHeaderBytes, Math.Max(0, available - 8))} " +
                "(no more than the file holds, at most 100 MB). The file is truncated, corrupted or not safetensors.");
        }

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataStart = stream.Position;
        long dataLength = stream.Length - dataStart;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        List<Entry> entries = ReadHeader(header, metadata, source);
        CheckLayout(entries, dataLength, source, options);

        var tensors = new List<KeyValuePair<string, TensorData>>(entries.Count);
        foreach (Entry e in entries)
        {
            var bytes = new byte[e.End - e.Begin];
            stream.Position = dataStart + e.Begin;
            stream.ReadExactly(bytes);
            tensors.Add(KeyValuePair.Create(e.Name, new TensorData(e.DType, e.Shape, bytes)));
        }

        try
        {
            return new StateDict(tensors, metadata);
        }
        catch (ArgumentException e)
        {
            throw new WeightFormatException($"{source}: {e.Message}", e);
        }
    }

    /// <summary>Writes <paramref name="tensors"/> as a safetensors file, atomically (a temporary file renamed into place).</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="tensors">The tensors, written in their order.</param>
    /// <param name="metadata">Text metadata for <c>__metadata__</c>; when null, that of <paramref name="tensors"/>.</param>
    public static void Save(string path, StateDict tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        string full = Path.GetFullPath(path);
        string temp = full + $".{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                Save(stream, tensors, metadata);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Writes <paramref name="tensors"/> in safetensors format to a stream.</summary>
    public static void Save(Stream stream, StateDict tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        metadata ??= tensors.Metadata;
        var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata.Count > 0)
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
            }

            long offset = 0;
            foreach (var (name, tensor) in tensors)
            {
                if (name == MetadataKey)
                {
                    throw new WeightFormatException($"A tensor cannot be named '{MetadataKey}' in safetensors; rename it.");
                }

                writer.WriteStartObject(name);
                writer.WriteString("dtype", tensor.DType.SafeTensorsName());
                writer.WriteStartArray("shape");
                foreach (long d in tensor.Shape)
                {
                    writer.WriteNumberValue(d);
                }

                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                offset += tensor.Data.Length;
                writer.WriteNumberValue(offset);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        // The header is padded with spaces so that the data starts at a multiple of 8 bytes.
        while (json.Length % 8 != 0)
        {
            json.WriteByte((byte)' ');
        }

        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        stream.Write(length);
        json.Position = 0;
        json.CopyTo(stream);
        foreach (TensorData tensor in tensors.Values)
        {
            stream.Write(tensor.Data.Span);
        }

        stream.Flush();
    }

    private static List<Entry> ReadHeader(byte[] header, Dictionary<string, string> metadata, string source)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            throw new WeightFormatException($"{source}: the header is not valid UTF-8; the file is corrupted or not safetensors.");
        }

        var entries = new List<Entry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new WeightFormatException($"{source}: the header is a JSON {doc.RootElement.ValueKind}; expected an object.");
            }

            foreach (JsonProperty property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    ReadMetadata(property.Value, metadata, source);
                    continue;
                }

                Entry entry = ReadEntry(property, source);
                if (!names.Add(entry.Name))
                {
                    throw new WeightFormatException($"{source}: the key '{entry.Name}' appears twice in the header; state-dict keys must be unique.");
                }

                entries.Add(entry);
            }
        }
        catch (JsonException e)
        {
            throw new WeightFormatException($"{source}: the header is not valid JSON ({e.Message}); the file is corrupted or not safetensors.", e);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json decodes strings lazily: an escaped lone surrogate ("\ud800") fails only here.
            throw new WeightFormatException($"{source}: a string in the header is not valid Unicode (for example an escaped lone surrogate such as \\ud800); " +
                "the file is corrupted or not safetensors.", e);
        }

        return entries;
    }

    private static void ReadMetadata(JsonElement element, Dictionary<string, string> metadata, string source)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new WeightFormatException($"{source}: {MetadataKey} is a JSON {element.ValueKind}; expected an object of strings.");
        }

        foreach (JsonProperty p in element.EnumerateObject())
        {
            metadata[p.Name] = p.Value.ValueKind == JsonValueKind.String
                ? p.Value.GetString()!
                : throw new WeightFormatException($"{source}: {MetadataKey} entry '{p.Name}' is a JSON {p.Value.ValueKind}; expected a string.");
        }
    }

    private static Entry ReadEntry(JsonProperty property, string source)
    {
        string name = property.Name;
        JsonElement e = property.Value;
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out JsonElement offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
        {
            throw new WeightFormatException($"{source}: the header entry of '{name}' is {e.GetRawText()}; expected {{\"dtype\": ..., \"shape\": [...], \"data_offsets\": [begin, end]}}.");
        }

        string dtypeName = dtypeElement.GetString()!;
        if (!TensorDTypes.TryParseSafeTensorsName(dtypeName, out TensorDType dtype))
        {
            throw new WeightFormatException($"{source}: tensor '{name}' has dtype '{dtypeName}'; supported: {string.Join(", ", Enum.GetValues<TensorDType>().Select(t => t.SafeTensorsName()))}.");
        }

        if (shapeElement.GetArrayLength() > 64)
        {
            throw new WeightFormatException($"{source}: tensor '{name}' has {shapeElement.GetArrayLength()} dimensions; at most 64 are supported.");
        }

        long[] shape = shapeElement.EnumerateArray().Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out long v) && v >= 0
            ? v
            : throw new WeightFormatException($"{source}: tensor '{name}' has shape {shapeElement.GetRawText()}; expected non-negative integers.")).ToArray();
        long[] offsets = offsetsElement.EnumerateArray().Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out long v) && v >= 0
            ? v
            : throw new WeightFormatException($"{source}: tensor '{name}' has data_offsets {offsetsElement.GetRawText()}; expected two non-negative integers.")).ToArray();
        string? problem = TensorData.ShapeProblem(shape, dtype);
        if (problem is not null)
        {
            throw new WeightFormatException($"{source}: tensor '{name}': {problem}.");
        }

        long count = TensorData.ElementCountOf(shape);
        long begin = offsets[0];
        long end = offsets[1];
        if (end < begin || end - begin != count * dtype.ElementSize())
        {
            throw new WeightFormatException($"{source}: tensor '{name}' ({dtypeName}, shape {shapeElement.GetRawText()}) needs {count * dtype.ElementSize()} bytes but its data_offsets [{begin}, {end}] span {end - begin}.");
        }

        return new Entry(name, dtype, shape, begin, end);
    }

    /// <summary>The reference implementation's rule: sorted by offsets, the tensors tile the data exactly.</summary>
    private static void CheckLayout(List<Entry> entries, long dataLength, string source, WeightLoadOptions options)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long position = 0;
        Entry? previous = null;
        foreach (Entry e in entries)
        {
            if (e.Begin < position)
            {
                throw new WeightFormatException($"{source}: tensor '{e.Name}' (data_offsets [{e.Begin}, {e.End}]) overlaps tensor '{previous!.Name}' ([{previous.Begin}, {previous.End}]); " +
                    "each tensor must have its own bytes.");
            }

            if (e.Begin > position)
            {
                throw new WeightFormatException($"{source}: data bytes {position} to {e.Begin} belong to no tensor (a hole before '{e.Name}'); the tensors must fill the data exactly.");
            }

            if (e.End > dataLength)
            {
                throw new WeightFormatException($"{source}: tensor '{e.Name}' ends at data byte {e.End} but the file holds {dataLength} data bytes (truncated or corrupted).");
            }

            if (e.End - e.Begin > Array.MaxLength)
            {
                throw new WeightFormatException($"{source}: tensor '{e.Name}' takes {e.End - e.Begin} bytes; at most {Array.MaxLength} bytes per tensor are supported.");
            }

            position = e.End;
            previous = e;
        }

        if (position != dataLength)
        {
            throw new WeightFormatException($"{source}: {dataLength - position} bytes follow the last tensor's data (the tensors end at data byte {position} of {dataLength}); " +
                "the file is corrupted or carries trailing data.");
        }

        if (position > options.MaxTotalBytes)
        {
            throw new WeightFormatException($"{source}: the tensors take {position} bytes, more than WeightLoadOptions.MaxTotalBytes ({options.MaxTotalBytes}). Raise the limit if you trust the file.");
        }
    }

    private sealed record Entry(string Name, TensorDType DType, long[] Shape, long Begin, long End);
}
