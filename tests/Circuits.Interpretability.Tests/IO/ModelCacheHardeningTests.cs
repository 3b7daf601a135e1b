using System.Diagnostics;
using System.Text;
using Circuits.Interpretability.IO;
using Circuits.Interpretability.Models;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>Hostile and broken servers (issue 13, Model cache), against a local server on 127.0.0.1.</summary>
public sealed class ModelCacheHardeningTests : IDisposable
{
    private static readonly byte[] Html = Encoding.ASCII.GetBytes("<html><body>Rate limit exceeded. Retry.</body></html>");
    private readonly byte[] _weights = System.IO.File.ReadAllBytes(Fixtures.InceptionV1("loader_zip.pth"));
    private readonly LocalHttpServer _server = new();
    private readonly TempDir _dir = new();

    public ModelCacheHardeningTests()
    {
        _server.Route("/silent", (_, token) => Task.Delay(Timeout.Infinite, token))
            .Route("/slow-headers", async (stream, token) =>
            {
                foreach (byte b in LocalHttpServer.Head("200 OK", $"Content-Length: {_weights.Length}\r\n"))
                {
                    await stream.WriteAsync(new[] { b }, token);
                    await Task.Delay(200, token);
                }
            })
            .Route("/trickle", async (stream, token) =>
            {
                await stream.WriteAsync(LocalHttpServer.Head("200 OK", $"Content-Length: {_weights.Length}\r\n"), token);
                foreach (byte b in _weights)
                {
                    await stream.WriteAsync(new[] { b }, token);
                    await Task.Delay(100, token);
                }
            })
            .Route("/stall", async (stream, token) =>
            {
                await stream.WriteAsync(LocalHttpServer.Head("200 OK", $"Content-Length: {_weights.Length}\r\n"), token);
                await stream.WriteAsync(_weights.AsMemory(0, 100), token);
                await Task.Delay(Timeout.Infinite, token);
            })
            .Serve("/weights", _weights)
            .Serve("/html", Html, "text/html; charset=utf-8")
            .Serve("/cut-no-length", _weights, contentLength: null, send: _weights.Length / 2)
            .Serve("/full-no-length", _weights, contentLength: null)
            .Serve("/random", RandomBytes(300_000))
            .Serve("/huge-announced", _weights, contentLength: 5L << 30, send: 0)
            .Serve("/inception", System.IO.File.ReadAllBytes(Fixtures.InceptionV1("inception5h_random_fp16.pth")));
    }

