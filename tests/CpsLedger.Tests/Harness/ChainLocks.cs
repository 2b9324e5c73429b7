using Marten;
using Marten.Services;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// For the tests that provoke a deadlock between two commits deterministically: hold some hash chains' advisory locks so that
/// each commit stops just after its first streams, wait until both wait, let go, and read what each commit sent and met.
/// </summary>
public static class ChainLocks
{
    /// <summary>
    /// Holds the hash chain's advisory lock of each key (an account, or the stream of events that name none) in a transaction of
    /// <paramref name="connection"/>, as the chain trigger takes it when an event of that chain is inserted. Commit it to let go.
    /// </summary>
    public static async Task<Npgsql.NpgsqlTransaction> HoldChains(Npgsql.NpgsqlConnection connection, params Guid[] keys)
    {
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        foreach (var key in keys)
        {
            await using var hold = new Npgsql.NpgsqlCommand("select pg_advisory_xact_lock(hashtextextended('cpsledger-chain:' || $1::text, 0))",
                connection, transaction)
            { Parameters = { new() { Value = key } } };
            await hold.ExecuteNonQueryAsync();
        }
        return transaction;
    }

    /// <summary>Returns once <paramref name="count"/> connections wait for a lock (the holder's, or one the other commit took).</summary>
    public static async Task UntilCommitsWait(this LedgerApp app, int count)
    {
        await using var connection = new Npgsql.NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync();
        await using var waiting = new Npgsql.NpgsqlCommand("select count(*) from pg_stat_activity where cardinality(pg_blocking_pids(pid)) > 0", connection);
        await FaultWaits.Until(async () => (long)(await waiting.ExecuteScalarAsync())! >= count, $"{count} commits waiting", TimeSpan.FromSeconds(30));
    }

    /// <summary>What <paramref name="work"/> failed with, or null: each side of a provoked deadlock is awaited for its outcome.</summary>
    public static async Task<Exception?> FailureOf(Func<Task> work)
    {
        try
        {
            await work();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    /// <summary>A legacy import of <paramref name="csv"/> whose sessions report their commits to <paramref name="commits"/>.</summary>
    public static Task ImportLegacyFile(this LedgerApp app, string csv, Commits commits) =>
        Api.Migration.LegacyImport.ImportAsync(() => new StringReader(csv), new Api.Migration.LegacyImportOptions(false), () =>
            {
                var session = app.Store.LightweightSession();
                session.Logger = commits;
                return session;
            },
            _ => { }, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);

    /// <summary>PostgreSQL's deadlock (40P01), however wrapped.</summary>
    public static bool IsDeadlock(Exception e) =>
        e is Npgsql.PostgresException { SqlState: "40P01" } || e is AggregateException a && a.InnerExceptions.Any(IsDeadlock) ||
        e.InnerException is { } inner && IsDeadlock(inner);
}

/// <summary>A session's commits: the streams each appended to, in the order sent, and every failed attempt (Marten retries some).</summary>
public sealed class Commits : IMartenSessionLogger
{
    public System.Collections.Concurrent.ConcurrentQueue<Exception> Failures { get; } = new();
    public List<Guid[]> Appended { get; } = [];

    public void OnBeforeExecute(Npgsql.NpgsqlBatch batch) =>
        Appended.Add([.. batch.BatchCommands.Where((Npgsql.NpgsqlBatchCommand c) => c.CommandText.Contains("mt_quick_append_events")).Select(c => (Guid)c.Parameters[0].Value!)]);

    public void LogFailure(Npgsql.NpgsqlBatch batch, Exception ex) => Failures.Enqueue(ex);
    public void LogFailure(Npgsql.NpgsqlCommand command, Exception ex) => Failures.Enqueue(ex);
    public void LogFailure(Exception ex, string message) => Failures.Enqueue(ex);
    public void LogSuccess(Npgsql.NpgsqlCommand command) { }
    public void LogSuccess(Npgsql.NpgsqlBatch batch) { }
    public void RecordSavedChanges(IDocumentSession session, IChangeSet commit) { }
    public void OnBeforeExecute(Npgsql.NpgsqlCommand command) { }
}
