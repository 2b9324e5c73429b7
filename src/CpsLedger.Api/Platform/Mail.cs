using System.Reflection;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.CodeGeneration.Frames;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;
using Wolverine.Configuration;
using Wolverine.Runtime;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Platform;

public sealed class MailOptions
{
    public const string Section = "Mail";

    /// <summary>Sender of every e-mail, e.g. "CPS Europe &lt;cps@example.com&gt;".</summary>
    public string From { get; set; } = "Canon Professional Services <cps@cpsledger.example>";

    /// <summary>
    /// Where members' replies go (the Reply-To of every e-mail), e.g. "CPS Support &lt;support@example.com&gt;": members answer invoice
    /// and overdue e-mails. Empty: no Reply-To, a reply goes to <see cref="From"/>. Required in Production when <see cref="From"/> is a
    /// no-reply address (<see cref="IsNoReply"/>), where a reply would be lost.
    /// </summary>
    public string? ReplyTo { get; set; }

    /// <summary>Whether an address says it takes no replies: its local part, without dots, hyphens and underscores, begins with
    /// "noreply" or "donotreply" (no-reply@, do_not_reply@, noreply.billing@).</summary>
    public static bool IsNoReply(string address)
    {
        if (!MailboxAddress.TryParse(address, out var mailbox) || mailbox.Address.LastIndexOf('@') is not (>= 0 and var at))
            return false;
        var local = string.Concat(mailbox.Address[..at].Where(c => c is not ('.' or '-' or '_'))).ToLowerInvariant();
        return local.StartsWith("noreply", StringComparison.Ordinal) || local.StartsWith("donotreply", StringComparison.Ordinal);
    }

    /// <summary>SMTP server. When empty, e-mails are written as .eml files to <see cref="PickupDirectory"/>.</summary>
    public string? SmtpHost { get; set; }

    public int SmtpPort { get; set; } = 587;

    /// <summary>Auto (STARTTLS when offered), StartTls, SslOnConnect or None.</summary>
    public SecureSocketOptions SmtpSecurity { get; set; } = SecureSocketOptions.Auto;

    public string? SmtpUserName { get; set; }
    public string? SmtpPassword { get; set; }

    /// <summary>Folder for .eml files when no SMTP server is configured (Development default: .local/mail in the checkout).</summary>
    public string? PickupDirectory { get; set; }

    /// <summary>How long the SMTP client waits for the server before giving up (the attempt is retried).</summary>
    public TimeSpan SmtpTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// After this, an e-mail claimed by a sender that never marked it sent (the process died) is sent again. Longer than any
    /// SMTP conversation (<see cref="SmtpTimeout"/> per step) and the wait for its record after it (checked at start:
    /// <see cref="ShortestClaimTimeout"/> to <see cref="LongestClaimTimeout"/>).
    /// </summary>
    public TimeSpan ClaimTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The steps of an SMTP conversation, each of which may take up to <see cref="SmtpTimeout"/>: connect, authenticate, send, quit.</summary>
    public const int SmtpSteps = 4;

    /// <summary>
    /// What <see cref="ClaimTimeout"/> must exceed the SMTP conversation by. The claim must outlast the send and then the wait for the
    /// e-mail's record: MailDelivery waits for it at least about a minute whatever the claim's age (its first pauses, 63.2 s, plus
    /// the attempts themselves) and stops 30 s (its claim margin) before the claim could look stale to another sender. Shorter, a
    /// sender still sending, or still recording what it sent, could find its claim taken and the e-mail sent twice; at zero or
    /// below every claim is stale at once, and MailDelivery forgets the claims it remembers at once. Rounded up to 2 minutes.
    /// </summary>
    public static readonly TimeSpan ClaimTimeoutAboveSmtp = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The longest <see cref="ClaimTimeout"/>: an e-mail whose sender died waits this long, and then for its message's next retry
    /// (re-scheduled ever further apart: ErrorPolicy), before another sender sends it; near ErrorPolicy.RetriedFor (about 16 hours)
    /// its message would become a dead letter first.
    /// </summary>
    public static readonly TimeSpan LongestClaimTimeout = TimeSpan.FromHours(1);

    /// <summary>The shortest <see cref="ClaimTimeout"/> for this <see cref="SmtpTimeout"/>.</summary>
    public TimeSpan ShortestClaimTimeout() => SmtpSteps * SmtpTimeout + ClaimTimeoutAboveSmtp;

