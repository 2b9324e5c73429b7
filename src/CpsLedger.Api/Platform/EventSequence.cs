using Marten;
using Npgsql;
using Wolverine;
using Wolverine.Runtime;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The event store's sequence (<c>mt_events_sequence</c>) can fall behind the events stored after a database crash, and this puts
/// it right. PostgreSQL makes a sequence's advance durable only with a commit, so a crash can forget the numbers that sessions
/// in flight had drawn; once the database is back, Marten writes "tombstone" events with exactly those numbers (to close the
/// gap the failed sessions left for the projections), and the sequence hands them out again. Every append then fails on
/// <c>mt_events</c>' primary key until the sequence has passed them: a transient fault (<see cref="TransientFaults"/>) that
/// <see cref="CatchUpAsync"/> ends at once. Seen in the crash fault test (a join answered 500), once in 30 runs and once in CI.
/// </summary>
public static class EventSequence
{
    private const string PrimaryKey = "pkey_mt_events_seq_id";

    /// <summary>An append that drew an event number already stored.</summary>
    public static bool IsBehind(Exception e) => e switch
    {
        PostgresException { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: PrimaryKey } => true,
        AggregateException a => a.Flatten().InnerExceptions.Any(IsBehind),
        _ => e.InnerException is { } inner && IsBehind(inner),
    };

    /// <summary>
    /// Draws numbers until the sequence has passed the highest event stored. It only ever moves the sequence forward (a
    /// <c>setval</c> could move it back under a concurrent append), and costs one round trip; the gap is a few dozen numbers
    /// at most (what sessions had drawn when the database went down). Returns how many numbers were skipped.
    /// </summary>
    public static async Task<long> CatchUpAsync(IDocumentStore store, CancellationToken ct)
    {
        var schema = store.Options.Events.DatabaseSchemaName;
        var sequence = $"{schema}.mt_events_sequence";
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            $"select count(nextval('{sequence}')) from generate_series(1, greatest(0, " +
            $"(select coalesce(max(seq_id), 0) from {schema}.mt_events) - " +
            // A sequence not yet called (is_called false) hands out last_value itself next.
            $"(select last_value - case when is_called then 0 else 1 end from {sequence})))", connection);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Catches the sequence up, logging what it did; a failure is logged and left to the next attempt.</summary>
    public static async Task TryCatchUpAsync(IDocumentStore store, ILogger logger, CancellationToken ct)
    {
        try
        {
            var skipped = await CatchUpAsync(store, ct);
            // Another request or handler that collided may have caught it up first.
            if (skipped > 0)
                logger.LogWarning("The event sequence was behind the events stored (after a database crash): skipped {Skipped} numbers", skipped);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Could not catch the event sequence up; the next attempt will");
        }
    }

    /// <summary>For the handlers' error policy: before a message whose append collided is retried.</summary>
    public static async ValueTask CatchUp(IWolverineRuntime runtime, IEnvelopeLifecycle lifecycle, Exception exception) =>
        await TryCatchUpAsync(runtime.Services.GetRequiredService<IDocumentStore>(),
            runtime.LoggerFactory.CreateLogger(typeof(EventSequence)), CancellationToken.None);

    public const string CatchUpDescription = "catch the event sequence up (EventSequence)";
}
