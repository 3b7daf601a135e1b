using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.IO;

namespace Circuits.Interpretability.Tests.IO;

public sealed class ModelCacheTests : IDisposable
{
    private readonly byte[] _payload;
    private readonly string _sha256;
    private readonly LocalHttpServer _server;
    private readonly TempDir _dir = new();

    public ModelCacheTests()
    {
        _payload = new byte[300_000];
        new Random(11).NextBytes(_payload);
        _sha256 = Convert.ToHexString(SHA256.HashData(_payload)).ToLowerInvariant();
        byte[] corrupt = (byte[])_payload.Clone();
        corrupt[1000] ^= 0xFF;
        _server = new LocalHttpServer().Serve("/good", _payload).Serve("/corrupt", corrupt).Serve("/half", _payload, send: _payload.Length / 2);
    }

    public void Dispose()
    {
        _server.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Downloads_once_verifies_the_hash_and_reports_progress()
    {
        var cache = new ModelCache(_dir.Path);
        ModelFile file = File("good", _sha256);
        var progress = new SyncProgress();

        string path = await cache.GetAsync(file, progress);
        string again = await cache.GetAsync(file);

        again.Should().Be(path);
        path.Should().Be(Path.Combine(_dir.Path, "model.bin"));
        (await System.IO.File.ReadAllBytesAsync(path)).Should().Equal(_payload);
        _server.Requests("/good").Should().Be(1, "the second call finds the file in the cache");
        progress.Reports.Should().NotBeEmpty();
        progress.Reports[^1].Should().Be(new DownloadProgress("model.bin", _payload.Length, _payload.Length));
        progress.Reports.Select(r => r.BytesReceived).Should().BeInAscendingOrder();
        Directory.GetFiles(_dir.Path).Should().Equal(path);
    }

    [Fact]
    public async Task A_hash_mismatch_is_an_error_and_leaves_nothing_in_the_cache()
    {
        var cache = new ModelCache(_dir.Path);

        var act = () => cache.GetAsync(File("corrupt", _sha256));

        (await act.Should().ThrowAsync<ModelDownloadException>())
            .WithMessage($"*SHA-256 is * but {_sha256} was expected*copy it to {Path.Combine(_dir.Path, "model.bin")}*");
        Directory.GetFiles(_dir.Path).Should().BeEmpty("a corrupt download is never kept");
    }

    [Fact]
    public async Task A_download_that_stops_halfway_is_an_error_and_leaves_nothing()
    {
        var cache = new ModelCache(_dir.Path);

        var act = () => cache.GetAsync(File("half", null));

        (await act.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*150000*300000*");
        Directory.GetFiles(_dir.Path).Should().BeEmpty("a partial file is never taken as complete");
        cache.IsCached(File("half", null)).Should().BeFalse();
    }

    [Fact]
    public async Task Without_network_it_fails_fast_and_says_where_to_put_the_file()
    {
        int port = FreePort();
        var cache = new ModelCache(_dir.Path) { ConnectTimeout = TimeSpan.FromSeconds(2) };
        var file = new ModelFile("inception5h", "inception5h.pth", new Uri($"http://127.0.0.1:{port}/inception5h.pth"), null, "test");
        var watch = Stopwatch.StartNew();

        var act = () => cache.GetAsync(file);

        var e = (await act.Should().ThrowAsync<ModelDownloadException>()).Which;
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
        e.Message.Should().Contain("no connection").And.Contain($"copy it to {Path.Combine(_dir.Path, "inception5h.pth")}").And.Contain("CIRCUITS_CACHE");
        e.ExpectedPath.Should().Be(Path.Combine(_dir.Path, "inception5h.pth"));
    }

    [Fact]
    public async Task A_file_put_in_the_cache_by_hand_is_used_without_network()
    {
        var file = new ModelFile("x", "model.bin", new Uri($"http://127.0.0.1:{FreePort()}/none"), _sha256, "test");
        await System.IO.File.WriteAllBytesAsync(Path.Combine(_dir.Path, "model.bin"), _payload);

        string path = await new ModelCache(_dir.Path).GetAsync(file);

        path.Should().Be(Path.Combine(_dir.Path, "model.bin"));
    }

    [Fact]
    public async Task A_cached_file_with_the_wrong_hash_is_downloaded_again()
    {
        await System.IO.File.WriteAllBytesAsync(Path.Combine(_dir.Path, "model.bin"), new byte[] { 1, 2, 3 });

        string path = await new ModelCache(_dir.Path).GetAsync(File("good", _sha256));

        (await System.IO.File.ReadAllBytesAsync(path)).Should().Equal(_payload);
    }

    [Fact]
    public async Task Http_errors_and_cancellation_leave_nothing()
    {
        var cache = new ModelCache(_dir.Path);
        var notFound = () => cache.GetAsync(File("missing", null));
        (await notFound.Should().ThrowAsync<ModelDownloadException>()).WithMessage("*answered 404*");

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var act = () => cache.GetAsync(File("good", _sha256), cancellationToken: cancelled.Token);
        await act.Should().ThrowAsync<OperationCanceledException>();
        Directory.GetFiles(_dir.Path).Should().BeEmpty();
    }

    [Fact]
    public void The_registry_knows_inception5h_and_states_its_hash_is_unknown()
    {
        ModelFile entry = ModelRegistry.Find("Inception5h");
        entry.Should().BeSameAs(ModelRegistry.Inception5h);
        entry.Url.Should().Be(new Uri("https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"));
        entry.FileName.Should().Be("inception5h.pth");
        entry.Sha256.Should().BeNull("no public source states it, and a hash is never invented");
        new ModelCache().Directory.Should().EndWith("circuits");
        var act = () => ModelRegistry.Find("vgg");
        act.Should().Throw<CircuitsException>().WithMessage("Unknown model file 'vgg'. Known: inception5h.");
    }

    private ModelFile File(string path, string? sha) => new("test", "model.bin", new Uri(_server.BaseUrl + path), sha, "test");

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private sealed class SyncProgress : IProgress<DownloadProgress>
    {
        public List<DownloadProgress> Reports { get; } = new();

        public void Report(DownloadProgress value) => Reports.Add(value);
    }
}