    /// <summary>
    /// The <c>mail</c> check in /health/ready is Degraded once an e-mail has waited this long since it was first tried, or this node
    /// has failed to hand any e-mail to the server for this long. Longer than a blip the first retries ride out.
    /// </summary>
    public TimeSpan DegradedAfter { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Hands an e-mail to MailKit: to the SMTP server when one is configured, otherwise as an .eml file in the pickup folder. It
/// knows nothing of what was sent before (<see cref="MailDelivery"/> does); a second file for the same Message-Id gets a suffix
/// instead of overwriting the first, so a duplicate is visible.
/// </summary>
public sealed class MailTransport(IOptions<MailOptions> options, ILogger<MailTransport> logger)
{
    public async Task SendAsync(MimeMessage message, CancellationToken ct)
    {
        var o = options.Value;
        if (message.From.Count == 0)
            message.From.Add(MailboxAddress.Parse(o.From));
        if (message.ReplyTo.Count == 0 && !string.IsNullOrWhiteSpace(o.ReplyTo))
            message.ReplyTo.Add(MailboxAddress.Parse(o.ReplyTo));
        // Callers set a Message-Id derived from what the e-mail is about, so a resend is recognisable as the same e-mail.
        if (string.IsNullOrEmpty(message.MessageId))
            message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId();

        if (!string.IsNullOrWhiteSpace(o.SmtpHost))
        {
            using var smtp = new SmtpClient { Timeout = (int)o.SmtpTimeout.TotalMilliseconds };
            await smtp.ConnectAsync(o.SmtpHost, o.SmtpPort, o.SmtpSecurity, ct);
            if (!string.IsNullOrEmpty(o.SmtpUserName))
                await smtp.AuthenticateAsync(o.SmtpUserName, o.SmtpPassword ?? "", ct);
            await smtp.SendAsync(message, ct);
            await smtp.DisconnectAsync(quit: true, ct);
            logger.LogInformation("E-mail {MessageId} \"{Subject}\" sent to {To} via {SmtpHost}", message.MessageId, message.Subject,
                message.To.ToString(), o.SmtpHost);
            return;
        }

        var folder = o.PickupDirectory ?? throw new InvalidOperationException("Mail: set Mail:SmtpHost or Mail:PickupDirectory.");
        Directory.CreateDirectory(folder);
        var name = FileSafe(message.MessageId!);
        var temporary = Path.Combine(folder, $"{name}.{Guid.NewGuid():N}.tmp");
        // As an SMTP client would before sending: each part's transfer encoding set for what it holds (the texts are UTF-8, not 7-bit;
        // without the header a mail reader takes them for 7-bit). SmtpClient does this itself, for what the server accepts.
        message.Prepare(EncodingConstraint.EightBit);
        await message.WriteToAsync(temporary, ct);
        // Never overwrite: a second write of one Message-Id (which the delivery records should have prevented) lands beside the
        // first as name.2.eml, name.3.eml, ... so that it can be seen.
        for (var copy = 1; ; copy++)
        {
            var file = Path.Combine(folder, copy == 1 ? $"{name}.eml" : $"{name}.{copy}.eml");
            try
            {
                File.Move(temporary, file, overwrite: false);
                if (copy > 1)
                    logger.LogWarning("E-mail {MessageId} was written again, as {File}", message.MessageId, file);
                logger.LogInformation("E-mail {MessageId} \"{Subject}\" to {To} written to {File}", message.MessageId, message.Subject,
                    message.To.ToString(), file);
                return;
            }
            catch (IOException) when (File.Exists(file))
            {
            }
        }
    }

    private static string FileSafe(string messageId) =>
        string.Concat(messageId.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' or '_' ? c : '_'));
}

/// <summary>
/// Every e-mail the ledger sends, once in effect. Each has a Message-Id derived from what it is about; a row per Message-Id in
/// PostgreSQL (<see cref="EmailDeliveries"/>) is claimed before the send and marked sent after it. A resend of a Message-Id
/// already sent is skipped; one claimed by another node moments ago waits (a transient fault: retried); one whose claim went
/// stale (the sender died) is sent again, and one this process claimed without sending (the claim's reply lost in a crash) is taken
/// over by its next attempt here at once. So across redeliveries, two nodes and restarts a member gets one copy; the one window
/// left is a crash after the server accepted the message and before the row says so, where the next attempt sends it again
/// with the same Message-Id (docs/reliability.md).
/// </summary>
public sealed class MailDelivery(MailTransport transport, Marten.IDocumentStore store, TimeProvider clock, IOptions<MailOptions> options,
    MailOutcomes outcomes, MailDeliveryTestSeam seam, ILogger<MailDelivery> logger)
{
    private readonly string _table = EmailDeliveries.QualifiedName(store);

    // Claims this process may hold without having sent (the claim's reply lost after its commit, or its release after a failed send
    // refused), by Message-Id: the next attempt at that e-mail here takes its own claim over at once rather than waiting
    // Mail:ClaimTimeout for it as for another sender's. Taken out by the attempt that uses it, so two attempts never share one.
    // Forgotten once Mail:ClaimTimeout has passed (any sender takes the claim then): an e-mail this process never tries again
    // (dead-lettered, or retried on another node) would otherwise stay here for the process's life.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, OwnClaim> _ownClaims = new();

    // Remembered at a Stopwatch timestamp, after the claim ran: the claim is at least as old as the entry.
    private readonly record struct OwnClaim(string Claimant, long RememberedAt);

    /// <summary>How many claims this process remembers as its own (<c>_ownClaims</c>), for the tests.</summary>
    internal int RememberedClaims => _ownClaims.Count;

    public async Task SendAsync(MimeMessage message, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(message.MessageId))
            throw new InvalidOperationException($"The e-mail \"{message.Subject}\" needs a Message-Id derived from what it is about.");

        // Dated by the service's clock, in UTC, as it is handed over: MimeKit dated it by the machine's clock and time zone when it
        // was made. RFC 5322 (3.6.1) dates a message when it is ready to enter the mail system. Each attempt writes its e-mail
        // afresh from the facts then (a handler retried after a mail-server outage composes it again, and what it says may have
        // changed) and hands it over here at once; an attempt that failed sent nothing. So the Date is this attempt's: the time the
        // words sent were written, never before the facts they state, and the order in which the member receives them.
        message.Date = clock.GetUtcNow();

        // The database's clock decides claims: one clock for every node (and none that a test moves).
        var claimTimeout = options.Value.ClaimTimeout;
        // Who claims: this process and this attempt (or the earlier attempt whose claim it may hold).
        ForgetStaleClaims(claimTimeout);
        var claimant = _ownClaims.TryRemove(message.MessageId, out var own) ? own.Claimant : $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";
        long claimedAt;
        await using (var connection = (Npgsql.NpgsqlConnection)store.Storage.Database.CreateConnection())
        {
            await connection.OpenAsync(ct);
            // Claim the Message-Id: a new row, or a stale claim of a sender that never finished. Nothing comes back when it was
            // sent already or another sender holds a fresh claim.
            await using var claim = new Npgsql.NpgsqlCommand($"""
                insert into {_table} as d (message_id, recipient, subject, claimed_at, claimed_by, attempts, first_tried_at, envelope_id)
                values ($1, $2, $3, now(), $4, 1, now(), $6)
                on conflict (message_id) do update set claimed_at = excluded.claimed_at, claimed_by = excluded.claimed_by,
                    attempts = d.attempts + 1, first_tried_at = coalesce(d.first_tried_at, excluded.first_tried_at), failed_for_good = false,
                    envelope_id = coalesce(excluded.envelope_id, d.envelope_id)
                where d.sent_at is null and (d.claimed_at < now() - $5 or d.claimed_by = excluded.claimed_by)
                returning attempts
                """, connection)
            {
                Parameters =
                {
                    new() { Value = message.MessageId }, new() { Value = message.To.ToString() }, new() { Value = message.Subject ?? "" },
                    new() { Value = claimant }, new() { Value = claimTimeout },
                    new() { Value = MailEnvelope.Current is { } envelope ? envelope : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Uuid },
                },
            };
            object? claimed;
            try
            {
                claimed = await claim.ExecuteScalarAsync(ct);
                seam.AfterClaim?.Invoke(message.MessageId);
            }
            catch
            {
                // The claim may have committed with its reply lost (a database crash): the next attempt here may take it over.
                Remember(message.MessageId, claimant);
                throw;
            }

            claimedAt = System.Diagnostics.Stopwatch.GetTimestamp();
            if (claimed is null)
            {
                await using var read = new Npgsql.NpgsqlCommand($"select sent_at from {_table} where message_id = $1", connection)
                {
                    Parameters = { new() { Value = message.MessageId } },
                };
                if (await read.ExecuteScalarAsync(ct) is DateTime or DateTimeOffset)
                {
                    logger.LogInformation("E-mail {MessageId} was sent before; not sent again", message.MessageId);
                    return;
                }
                throw new EmailBeingSentException(message.MessageId);
            }
        }

        try
        {
            await transport.SendAsync(message, ct);
            outcomes.Sent();
        }
        catch (Exception failure)
        {
            outcomes.Failed(failure);
            // Not sent (the server refused, the connection failed): release the claim at once so the retry need not wait for it
            // to go stale. Should the server have accepted it after all (the reply was lost), the retry sends it again.
            await ReleaseAsync(message.MessageId, claimant, failure);
            throw;
        }

        // Sent: the record must follow, or a retry would send it again once the claim is stale. A database that is down is waited
        // for here rather than failing the message: at least about a minute, and as long as the claim keeps every other sender
        // away (Mail:ClaimTimeout, less a margin). Failing earlier sent it twice: the retry found the claim fresh, waited for it to
        // go stale and sent again (a fault drill: PostgreSQL down 90 s while e-mails were in SMTP).
        var pauses = seam.RecordPauses ?? MarkSentPauses;
        for (var attempt = 0; ; attempt++)
        {
            var pause = pauses[Math.Min(attempt, pauses.Length - 1)];
            var waitMore = attempt < pauses.Length ||
                           System.Diagnostics.Stopwatch.GetElapsedTime(claimedAt) + pause < claimTimeout - ClaimMargin;
            try
            {
                await using var connection = (Npgsql.NpgsqlConnection)store.Storage.Database.CreateConnection();
                await connection.OpenAsync(CancellationToken.None);
                await using var sent = new Npgsql.NpgsqlCommand($"update {_table} set sent_at = now() where message_id = $1", connection)
                {
                    Parameters = { new() { Value = message.MessageId } },
                };
                await sent.ExecuteNonQueryAsync(CancellationToken.None);
                return;
            }
            catch (Exception e) when (TransientFaults.IsTransient(e) && waitMore)
            {
                logger.LogWarning(e, "E-mail {MessageId} was sent but could not be recorded yet; trying again in {Pause}", message.MessageId, pause);
                await Task.Delay(pause, clock, CancellationToken.None);
            }
        }
    }

    // The last one repeats while the claim holds.
    private static readonly TimeSpan[] MarkSentPauses =
        [TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10),
            TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30)];

