using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Circuits.Interpretability.Tests.IO;

/// <summary>
/// A raw HTTP/1.1 server on 127.0.0.1 for download tests: each path has a handler that writes whatever bytes it
/// likes to the socket (well-formed responses, silence, trickles, cut-off bodies). Unknown paths get 404.
/// </summary>
internal sealed class LocalHttpServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, int> _requests = new();
    private readonly Dictionary<string, Func<NetworkStream, CancellationToken, Task>> _routes = new(StringComparer.Ordinal);

    public LocalHttpServer()
    {
        _listener.Start();
        BaseUrl = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/";
        _ = Task.Run(AcceptLoop);
    }

    public string BaseUrl { get; }

    public Uri Url(string path) => new(BaseUrl + path.TrimStart('/'));

    public int Requests(string path) => _requests.GetValueOrDefault(path);

    /// <summary>Serves <paramref name="path"/> with <paramref name="handler"/>, which writes the raw response.</summary>
    public LocalHttpServer Route(string path, Func<NetworkStream, CancellationToken, Task> handler)
    {
        _routes[path] = handler;
        return this;
    }

    /// <summary>Serves a complete response: status, Content-Type, Content-Length (unless null) and body.</summary>
    public LocalHttpServer Serve(string path, byte[] body, string contentType = "application/octet-stream", long? contentLength = -1, int send = -1) =>
        Route(path, async (stream, token) =>
        {
            string length = contentLength is null ? "" : $"Content-Length: {(contentLength < 0 ? body.Length : contentLength)}\r\n";
            await stream.WriteAsync(Head("200 OK", $"Content-Type: {contentType}\r\n{length}"), token);
            await stream.WriteAsync(body.AsMemory(0, send < 0 ? body.Length : send), token);
        });

    public static byte[] Head(string status, string headers) =>
        Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n");

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            _ = Task.Run(() => Handle(client));
        }
    }

    private async Task Handle(TcpClient client)
    {
        using (client)
        {
            try
            {
                NetworkStream stream = client.GetStream();
                var request = new StringBuilder();
                var buffer = new byte[1];
                while (!request.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
                {
                    if (await stream.ReadAsync(buffer, _stop.Token) == 0)
                    {
                        return;
                    }

                    request.Append((char)buffer[0]);
                }

                string path = request.ToString().Split(' ')[1];
                _requests.AddOrUpdate(path, 1, (_, n) => n + 1);
                if (_routes.TryGetValue(path, out var handler))
                {
                    await handler(stream, _stop.Token);
                }
                else
                {
                    byte[] body = Encoding.ASCII.GetBytes("not found");
                    await stream.WriteAsync(Head("404 Not Found", $"Content-Length: {body.Length}\r\n"), _stop.Token);
                    await stream.WriteAsync(body, _stop.Token);
                }

                await stream.FlushAsync(_stop.Token);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
            {
            }
        }
    }
}
