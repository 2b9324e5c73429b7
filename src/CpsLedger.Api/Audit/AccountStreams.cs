using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using JasperFx.Events;
using Marten;
using Marten.Services.BatchQuerying;

namespace CpsLedger.Api.Audit;

/// <summary>What a stream is to an account, as the history names it.</summary>
public enum AccountStreamKind
{
    Account,
    Registration,
    Membership,
    Invoice,
    PaymentCard,

    /// <summary>An old CPS account's stream: the events there that name this account (its products migrated in).</summary>
    OldCpsAccount,
}

public sealed record AccountStream(Guid StreamId, AccountStreamKind Kind);

/// <summary>
/// Every stream that holds events about one account: the account's own stream, its membership and payment-card streams
/// (ids derived from the account id), and each product registration and invoice ever made for it (found through the
/// indexed AccountId of the product views and invoices).
/// </summary>
public static class AccountStreams
{
    public static async Task<IReadOnlyList<AccountStream>> OfAsync(IQuerySession session, Guid accountId, CancellationToken ct)
    {
        var batch = session.CreateBatchQuery();
        var streams = In(batch, accountId);
        await batch.Execute(ct);
        return await streams();
    }

    /// <summary>The same, read in a batch (both reads in one round trip, beside whatever else the batch reads).</summary>
    public static Func<Task<IReadOnlyList<AccountStream>>> In(IBatchedQuery batch, Guid accountId)
    {
        var registrations = batch.Query<ProductView>().Where(p => p.AccountId == accountId).Select(p => p.Id).ToList();
        var invoices = batch.Query<Invoicing.Invoice>().Where(i => i.AccountId == accountId).Select(i => i.Id).ToList();
        return async () =>
        [
            new AccountStream(accountId, AccountStreamKind.Account),
            new AccountStream(MembershipStream.For(accountId), AccountStreamKind.Membership),
            new AccountStream(Invoicing.PaymentCardStream.For(accountId), AccountStreamKind.PaymentCard),
            .. (await registrations).Select(id => new AccountStream(id, AccountStreamKind.Registration)),
            .. (await invoices).Select(id => new AccountStream(id, AccountStreamKind.Invoice)),
        ];
    }
}

/// <summary>
/// Replays a stream from events already read, with Marten's own aggregation of the type (what <c>AggregateStreamAsync</c> runs
/// on the events it fetches up to a version), the aggregate's id set to the stream's as Marten's storage sets it.
/// </summary>
internal sealed class StreamReplay(IQuerySession session, IReadOnlyList<IEvent> events)
{
    private readonly ILookup<Guid, IEvent> _byStream = events.ToLookup(e => e.StreamId);

    public bool Has(Guid streamId) => _byStream.Contains(streamId);

    /// <param name="upToVersion">The stream as it stood at that version (<c>AggregateStreamAsync</c>'s version); null: all its events.</param>
    public async Task<T?> AggregateAsync<T>(Guid streamId, CancellationToken ct, long? upToVersion = null) where T : class
    {
        // Each stream's events in the order they were given: time travel's cut keeps them by sequence, the history and verification
        // read them by version, the order Marten replays a stream in.
        var stream = _byStream[streamId].Where(e => upToVersion is not { } version || e.Version <= version).ToList();
        if (stream.Count == 0)
            return null;
        var aggregator = ((DocumentStore)session.DocumentStore).Options.Projections.AggregatorFor<T>();
        var aggregate = await aggregator.BuildAsync(stream, session, null, ct);
        if (aggregate is not null)
            new FastRebuild.IdentitySetter<T>().SetIdentity(aggregate, streamId);
        return aggregate;
    }
}