    // Stop waiting this long before the claim could look stale to another sender (the database's clock decides that).
    internal static readonly TimeSpan ClaimMargin = TimeSpan.FromSeconds(30);

    /// <summary>How long the record of a sent e-mail is waited for at least, whatever the claim's age (the pauses alone).</summary>
    internal static TimeSpan RecordWaitedAtLeast => MarkSentPauses.Aggregate(TimeSpan.Zero, (sum, pause) => sum + pause);

    private void Remember(string messageId, string claimant) =>
        _ownClaims[messageId] = new OwnClaim(claimant, System.Diagnostics.Stopwatch.GetTimestamp());

    private void ForgetStaleClaims(TimeSpan claimTimeout)
    {
        foreach (var (messageId, own) in _ownClaims)
            if (System.Diagnostics.Stopwatch.GetElapsedTime(own.RememberedAt) >= claimTimeout)
                _ownClaims.TryRemove(new KeyValuePair<string, OwnClaim>(messageId, own));
    }

    private async Task ReleaseAsync(string messageId, string claimant, Exception failure)
    {
        try
        {
            await using var connection = (Npgsql.NpgsqlConnection)store.Storage.Database.CreateConnection();
            await connection.OpenAsync(CancellationToken.None);
            // A permanent failure makes the message a dead letter: the e-mail no longer waits for a retry (MailHealthCheck).
            await using var release = new Npgsql.NpgsqlCommand(
                $"update {_table} set claimed_at = '-infinity', failed_for_good = $2 where message_id = $1 and sent_at is null", connection)
            {
                Parameters = { new() { Value = messageId }, new() { Value = !TransientFaults.IsTransient(failure) } },
            };
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            // Still this process's claim: its next attempt here takes it over; another sender waits for it to go stale.
            Remember(messageId, claimant);
            logger.LogWarning(e, "Could not release the claim on e-mail {MessageId} after it failed ({Failure}); this process retries it at once, " +
                "another once the claim is stale", messageId, failure.Message);
        }
    }
}

