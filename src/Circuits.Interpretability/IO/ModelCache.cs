using Circuits.Interpretability.Core;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Circuits.Interpretability.IO;

/// <summary>
/// Downloads published weight files once into a cache folder and hands out their paths. A download is
/// written to a temporary file in the same folder, checked (size, and SHA-256 when the registry knows it) and
/// only then renamed into place, so a partial or corrupt file is never taken as complete. Without network
/// access it fails fast (a short connect timeout) with a message saying where to put the file by hand.
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

    /// <summary>How long to wait for a connection before giving up (default 10 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a download may receive nothing before it is abandoned (default 60 s).</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

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
    /// there with a hash different from the registry's).
    /// </summary>
    /// <exception cref="ModelDownloadException">The download failed, was incomplete, or its hash differs; the
    /// message says where to put the file by hand. Nothing is left in the cache.</exception>
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
        string temp = Path.Combine(Directory, $".{file.FileName}.{Guid.NewGuid():N}.partial");
        HttpClient client = _httpClient ?? CreateClient();
        try
        {
            string actual = await DownloadAsync(client, file, temp, path, progress, cancellationToken).ConfigureAwait(false);
            if (expected is not null && actual != expected)
            {
                throw Failure(file, path, $"the downloaded file's SHA-256 is {actual} but {expected} was expected (corrupted or changed upstream)");
            }

            File.Move(temp, path, overwrite: true);
            return path;
        }
        finally
        {
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

    private async Task<string> DownloadAsync(HttpClient client, ModelFile file, string temp, string path, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await client.GetAsync(file.Url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw Failure(file, path, $"no connection ({e.Message})", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw Failure(file, path, $"no answer within the time limit ({e.Message})", e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw Failure(file, path, $"the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }

            long? total = response.Content.Headers.ContentLength;
            long received = 0;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            try
            {
                await using Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                await using var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                var buffer = new byte[1 << 16];
                progress?.Report(new DownloadProgress(file.FileName, 0, total));
                while (true)
                {
                    using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    stall.CancelAfter(ReadTimeout);
                    int read;
                    try
                    {
                        read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw Failure(file, path, $"nothing was received for {ReadTimeout.TotalSeconds:0} s after {received} bytes", e);
                    }

                    if (read == 0)
                    {
                        break;
                    }

                    if (total is long limit && received + read > limit)
                    {
                        throw Failure(file, path, $"the server sent more than the {limit} bytes it announced");
                    }

                    hash.AppendData(buffer, 0, read);
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    received += read;
                    progress?.Report(new DownloadProgress(file.FileName, received, total));
                }

                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                throw Failure(file, path, $"the connection broke after {received}{(total is null ? "" : $" of {total}")} bytes ({e.Message})", e);
            }

            if (total is long announced && received != announced)
            {
                throw Failure(file, path, $"the download stopped after {received} of {announced} bytes");
            }

            return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
        }
    }

    private HttpClient CreateClient()
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = ConnectTimeout, AllowAutoRedirect = true, MaxAutomaticRedirections = 10 };
        var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("Circuits.Interpretability", "0.1"));
        return client;
    }

    private static ModelDownloadException Failure(ModelFile file, string path, string reason, Exception? inner = null) => new(
        $"Could not download '{file.Name}' from {file.Url}: {reason}. Nothing was saved. Without network access, download " +
        $"{file.FileName} on another machine and copy it to {path}" +
        (file.Sha256 is null ? "" : $" (its SHA-256 must be {file.Sha256})") +
        "; or point the cache elsewhere with new ModelCache(directory) or the CIRCUITS_CACHE environment variable.",
        path,
        inner);
}
