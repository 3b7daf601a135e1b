using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.IO;

/// <summary>A published weight file that <see cref="ModelCache"/> can download.</summary>
/// <param name="Name">The registry name (e.g. <c>inception5h</c>).</param>
/// <param name="FileName">The file name in the cache folder.</param>
/// <param name="Url">Where the file is published.</param>
/// <param name="Sha256">The file's SHA-256 in lowercase hex, or null when no trustworthy published value is known;
/// then the download is accepted unverified (its hash is still computed and reported).</param>
/// <param name="Description">One line for users.</param>
public sealed record ModelFile(string Name, string FileName, Uri Url, string? Sha256, string Description)
{
    /// <summary>
    /// For a file that belongs to a model: loads the parsed weights into that model and throws when they do not
    /// fit. <see cref="ModelCache"/> runs it on a download whose <see cref="Sha256"/> is unknown, before keeping
    /// it (for example <c>InceptionV1.WeightsFile</c> loads the weights into an InceptionV1). Null: the download
    /// only has to parse as a weight file of the format its <see cref="FileName"/> names.
    /// </summary>
    public Action<StateDict>? Check { get; init; }
}

/// <summary>Progress of a download.</summary>
/// <param name="FileName">The file being downloaded.</param>
/// <param name="BytesReceived">Bytes received so far.</param>
/// <param name="TotalBytes">The file's size when the server announced it.</param>
public readonly record struct DownloadProgress(string FileName, long BytesReceived, long? TotalBytes);

/// <summary>The weight files the library knows by name.</summary>
public static class ModelRegistry
{
    /// <summary>
    /// Lucid's InceptionV1 (<c>inception5h</c>) converted to a PyTorch state dict, as Lucent and Captum download it.
    /// Its SHA-256 is null: no public source we could check states it, and a hash is never invented. A download
    /// is therefore checked by content (it must parse as a PyTorch checkpoint; <c>InceptionV1.WeightsFile</c>, which
    /// <c>InceptionV1.PretrainedAsync</c> uses, also loads it into the model). Pin the hash of a copy you trust with
    /// <c>ModelRegistry.Inception5h with { Sha256 = "..." }</c> (see docs/weight-formats.md).
    /// </summary>
    public static ModelFile Inception5h { get; } = new(
        "inception5h",
        "inception5h.pth",
        new Uri("https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"),
        Sha256: null,
        "InceptionV1 as published with Lucid (1008 classes), PyTorch state dict with keys such as conv2d0_pre_relu_conv.weight");

    /// <summary>Every registered file.</summary>
    public static IReadOnlyList<ModelFile> All { get; } = new[] { Inception5h };

    /// <summary>The file registered as <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="CircuitsException">No file has that name; the message lists the known ones.</exception>
    public static ModelFile Find(string name) =>
        All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new CircuitsException($"Unknown model file '{name}'. Known: {string.Join(", ", All.Select(f => f.Name))}.");
}

/// <summary>A weight file that is not cached and could not be downloaded or verified.</summary>
public sealed class ModelDownloadException : CircuitsException
{
    /// <summary>Creates the exception.</summary>
    public ModelDownloadException(string message, string expectedPath, Exception? innerException = null)
        : base(message, innerException ?? new InvalidOperationException(message))
    {
        ExpectedPath = expectedPath;
    }

    /// <summary>Where the file is expected in the cache; putting it there by hand avoids the download.</summary>
    public string ExpectedPath { get; }
}
