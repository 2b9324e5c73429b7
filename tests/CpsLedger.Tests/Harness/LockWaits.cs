namespace CpsLedger.Tests.Harness;

/// <summary>
/// Waits on PostgreSQL's lock table, for tests that interleave two writers deterministically: the second is let go once the first
/// waits for a lock it holds (or has finished without waiting), never after a fixed sleep.
/// </summary>
public static class LockWaits
{
    /// <summary>Returns once a connection to the test database waits for a lock that the backend <paramref name="holder"/> holds.</summary>
    public static async Task UntilWaitingForLockOf(this LedgerApp app, int holder, CancellationToken ct)
    {
        await using var connection = new Npgsql.NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync(ct);
        await using var waiting = new Npgsql.NpgsqlCommand("select exists (select 1 from pg_stat_activity where $1 = any(pg_blocking_pids(pid)))",
            connection)
        { Parameters = { new() { Value = holder } } };
        while (!ct.IsCancellationRequested && !(bool)(await waiting.ExecuteScalarAsync(ct))!)
            await Task.Delay(20, ct);
    }

    /// <summary>Returns once <paramref name="work"/> has finished, or a connection waits for a lock the backend <paramref name="holder"/> holds.</summary>
    public static async Task UntilDoneOrWaitingForLockOf(this LedgerApp app, Task work, int holder)
    {
        using var stop = new CancellationTokenSource();
        await Task.WhenAny(work, app.UntilWaitingForLockOf(holder, stop.Token));
        await stop.CancelAsync();
    }
}