    public void Dispose()
    {
        _server.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void The_defaults_bound_every_wait()
    {
        var cache = new ModelCache(_dir.Path);
        cache.ConnectTimeout.Should().Be(TimeSpan.FromSeconds(10));
        cache.HeadersTimeout.Should().Be(TimeSpan.FromSeconds(30));
        cache.ReadTimeout.Should().Be(TimeSpan.FromSeconds(60));
        cache.Deadline.Should().Be(TimeSpan.FromHours(1));
        cache.MinimumBytesPerSecond.Should().Be(16 * 1024);
        cache.ThroughputWindow.Should().Be(TimeSpan.FromSeconds(30));
        cache.MaxDownloadBytes.Should().Be(4L << 30);
    }

    [Theory]
    [InlineData("silent")]
    [InlineData("slow-headers")]
    public async Task A_server_that_never_completes_its_headers_times_out(string path)
    {
        var cache = new ModelCache(_dir.Path) { HeadersTimeout = TimeSpan.FromSeconds(1) };
        var clock = Stopwatch.StartNew();

        var act = () => cache.GetAsync(File(path, null));

        (await act.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*no complete response headers within ModelCache.HeadersTimeout (1 s)*Nothing was saved*");
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(20), "a generous bound: the timeout is 1 s");
        Directory.GetFiles(_dir.Path).Should().BeEmpty();
    }

    [Fact]
    public async Task A_server_trickling_a_byte_at_a_time_is_abandoned_after_one_throughput_window()
    {
        var cache = new ModelCache(_dir.Path) { ThroughputWindow = TimeSpan.FromSeconds(1), MinimumBytesPerSecond = 1000 };

        var act = () => cache.GetAsync(File("trickle", null));

        (await act.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*below ModelCache.MinimumBytesPerSecond (1000)*");
        Directory.GetFiles(_dir.Path).Should().BeEmpty();
    }

    [Fact]
    public async Task The_overall_deadline_stops_a_slow_download_when_the_throughput_check_is_off()
    {
        var cache = new ModelCache(_dir.Path) { MinimumBytesPerSecond = 0, Deadline = TimeSpan.FromSeconds(1.5) };

        var act = () => cache.GetAsync(File("trickle", null));

        (await act.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*took longer than ModelCache.Deadline (1.5 s)*");
        Directory.GetFiles(_dir.Path).Should().BeEmpty();
    }

    [Fact]
    public async Task A_stalled_transfer_is_abandoned_after_the_read_timeout()
    {
        var cache = new ModelCache(_dir.Path) { MinimumBytesPerSecond = 0, ReadTimeout = TimeSpan.FromSeconds(1) };

        var act = () => cache.GetAsync(File("stall", null));

        (await act.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*nothing was received for 1 s (ModelCache.ReadTimeout) after 100 bytes*");
    }

    [Fact]
    public async Task An_HTML_page_is_refused_and_never_cached()
    {
        var act = () => new ModelCache(_dir.Path).GetAsync(File("html", null));

        (await act.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*answered with a web page (text/html), not a weight file*");
        Directory.GetFiles(_dir.Path).Should().BeEmpty();
    }

    [Fact]
    public async Task Without_a_hash_a_response_cut_short_without_Content_Length_is_not_cached()
    {
        var cache = new ModelCache(_dir.Path);

        var cut = () => cache.GetAsync(File("cut-no-length", null));

        (await cut.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*the downloaded file is not a valid weight file*");
        Directory.GetFiles(_dir.Path).Should().BeEmpty();

        // The same file sent whole, still without Content-Length, parses and is kept.
        string path = await cache.GetAsync(File("full-no-length", null));
        (await System.IO.File.ReadAllBytesAsync(path)).Should().Equal(_weights);
    }

    [Fact]
    public async Task Without_a_hash_bytes_that_are_not_the_named_format_are_refused()
    {
        var act = () => new ModelCache(_dir.Path).GetAsync(File("random", null));

        (await act.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*the downloaded file is not a PyTorch checkpoint as its name model.pth says*");
        Directory.GetFiles(_dir.Path).Should().BeEmpty();
    }

    [Fact]
    public async Task A_registered_model_checks_that_the_download_loads_into_it()
    {
        // InceptionV1.WeightsFile loads a download without a hash into InceptionV1 before it is kept.
        var cache = new ModelCache(_dir.Path);
        ModelFile foreign = InceptionV1.WeightsFile with { Url = _server.Url("weights") };

        var act = () => cache.GetAsync(foreign);

        (await act.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*do not fit the model they are for*missing keys*");
        cache.IsCached(foreign).Should().BeFalse();

        ModelFile real = InceptionV1.WeightsFile with { Url = _server.Url("inception") };
        string path = await cache.GetAsync(real);
        path.Should().Be(Path.Combine(_dir.Path, "inception5h.pth"));
        using InceptionV1 model = InceptionV1.FromFile(path);
    }

    [Fact]
    public async Task Stale_partials_of_the_same_file_are_removed_but_running_ones_and_other_files_are_kept()
    {
        string stale = Path.Combine(_dir.Path, $".model.pth.{Guid.NewGuid():N}.partial");
        string running = Path.Combine(_dir.Path, $".model.pth.{Guid.NewGuid():N}.partial");
        string other = Path.Combine(_dir.Path, $".other.pth.{Guid.NewGuid():N}.partial");
        await System.IO.File.WriteAllBytesAsync(stale, new byte[100]);
        await System.IO.File.WriteAllBytesAsync(other, new byte[100]);
        // A download in progress holds its partial open the way ModelCache does.
        using (new FileStream(running, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete))
        {
            await new ModelCache(_dir.Path).GetAsync(File("weights", null));

            System.IO.File.Exists(stale).Should().BeFalse("a killed download's partial is cleaned up on the next attempt");
            System.IO.File.Exists(running).Should().BeTrue("a partial still being written is not touched");
            System.IO.File.Exists(other).Should().BeTrue("partials of other files are not touched");
        }
    }

    [Fact]
    public async Task Announced_or_received_sizes_beyond_the_limit_are_refused()
    {
        var announced = () => new ModelCache(_dir.Path).GetAsync(File("huge-announced", null));
        (await announced.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*announces 5368709120 bytes, more than ModelCache.MaxDownloadBytes (4294967296)*");

        var received = () => new ModelCache(_dir.Path) { MaxDownloadBytes = 1000 }.GetAsync(File("full-no-length", null));
        (await received.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*sent more than ModelCache.MaxDownloadBytes (1000)*");
        Directory.GetFiles(_dir.Path).Should().BeEmpty();
    }

    private ModelFile File(string path, string? sha) => new("test", "model.pth", _server.Url(path), sha, "test");

    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        new Random(5).NextBytes(bytes);
        return bytes;
    }
}
