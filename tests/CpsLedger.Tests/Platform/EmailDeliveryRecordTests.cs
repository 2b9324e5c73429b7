using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Npgsql;

namespace CpsLedger.Tests.Platform;

/// <summary>Each e-mail once in effect: a row per Message-Id, claimed before the send and marked sent after it.</summary>
public sealed class EmailDeliveryRecordTests(LedgerApp app) : LedgerTest(app)
{
    private static MimeMessage Message(string id)
    {
        var message = new MimeMessage { MessageId = id, Subject = "Hello", Body = new TextPart("plain") { Text = "Body text" } };
        message.To.Add(new MailboxAddress("Studio", "studio@example.ee"));
        return message;
    }

    private string[] Files() => Directory.Exists(App.MailFolder) ? Directory.GetFiles(App.MailFolder, "*.eml") : [];

    [Fact]
    public async Task An_email_sent_before_is_not_sent_again()
    {
        var mail = App.Services.GetRequiredService<MailDelivery>();

        await mail.SendAsync(Message("once@cpsledger"), CancellationToken.None);
        await mail.SendAsync(Message("once@cpsledger"), CancellationToken.None);

        Assert.Single(Files());
        var (attempts, sent) = await Row("once@cpsledger");
        Assert.Equal(1, attempts);
        Assert.NotNull(sent);
    }

    [Fact]
    public async Task An_email_another_sender_is_sending_waits_and_one_whose_sender_died_is_sent_after_the_claim_timeout()
    {
        var mail = App.Services.GetRequiredService<MailDelivery>();
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var claim = new NpgsqlCommand($"""
                insert into {App.SchemaName}.{EmailDeliveries.TableName} (message_id, recipient, subject, claimed_at, claimed_by, attempts)
                values ('claimed@cpsledger', 'studio@example.ee', 'Hello', now(), 'another-node/1', 1)
                """, connection);
            await claim.ExecuteNonQueryAsync();
        }

        // Claimed moments ago by another sender: a transient fault, so the message is retried later.
        var busy = await Assert.ThrowsAsync<EmailBeingSentException>(() => mail.SendAsync(Message("claimed@cpsledger"), CancellationToken.None));
        Assert.True(TransientFaults.IsTransient(busy));
        Assert.Empty(Files());

        // That sender never marked it sent (it died): after the claim timeout it is sent, once.
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var age = new NpgsqlCommand(
                $"update {App.SchemaName}.{EmailDeliveries.TableName} set claimed_at = now() - interval '6 minutes'", connection);
            await age.ExecuteNonQueryAsync();
        }

        await mail.SendAsync(Message("claimed@cpsledger"), CancellationToken.None);
        await mail.SendAsync(Message("claimed@cpsledger"), CancellationToken.None);
        Assert.Single(Files());
        var (attempts, sent) = await Row("claimed@cpsledger");
        Assert.Equal(2, attempts);
        Assert.NotNull(sent);
    }

    private async Task<(int Attempts, DateTime? Sent)> Row(string messageId)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var read = new NpgsqlCommand(
            $"select attempts, sent_at from {App.SchemaName}.{EmailDeliveries.TableName} where message_id = $1", connection)
        {
            Parameters = { new NpgsqlParameter { Value = messageId } },
        };
        await using var reader = await read.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetInt32(0), reader.IsDBNull(1) ? null : reader.GetDateTime(1));
    }
}
