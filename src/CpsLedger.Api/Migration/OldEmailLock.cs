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
    // Several in the keys' order (as the hash chain's trigger takes several), so two steps naming the same e-mails never cross.
    public static Task TakeAsync(IDocumentSession session, IEnumerable<Guid> legacyAccountIds, CancellationToken ct) =>
        Platform.AdvisoryLocks.TakeAsync(session, "cpsledger-old-email", legacyAccountIds, ct);
}
