using System.Buffers.Binary;
using System.Text;

namespace Circuits.Interpretability.IO;

/// <summary>One entry of a zip archive, as its central directory and local header describe it.</summary>
/// <param name="Name">The entry's name (UTF-8).</param>
/// <param name="Deflated">True for deflate (method 8), false for stored (method 0).</param>
/// <param name="Crc32">The CRC-32 of the uncompressed bytes.</param>
/// <param name="CompressedSize">Bytes of the entry's data in the archive.</param>
/// <param name="Size">Uncompressed bytes the entry declares.</param>
/// <param name="LocalHeaderOffset">Where the entry's local header starts (relative to the archive's start).</param>
/// <param name="DataOffset">Where the entry's data starts (relative to the archive's start).</param>
internal sealed record ZipEntry(string Name, bool Deflated, uint Crc32, long CompressedSize, long Size, long LocalHeaderOffset, long DataOffset);

/// <summary>
/// The central directory of a zip archive, read and checked without trusting anything in it: every offset and
/// size must lie inside the file, entries may not overlap one another or the directory (so no two names can
/// share one compressed blob), names are unique (<c>torch.load</c> reads the last of two equal names, other
/// readers the first: such a file means different weights to different readers), and only stored and deflated
/// unencrypted entries are accepted. ZIP64 is supported, as <c>torch.save</c> writes it for large files.
/// </summary>
internal sealed class ZipDirectory
{
    private const uint EndSignature = 0x06054b50;
    private const uint End64Signature = 0x06064b50;
    private const uint Locator64Signature = 0x07064b50;
    private const uint CentralSignature = 0x02014b50;
    private const uint LocalSignature = 0x04034b50;
    private const int EndSize = 22;
    private const int CentralSize = 46;
    private const int LocalSize = 30;
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private readonly Dictionary<string, ZipEntry> _byName;

