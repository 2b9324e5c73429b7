using System.Diagnostics.Metrics;
using System.Net.Sockets;
using MailKit;
using MailKit.Net.Smtp;
using Npgsql;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Which failures can only succeed later (the database restarting, a connection lost, a serialization conflict, the mail server
/// refusing for now) and which never will. Transient ones are waited out; only permanent ones become dead letters.
/// </summary>
public static class TransientFaults
{
    public static bool IsTransient(Exception e) => e switch
    {
        // Not a conflict: the event sequence behind the events after a crash (EventSequence), until it has caught up.
        _ when EventSequence.IsBehind(e) => true,
        AggregateException a => a.Flatten().InnerExceptions.Any(IsTransient),
        // 08xxx connection, 57P0x shutdown/cannot connect now, 53xxx resources, 40001 serialization, 40P01 deadlock, ...
        PostgresException p => p.IsTransient || p.SqlState.StartsWith("08", StringComparison.Ordinal) ||
                               p.SqlState.StartsWith("57P0", StringComparison.Ordinal) || p.SqlState is "40001" or "40P01",
        NpgsqlException n when n.IsTransient => true,
        // A restart closes the connection under an open transaction; Npgsql then reports the transaction as disposed.
        ObjectDisposedException d when d.ObjectName?.Contains("Npgsql", StringComparison.Ordinal) == true ||
                                      d.Message.Contains("transaction", StringComparison.OrdinalIgnoreCase) => true,
        // A 4xx reply is the server's "try again later"; a 5xx one is final (unknown mailbox, message refused).
        SmtpCommandException s => (int)s.StatusCode is >= 400 and < 500,
        SmtpProtocolException or ServiceNotConnectedException or SocketException or IOException or TimeoutException => true,
        _ => e.InnerException is { } inner && IsTransient(inner),
    };
}

/// <summary>
/// One error policy for every message handler: transient faults are retried in place with a short back-off, then re-scheduled
/// (durably, in the inbox) for minutes to hours; anything else, and a transient fault that outlasts all of that, is a dead
/// letter, which is an operator event (<see cref="DeadLetterAlarm"/>).
/// </summary>
public static class ErrorPolicy
{
    /// <summary>In-process retries: they ride out a database restart or a mail server's short refusal.</summary>
    public static readonly TimeSpan[] Cooldowns =
        [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5)];

    /// <summary>Then re-scheduled: about 16 hours in all before a transient fault is given up on.</summary>
    public static readonly TimeSpan[] Reschedules =
    [
        TimeSpan.FromSeconds(15), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(30),
        TimeSpan.FromHours(1), TimeSpan.FromHours(2), TimeSpan.FromHours(4), TimeSpan.FromHours(8),
    ];

    /// <summary>How long a transient fault is retried in all before its message is a dead letter (about 16 hours).</summary>
    public static TimeSpan RetriedFor => Cooldowns.Concat(Reschedules).Aggregate(TimeSpan.Zero, (sum, pause) => sum + pause);

    // More than any rule above retries, so that whatever attempt a permanent error arrives at, it is reported.
    private const int MaxAttempts = 32;

    public static void UseLedgerErrorPolicy(this WolverineOptions opts)
    {
        opts.Services.AddMetrics(); // IMeterFactory (a host registers it already; added only if missing)
        opts.Services.AddSingleton<DeadLetterCounter>();
        // Transient like the others, and put right before each retry rather than waited out.
        opts.Policies.OnException(EventSequence.IsBehind, "the event sequence behind the events stored (after a database crash)")
            .RetryWithCooldown(Cooldowns).And(EventSequence.CatchUp, EventSequence.CatchUpDescription)
            .Then.ScheduleRetry(Reschedules).And(EventSequence.CatchUp, EventSequence.CatchUpDescription)
            .Then.MoveToErrorQueue().And(DeadLetterAlarm.Report, DeadLetterAlarm.Description);

        opts.Policies.OnException(TransientFaults.IsTransient, "transient (database, network, SMTP 4xx)")
            .RetryWithCooldown(Cooldowns)
            .Then.ScheduleRetry(Reschedules)
            .Then.MoveToErrorQueue().And(DeadLetterAlarm.Report, DeadLetterAlarm.Description);

        var permanent = opts.Policies.OnAnyException().MoveToErrorQueue().And(DeadLetterAlarm.Report, DeadLetterAlarm.Description);
        for (var attempt = 2; attempt <= MaxAttempts; attempt++)
            permanent = permanent.Then.MoveToErrorQueue().And(DeadLetterAlarm.Report, DeadLetterAlarm.Description);
    }

    /// <summary>
    /// A handler's own retries for failures that only its domain knows to be worth retrying at once (a racing writer on the same
    /// stream). Transient faults are left to the service's policy (handler rules are consulted first), and the last attempt is
    /// a reported dead letter like any other.
    /// </summary>
    public static void RetryInPlace(HandlerChain chain, Func<Exception, bool> match, string description, params TimeSpan[] cooldowns) =>
        chain.OnException(e => match(e) && !TransientFaults.IsTransient(e), description)
            .RetryWithCooldown(cooldowns)
            .Then.MoveToErrorQueue().And(DeadLetterAlarm.Report, DeadLetterAlarm.Description);
}

