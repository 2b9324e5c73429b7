using Marten;

namespace CpsLedger.Api.Platform;

/// <summary>Reference data kept as events (the tier table, the VAT rates): its first version is loaded by the ledger itself.</summary>
public static class ReferenceData
{
    /// <summary>
    /// Starts the stream with its defaults when it does not exist yet (first start). Safe on every start and every node: the
    /// stream id is fixed, so a second node's attempt collides and is let go. The history names the system as the actor.
    /// </summary>
    public static async Task StartOnceAsync<TAggregate>(IDocumentStore store, Guid streamId, string loader, Func<object> defaults,
        CancellationToken ct) where TAggregate : class
    {
        await using var session = store.LightweightSession();
        if (await session.Events.FetchStreamStateAsync(streamId, ct) is not null)
            return;
        session.LastModifiedBy = SystemActor.Prefix + loader;
        session.Events.StartStream<TAggregate>(streamId, defaults());
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (Exception e) when (e is Marten.Exceptions.ExistingStreamIdCollisionException
                                      || e.InnerException is Marten.Exceptions.ExistingStreamIdCollisionException)
        {
            // Another node loaded them first.
        }
    }
}
