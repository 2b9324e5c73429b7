using System.Net;
using System.Net.Sockets;
using System.Text;
using CpsLedger.Api.Platform;
using MailKit.Security;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MimeKit;

namespace CpsLedger.Tests.Platform;

/// <summary>Both ways an e-mail leaves the ledger: over SMTP (to a minimal SMTP server on loopback) and as an .eml file.</summary>
public sealed class MailDeliveryTests
{
    private static MimeMessage Message()
    {
        var message = new MimeMessage { MessageId = "test-1@cpsledger", Subject = "Hello", Body = new TextPart("plain") { Text = "Body text" } };
        message.To.Add(new MailboxAddress("Studio", "studio@example.ee"));
        return message;
    }

    [Fact]
    public async Task With_an_smtp_host_the_message_is_sent_over_smtp()
    {
        using var server = new SmtpSink();
        var delivery = new MailDelivery(Options.Create(new MailOptions
        {
            SmtpHost = "127.0.0.1",
            SmtpPort = server.Port,
            SmtpSecurity = SecureSocketOptions.None,
        }), NullLogger<MailDelivery>.Instance);

        await delivery.SendAsync(Message(), CancellationToken.None);

        var received = await server.Received.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("<cps@cpsledger.example>", received.From);
        Assert.Equal(["<studio@example.ee>"], received.To);
        Assert.Contains("Subject: Hello", received.Data);
        Assert.Contains("Body text", received.Data);
    }

    [Fact]
    public async Task Without_an_smtp_host_the_message_is_an_eml_file_named_by_its_message_id_and_a_resend_overwrites_it()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"cpsledger-mail-{Guid.NewGuid():N}");
        try
        {
            var delivery = new MailDelivery(Options.Create(new MailOptions { PickupDirectory = folder }), NullLogger<MailDelivery>.Instance);
            await delivery.SendAsync(Message(), CancellationToken.None);
            await delivery.SendAsync(Message(), CancellationToken.None);

            var file = Assert.Single(Directory.GetFiles(folder));
            var loaded = await MimeMessage.LoadAsync(file);
            Assert.Equal(("Hello", "test-1@cpsledger"), (loaded.Subject, loaded.MessageId));
            Assert.Equal("cps@cpsledger.example", loaded.From.Mailboxes.Single().Address);
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Just enough of RFC 5321 to accept one message.</summary>
    private sealed class SmtpSink : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

        public SmtpSink()
        {
            _listener.Start();
            _ = Task.Run(AcceptOne);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public TaskCompletionSource<(string From, List<string> To, string Data)> Received { get; } = new();

        private async Task AcceptOne()
        {
            using var client = await _listener.AcceptTcpClientAsync();
            await using var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.ASCII);
            await using var writer = new StreamWriter(stream, Encoding.ASCII) { AutoFlush = true, NewLine = "\r\n" };
            await writer.WriteLineAsync("220 sink ready");
            string from = "";
            var to = new List<string>();
            while (await reader.ReadLineAsync() is { } line)
            {
                var verb = line.Split(' ')[0].ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO" or "HELO":
                        await writer.WriteLineAsync("250 sink");
                        break;
                    case "MAIL":
                        from = line[(line.IndexOf(':') + 1)..].Trim().Split(' ')[0];
                        await writer.WriteLineAsync("250 OK");
                        break;
                    case "RCPT":
                        to.Add(line[(line.IndexOf(':') + 1)..].Trim().Split(' ')[0]);
                        await writer.WriteLineAsync("250 OK");
                        break;
                    case "DATA":
                        await writer.WriteLineAsync("354 go ahead");
                        var data = new StringBuilder();
                        while (await reader.ReadLineAsync() is { } dataLine && dataLine != ".")
                            data.AppendLine(dataLine);
                        await writer.WriteLineAsync("250 queued");
                        Received.TrySetResult((from, to, data.ToString()));
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

        public void Dispose() => _listener.Stop();
    }
}
