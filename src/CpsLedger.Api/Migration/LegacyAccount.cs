using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Products;
using Marten.Events.Aggregation;

namespace CpsLedger.Api.Migration;

/// <summary>An old CPS account became known to the ledger through a legacy import (one stream per old e-mail).</summary>
/// <param name="OldEmail">Trimmed and lower-case, as business accounts store their old CPS e-mails.</param>
public sealed record LegacyAccountImported(Guid LegacyAccountId, string OldEmail, string OldMembershipNumber, DateTimeOffset ImportedAt);

/// <summary>A product registered on the old CPS account, with whatever details the old system had (null: not known).</summary>
public sealed record LegacyProductImported(
    Guid LegacyAccountId,
    Guid LegacyProductId,
    string ModelCode,
    string? SerialNumber,
    DateOnly? PurchaseDate,
    string? CountryOfPurchase,
    string? Dealer,
    DateTimeOffset ImportedAt);

/// <summary>
/// A legacy product moved to a business account: registration <paramref name="RegistrationId"/> (source "migration") was
/// started in the same transaction. <paramref name="WasAlreadyRegistered"/>: the account had registered this model and serial
/// itself before migrating, so the migration linked that registration instead of creating a second one.
/// </summary>
public sealed record LegacyProductMigrated(
    Guid LegacyAccountId,
    Guid LegacyProductId,
    Guid AccountId,
    Guid RegistrationId,
    bool WasAlreadyRegistered,
    DateTimeOffset MigratedAt);

/// <summary>
/// The ids of the migration's streams, all derived from content (name-based UUIDs, RFC 9562 version 5), so that importing the
/// same records again or migrating twice lands on the same streams instead of creating new ones.
/// </summary>
public static class LegacyIds
{
    private static readonly Guid AccountNamespace = new("a3d5e1c4-7b0f-4c51-8e2a-51f0c9d4b6e3");
    private static readonly Guid ProductNamespace = new("0e9b7c2d-4f6a-4d18-b3c5-7a2e8f1d9c40");
    private static readonly Guid RegistrationNamespace = new("5c81f0a7-2e3d-4b9c-a6f4-d0e7b3c25a19");

    /// <summary>Old e-mails compare trimmed and lower-case.</summary>
    public static string NormalizeEmail(string email) => email.Trim().ToLowerInvariant();

    /// <summary>The legacy account stream of an old e-mail.</summary>
    public static Guid AccountFor(string oldEmail) => NameBased(AccountNamespace, NormalizeEmail(oldEmail));

    /// <summary>
    /// A legacy product with a serial number is identified by its old e-mail, model and serial (compared like "one serial,
    /// one owner" compares them); one without a serial by everything the row says and how many identical rows came before it
    /// in the file (<paramref name="occurrence"/>, from 1).
    /// </summary>
    public static Guid ProductFor(string oldEmail, LegacyProductDetails product, int occurrence) =>
        NameBased(ProductNamespace, product.SerialNumber is { } serial
            ? $"{NormalizeEmail(oldEmail)}\n{SerialNumbers.OwnershipKey(product.ModelCode, serial)}"
            // Invariant: the id must not change with the machine's locale (th_TH's calendar wrote 2019 as 2562), or a re-import
            // there would duplicate every product without a serial.
            : string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{NormalizeEmail(oldEmail)}\n{ProductModelCode.Normalize(product.ModelCode)}\n\n{product.PurchaseDate:yyyy-MM-dd}\n" +
                $"{product.CountryOfPurchase}\n{product.Dealer}\n#{occurrence}"));

    /// <summary>The registration a legacy product becomes: a second migration of it collides with the first on the stream id.</summary>
    public static Guid RegistrationFor(Guid legacyProductId) => NameBased(RegistrationNamespace, legacyProductId.ToString("N"));

    private static Guid NameBased(Guid ns, string name) => Platform.DerivedIds.NameBased(ns, name);
}

