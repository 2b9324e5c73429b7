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
        using var server = new CpsLedger.Tests.Harness.SmtpSink();
        var delivery = new MailTransport(Options.Create(new MailOptions
        {
            SmtpHost = "127.0.0.1",
            SmtpPort = server.Port,
            SmtpSecurity = SecureSocketOptions.None,
        }), NullLogger<MailTransport>.Instance);

        await delivery.SendAsync(Message(), CancellationToken.None);

        var received = Assert.Single(server.Received);
        Assert.Equal("test-1@cpsledger", received.MessageId);
        Assert.Contains("From: Canon Professional Services <cps@cpsledger.example>", received.Data);
        Assert.Contains("To: Studio <studio@example.ee>", received.Data);
        Assert.Contains("Subject: Hello", received.Data);
        Assert.Contains("Body text", received.Data);
    }

    [Fact]
    public async Task A_configured_reply_to_is_the_reply_to_of_every_message_and_none_is_written_without_it()
    {
        // Members reply to invoice and overdue e-mails; the sender may be an address nobody reads.
        using var server = new CpsLedger.Tests.Harness.SmtpSink();
        MailTransport Transport(string? replyTo) => new(Options.Create(new MailOptions
        {
            From = "Canon Professional Services <no-reply@cpsledger.example>",
            ReplyTo = replyTo,
            SmtpHost = "127.0.0.1",
            SmtpPort = server.Port,
            SmtpSecurity = SecureSocketOptions.None,
        }), NullLogger<MailTransport>.Instance);

        await Transport("CPS Support <support@cpsledger.example>").SendAsync(Message(), CancellationToken.None);
        await Transport(null).SendAsync(Message(), CancellationToken.None);

        var received = server.Received.ToArray();
        Assert.Equal(2, received.Length);
        Assert.Contains("Reply-To: CPS Support <support@cpsledger.example>", received[0].Data);
        Assert.Contains("From: Canon Professional Services <no-reply@cpsledger.example>", received[0].Data);
        Assert.DoesNotContain("Reply-To:", received[1].Data);
    }

    [Fact]
    public async Task Without_an_smtp_host_the_message_is_an_eml_file_named_by_its_message_id_and_a_second_write_is_a_second_file()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"cpsledger-mail-{Guid.NewGuid():N}");
        try
        {
            var delivery = new MailTransport(Options.Create(new MailOptions { PickupDirectory = folder }), NullLogger<MailTransport>.Instance);
            await delivery.SendAsync(Message(), CancellationToken.None);
            await delivery.SendAsync(Message(), CancellationToken.None);

            // Never overwritten: the duplicate is there to be seen, beside the first.
            var files = Directory.GetFiles(folder).Select(Path.GetFileName).Order().ToList();
            Assert.Equal(["test-1_cpsledger.2.eml", "test-1_cpsledger.eml"], files);
            foreach (var file in files)
            {
                var loaded = await MimeMessage.LoadAsync(Path.Combine(folder, file!));
                Assert.Equal(("Hello", "test-1@cpsledger"), (loaded.Subject, loaded.MessageId));
                Assert.Equal("cps@cpsledger.example", loaded.From.Mailboxes.Single().Address);
            }
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    // Found by a QA pass: the .eml files held UTF-8 text ("OÜ", "·") with no Content-Transfer-Encoding, which a mail reader takes
    // for 7-bit. The file is now prepared as an SMTP client prepares a message: each part says its encoding.
    [Fact]
    public async Task An_eml_file_says_the_transfer_encoding_of_its_utf8_text()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"cpsledger-mail-{Guid.NewGuid():N}");
        try
        {
            var delivery = new MailTransport(Options.Create(new MailOptions { PickupDirectory = folder }), NullLogger<MailTransport>.Instance);
            var message = Message();
            message.Body = new TextPart("plain") { Text = "Studio Tamm OÜ · 24 % VAT" };
            await delivery.SendAsync(message, CancellationToken.None);

            var file = Directory.GetFiles(folder).Single();
            var raw = await File.ReadAllTextAsync(file);
            Assert.Contains("Content-Transfer-Encoding: 8bit", raw);
            Assert.Contains("Studio Tamm OÜ · 24 % VAT", raw);
            var loaded = Assert.IsType<TextPart>((await MimeMessage.LoadAsync(file)).Body);
            Assert.Equal(("utf-8", "Studio Tamm OÜ · 24 % VAT"), (loaded.ContentType.Charset?.ToLowerInvariant(), loaded.Text.TrimEnd()));
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }
}
