using Circuits.Interpretability.Core;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Circuits.Interpretability.IO;

/// <summary>
/// Downloads published weight files once into a cache folder and hands out their paths. A download is written
/// to a temporary <c>.partial</c> file in the same folder and only renamed into place once it is verified: by
/// its SHA-256 when the <see cref="ModelFile"/> states one, otherwise by content (it must parse as the weight
/// format its file name names and pass the file's <see cref="ModelFile.Check"/>, such as loading into its
/// model). A partial, corrupt, HTML or foreign file is never taken as complete. Every transfer is bounded in
/// time (<see cref="ConnectTimeout"/>, <see cref="HeadersTimeout"/>, <see cref="ReadTimeout"/>,
/// <see cref="MinimumBytesPerSecond"/>, <see cref="Deadline"/>) and size (<see cref="MaxDownloadBytes"/>), so
/// a silent or trickling server cannot hang it; the message of every failure says where to put the file by hand.
/// </summary>
public sealed class ModelCache
{
    private readonly HttpClient? _httpClient;

    /// <summary>Creates a cache.</summary>
    /// <param name="directory">The cache folder; by default <see cref="DefaultDirectory"/>.</param>
    /// <param name="httpClient">The client to download with; by default one with <see cref="ConnectTimeout"/>.</param>
    public ModelCache(string? directory = null, HttpClient? httpClient = null)
    {
        Directory = Path.GetFullPath(directory ?? DefaultDirectory);
        _httpClient = httpClient;
    }

