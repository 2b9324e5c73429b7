using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
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

    [Fact]
    public async Task An_email_sent_while_the_database_is_down_for_longer_than_the_senders_pauses_is_recorded_when_it_is_back_not_sent_again()
    {
        // The record of a sent e-mail fails as it does while PostgreSQL restarts (57P03), for longer than the sender's pauses. The
        // sender waited through them (about a minute) and then failed the message with its claim still fresh: the retry waited for
        // the claim to go stale and sent the e-mail again (a fault drill: PostgreSQL down 91 s while three welcome e-mails were in
        // SMTP, each received twice). The claim keeps every other sender away for Mail:ClaimTimeout, so the record is waited for
        // that long.
        var mail = App.Services.GetRequiredService<MailDelivery>();
        var table = $"{App.SchemaName}.{EmailDeliveries.TableName}";
        await Execute($"""
            create table {App.SchemaName}.test_database_down (id int);
            insert into {App.SchemaName}.test_database_down values (1);
            create function {App.SchemaName}.test_refuse_sent() returns trigger language plpgsql as $$
            begin
                if new.sent_at is not null and exists (select 1 from {App.SchemaName}.test_database_down) then
                    raise exception 'the database system is starting up' using errcode = '57P03';
                end if;
                return new;
            end $$;
            create trigger test_refuse_sent before update on {table} for each row execute function {App.SchemaName}.test_refuse_sent();
            """);
        // The service's pauses add up to about a minute; shortened here to a fifth of a second, so that seconds outlast them. The
        // claim still holds for Mail:ClaimTimeout (5 min).
        App.Seam<MailDeliveryTestSeam>().RecordPauses = [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(150)];
        try
        {
            var sending = mail.SendAsync(Message("database-down@cpsledger"), CancellationToken.None);
            await Task.WhenAny(sending, Task.Delay(TimeSpan.FromSeconds(3)));
            Assert.False(sending.IsCompleted, $"The send ended while the record could not be written: {sending.Exception?.GetBaseException().Message}");
            await Execute($"delete from {App.SchemaName}.test_database_down");

            await sending;
        }
        finally
        {
            App.Seam<MailDeliveryTestSeam>().RecordPauses = null;
            await Execute($"""
                drop trigger if exists test_refuse_sent on {table};
                drop function if exists {App.SchemaName}.test_refuse_sent();
                drop table if exists {App.SchemaName}.test_database_down;
                """);
        }

        Assert.Single(Files());
        var (attempts, sent) = await Row("database-down@cpsledger");
        Assert.Equal(1, attempts);
        Assert.NotNull(sent);
    }

    [Fact]
    public async Task An_email_whose_claim_committed_and_whose_reply_was_lost_is_sent_on_its_next_attempt()
    {
        // A database crash can cut the claim's reply after its commit: the row then says claimed moments ago, by this sender, and the
        // attempt failed before sending. Until 2026-12-06 the next attempt took that for another sender's claim and waited
        // Mail:ClaimTimeout (5 min) for it to go stale; the crash fault test, which makes retries due at once, ran them all out
        // first (one welcome e-mail of ten not written).
        var mail = App.Services.GetRequiredService<MailDelivery>();
        App.Seam<MailDeliveryTestSeam>().AfterClaim = id =>
        {
            if (id != "lost-reply@cpsledger")
                return;
            App.Seam<MailDeliveryTestSeam>().AfterClaim = null;
            throw new IOException("the claim's reply was lost");
        };
        try
        {
            var lost = await Assert.ThrowsAsync<IOException>(() => mail.SendAsync(Message("lost-reply@cpsledger"), CancellationToken.None));
            Assert.True(TransientFaults.IsTransient(lost));
        }
        finally
        {
            App.Seam<MailDeliveryTestSeam>().AfterClaim = null;
        }

        Assert.Empty(Files());
        var (claims, unsent) = await Row("lost-reply@cpsledger");
        Assert.Equal(1, claims);
        Assert.Null(unsent);

        await mail.SendAsync(Message("lost-reply@cpsledger"), CancellationToken.None);
        await mail.SendAsync(Message("lost-reply@cpsledger"), CancellationToken.None);

        Assert.Single(Files());
        var (attempts, sent) = await Row("lost-reply@cpsledger");
        Assert.Equal(2, attempts);
        Assert.NotNull(sent);
    }

    [Fact]
    public async Task A_claim_remembered_for_an_email_not_tried_again_here_is_forgotten_after_the_claim_timeout()
    {
        // A claim remembered for an e-mail this process never tries again (dead-lettered, or retried on another node) stayed for the
        // process's life. After Mail:ClaimTimeout any sender takes that claim anyway: it is forgotten then. A second here, not 5 min.
        var timeout = TimeSpan.FromSeconds(1);
        var seam = new MailDeliveryTestSeam();
        var mail = new MailDelivery(App.Services.GetRequiredService<MailTransport>(), App.Store, TimeProvider.System,
            Options.Create(new MailOptions { ClaimTimeout = timeout }), new MailOutcomes(TimeProvider.System), seam,
            NullLogger<MailDelivery>.Instance);
        seam.AfterClaim = id =>
        {
            if (id != "forgotten-claim@cpsledger")
                return;
            seam.AfterClaim = null;
            throw new IOException("the claim's reply was lost");
        };
        try
        {
            await Assert.ThrowsAsync<IOException>(() => mail.SendAsync(Message("forgotten-claim@cpsledger"), CancellationToken.None));
        }
        finally
        {
            seam.AfterClaim = null;
        }
        Assert.Equal(1, mail.RememberedClaims);

        await Task.Delay(timeout + TimeSpan.FromMilliseconds(200));
        await mail.SendAsync(Message("another@cpsledger"), CancellationToken.None);
        Assert.Equal(0, mail.RememberedClaims);

        // Tried here after all, it is sent: its claim is stale, as for any sender.
        await mail.SendAsync(Message("forgotten-claim@cpsledger"), CancellationToken.None);
        Assert.Equal(2, Files().Length);
        var (attempts, sent) = await Row("forgotten-claim@cpsledger");
        Assert.Equal(2, attempts);
        Assert.NotNull(sent);
    }

    private async Task Execute(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
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