/// <summary>Another sender claimed this e-mail moments ago; retried later, when it is either sent or its claim is stale.</summary>
public sealed class EmailBeingSentException(string messageId)
    : TimeoutException($"E-mail {messageId} is being sent by another attempt; trying again later.");

/// <summary>The table of e-mail deliveries: one row per Message-Id, claimed before the send and marked sent after it.</summary>
public static class EmailDeliveries
{
    public const string TableName = "email_deliveries";

    public const string UnsentIndex = "idx_email_deliveries_unsent";

    public const string EnvelopeIndex = "idx_email_deliveries_envelope";

    public static string QualifiedName(Marten.IDocumentStore store) => $"{store.Options.DatabaseSchemaName}.{TableName}";

    public static void AddEmailDeliveries(this Marten.StoreOptions opts)
    {
        var table = new Weasel.Postgresql.Tables.Table(new Weasel.Postgresql.PostgresqlObjectName(opts.DatabaseSchemaName, TableName, Weasel.Postgresql.SchemaUtils.IdentifierUsage.General));
        table.AddColumn<string>("message_id").AsPrimaryKey();
        table.AddColumn<string>("recipient").NotNull();
        table.AddColumn<string>("subject").NotNull();
        table.AddColumn("claimed_at", "timestamp with time zone").NotNull();
        table.AddColumn<string>("claimed_by").NotNull();
        table.AddColumn<int>("attempts").NotNull();
        table.AddColumn("sent_at", "timestamp with time zone");
        // When the e-mail was first tried (null on rows older than the column), and whether its last failure was permanent.
        table.AddColumn("first_tried_at", "timestamp with time zone");
        table.AddColumn<bool>("failed_for_good").NotNull().DefaultValueByExpression("false");
        // The mail check reads only the e-mails not sent: a few rows, however many were ever sent.
        table.Indexes.Add(new Weasel.Postgresql.Tables.IndexDefinition(UnsentIndex) { Columns = ["first_tried_at"], Predicate = "sent_at is null" });
        // The Wolverine message (envelope) that last tried it: the mail check tells a message that never reached the sender (no row
        // names it) from one that did. Null on rows older than the column and on sends outside a message handler.
        table.AddColumn("envelope_id", "uuid");
        table.Indexes.Add(new Weasel.Postgresql.Tables.IndexDefinition(EnvelopeIndex) { Columns = ["envelope_id"] });
        opts.Storage.ExtendedSchemaObjects.Add(table);
    }
}

