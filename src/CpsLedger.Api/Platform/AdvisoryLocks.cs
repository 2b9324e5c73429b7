using Marten;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Transaction-scoped advisory locks keyed by a purpose and an id (<c>hashtextextended(purpose || id, 0)</c>), held to the commit.
/// Several are taken in the keys' order, as the hash chain's trigger takes its own, so two transactions naming the same ids never
/// cross. The old e-mail's lock (<c>OldEmailLock</c>) and the invitation review's (<c>InvitationReviewLock</c>) are of this kind.
/// </summary>
public static class AdvisoryLocks
{
    /// <summary>
    /// The statement that takes the locks of the ids bound to its one parameter (a <c>uuid[]</c>). Its one row is a count as text: a
    /// batched query's result must be a reference type.
    /// </summary>
    public static string Statement(string purpose) => $"""
        select count(*)::text from (
            select pg_advisory_xact_lock(k)
            from (select distinct hashtextextended('{purpose}:' || id::text, 0) as k from unnest(?::uuid[]) as id) as keys
            order by k) as held
        """;

    /// <summary>Takes the locks now, in the transaction the session begins if it has not, through the session (its logger too).</summary>
    public static async Task TakeAsync(IDocumentSession session, string purpose, IEnumerable<Guid> ids, CancellationToken ct)
    {
        var keys = ids.Distinct().ToArray();
        if (keys.Length == 0)
            return;
        await session.BeginTransactionAsync(ct);
        await session.QueryAsync<string>(Statement(purpose), ct, keys);
    }
}
