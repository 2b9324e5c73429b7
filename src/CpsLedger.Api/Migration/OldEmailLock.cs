using Marten;

namespace CpsLedger.Api.Migration;

/// <summary>
/// The lock of an old e-mail: a transaction-scoped advisory lock keyed by its old account's id, which exists before the old account
/// is imported. An unlink of the e-mail and each migration step from it take it before they read anything, so they decide one after
/// the other even when the unlink finds no old account (no row to lock) and the old account is imported and migrated from while the
/// unlink is in flight. Nothing else takes it, and nothing takes it while holding another lock (ARCHITECTURE.md, "Lock order across
/// accounts").
/// </summary>
public static class OldEmailLock
{
    public static async Task TakeAsync(IDocumentSession session, IEnumerable<Guid> legacyAccountIds, CancellationToken ct)
    {
        var ids = legacyAccountIds.Distinct().ToArray();
        if (ids.Length == 0)
            return;
        await session.BeginTransactionAsync(ct);
        // Several in the keys' order (as the hash chain's trigger takes several), so two steps naming the same e-mails never cross.
        // Through the session, as every command it sends: its logger and its transaction.
        await session.QueryAsync<long>("""
            select count(*) from (
                select pg_advisory_xact_lock(k)
                from (select distinct hashtextextended('cpsledger-old-email:' || id::text, 0) as k from unnest(?::uuid[]) as id) as keys
                order by k) as locked
            """, ct, ids);
    }
}