public static class Mail
{
    public static void AddLedgerMail(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MailOptions>()
            .Bind(builder.Configuration.GetSection(MailOptions.Section))
            .PostConfigure(o =>
            {
                if (string.IsNullOrWhiteSpace(o.SmtpHost) && string.IsNullOrWhiteSpace(o.PickupDirectory) && builder.Environment.IsDevelopment())
                    o.PickupDirectory = Path.Combine(Database.FindRepositoryRoot(builder.Environment.ContentRootPath), ".local", "mail");
            })
            .Validate(o => !string.IsNullOrWhiteSpace(o.SmtpHost) || !string.IsNullOrWhiteSpace(o.PickupDirectory),
                "Mail: set Mail:SmtpHost (an SMTP server) or Mail:PickupDirectory (a folder for .eml files).")
            .Validate(o => MailboxAddress.TryParse(o.From, out _), "Mail:From must be an e-mail address, e.g. \"CPS <cps@example.com>\".")
            .Validate(o => string.IsNullOrWhiteSpace(o.ReplyTo)
                           || MailboxAddress.TryParse(o.ReplyTo, out var replyTo) && Accounts.EmailAddresses.IsValid(replyTo.Address),
                "Mail:ReplyTo must be an e-mail address, e.g. \"CPS Support <support@example.com>\", or left out (replies then go to Mail:From).")
            // Members reply to invoices and overdue notices: sent from a no-reply address without a Reply-To, their replies are lost.
            .Validate(o => !builder.Environment.IsProduction() || !string.IsNullOrWhiteSpace(o.ReplyTo) || !MailOptions.IsNoReply(o.From),
                "Mail:ReplyTo is required in Production while Mail:From is a no-reply address: members reply to invoice and overdue " +
                "e-mails; set it to the programme's support address, e.g. \"CPS Support <support@example.com>\".")
            .Validate(o => o.DegradedAfter >= TimeSpan.Zero, "Mail:DegradedAfter must not be negative (e.g. 00:01:00).")
            .Validate(o => o.SmtpTimeout > TimeSpan.Zero, "Mail:SmtpTimeout must be positive (e.g. 00:00:30).")
            // MailKit's Connect takes 0 as the security option's default port (MailKit 4.18: 25, 465 with SslOnConnect, and Auto becomes
            // STARTTLS when available), not the submission port 587 this service defaults to: refused, saying what to set.
            .Validate(o => o.SmtpPort != 0, "Mail:SmtpPort 0 means MailKit's default port for Mail:SmtpSecurity (25, or 465 with SslOnConnect), " +
                "not 587: set the server's port (587 for submission, 465 with SslOnConnect, 25 for relay), or leave Mail:SmtpPort out for 587.")
            .Validate(o => o.SmtpPort is >= 0 and <= 65535, "Mail:SmtpPort must be between 1 and 65535.")
            .Validate(o => Enum.IsDefined(o.SmtpSecurity), "Mail:SmtpSecurity must be Auto, StartTls, SslOnConnect or None.")
            // Why these bounds: MailOptions.ClaimTimeoutAboveSmtp and LongestClaimTimeout.
            .Validate(o => o.ClaimTimeout >= o.ShortestClaimTimeout() && o.ClaimTimeout <= MailOptions.LongestClaimTimeout,
                $"Mail:ClaimTimeout must be at least {MailOptions.SmtpSteps} × Mail:SmtpTimeout + {MailOptions.ClaimTimeoutAboveSmtp:c} " +
                $"({new MailOptions().ShortestClaimTimeout():c} with the default Mail:SmtpTimeout {new MailOptions().SmtpTimeout:c}) and at most " +
                $"{MailOptions.LongestClaimTimeout:c}.")
            .ValidateOnStart();
        builder.Services.AddSingleton<MailTransport>();
        builder.Services.AddSingleton<MailDelivery>();
        builder.Services.AddSingleton<MailOutcomes>();
    }
}

