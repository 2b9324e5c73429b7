using System.Collections.Concurrent;
using System.Diagnostics;
using Marten;
using Marten.Services;
using Npgsql;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// Waits on PostgreSQL's lock table, for tests that interleave two writers deterministically: the second is let go once the first
/// waits for a lock it holds (or has finished without waiting), never after a fixed sleep.
/// </summary>
public static class LockWaits
{
    /// <summary>How long the writer under test may take to reach the lock before the test fails (it takes well under a second).</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    // The backends waiting for a lock $1 holds, or queued behind one that does: PostgreSQL lets the first waiter for a row take the
    // row's tuple lock, and a later one waits for that waiter, not for the holder.
    private const string WaitingBehind = """
        with recursive waiting(pid) as (
            select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))
            union
            select a.pid from pg_stat_activity a join waiting w on w.pid = any(pg_blocking_pids(a.pid)))
        select pid from waiting
        """;

    /// <summary>
    /// Returns once <paramref name="work"/> has finished, or the session <paramref name="waiter"/> names waits for a lock the backend
    /// <paramref name="holder"/> holds. Another session waiting does not count: the due-date handlers a fast-forward runs take the
    /// membership's lock before they look at their due date (the renewal offer and the term end, every time), and let go for one of
    /// them, the holder committed before the writer under test had reached the lock, which then ran after it, not into it.
    /// Fails after <see cref="Deadline"/>, naming what did wait.
    /// </summary>
    public static async Task UntilDoneOrWaitingForLockOf(this LedgerApp app, Task work, int holder, LockWaiter waiter)
    {
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync();
        await using var waiting = new NpgsqlCommand(WaitingBehind, connection) { Parameters = { new() { Value = holder } } };
        var deadline = DateTime.UtcNow + Deadline;
        var seen = new List<string>();
        while (!work.IsCompleted)
        {
            seen.Clear();
            await using (var reader = await waiting.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    var session = SessionsByBackend.Of(reader.GetInt32(0));
                    if (session is not null && waiter.Matches(session))
                        return;
                    seen.Add($"backend {reader.GetInt32(0)}: {session?.ToString() ?? "not a session of the service"}");
                }
            }

            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{waiter} neither finished nor waited for the lock of backend {holder} within " +
                                           $"{Deadline.TotalSeconds:0} s; waiting for it: " +
                                           $"{(seen.Count == 0 ? "nothing" : string.Join("; ", seen))}.");
            await Task.Delay(20);
        }
    }
}

/// <summary>Which session a lock test waits for: an HTTP request by its correlation id, or a handler by the message it handles.</summary>
public sealed record LockWaiter(string Description, Func<SessionOnBackend, bool> Matches)
{
    /// <summary>
    /// The request sent with this <c>X-Correlation-Id</c> (<see cref="LockWaitClients.Correlated"/>), or a handler it invokes (the
    /// migration's work runs in one); what it sets off runs once it has committed, after it.
    /// </summary>
    public static LockWaiter Request(string correlationId) => new($"the request {correlationId}", s => s.CorrelationId == correlationId);

    /// <summary>A request of its own: the correlation id to send it with (<see cref="LockWaitClients.Correlated"/>), and its waiter.</summary>
    public static (string CorrelationId, LockWaiter Waiter) NewRequest()
    {
        var correlationId = $"lock-test-{Guid.NewGuid():N}";
        return (correlationId, Request(correlationId));
    }

    /// <summary>A Wolverine handler of <typeparamref name="TMessage"/>.</summary>
    public static LockWaiter Handling<TMessage>() =>
        new($"a handler of {typeof(TMessage).Name}", s => s.MessageType == typeof(TMessage).FullName);

    public override string ToString() => Description;
}

public static class LockWaitClients
{
    /// <summary>
    /// The client, its requests sent with <paramref name="correlationId"/> (the service stamps it on the request's session): a lock
    /// test tells that request's wait from any other's by it (<see cref="LockWaiter.Request"/>).
    /// </summary>
    public static HttpClient Correlated(this HttpClient client, string correlationId)
    {
        client.DefaultRequestHeaders.Add(Api.Platform.CorrelationMiddleware.HeaderName, correlationId);
        return client;
    }
}

/// <summary>The session that last ran a command on a backend: what a test knows of a connection PostgreSQL shows waiting.</summary>
public sealed record SessionOnBackend(string? CorrelationId, string Actor, string? MessageType)
{
    public override string ToString() => $"{Actor}{(MessageType is null ? "" : $" handling {MessageType}")} (correlation {CorrelationId})";
}

/// <summary>
/// Records, for every command the service's sessions run, the backend it runs on and the session's correlation id and actor
/// (a Marten logger, registered on the test host only). A command waiting for a lock was the last its backend ran.
/// </summary>
public sealed class SessionsByBackend(IMartenLogger inner) : IMartenLogger
{
    private static readonly ConcurrentDictionary<int, SessionOnBackend> Backends = new();

    public static SessionOnBackend? Of(int backend) => Backends.GetValueOrDefault(backend);

    public IMartenSessionLogger StartSession(IQuerySession session) => new Recorder(session, inner.StartSession(session));

    public void SchemaChange(string sql) => inner.SchemaChange(sql);

    private sealed class Recorder(IQuerySession session, IMartenSessionLogger inner) : IMartenSessionLogger
    {
        private void Record(NpgsqlConnection? connection)
        {
            if (connection is { State: System.Data.ConnectionState.Open })
                Backends[connection.ProcessID] = new SessionOnBackend(session.CorrelationId,
                    (session as IDocumentSession)?.LastModifiedBy ?? "", MessageType());
        }

        // The message a Wolverine handler is handling: its activity (the service traces Wolverine) is the current one, or a parent.
        private static string? MessageType()
        {
            for (var activity = Activity.Current; activity is not null; activity = activity.Parent)
                if (activity.GetTagItem("messaging.message_type") is { } type)
                    return type.ToString();
            return null;
        }

        public void OnBeforeExecute(NpgsqlCommand command)
        {
            Record(command.Connection);
            inner.OnBeforeExecute(command);
        }

        public void OnBeforeExecute(NpgsqlBatch batch)
        {
            Record(batch.Connection);
            inner.OnBeforeExecute(batch);
        }

        public void LogSuccess(NpgsqlCommand command) => inner.LogSuccess(command);
        public void LogFailure(NpgsqlCommand command, Exception ex) => inner.LogFailure(command, ex);
        public void LogSuccess(NpgsqlBatch batch) => inner.LogSuccess(batch);
        public void LogFailure(NpgsqlBatch batch, Exception ex) => inner.LogFailure(batch, ex);
        public void LogFailure(Exception ex, string message) => inner.LogFailure(ex, message);
        public void RecordSavedChanges(IDocumentSession session, IChangeSet commit) => inner.RecordSavedChanges(session, commit);
    }
}
