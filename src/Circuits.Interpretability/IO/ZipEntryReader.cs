using System.IO.Compression;

namespace Circuits.Interpretability.IO;

/// <summary>
/// Reads the bytes of zip entries, keeping only the range asked for. Every entry is read to its end so that its
/// CRC-32 and declared size are checked; a stored entry is streamed through a small buffer (no allocation
/// beyond the range kept), a deflated one is inflated and every inflated byte is charged to a budget, so a
/// zip bomb stops at the budget instead of at the machine's memory.
/// </summary>
internal sealed class ZipEntryReader
{
    private const int BufferSize = 1 << 16;
    private readonly ZipDirectory _zip;
    private long _inflateBudget;

    /// <param name="zip">The archive.</param>
    /// <param name="inflateBudget">The most bytes all deflated entries read through this reader may inflate to, together.</param>
    public ZipEntryReader(ZipDirectory zip, long inflateBudget)
    {
        _zip = zip;
        _inflateBudget = inflateBudget;
    }

    /// <summary>Bytes inflated so far.</summary>
    public long Inflated { get; private set; }

    /// <summary>Sets the inflation budget left (once the tensors' needs are known).</summary>
    public void SetInflateBudget(long budget) => _inflateBudget = budget;

    /// <summary>The whole entry, which must be at most <paramref name="maxBytes"/> long.</summary>
    public byte[] ReadAll(ZipEntry entry, long maxBytes, string limitName)
    {
        if (entry.Size > maxBytes)
        {
            throw new WeightFormatException($"{_zip.Source}: entry '{entry.Name}' declares {entry.Size} bytes, more than the {maxBytes} allowed ({limitName}).");
        }

        return Read(entry, 0, entry.Size);
    }

    /// <summary>Bytes [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) of the entry's uncompressed data.</summary>
    public byte[] Read(ZipEntry entry, long start, long count)
    {
        if (start < 0 || count < 0 || start > entry.Size - count)
        {
            throw new WeightFormatException($"{_zip.Source}: bytes {start} to {start + count} of entry '{entry.Name}' were asked for, but it declares {entry.Size}.");
        }

        if (count > Array.MaxLength)
        {
            throw new WeightFormatException($"{_zip.Source}: {count} bytes of entry '{entry.Name}' are needed at once; at most {Array.MaxLength} fit in one array.");
        }

        // A stored entry's bytes are in the file, so its range is allocated at once; a deflated entry's range
        // grows only as inflated bytes actually arrive, whatever size it declares.
        byte[]? kept = entry.Deflated ? null : new byte[count];
        using var grown = entry.Deflated ? new MemoryStream((int)Math.Min(count, BufferSize)) : null;
        uint crc = 0;
        long position = 0;
        var buffer = new byte[(int)Math.Clamp(entry.Size, 1, BufferSize)];
        using (Stream data = Open(entry))
        {
            while (true)
            {
                int read = data.Read(buffer, 0, buffer.Length);
                if (read == 0)
                {
                    break;
                }

                if (entry.Deflated)
                {
                    Inflated += read;
                    if (Inflated > _inflateBudget || position + read > entry.Size)
                    {
                        throw new WeightFormatException(position + read > entry.Size
                            ? $"{_zip.Source}: entry '{entry.Name}' inflates to more than the {entry.Size} bytes it declares; the file is corrupted or a zip bomb."
                            : $"{_zip.Source}: the deflated entries inflate to more than the tensors need (budget {_inflateBudget} bytes: the storage bytes the tensors reference plus 1 MiB, " +
                              "at most WeightLoadOptions.MaxTotalBytes); the file is a zip bomb or stores far more than its tensors use.");
                    }
                }

                crc = Crc32.Update(crc, buffer.AsSpan(0, read));
                long from = Math.Max(position, start);
                long to = Math.Min(position + read, start + count);
                if (from < to)
                {
                    ReadOnlySpan<byte> part = buffer.AsSpan((int)(from - position), (int)(to - from));
                    if (kept is not null)
                    {
                        part.CopyTo(kept.AsSpan((int)(from - start)));
                    }
                    else
                    {
                        grown!.Write(part);
                    }
                }

                position += read;
            }
        }

        if (position != entry.Size)
        {
            throw new WeightFormatException($"{_zip.Source}: entry '{entry.Name}' ends after {position} of its {entry.Size} bytes (truncated).");
        }

        if (crc != entry.Crc32)
        {
            throw new WeightFormatException($"{_zip.Source}: entry '{entry.Name}' fails its CRC-32 check (stored {entry.Crc32:x8}, computed {crc:x8}); the file is corrupted.");
        }

        return kept ?? grown!.ToArray();
    }

    private Stream Open(ZipEntry entry)
    {
        var raw = new SliceStream(_zip.Stream, _zip.Start + entry.DataOffset, entry.CompressedSize);
        return entry.Deflated ? new DeflateStream(raw, CompressionMode.Decompress) : raw;
    }

    /// <summary>A read-only window [offset, offset + length) of a seekable stream.</summary>
    private sealed class SliceStream : Stream
    {
        private readonly Stream _inner;
        private readonly long _offset;
        private readonly long _length;
        private long _position;

        public SliceStream(Stream inner, long offset, long length)
        {
            _inner = inner;
            _offset = offset;
            _length = length;
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => _length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int wanted = (int)Math.Min(count, _length - _position);
            if (wanted <= 0)
            {
                return 0;
            }

            _inner.Position = _offset + _position;
            int read = _inner.Read(buffer, offset, wanted);
            _position += read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