/// <summary>This node's latest attempts to hand an e-mail over (to the server or the pickup folder): since when they fail, and why.</summary>
public sealed class MailOutcomes(TimeProvider clock)
{
    private readonly Lock _lock = new();
    private DateTimeOffset? _failingSince;
    private (DateTimeOffset At, string Reason)? _lastFailure;

    public void Sent()
    {
        lock (_lock)
            _failingSince = null;
    }

    public void Failed(Exception failure)
    {
        var now = clock.GetUtcNow();
        lock (_lock)
        {
            _failingSince ??= now;
            _lastFailure = (now, $"{failure.GetType().Name}: {failure.Message}");
        }
    }

    /// <summary>Null while the latest attempt succeeded (or none was made): since when every attempt failed, and the latest reason.</summary>
    public (DateTimeOffset Since, DateTimeOffset LastAt, string Reason)? Failing()
    {
        lock (_lock)
            return _failingSince is { } since && _lastFailure is { } last ? (since, last.At, last.Reason) : null;
    }
}

/// <summary>
/// Whether e-mails get out: how many wait (tried, not sent, not failed for good: those are dead letters, reported by their own check)
/// and for how long, from the delivery records every node shares; how many e-mail messages are owed and were never tried (overdue in
/// Wolverine's inbox, scheduled or to run now, or dead letters, with no delivery record); and whether this node's latest attempts fail. Degraded, never
/// Unhealthy: every node has the same mail server, so taking them out of a load balancer would only add an outage.
/// </summary>
public sealed class MailHealthCheck(Marten.IDocumentStore store, MailOutcomes outcomes, TimeProvider clock, IOptions<MailOptions> options)
    : Microsoft.Extensions.Diagnostics.HealthChecks.IHealthCheck
{
    // An e-mail first tried longer ago than every retry takes is a dead letter by now, whatever its last failure was.
    private static readonly TimeSpan Horizon = ErrorPolicy.RetriedFor + TimeSpan.FromHours(1);

    // What is owed is an e-mail when its message only e-mail handlers take, or when it was received at an e-mail handler's queue (a
    // message another handler takes too: the welcome e-mail's MembershipJoined, not the invoice scheduling's). Until 2026-12-05 every
    // MembershipJoined owed counted, so a dead letter of the invoice's scheduling was reported as mail.
    private static readonly string[] MailMessageTypes = [.. Operations.WaitingMailEndpoint.MailOnlyMessageTypes];

    private static readonly string[] MailQueues = [.. Operations.WaitingMailEndpoint.MailQueues];

    // At most this many e-mail messages to run now are read for their age on each check (in no order: a backlog this long is itself a fault).
    private const int IncomingRead = 1000;

    public async Task<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult> CheckHealthAsync(
        Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var threshold = options.Value.DegradedAfter;
        int waiting, notTried, notTriedDead;
        TimeSpan? oldest, oldestNotTried;
        var schema = store.Options.DatabaseSchemaName;
        await using (var connection = (Npgsql.NpgsqlConnection)store.Storage.Database.CreateConnection())
        {
            await connection.OpenAsync(cancellationToken);
            // The three questions in one round trip (until 2026-12-05 one after another), their answers read in turn.
            await using var batch = new Npgsql.NpgsqlBatch(connection)
            {
                BatchCommands =
                {
                    // The database's clock, as the claims use it; the partial index keeps this to the e-mails not sent. Only while the
                    // message that last tried it can still run (in the inbox or a dead letter): one that ran since and sent nothing found
                    // the e-mail no longer owed (an invitation used before its e-mail went out), and nothing will send it. Until
                    // 2026-12-05 such a record was counted until it aged out (a mail outage drill: Degraded for 17 hours after it).
                    // A record that names no message (written before migration 016) still counts.
                    new Npgsql.NpgsqlBatchCommand($"""
                        select count(*)::int, extract(epoch from now() - min(d.first_tried_at))::float8
                        from {EmailDeliveries.QualifiedName(store)} d
                        where d.sent_at is null and not d.failed_for_good and d.first_tried_at > now() - $1
                            and (d.envelope_id is null
                                or exists (select 1 from {schema}.wolverine_incoming_envelopes e
                                           where e.id = d.envelope_id and e.status in ('Scheduled', 'Incoming'))
                                or exists (select 1 from {schema}.wolverine_dead_letters l where l.id = d.envelope_id and l.archived_at is null))
                        """)
                    {
                        Parameters = { new() { Value = Horizon } },
                    },
                    // E-mail messages owed and never tried (no delivery record names them): due longer ago than the threshold and still
                    // in the inbox (no node runs them), or dead letters (a handler failed before sending; never retried by itself). A few
                    // rows: the inbox's scheduled index, the dead letters, the records' envelope index.
                    new Npgsql.NpgsqlBatchCommand($"""
                        with owed as (
                            select e.id, e.execution_time as since, false as dead from {schema}.wolverine_incoming_envelopes e
                            where (e.message_type = any($1) or e.received_at = any($3)) and e.status in ('Scheduled', 'Incoming')
                                and e.execution_time < now() - $2
                            union all
                            select l.id, coalesce(l.execution_time, l.sent_at, l.failed_at, now()), true from {schema}.wolverine_dead_letters l
                            where (l.message_type = any($1) or l.received_at = any($3)) and l.archived_at is null)
                        select count(*)::int, (count(*) filter (where dead))::int, extract(epoch from now() - min(since))::float8
                        from owed o where not exists (select 1 from {EmailDeliveries.QualifiedName(store)} d where d.envelope_id = o.id)
                        """)
                    {
                        Parameters = { new() { Value = MailMessageTypes }, new() { Value = threshold }, new() { Value = MailQueues } },
                    },
                    // E-mail messages to run now (Incoming, no scheduled time) that no delivery record names: held by a node that died or
                    // lost them, or behind in a queue. The inbox keeps no time for them (its timestamp is each holder's refreshed claim),
                    // so their age is read from the envelope: when it was sent (stamped on the sender's clock; the nodes and the database
                    // share time).
                    new Npgsql.NpgsqlBatchCommand($"""
                        select now(), e.body from {schema}.wolverine_incoming_envelopes e
                        where (e.message_type = any($1) or e.received_at = any($2)) and e.status = 'Incoming' and e.execution_time is null
                            and not exists (select 1 from {EmailDeliveries.QualifiedName(store)} d where d.envelope_id = e.id)
                        limit {IncomingRead}
                        """)
                    {
                        Parameters = { new() { Value = MailMessageTypes }, new() { Value = MailQueues } },
                    },
                },
            };
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            waiting = reader.GetInt32(0);
            oldest = reader.IsDBNull(1) ? null : TimeSpan.FromSeconds(reader.GetDouble(1));

            await reader.NextResultAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            notTried = reader.GetInt32(0);
            notTriedDead = reader.GetInt32(1);
            oldestNotTried = reader.IsDBNull(2) ? null : TimeSpan.FromSeconds(reader.GetDouble(2));

            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var sinceSent = reader.GetFieldValue<DateTimeOffset>(0)
                                - Wolverine.Runtime.Serialization.EnvelopeSerializer.Deserialize(reader.GetFieldValue<byte[]>(1)).SentAt;
                if (sinceSent <= threshold)
                    continue;
                notTried++;
                if (oldestNotTried is not { } oldestSoFar || sinceSent > oldestSoFar)
                    oldestNotTried = sinceSent;
            }
        }

        var data = new Dictionary<string, object> { ["waiting"] = waiting };
        var parts = new List<string>();
        if (oldest is { } age)
        {
            data["oldestWaitingSeconds"] = Math.Round(age.TotalSeconds, 1);
            parts.Add($"{waiting} e-mail(s) not sent yet, the oldest first tried {Words(age)} ago");
        }
        else
        {
            parts.Add("No e-mail waiting to be sent");
        }

        data["notTried"] = notTried;
        data["notTriedDeadLetters"] = notTriedDead;
        if (oldestNotTried is { } owedFor)
        {
            data["oldestNotTriedSeconds"] = Math.Round(owedFor.TotalSeconds, 1);
            parts.Add($"{notTried} e-mail(s) owed and never tried, the oldest owed for {Words(owedFor)}" + (notTriedDead > 0
                ? $" ({notTriedDead} of them dead letters: GET /api/operations/dead-letters, replay them once the cause is fixed)"
                : " (no node runs them: see the message-store check and the nodes)"));
        }

        var failingFor = TimeSpan.Zero;
        if (outcomes.Failing() is { } failing)
        {
            var now = clock.GetUtcNow();
            failingFor = now - failing.Since;
            data["lastFailure"] = failing.Reason;
            parts.Add($"this node's last attempt failed {Words(now - failing.LastAt)} ago ({failing.Reason}), every attempt for {Words(failingFor)}");
        }

        var description = string.Join("; ", parts);
        // An e-mail owed and never tried is reported at once: it is counted only once overdue by the threshold, or a dead letter.
        return (oldest ?? TimeSpan.Zero) > threshold || failingFor > threshold || notTried > 0
            ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Degraded(
                $"{description}. Mail:DegradedAfter is {threshold:c}; once the server is back, POST /api/operations/mail/send-now sends them at once",
                data: data)
            : Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy(description, data);
    }

    private static string Words(TimeSpan age) =>
        age < TimeSpan.FromMinutes(2) ? $"{Math.Max(0, (int)age.TotalSeconds)} s"
        : age < TimeSpan.FromHours(2) ? $"{(int)age.TotalMinutes} min"
        : $"{(int)age.TotalHours} h {age.Minutes} min";
}

