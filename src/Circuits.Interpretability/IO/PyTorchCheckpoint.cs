namespace Circuits.Interpretability.IO;

/// <summary>
/// Reads PyTorch checkpoints written by <c>torch.save(state_dict)</c>, without Python: the zip format of
/// PyTorch 1.6 and later and the legacy format before it. The pickle inside is read by a minimal reader that
/// accepts only what state dicts use (<c>torch._utils._rebuild_tensor_v2</c>, <c>collections.OrderedDict</c>,
/// the storage types, persistent ids); nothing in the file is ever executed. Views (storage offsets, strides,
/// stride 0) are copied out into contiguous tensors; only the storage bytes that tensors view are read, and
/// everything is bounded by <see cref="WeightLoadOptions"/> (see docs/weight-formats.md for every budget).
/// </summary>
public static class PyTorchCheckpoint
{
    /// <summary>Reads a checkpoint file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Limits; <see cref="WeightLoadOptions.Default"/> when null.</param>
    /// <exception cref="WeightFormatException">The file is not a readable state dict or exceeds a limit; the message says why.</exception>
    /// <exception cref="UnsafePickleException">The pickle uses an opcode or global a state dict never needs.</exception>
    public static StateDict Load(string path, WeightLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new WeightFormatException($"The checkpoint '{path}' does not exist.");
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Load(stream, Path.GetFileName(path), options);
    }

    /// <summary>Reads a checkpoint from a seekable stream.</summary>
    /// <param name="stream">The checkpoint, from its current position; must support seeking and report its length.</param>
    /// <param name="source">A name for messages (the file name).</param>
    /// <param name="options">Limits; <see cref="WeightLoadOptions.Default"/> when null.</param>
    /// <exception cref="WeightFormatException">The stream is not a readable state dict or exceeds a limit.</exception>
    public static StateDict Load(Stream stream, string source = "checkpoint", WeightLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            throw new ArgumentException("The stream must be seekable; copy it into a MemoryStream first.", nameof(stream));
        }

        options = (options ?? WeightLoadOptions.Default).Validated();
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
                return CheckpointZip.Load(stream, source, options);
            }

            if (head[0] == 0x80)
            {
                return CheckpointLegacy.Load(stream, source, options);
            }
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new WeightFormatException($"{source}: the file could not be read ({e.Message}); it is probably truncated or corrupted.", e);
        }
        catch (InvalidDataException e)
        {
            throw new WeightFormatException($"{source}: a compressed entry is damaged ({e.Message}); the file is probably truncated or corrupted.", e);
        }

        throw new WeightFormatException($"{source}: unknown format: the file starts with bytes {Convert.ToHexString(head)}; " +
            "expected a zip archive (504B0304, PyTorch 1.6 and later) or a pickle (80, legacy PyTorch).");
    }
}
