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

    public void Project(ProductRegistered e, IDocumentOperations ops)
    {
        if (e.SerialNumber is not null)
            ops.Insert(Claim(e.RegistrationId, e.AccountId, e.ModelCode, e.SerialNumber));
    }

    public void Project(ProductDetailsAmended e, IDocumentOperations ops)
    {
        if (e.SerialNumber is null)
            return;
        if (e.PreviousSerialNumber is not null)
            ops.Delete<SerialOwnership>(SerialNumbers.OwnershipKey(e.ModelCode, e.PreviousSerialNumber));
        ops.Insert(Claim(e.RegistrationId, e.AccountId, e.ModelCode, e.SerialNumber));
    }

    public void Project(ProductDeregistered e, IDocumentOperations ops)
    {
        if (e.SerialNumber is not null)
            ops.Delete<SerialOwnership>(SerialNumbers.OwnershipKey(e.ModelCode, e.SerialNumber));
    }

    private static SerialOwnership Claim(Guid registrationId, Guid accountId, string modelCode, string serial) => new()
    {
        Id = SerialNumbers.OwnershipKey(modelCode, serial),
        RegistrationId = registrationId,
        AccountId = accountId,
        SerialNumber = SerialNumbers.Normalize(serial),
    };
}
