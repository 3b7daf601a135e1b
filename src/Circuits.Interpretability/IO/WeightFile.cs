namespace Circuits.Interpretability.IO;

/// <summary>Reads a weight file in any supported format, recognized by its first bytes, not its extension.</summary>
public static class WeightFile
{
    /// <summary>
    /// Reads a PyTorch checkpoint (zip or legacy format) or a safetensors file.
    /// </summary>
    /// <exception cref="WeightFormatException">The file does not exist, is of no supported format, or is damaged.</exception>
    public static StateDict Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new WeightFormatException($"The weight file '{path}' does not exist.");
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        string source = Path.GetFileName(path);
        Span<byte> head = stackalloc byte[9];
        int read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        // safetensors first: its 8-byte header length may start with any byte, 0x80 included.
        if (read == 9 && head[8] == (byte)'{' && System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(head) <= (ulong)stream.Length)
        {
            return SafeTensors.Load(stream, source);
        }

        if (read >= 4 && ((head[0] == (byte)'P' && head[1] == (byte)'K') || head[0] == 0x80))
        {
            return PyTorchCheckpoint.Load(stream, source);
        }

        throw new WeightFormatException($"{source}: unknown weight format (first bytes {Convert.ToHexString(head[..read])}); " +
            "expected a PyTorch checkpoint (zip 504B0304 or pickle 80) or safetensors (8-byte length then '{').");
    }
}