/// <summary>A legacy product's details as imported: model code (upper-case) and the four mandatory details, each possibly missing.</summary>
public sealed record LegacyProductDetails(string ModelCode, string? SerialNumber, DateOnly? PurchaseDate, string? CountryOfPurchase, string? Dealer)
{
    public RegistrationDetails Details => new(SerialNumber, PurchaseDate, CountryOfPurchase, Dealer);
}

/// <summary>
/// An old CPS account as the import and the migration read it: its e-mail, its old membership number and its products, each
/// migrated or not. One document per legacy stream (same id), written inline.
/// </summary>
public sealed class LegacyAccountView
{
    public Guid Id { get; set; }
    public string OldEmail { get; set; } = "";
    public string OldMembershipNumber { get; set; } = "";
    public DateTimeOffset ImportedAt { get; set; }

    /// <summary>Events on the stream so far: the version an import appending to it expects (kept here, see ARCHITECTURE).</summary>
    public long EventCount { get; set; }

    public List<LegacyProduct> Products { get; set; } = [];
}

public sealed class LegacyProduct
{
    public Guid Id { get; set; }
    public string ModelCode { get; set; } = "";
    public string? SerialNumber { get; set; }
    public DateOnly? PurchaseDate { get; set; }
    public string? CountryOfPurchase { get; set; }
    public string? Dealer { get; set; }

    /// <summary>The business account it was migrated to (null: not migrated yet).</summary>
    public Guid? MigratedToAccountId { get; set; }

    public Guid? RegistrationId { get; set; }
    public bool WasAlreadyRegistered { get; set; }
    public DateTimeOffset? MigratedAt { get; set; }

    public LegacyProductDetails ToDetails() => new(ModelCode, SerialNumber, PurchaseDate, CountryOfPurchase, Dealer);
}

public sealed partial class LegacyAccountViewProjection : SingleStreamProjection<LegacyAccountView, Guid>
{
    /// <summary>
    /// The view of a new stream from its events, with the same Create and Apply methods Marten calls: what the legacy import
    /// writes next to the events it copies in bulk (a bulk copy bypasses the inline projection).
    /// </summary>
    public static LegacyAccountView Fold(IReadOnlyList<object> events)
    {
        var view = events[0] is LegacyAccountImported opened
            ? Create(opened)
            : throw new InvalidOperationException($"A legacy account stream starts with {nameof(LegacyAccountImported)}, not {events[0].GetType().Name}.");
        foreach (var e in events.Skip(1))
        {
            switch (e)
            {
                case LegacyProductImported imported: Apply(view, imported); break;
                case LegacyProductMigrated migrated: Apply(view, migrated); break;
                default: throw new InvalidOperationException($"{nameof(LegacyAccountView)} has no Apply for {e.GetType().Name}.");
            }
        }

        return view;
    }

    public static LegacyAccountView Create(LegacyAccountImported e) => new()
    {
        Id = e.LegacyAccountId,
        OldEmail = e.OldEmail,
        OldMembershipNumber = e.OldMembershipNumber,
        ImportedAt = e.ImportedAt,
        EventCount = 1,
    };

    public static void Apply(LegacyAccountView view, LegacyProductImported e)
    {
        view.EventCount++;
        view.Products.Add(new LegacyProduct
        {
            Id = e.LegacyProductId,
            ModelCode = e.ModelCode,
            SerialNumber = e.SerialNumber,
            PurchaseDate = e.PurchaseDate,
            CountryOfPurchase = e.CountryOfPurchase,
            Dealer = e.Dealer,
        });
    }

    public static void Apply(LegacyAccountView view, LegacyProductMigrated e)
    {
        view.EventCount++;
        var product = view.Products.Find(p => p.Id == e.LegacyProductId)
                      ?? throw new InvalidOperationException($"Legacy product {e.LegacyProductId} is not on legacy account {e.LegacyAccountId}.");
        product.MigratedToAccountId = e.AccountId;
        product.RegistrationId = e.RegistrationId;
        product.WasAlreadyRegistered = e.WasAlreadyRegistered;
        product.MigratedAt = e.MigratedAt;
    }
}
