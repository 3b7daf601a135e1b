using System.Collections.Concurrent;
using System.Security.Cryptography;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.IO;

/// <summary>
/// Where a model's weight file is and which weights it holds: the path, and a content id made from the file's
/// bytes, so that the same weights get the same id (and the same render-catalog keys) whoever located them and
/// whatever the file is called. <see cref="ModelId"/> (<c>inceptionv1/sha256=0123456789abcdef</c>) is the id to
/// pass wherever a model identity is asked for.
/// </summary>
/// <param name="ModelName">The model the weights are for, for example <c>inceptionv1</c>.</param>
/// <param name="Path">The weight file's full path.</param>
/// <param name="ContentId"><c>sha256=</c> and the first 16 hex digits of the file's SHA-256.</param>
/// <param name="FromCache">True when the file was found in the model cache rather than given by the caller.</param>
public sealed record WeightsLocation(string ModelName, string Path, string ContentId, bool FromCache)
{
    private static readonly ConcurrentDictionary<(string Path, long Length, DateTime Written), string> Ids = new();

    /// <summary>The model and weights identity: <c>&lt;model&gt;/sha256=&lt;16 hex digits&gt;</c>.</summary>
    public string ModelId => $"{ModelName}/{ContentId}";

    /// <summary>
    /// Locates the weights of <paramref name="file"/>: <paramref name="explicitPath"/> when given (it must exist), else
    /// the file in <paramref name="cache"/> (the default cache when null) when it is there, else null.
    /// </summary>
    /// <param name="file">The registered weight file (its cache location).</param>
    /// <param name="modelName">The model's name, the first part of <see cref="ModelId"/>.</param>
    /// <param name="explicitPath">A file the user named (for example with <c>--weights</c>); null to look in the cache.</param>
    /// <param name="cache">The model cache; null for the default one.</param>
    /// <returns>The location, or null when no path was given and the cache does not hold the file.</returns>
    /// <exception cref="WeightFileNotFoundException"><paramref name="explicitPath"/> names no file.</exception>
    public static WeightsLocation? Find(ModelFile file, string modelName, string? explicitPath = null, ModelCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelName);
        if (explicitPath is not null)
        {
            if (!File.Exists(explicitPath))
            {
                throw new WeightFileNotFoundException(
                    $"Weight file '{explicitPath}' does not exist; expected {file.FileName} or a safetensors file with the weights of {modelName}.", explicitPath);
            }

            string full = System.IO.Path.GetFullPath(explicitPath);
            return new WeightsLocation(modelName, full, ContentIdOf(full), FromCache: false);
        }

        cache ??= new ModelCache();
        if (!cache.IsCached(file))
        {
            return null;
        }

        string cached = cache.PathFor(file);
        return new WeightsLocation(modelName, cached, ContentIdOf(cached), FromCache: true);
    }

    /// <summary>
    /// The content id of a file: <c>sha256=</c> and the first 16 hex digits of its SHA-256. Remembered per path,
    /// length and write time within a process, so a large file is hashed once.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static string ContentIdOf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"Cannot identify '{path}': the file does not exist.", path);
        }

        return Ids.GetOrAdd((info.FullName, info.Length, info.LastWriteTimeUtc), key =>
        {
            using FileStream stream = File.OpenRead(key.Path);
            return "sha256=" + Convert.ToHexString(SHA256.HashData(stream), 0, 8).ToLowerInvariant();
        });
    }
}
