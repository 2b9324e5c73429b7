using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// Just enough of RFC 5321 on a loopback port to receive the ledger's e-mails, any number of connections at once. While
/// <see cref="Refusing"/> it answers every connection "421 service not available" and closes it, as a mail server that is down
/// for maintenance does; every message it accepted is kept with its Message-Id.
/// </summary>
public sealed partial class SmtpSink : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();

    public SmtpSink()
    {
        _listener.Start();
        _ = Task.Run(AcceptAll);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public volatile bool Refusing;

    /// <summary>Connections refused while <see cref="Refusing"/>.</summary>
    public int Refused => _refused;

    private int _refused;

    public ConcurrentQueue<(string MessageId, string Data)> Received { get; } = new();

    public IReadOnlyDictionary<string, int> CopiesByMessageId() =>
        Received.GroupBy(r => r.MessageId).ToDictionary(g => g.Key, g => g.Count());

    private async Task AcceptAll()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => Converse(client));
        }
    }

    private async Task Converse(TcpClient client)
    {
        using var _ = client;
        try
        {
            await using var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.ASCII);
            await using var writer = new StreamWriter(stream, Encoding.ASCII) { AutoFlush = true, NewLine = "\r\n" };
            if (Refusing)
            {
                Interlocked.Increment(ref _refused);
                await writer.WriteLineAsync("421 sink.local Service not available, closing transmission channel");
                return;
            }

            await writer.WriteLineAsync("220 sink ready");
            while (await reader.ReadLineAsync() is { } line)
            {
                switch (line.Split(' ')[0].ToUpperInvariant())
                {
                    case "EHLO" or "HELO":
                        await writer.WriteLineAsync("250 sink");
                        break;
                    case "DATA":
                        await writer.WriteLineAsync("354 go ahead");
                        var data = new StringBuilder();
                        while (await reader.ReadLineAsync() is { } dataLine && dataLine != ".")
                            data.AppendLine(dataLine);
                        var text = data.ToString();
                        Received.Enqueue((MessageIdHeader().Match(text) is { Success: true } m ? m.Groups[1].Value : "", text));
                        await writer.WriteLineAsync("250 queued");
                        break;
                    case "QUIT":
                        await writer.WriteLineAsync("221 bye");
                        return;
                    default:
                        await writer.WriteLineAsync("250 OK");
                        break;
                }
            }
        }
        catch (IOException)
        {
            // The client went away.
        }
    }

    [GeneratedRegex(@"^Message-Id:\s*<([^>]+)>", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex MessageIdHeader();

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