/// <summary>
/// Test seam, one per host (<see cref="Platform.TestSeams"/>: tests set it through InternalsVisibleTo; nothing else does): shorter
/// pauses between the attempts to record a sent e-mail, so that a test can outlast them in seconds rather than the minute they add up
/// to. Null: the service's own.
/// </summary>
public sealed class MailDeliveryTestSeam
{
    internal TimeSpan[]? RecordPauses { get; set; }

    /// <summary>Called with the Message-Id once its claim has run: a test throws from it to cut the claim's reply after its commit.</summary>
    internal Action<string>? AfterClaim { get; set; }
}

/// <summary>
/// The Wolverine message (envelope id) whose handler is sending e-mail on this flow, for <see cref="MailDelivery"/> to record with its
/// claim: the mail check counts an e-mail message that no delivery record names as never tried (<see cref="MailHealthCheck"/>).
/// </summary>
public static class MailEnvelope
{
    private static readonly AsyncLocal<Guid?> Handling = new();

    public static Guid? Current => Handling.Value;

    /// <summary>Whether a handler method sends e-mail: it takes a <see cref="MailDelivery"/>.</summary>
    public static bool SendsEmail(MethodInfo handler) => handler.GetParameters().Any(p => p.ParameterType == typeof(MailDelivery));

    // Called first in the generated handler method, so the rest of that method (the handler, its awaits) sees it and its caller does not.
    public static void Begin(MessageContext context) => Handling.Value = context.Envelope?.Id;
}

/// <summary>Adds <see cref="MailEnvelope.Begin"/> to the chain of every message whose handler sends e-mail.</summary>
public sealed class MailEnvelopePolicy : IHandlerPolicy
{
    public void Apply(IReadOnlyList<HandlerChain> chains, GenerationRules rules, IServiceContainer container)
    {
        foreach (var chain in chains.Where(c => c.Handlers.Any(h => MailEnvelope.SendsEmail(h.Method))))
            chain.Middleware.Insert(0, new MethodCall(typeof(MailEnvelope), nameof(MailEnvelope.Begin)));
    }
}