    /// <summary>
    /// The default cache folder: <c>$CIRCUITS_CACHE</c> when set, else <c>$XDG_CACHE_HOME/circuits</c>, else
    /// <c>~/.cache/circuits</c> (on Windows <c>%LOCALAPPDATA%\circuits</c>).
    /// </summary>
    public static string DefaultDirectory
    {
        get
        {
            string? explicitDir = Environment.GetEnvironmentVariable("CIRCUITS_CACHE");
            if (!string.IsNullOrWhiteSpace(explicitDir))
            {
                return explicitDir;
            }

            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (!string.IsNullOrWhiteSpace(xdg))
            {
                return Path.Combine(xdg, "circuits");
            }

            return OperatingSystem.IsWindows()
                ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "circuits")
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "circuits");
        }
    }

    /// <summary>The cache folder.</summary>
    public string Directory { get; }

    /// <summary>How long to wait for a connection before giving up (default 10 s; applies to the client the cache creates).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the complete response headers may take to arrive, connection included (default 30 s).</summary>
    public TimeSpan HeadersTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a download may receive nothing before it is abandoned (default 60 s).</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one whole download may take, headers included (default 1 hour).</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The slowest average rate accepted over each <see cref="ThroughputWindow"/>, in bytes per second (default
    /// 16 KiB/s; 0 turns the check off). A server trickling a byte a second is abandoned after one window.
    /// </summary>
    public long MinimumBytesPerSecond { get; init; } = 16 * 1024;

    /// <summary>The span over which <see cref="MinimumBytesPerSecond"/> is measured (default 30 s).</summary>
    public TimeSpan ThroughputWindow { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest download accepted (default 4 GiB).</summary>
    public long MaxDownloadBytes { get; init; } = 4L << 30;

    /// <summary>The limits used to parse a download whose SHA-256 is unknown (default <see cref="WeightLoadOptions.Default"/>).</summary>
    public WeightLoadOptions WeightOptions { get; init; } = WeightLoadOptions.Default;

    /// <summary>Where <paramref name="file"/> lives in this cache (whether or not it is there yet).</summary>
    public string PathFor(ModelFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.FileName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || file.FileName is "." or ".." || file.FileName.Contains('/') || file.FileName.Contains('\\'))
        {
            throw new CircuitsException($"The file name '{file.FileName}' of '{file.Name}' is not a plain file name.");
        }

        return Path.Combine(Directory, file.FileName);
    }

    /// <summary>True when <paramref name="file"/> is already in the cache.</summary>
    public bool IsCached(ModelFile file) => File.Exists(PathFor(file));

    /// <summary>The SHA-256 of a file, lowercase hex.</summary>
    public static async Task<string> Sha256Async(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        byte[] hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return Convert.ToHexString(hash).ToLowerInvariant();
    }

    /// <summary>
    /// Returns the path of <paramref name="file"/> in the cache, downloading it first if it is not there (or is
    /// there with a hash different from the registry's). Stale <c>.partial</c> files of the same file left by a
    /// killed download are removed first; those of a download still running (in any process) are left alone.
    /// </summary>
    /// <exception cref="ModelDownloadException">The download failed, timed out, was too slow, incomplete or too
    /// large, its hash differs, or (without a hash) it is not a valid weight file or fails
    /// <see cref="ModelFile.Check"/>; the message says where to put the file by hand. Nothing is left in the cache.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<string> GetAsync(ModelFile file, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        string path = PathFor(file);
        string? expected = file.Sha256?.ToLowerInvariant();
        if (File.Exists(path))
        {
            if (expected is null || await Sha256Async(path, cancellationToken).ConfigureAwait(false) == expected)
            {
                return path;
            }

            // A cached file that fails its hash is not trusted; it is replaced.
            File.Delete(path);
        }

        System.IO.Directory.CreateDirectory(Directory);
        RemoveStalePartials(file);
        string temp = Path.Combine(Directory, $".{file.FileName}.{Guid.NewGuid():N}.partial");
        HttpClient client = _httpClient ?? CreateClient();
        // The partial is held open (a shared lock) until it is renamed, so that another process's clean-up of
        // stale partials, which needs an exclusive lock, never removes a download in progress.
        var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, 1 << 16, useAsync: true);
        try
        {
            string actual = await new ModelDownload(this, file, path).RunAsync(client, output, progress, cancellationToken).ConfigureAwait(false);
            if (expected is not null && actual != expected)
            {
                throw Failure(file, path, $"the downloaded file's SHA-256 is {actual} but {expected} was expected (corrupted or changed upstream)");
            }

            if (expected is null)
            {
                Verify(file, temp, path);
            }

            File.Move(temp, path, overwrite: true);
            return path;
        }
        finally
        {
            await output.DisposeAsync().ConfigureAwait(false);
            if (_httpClient is null)
            {
                client.Dispose();
            }

            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>The failure of a download, with the place to put the file by hand.</summary>
    internal static ModelDownloadException Failure(ModelFile file, string path, string reason, Exception? inner = null) => new(
        $"Could not download '{file.Name}' from {file.Url}: {reason}. Nothing was saved. Without network access, download " +
        $"{file.FileName} on another machine and copy it to {path}" +
        (file.Sha256 is null ? "" : $" (its SHA-256 must be {file.Sha256})") +
        "; or point the cache elsewhere with new ModelCache(directory) or the CIRCUITS_CACHE environment variable.",
        path,
        inner);

    /// <summary>Without a known hash, the download must parse as the format its name names and pass the file's check.</summary>
    private void Verify(ModelFile file, string temp, string path)
    {
        StateDict weights;
        using (var stream = new FileStream(temp, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            WeightFormat expected = ExpectedFormat(file.FileName);
            WeightFormat actual = WeightFile.Detect(stream);
            if (expected != WeightFormat.Unknown && actual != expected)
            {
                throw Failure(file, path, $"the downloaded file is not a {Describe(expected)} as its name {file.FileName} says (its {stream.Length} bytes are {(actual == WeightFormat.Unknown ? "of no weight format" : $"a {Describe(actual)}")})");
            }

            try
            {
                weights = WeightFile.Load(stream, file.FileName, WeightOptions);
            }
            catch (WeightFormatException e)
            {
                throw Failure(file, path, $"the downloaded file is not a valid weight file ({e.Message})", e);
            }
        }

        try
        {
            file.Check?.Invoke(weights);
        }
        catch (CircuitsException e)
        {
            throw Failure(file, path, $"the downloaded weights do not fit the model they are for ({e.Message})", e);
        }
    }

    private static WeightFormat ExpectedFormat(string fileName) => Path.GetExtension(fileName).ToLowerInvariant() switch
    {
        ".safetensors" => WeightFormat.SafeTensors,
        ".pth" or ".pt" or ".ckpt" or ".bin" => WeightFormat.PyTorch,
        _ => WeightFormat.Unknown,
    };

    private static string Describe(WeightFormat format) => format == WeightFormat.SafeTensors ? "safetensors file" : "PyTorch checkpoint";

    /// <summary>Deletes this file's partials that no download holds open (left by a killed process).</summary>
    private void RemoveStalePartials(ModelFile file)
    {
        string prefix = $".{file.FileName}.";
        foreach (string partial in System.IO.Directory.EnumerateFiles(Directory, "*.partial"))
        {
            string name = Path.GetFileName(partial);
            string middle = name.Length > prefix.Length + ".partial".Length ? name[prefix.Length..^".partial".Length] : "";
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || middle.Length != 32 || !middle.All(Uri.IsHexDigit))
            {
                continue;
            }

            try
            {
                // An exclusive lock fails while a running download holds the file open.
                using var stale = new FileStream(partial, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private HttpClient CreateClient()
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = ConnectTimeout, AllowAutoRedirect = true, MaxAutomaticRedirections = 10 };
        var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("Circuits.Interpretability", "0.1"));
        return client;
    }
}