/// <summary>A message moved to the dead letters: logged as an error with its type and reason, and counted.</summary>
public static class DeadLetterAlarm
{
    public const string MeterName = "CpsLedger";
    public const string Description = "report the dead letter (error log, cpsledger.dead_letters)";

    public static ValueTask Report(Wolverine.Runtime.IWolverineRuntime runtime, IEnvelopeLifecycle lifecycle, Exception exception)
    {
        var logger = runtime.LoggerFactory.CreateLogger(typeof(DeadLetterAlarm));
        var counter = runtime.Services.GetRequiredService<DeadLetterCounter>();
        var envelope = lifecycle.Envelope;
        // A batch (the invitation reviews) is moved as its members, one dead letter each under an id of its own that Wolverine does
        // not show here: each member is counted and reported, with the batch's id and its place in it.
        if (envelope?.Message is Array { Length: > 0 } batch)
        {
            var memberType = batch.GetType().GetElementType()!.Name;
            for (var member = 1; member <= batch.Length; member++)
            {
                counter.Count(memberType, exception);
                logger.LogError(exception,
                    "Dead letter: {MessageType} {Member} of {BatchSize} in batch {EnvelopeId} after {Attempts} attempt(s): {Reason}. Replay it " +
                    "with POST /api/operations/dead-letters/replay once the cause is fixed", memberType, member, batch.Length, envelope.Id,
                    envelope.Attempts, exception.Message);
            }

            return ValueTask.CompletedTask;
        }

        var messageType = envelope?.Message?.GetType().Name ?? envelope?.MessageType ?? "unknown";
        counter.Count(messageType, exception);
        logger.LogError(exception,
            "Dead letter: {MessageType} {EnvelopeId} after {Attempts} attempt(s): {Reason}. Replay it with POST /api/operations/dead-letters/replay " +
            "once the cause is fixed", messageType, envelope?.Id, envelope?.Attempts, exception.Message);
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The counter <c>cpsledger.dead_letters</c> (meter <see cref="DeadLetterAlarm.MeterName"/>) of one host: its meter comes from the
/// host's <see cref="IMeterFactory"/>, so two hosts in one process (the tests run two) count apart, and a listener can tell them
/// apart by the meter's scope (the factory).
/// </summary>
public sealed class DeadLetterCounter(IMeterFactory meters)
{
    private readonly Counter<long> _deadLetters = meters.Create(DeadLetterAlarm.MeterName)
        .CreateCounter<long>("cpsledger.dead_letters", "messages", "Messages moved to the dead letters (an operator must look)");

    public void Count(string messageType, Exception exception) =>
        _deadLetters.Add(1, new KeyValuePair<string, object?>("message_type", messageType),
            new KeyValuePair<string, object?>("exception_type", exception.GetType().Name));
}

/// <summary>How fast the durable inbox and the cluster notice trouble (docs/reliability.md has the measured figures).</summary>
public static class LedgerDurability
{
    public static void UseLedgerDurability(this WolverineOptions opts, IConfiguration configuration)
    {
        TimeSpan Setting(string name, TimeSpan fallback) => configuration.GetValue<TimeSpan?>($"Wolverine:{name}") ?? fallback;
        var d = opts.Durability;

        // Node loss: every node writes a heartbeat every 2 s; one silent for 6 s is stale and, seen stale twice, ejected: its
        // inbox rows are released and its agents (the durability agent that fires scheduled messages among them) reassigned.
        // The defaults (10 s, 1 min) left invoices due on a killed node 60 to 75 s late.
        d.HealthCheckPollingTime = Setting(nameof(d.HealthCheckPollingTime), TimeSpan.FromSeconds(2));
        d.FirstHealthCheckExecution = Setting(nameof(d.FirstHealthCheckExecution), TimeSpan.FromSeconds(1));
        d.StaleNodeTimeout = Setting(nameof(d.StaleNodeTimeout), TimeSpan.FromSeconds(6));
        d.NodeReassignmentPollingTime = Setting(nameof(d.NodeReassignmentPollingTime), TimeSpan.FromSeconds(2));
        d.OrphanedMessageSweepPollingTime = Setting(nameof(d.OrphanedMessageSweepPollingTime), TimeSpan.FromSeconds(2));
        // Due scheduled messages (invoices, card charges, re-scheduled retries) are picked up within this; the tests poll faster.
        d.ScheduledJobPollingTime = Setting(nameof(d.ScheduledJobPollingTime), TimeSpan.FromSeconds(2));
        d.ScheduledJobFirstExecution = Setting(nameof(d.ScheduledJobFirstExecution), TimeSpan.FromMilliseconds(500));
        // A message a live node owns in the inbox but no longer holds in memory (seen after PostgreSQL restarts under load: it
        // waited until the process restarted) is released to be run again after this. Messages a node still holds keep their
        // claim fresh (Wolverine restarts their clock three times per period), so a long handler is not run twice.
        d.InboxStaleTime = Setting(nameof(d.InboxStaleTime), TimeSpan.FromSeconds(30));
        d.OutboxStaleTime = Setting(nameof(d.OutboxStaleTime), TimeSpan.FromSeconds(30));
    }
}