    private ZipDirectory(Stream stream, long start, long length, string source, List<ZipEntry> entries)
    {
        Stream = stream;
        Start = start;
        Length = length;
        Source = source;
        Entries = entries;
        _byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    /// <summary>The archive's stream.</summary>
    public Stream Stream { get; }

    /// <summary>The stream position where the archive starts.</summary>
    public long Start { get; }

    /// <summary>The archive's length in bytes.</summary>
    public long Length { get; }

    /// <summary>The file name for messages.</summary>
    public string Source { get; }

    /// <summary>The entries in central-directory order.</summary>
    public IReadOnlyList<ZipEntry> Entries { get; }

    /// <summary>The entry named <paramref name="name"/>, or null.</summary>
    public ZipEntry? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Reads and checks the directory of the archive that starts at the stream's position.</summary>
    /// <param name="stream">A seekable stream.</param>
    /// <param name="source">The file name for messages.</param>
    /// <param name="maxDirectoryBytes">The most bytes the central directory may take.</param>
    /// <exception cref="WeightFormatException">The directory is damaged or breaks one of the rules above.</exception>
    public static ZipDirectory Read(Stream stream, string source, long maxDirectoryBytes)
    {
        long start = stream.Position;
        long length = stream.Length - start;
        (long endAt, long count, long directorySize, long directoryOffset) = FindEnd(stream, start, length, source);
        if (directoryOffset < 0 || directorySize < 0 || directoryOffset > endAt || directorySize > endAt - directoryOffset)
        {
            throw Error(source, $"the central directory ({directorySize} bytes at {directoryOffset}) does not lie inside the {length}-byte file before its end record");
        }

        if (directorySize > maxDirectoryBytes)
        {
            throw Error(source, $"the central directory takes {directorySize} bytes, more than the {maxDirectoryBytes} allowed (WeightLoadOptions.MaxPickleBytes)");
        }

        if (count < 0 || count > directorySize / CentralSize)
        {
            throw Error(source, $"the archive declares {count} entries but its {directorySize}-byte central directory holds at most {directorySize / CentralSize}");
        }

        var directory = new byte[directorySize];
        stream.Position = start + directoryOffset;
        stream.ReadExactly(directory);
        var entries = new List<ZipEntry>((int)count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        int at = 0;
        for (long i = 0; i < count; i++)
        {
            (ZipEntry entry, int next) = ReadCentral(stream, start, directory, at, directoryOffset, source);
            if (!names.Add(entry.Name))
            {
                throw Error(source, $"two entries are named '{entry.Name}'; torch.load reads the last of them and other readers the first, so the file is refused");
            }

            entries.Add(entry);
            at = next;
        }

        CheckNoOverlap(entries, source);
        return new ZipDirectory(stream, start, length, source, entries);
    }

    private static (long EndAt, long Count, long Size, long Offset) FindEnd(Stream stream, long start, long length, string source)
    {
        int tailLength = (int)Math.Min(length, EndSize + ushort.MaxValue);
        if (tailLength < EndSize)
        {
            throw Error(source, $"the file has {length} bytes, too few for a zip end record");
        }

        var tail = new byte[tailLength];
        stream.Position = start + length - tailLength;
        stream.ReadExactly(tail);
        for (int i = tailLength - EndSize; i >= 0; i--)
        {
            ReadOnlySpan<byte> r = tail.AsSpan(i);
            if (BinaryPrimitives.ReadUInt32LittleEndian(r) != EndSignature || i + EndSize + BinaryPrimitives.ReadUInt16LittleEndian(r[20..]) > tailLength)
            {
                continue;
            }

            long endAt = length - tailLength + i;
            ushort disk = BinaryPrimitives.ReadUInt16LittleEndian(r[4..]);
            ushort directoryDisk = BinaryPrimitives.ReadUInt16LittleEndian(r[6..]);
            long count = BinaryPrimitives.ReadUInt16LittleEndian(r[10..]);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(r[12..]);
            long offset = BinaryPrimitives.ReadUInt32LittleEndian(r[16..]);
            if (count == ushort.MaxValue || size == uint.MaxValue || offset == uint.MaxValue)
            {
                return FindEnd64(stream, start, endAt, source);
            }

            if (disk != 0 || directoryDisk != 0)
            {
                throw Error(source, "multi-volume archives are not supported");
            }

            return (endAt, count, size, offset);
        }

        throw Error(source, "no zip end record was found (the file is truncated or not a zip archive)");
    }

    private static (long, long, long, long) FindEnd64(Stream stream, long start, long endAt, string source)
    {
        var locator = new byte[20];
        if (endAt < locator.Length)
        {
            throw Error(source, "the ZIP64 end locator is missing");
        }

        stream.Position = start + endAt - locator.Length;
        stream.ReadExactly(locator);
        long recordAt = BinaryPrimitives.ReadInt64LittleEndian(locator.AsSpan(8));
        if (BinaryPrimitives.ReadUInt32LittleEndian(locator) != Locator64Signature || recordAt < 0 || recordAt > endAt - locator.Length - 56)
        {
            throw Error(source, "the ZIP64 end locator is missing or points outside the file");
        }

        var record = new byte[56];
        stream.Position = start + recordAt;
        stream.ReadExactly(record);
        if (BinaryPrimitives.ReadUInt32LittleEndian(record) != End64Signature)
        {
            throw Error(source, $"no ZIP64 end record at byte {recordAt}");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(16)) != 0 || BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(20)) != 0)
        {
            throw Error(source, "multi-volume archives are not supported");
        }

        return (recordAt, BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(32)), BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(40)), BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(48)));
    }

    private static (ZipEntry, int) ReadCentral(Stream stream, long start, byte[] directory, int at, long directoryOffset, string source)
    {
        if (directory.Length - at < CentralSize || BinaryPrimitives.ReadUInt32LittleEndian(directory.AsSpan(at)) != CentralSignature)
        {
            throw Error(source, $"central directory entry at byte {directoryOffset + at} is damaged");
        }

        ReadOnlySpan<byte> h = directory.AsSpan(at);
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
        ushort method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
        long compressed = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
        long size = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
        int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
        int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
        long local = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
        int next = at + CentralSize + nameLength + extraLength + commentLength;
        if (next > directory.Length)
        {
            throw Error(source, $"central directory entry at byte {directoryOffset + at} runs past the directory's end");
        }

        byte[] nameBytes = directory.AsSpan(at + CentralSize, nameLength).ToArray();
        string name;
        try
        {
            name = StrictUtf8.GetString(nameBytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new WeightFormatException($"{source}: the zip entry name at byte {directoryOffset + at} is not valid UTF-8; the file is corrupted.", e);
        }

        ReadZip64(directory.AsSpan(at + CentralSize + nameLength, extraLength), ref size, ref compressed, ref local, name, source);
        if ((flags & 0x41) != 0)
        {
            throw Error(source, $"entry '{name}' is encrypted");
        }

        if (method is not (0 or 8))
        {
            throw Error(source, $"entry '{name}' uses compression method {method}; only stored (0) and deflate (8) are supported (torch.save stores entries uncompressed)");
        }

        if (method == 0 && compressed != size)
        {
            throw Error(source, $"stored entry '{name}' declares {size} bytes but occupies {compressed}");
        }

        if (local < 0 || compressed < 0 || size < 0 || local > directoryOffset - LocalSize)
        {
            throw Error(source, $"entry '{name}' has its local header at byte {local}, outside the data before the central directory (byte {directoryOffset})");
        }

        var header = new byte[LocalSize];
        stream.Position = start + local;
        stream.ReadExactly(header);
        int localName = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(26));
        long dataOffset = local + LocalSize + localName + BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(28));
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != LocalSignature || localName != nameLength)
        {
            throw Error(source, $"entry '{name}' has no matching local header at byte {local}");
        }

        var localNameBytes = new byte[localName];
        stream.ReadExactly(localNameBytes);
        if (!localNameBytes.AsSpan().SequenceEqual(nameBytes))
        {
            throw Error(source, $"entry '{name}' has a different name in its local header at byte {local}");
        }

        if (dataOffset > directoryOffset || compressed > directoryOffset - dataOffset)
        {
            throw Error(source, $"entry '{name}' declares {compressed} bytes at byte {dataOffset}, which run into the central directory at byte {directoryOffset} (truncated or corrupted)");
        }

        return (new ZipEntry(name, method == 8, crc, compressed, size, local, dataOffset), next);
    }

    private static void ReadZip64(ReadOnlySpan<byte> extra, ref long size, ref long compressed, ref long local, string name, string source)
    {
        bool needSize = size == uint.MaxValue, needCompressed = compressed == uint.MaxValue, needLocal = local == uint.MaxValue;
        if (!needSize && !needCompressed && !needLocal)
        {
            return;
        }

        while (extra.Length >= 4)
        {
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            int length = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (length > extra.Length - 4)
            {
                break;
            }

            ReadOnlySpan<byte> field = extra.Slice(4, length);
            if (id == 1)
            {
                int needed = 8 * ((needSize ? 1 : 0) + (needCompressed ? 1 : 0) + (needLocal ? 1 : 0));
                if (field.Length < needed)
                {
                    break;
                }

                size = needSize ? Take(ref field) : size;
                compressed = needCompressed ? Take(ref field) : compressed;
                local = needLocal ? Take(ref field) : local;
                return;
            }

            extra = extra[(4 + length)..];
        }

        throw Error(source, $"entry '{name}' needs a ZIP64 size field that is missing or too short");

        static long Take(ref ReadOnlySpan<byte> field)
        {
            long value = BinaryPrimitives.ReadInt64LittleEndian(field);
            field = field[8..];
            return value;
        }
    }

    private static void CheckNoOverlap(List<ZipEntry> entries, string source)
    {
        ZipEntry? previous = null;
        foreach (ZipEntry entry in entries.OrderBy(e => e.LocalHeaderOffset))
        {
            if (previous is not null && entry.LocalHeaderOffset < previous.DataOffset + previous.CompressedSize)
            {
                throw Error(source, $"entries '{previous.Name}' and '{entry.Name}' overlap in the archive (bytes {previous.LocalHeaderOffset}-{previous.DataOffset + previous.CompressedSize} and from {entry.LocalHeaderOffset}); a valid archive stores each entry once");
            }

            previous = entry;
        }
    }

    private static WeightFormatException Error(string source, string what) => new($"{source}: the zip structure is damaged or hostile: {what}.");
}
