using CpsLedger.Api.Platform;
using JasperFx.Events;
using Marten;
using Marten.Events.Projections;

namespace CpsLedger.Api.Products;

/// <summary>
/// "One serial, one owner": a row per model + serial number currently registered, keyed by <see cref="SerialNumbers.OwnershipKey"/>.
/// Written by an inline projection in the registration's own transaction with an INSERT, so PostgreSQL's primary key refuses
/// a second owner, also when two accounts register the same serial at the same moment. Deregistration deletes the row.
/// </summary>
[ConflictDescription("Product already registered",
    "This model and serial number are already registered to a business account. If you own this product, ask the previous " +
    "owner to deregister it, or contact CPS support.")]
public sealed class SerialOwnership
{
    public string Id { get; set; } = "";
    public Guid RegistrationId { get; set; }
    public Guid AccountId { get; set; }

    /// <summary>The normalised serial number, the key's second half: what support's account search looks up by.</summary>
    public string SerialNumber { get; set; } = "";
}

/// <summary>
/// An event projection rather than a view document: inserts and deletes replay in event order, so a rebuild sees a serial freed
/// by one account before another account claims it.
/// </summary>
public sealed partial class SerialOwnershipProjection : EventProjection
{
    // A rebuild starts from no claims at all, then replays them in event order.
    public SerialOwnershipProjection() => Options.DeleteViewTypeOnTeardown<SerialOwnership>();

    public void Project(ProductRegistered e, IDocumentOperations ops) => Apply(ChangeOf(e), ops);

    public void Project(ProductDetailsAmended e, IDocumentOperations ops) => Apply(ChangeOf(e), ops);

    public void Project(ProductDeregistered e, IDocumentOperations ops) => Apply(ChangeOf(e), ops);

    /// <summary>The events that change the claims (what a rebuild replays).</summary>
    public static readonly Type[] EventTypes = [typeof(ProductRegistered), typeof(ProductDetailsAmended), typeof(ProductDeregistered)];

    /// <summary>What one event does to the claims: the key it frees first, then the claim it inserts (either may be none).</summary>
    public static (string? Freed, SerialOwnership? Claimed) ChangeOf(object e) => e switch
    {
        ProductRegistered { SerialNumber: { } serial } r => (null, Claim(r.RegistrationId, r.AccountId, r.ModelCode, serial)),
        ProductDetailsAmended { SerialNumber: { } serial } a => (
            a.PreviousSerialNumber is { } previous ? SerialNumbers.OwnershipKey(a.ModelCode, previous) : null,
            Claim(a.RegistrationId, a.AccountId, a.ModelCode, serial)),
        ProductDeregistered { SerialNumber: { } serial } d => (SerialNumbers.OwnershipKey(d.ModelCode, serial), null),
        _ => (null, null),
    };

    /// <summary>
    /// Replays one event onto claims held in memory, as the projection's delete and insert would: a second claim of a key
    /// already held fails as the insert fails on the primary key. The fast rebuild replays every event this way, in order.
    /// </summary>
    public static void Replay(IDictionary<string, SerialOwnership> claims, object e)
    {
        var (freed, claimed) = ChangeOf(e);
        Replay(claims, freed, claimed);
    }

    /// <summary>Replays one event's change (<see cref="ChangeOf"/>) onto the claims held in memory.</summary>
    public static void Replay(IDictionary<string, SerialOwnership> claims, string? freed, SerialOwnership? claimed)
    {
        if (freed is not null)
            claims.Remove(freed);
        if (claimed is not null && !claims.TryAdd(claimed.Id, claimed))
            throw new InvalidOperationException(
                $"Serial claim {claimed.Id} replayed twice (registration {claimed.RegistrationId}, held by {claims[claimed.Id].RegistrationId}).");
    }

    private static void Apply((string? Freed, SerialOwnership? Claimed) change, IDocumentOperations ops)
    {
        // Two claim rows when an amendment changes the serial: two registrations swapping serials at the same moment could
        // deadlock on them, and each would be refused the other's serial (409) without it (ARCHITECTURE.md, "Lock order across
        // accounts").
        if (change.Freed is not null)
            ops.Delete<SerialOwnership>(change.Freed);
        if (change.Claimed is not null)
            ops.Insert(change.Claimed);
    }

    private static SerialOwnership Claim(Guid registrationId, Guid accountId, string modelCode, string serial) => new()
    {
        Id = SerialNumbers.OwnershipKey(modelCode, serial),
        RegistrationId = registrationId,
        AccountId = accountId,
        SerialNumber = SerialNumbers.Normalize(serial),
    };
}
