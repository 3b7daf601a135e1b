namespace Circuits.Interpretability.IO;

/// <summary>Reads a weight file in any supported format, recognized by its first bytes, not its extension.</summary>
public static class WeightFile
{
    /// <summary>Reads a PyTorch checkpoint (zip or legacy format) or a safetensors file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Limits; <see cref="WeightLoadOptions.Default"/> when null.</param>
    /// <exception cref="WeightFormatException">The file does not exist, is of no supported format, is damaged, or exceeds a limit.</exception>
    public static StateDict Load(string path, WeightLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new WeightFormatException($"The weight file '{path}' does not exist.");
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Load(stream, Path.GetFileName(path), options);
    }

    /// <summary>Reads a PyTorch checkpoint or safetensors from a seekable stream, starting at its current position.</summary>
    /// <param name="stream">The file's bytes; must support seeking and report its length.</param>
    /// <param name="source">A name for messages (the file name).</param>
    /// <param name="options">Limits; <see cref="WeightLoadOptions.Default"/> when null.</param>
    /// <exception cref="WeightFormatException">The bytes are of no supported format, damaged, or exceed a limit.</exception>
    public static StateDict Load(Stream stream, string source, WeightLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(source);
        if (!stream.CanSeek)
        {
            throw new ArgumentException("The stream must be seekable; copy it into a MemoryStream first.", nameof(stream));
        }

        WeightFormat format = Detect(stream, out string head);
        return format switch
        {
            WeightFormat.SafeTensors => SafeTensors.Load(stream, source, options),
            WeightFormat.PyTorch => PyTorchCheckpoint.Load(stream, source, options),
            _ => throw new WeightFormatException($"{source}: unknown weight format (first bytes {head}); " +
                "expected a PyTorch checkpoint (zip 504B0304 or pickle 80) or safetensors (8-byte length then '{')."),
        };
    }

    /// <summary>The format of the bytes at the stream's position (the position is left unchanged).</summary>
    internal static WeightFormat Detect(Stream stream) => Detect(stream, out _);

    private static WeightFormat Detect(Stream stream, out string head)
    {
        long start = stream.Position;
        Span<byte> bytes = stackalloc byte[9];
        int read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        stream.Position = start;
        head = Convert.ToHexString(bytes[..read]);
        // safetensors first: its 8-byte header length may start with any byte, 0x80 included.
        if (read == 9 && bytes[8] == (byte)'{' && System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes) <= (ulong)(stream.Length - start))
        {
            return WeightFormat.SafeTensors;
        }

        return read >= 4 && ((bytes[0] == (byte)'P' && bytes[1] == (byte)'K') || bytes[0] == 0x80) ? WeightFormat.PyTorch : WeightFormat.Unknown;
    }
}

/// <summary>The weight file formats <see cref="WeightFile"/> recognizes.</summary>
internal enum WeightFormat
{
    Unknown,
    PyTorch,
    SafeTensors,
}
