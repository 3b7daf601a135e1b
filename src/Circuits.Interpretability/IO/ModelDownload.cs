using System.Diagnostics;
using System.Security.Cryptography;

namespace Circuits.Interpretability.IO;

/// <summary>
/// One HTTP transfer for <see cref="ModelCache"/>, bounded in time and size: the response headers must arrive
/// within <see cref="ModelCache.HeadersTimeout"/>, the whole transfer within <see cref="ModelCache.Deadline"/>,
/// every <see cref="ModelCache.ThroughputWindow"/> must bring at least <see cref="ModelCache.MinimumBytesPerSecond"/>
/// on average, no read may stall longer than <see cref="ModelCache.ReadTimeout"/>, and the body may not exceed
/// <see cref="ModelCache.MaxDownloadBytes"/> or its announced Content-Length. HTML pages are refused.
/// </summary>
internal sealed class ModelDownload
{
    private readonly ModelCache _cache;
    private readonly ModelFile _file;
    private readonly string _path;

    public ModelDownload(ModelCache cache, ModelFile file, string path)
    {
        _cache = cache;
        _file = file;
        _path = path;
    }

    /// <summary>Downloads the file into <paramref name="output"/> and returns its SHA-256 (lowercase hex).</summary>
    public async Task<string> RunAsync(HttpClient client, Stream output, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_cache.Deadline);
        using HttpResponseMessage response = await GetHeadersAsync(client, deadline, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw Failure($"the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }

        string? mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is not null && (mediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase) || mediaType.Equals("application/xhtml+xml", StringComparison.OrdinalIgnoreCase)))
        {
            throw Failure($"the server answered with a web page ({mediaType}), not a weight file; the URL leads to an HTML page (a login, error or download page)");
        }

        long? total = response.Content.Headers.ContentLength;
        if (total > _cache.MaxDownloadBytes)
        {
            throw Failure($"the server announces {total} bytes, more than ModelCache.MaxDownloadBytes ({_cache.MaxDownloadBytes})");
        }

        long received = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            await using Stream body = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            var buffer = new byte[1 << 16];
            progress?.Report(new DownloadProgress(_file.FileName, 0, total));
            var clock = Stopwatch.StartNew();
            TimeSpan windowStart = TimeSpan.Zero;
            long windowBytes = 0;
            bool throughput = _cache.MinimumBytesPerSecond > 0;
            TimeSpan wait = throughput && _cache.ThroughputWindow < _cache.ReadTimeout ? _cache.ThroughputWindow : _cache.ReadTimeout;
            while (true)
            {
                int read;
                using (var stall = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token))
                {
                    stall.CancelAfter(wait);
                    try
                    {
                        read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw deadline.IsCancellationRequested
                            ? Failure($"the download took longer than ModelCache.Deadline ({Seconds(_cache.Deadline)}) after {received} bytes", e)
                            : wait < _cache.ReadTimeout
                                ? Failure($"nothing was received for {Seconds(wait)} after {received} bytes, below ModelCache.MinimumBytesPerSecond ({_cache.MinimumBytesPerSecond})", e)
                                : Failure($"nothing was received for {Seconds(wait)} (ModelCache.ReadTimeout) after {received} bytes", e);
                    }
                }

                if (read == 0)
                {
                    break;
                }

                received += read;
                if (total is long limit && received > limit)
                {
                    throw Failure($"the server sent more than the {limit} bytes it announced");
                }

                if (received > _cache.MaxDownloadBytes)
                {
                    throw Failure($"the server sent more than ModelCache.MaxDownloadBytes ({_cache.MaxDownloadBytes})");
                }

                hash.AppendData(buffer, 0, read);
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                progress?.Report(new DownloadProgress(_file.FileName, received, total));
                windowBytes += read;
                TimeSpan elapsed = clock.Elapsed - windowStart;
                if (elapsed >= _cache.ThroughputWindow)
                {
                    double rate = windowBytes / elapsed.TotalSeconds;
                    if (throughput && rate < _cache.MinimumBytesPerSecond)
                    {
                        throw Failure($"only {windowBytes} bytes arrived in {Seconds(elapsed)} ({rate:0} bytes/s), below ModelCache.MinimumBytesPerSecond ({_cache.MinimumBytesPerSecond}), after {received} bytes");
                    }

                    windowStart = clock.Elapsed;
                    windowBytes = 0;
                }
            }

            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            throw Failure($"the connection broke after {received}{(total is null ? "" : $" of {total}")} bytes ({e.Message})", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && deadline.IsCancellationRequested)
        {
            throw Failure($"the download took longer than ModelCache.Deadline ({Seconds(_cache.Deadline)}) after {received} bytes", e);
        }

        if (total is long announced && received != announced)
        {
            throw Failure($"the download stopped after {received} of {announced} bytes");
        }

        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    private async Task<HttpResponseMessage> GetHeadersAsync(HttpClient client, CancellationTokenSource deadline, CancellationToken cancellationToken)
    {
        using var headers = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
        headers.CancelAfter(_cache.HeadersTimeout);
        try
        {
            return await client.GetAsync(_file.Url, HttpCompletionOption.ResponseHeadersRead, headers.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw Failure($"no connection ({e.Message})", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw deadline.IsCancellationRequested
                ? Failure($"no response within ModelCache.Deadline ({Seconds(_cache.Deadline)})", e)
                : headers.IsCancellationRequested
                    ? Failure($"no complete response headers within ModelCache.HeadersTimeout ({Seconds(_cache.HeadersTimeout)})", e)
                    : Failure($"no connection within ModelCache.ConnectTimeout ({Seconds(_cache.ConnectTimeout)})", e);
        }
    }

    private ModelDownloadException Failure(string reason, Exception? inner = null) => ModelCache.Failure(_file, _path, reason, inner);

    private static string Seconds(TimeSpan time) => $"{time.TotalSeconds:0.###} s";
}
