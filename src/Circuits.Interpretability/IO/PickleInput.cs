using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Circuits.Interpretability.IO;

/// <summary>
/// The byte-level side of <see cref="PickleReader"/>: reads opcode arguments from the stream, checks every
/// declared length against the bytes that remain before allocating, decodes strings strictly, and stops a
/// pickle that grows past its byte limit.
/// </summary>
internal sealed class PickleInput
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Stream _stream;
    private readonly string _source;
    private readonly long _start;
    private readonly long _limit;

    /// <param name="stream">The pickle; reading starts at the current position.</param>
    /// <param name="source">The file name for messages.</param>
    /// <param name="maxBytes">The most bytes one pickle may take.</param>
    public PickleInput(Stream stream, string source, long maxBytes)
    {
        _stream = stream;
        _source = source;
        _start = stream.Position;
        _limit = maxBytes;
    }

    /// <summary>The position in the stream (for messages).</summary>
    public long Position => _stream.Position;

    /// <summary>The bytes read so far.</summary>
    public long Consumed => _stream.Position - _start;

    public byte ReadByte()
    {
        int b = _stream.ReadByte();
        if (b < 0)
        {
            throw Error($"the pickle ends at byte {_stream.Position} before its STOP opcode (truncated)");
        }

        CheckLimit();
        return (byte)b;
    }

    public byte[] ReadBytes(int count)
    {
        if (count > _stream.Length - _stream.Position)
        {
            throw Error($"the pickle needs {count} bytes at byte {_stream.Position} but the file ends first (truncated)");
        }

        if (Consumed + count > _limit)
        {
            throw LimitError();
        }

        var buffer = new byte[count];
        _stream.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>Reads a 4- or 8-byte length and checks it against the bytes that remain.</summary>
    public int ReadLength(int size, long position)
    {
        byte[] b = ReadBytes(size);
        long length = size == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadInt64LittleEndian(b);
        long remaining = _stream.Length - _stream.Position;
        if (length < 0 || length > remaining)
        {
            throw Error($"a string or bytes object at byte {position} declares {length} bytes but only {remaining} remain (truncated or corrupted)");
        }

        return (int)length;
    }

    public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4));

    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2));

    public double ReadDoubleBigEndian() => BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8));

    /// <summary>A little-endian two's-complement integer of <paramref name="n"/> bytes (LONG1, LONG4).</summary>
    public object ReadLong(int n)
    {
        byte[] bytes = ReadBytes(n);
        if (n == 0)
        {
            return 0L;
        }

        if (n <= 8)
        {
            long value = 0;
            for (int i = n - 1; i >= 0; i--)
            {
                value = (value << 8) | bytes[i];
            }

            // Sign-extend from n bytes.
            int shift = 64 - (8 * n);
            return shift == 0 ? value : (value << shift) >> shift;
        }

        return new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
    }

    /// <summary>UTF-8 text; invalid UTF-8 is a format error, never a replacement character or an untyped exception.</summary>
    public string ReadUtf8(int count, long position)
    {
        byte[] bytes = ReadBytes(count);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new WeightFormatException($"{_source}: corrupted pickle: the string at byte {position} is not valid UTF-8.", e);
        }
    }

    public string ReadLatin1(int count) => Encoding.Latin1.GetString(ReadBytes(count));

    /// <summary>A newline-terminated ASCII name (the GLOBAL opcode's module and name).</summary>
    public string ReadLine(long position)
    {
        var sb = new StringBuilder();
        while (true)
        {
            byte b = ReadByte();
            if (b == (byte)'\n')
            {
                return sb.ToString();
            }

            if (sb.Length > 256)
            {
                throw Error($"GLOBAL at byte {position} has a name longer than 256 characters");
            }

            sb.Append((char)b);
        }
    }

    public WeightFormatException Error(string what) => new($"{_source}: corrupted pickle: {what}.");

    private void CheckLimit()
    {
        if (Consumed > _limit)
        {
            throw LimitError();
        }
    }

    private WeightFormatException LimitError() => new(
        $"{_source}: the pickle is larger than {_limit} bytes (WeightLoadOptions.MaxPickleBytes); a state dict's pickle is far smaller. " +
        "Raise the limit if you trust the file.");
}
