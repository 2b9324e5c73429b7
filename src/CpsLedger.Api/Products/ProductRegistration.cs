using System.Text;

namespace CpsLedger.Api.Products;

/// <summary>The four details a registration needs before its points are allocated (the green tick).</summary>
public enum MandatoryDetail
{
    SerialNumber,
    PurchaseDate,
    CountryOfPurchase,
    Dealer,
}

/// <summary>How a registration came about: the member (or support) registering it, or a migration from old CPS.</summary>
public enum RegistrationSource
{
    Registration,
    Migration,
}

/// <summary>Why a product was taken off the account: sold, lost, or registered in error.</summary>
public enum DeregistrationReason
{
    Sold,
    Lost,
    RegisteredInError,
}

/// <summary>A product was registered under a business account, possibly with some mandatory details missing.</summary>
/// <param name="BestGuesses">Which of the given details the member marked as a best guess rather than exact.</param>
public sealed record ProductRegistered(
    Guid RegistrationId,
    Guid AccountId,
    string ModelCode,
    string ModelName,
    string Category,
    string? SerialNumber,
    DateOnly? PurchaseDate,
    string? CountryOfPurchase,
    string? Dealer,
    IReadOnlyList<MandatoryDetail> BestGuesses,
    RegistrationSource Source,
    DateTimeOffset RegisteredAt);

/// <summary>
/// Details of a registration were completed or corrected. Only the details given in the amendment are set (null: unchanged);
/// <paramref name="BestGuesses"/> is the registration's whole set of best-guess details afterwards.
/// </summary>
public sealed record ProductDetailsAmended(
    Guid RegistrationId,
    Guid AccountId,
    string ModelCode,
    string? SerialNumber,
    string? PreviousSerialNumber,
    DateOnly? PurchaseDate,
    string? CountryOfPurchase,
    string? Dealer,
    IReadOnlyList<MandatoryDetail> BestGuesses,
    DateTimeOffset AmendedAt);

/// <summary>
/// The registration's points were allocated: its mandatory details became complete. The value is the catalogue value in force
/// then (<paramref name="CatalogueVersion"/> of the model) and is never recomputed when the catalogue changes later.
/// </summary>
public sealed record PointsAllocated(
    Guid RegistrationId,
    Guid AccountId,
    string ModelCode,
    string SerialNumber,
    int Points,
    long CatalogueVersion,
    DateTimeOffset AllocatedAt);

/// <summary>The product left the account (sold, lost, registered in error). Its serial number is free again.</summary>
public sealed record ProductDeregistered(
    Guid RegistrationId,
    Guid AccountId,
    string ModelCode,
    string? SerialNumber,
    DeregistrationReason Reason,
    string? Note,
    DateTimeOffset DeregisteredAt);

/// <summary>Points allocated earlier were taken off the account (exactly the points allocated, whatever the catalogue says now).</summary>
public sealed record PointsRemoved(
    Guid RegistrationId,
    Guid AccountId,
    string ModelCode,
    string? SerialNumber,
    int Points,
    long CatalogueVersion,
    string Reason,
    DateTimeOffset RemovedAt);

/// <summary>Serial numbers as members type them, and as the ledger compares them.</summary>
public static class SerialNumbers
{
    /// <summary>For display and storage: trimmed, inner runs of whitespace collapsed to one space.</summary>
    public static string Tidy(string serial)
    {
        var builder = new StringBuilder(serial.Length);
        foreach (var part in serial.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            if (builder.Length > 0)
                builder.Append(' ');
            builder.Append(part);
        }

        return builder.ToString();
    }

    /// <summary>For comparison: no whitespace at all, upper-case ("ab 12 34" is "AB1234").</summary>
    public static string Normalize(string serial) =>
        string.Concat(serial.Where(c => !char.IsWhiteSpace(c))).ToUpperInvariant();

    /// <summary>What "one serial, one owner" compares: the model and the normalised serial number.</summary>
    public static string OwnershipKey(string modelCode, string serial) =>
        $"{Catalogue.ProductModelCode.Normalize(modelCode)}|{Normalize(serial)}";
}

/// <summary>
/// The registration's write model: what the decisions need, aggregated live from its short stream. Immutable: each event gives
/// a new value, so a decision can work out the state after its own events with the same methods Marten replays.
/// </summary>
public sealed record ProductRegistration(
    Guid Id,
    Guid AccountId,
    string ModelCode,
    string? SerialNumber,
    DateOnly? PurchaseDate,
    string? CountryOfPurchase,
    string? Dealer,
    IReadOnlyList<MandatoryDetail> BestGuesses,
    int? AllocatedPoints = null,
    long AllocatedCatalogueVersion = 0,
    bool Deregistered = false)
{
    public static ProductRegistration Create(ProductRegistered e) => new(e.RegistrationId, e.AccountId, e.ModelCode, e.SerialNumber,
        e.PurchaseDate, e.CountryOfPurchase, e.Dealer, [.. e.BestGuesses]);

    public ProductRegistration Apply(ProductDetailsAmended e) => this with
    {
        SerialNumber = e.SerialNumber ?? SerialNumber,
        PurchaseDate = e.PurchaseDate ?? PurchaseDate,
        CountryOfPurchase = e.CountryOfPurchase ?? CountryOfPurchase,
        Dealer = e.Dealer ?? Dealer,
        BestGuesses = [.. e.BestGuesses],
    };

    public ProductRegistration Apply(PointsAllocated e) => this with { AllocatedPoints = e.Points, AllocatedCatalogueVersion = e.CatalogueVersion };

    public ProductRegistration Apply(PointsRemoved _) => this with { AllocatedPoints = null };

    public ProductRegistration Apply(ProductDeregistered _) => this with { Deregistered = true };

    public RegistrationDetails Details => new(SerialNumber, PurchaseDate, CountryOfPurchase, Dealer);
}

/// <summary>A decision on a registration: the events to append, and the registration they lead to (what the response shows).</summary>
public sealed record RegistrationDecision(IReadOnlyList<object> Events, ProductRegistration After);

/// <summary>The four mandatory details, each possibly missing.</summary>
public sealed record RegistrationDetails(string? SerialNumber, DateOnly? PurchaseDate, string? CountryOfPurchase, string? Dealer)
{
    public IReadOnlyList<MandatoryDetail> Missing
    {
        get
        {
            var missing = new List<MandatoryDetail>(4);
            if (SerialNumber is null) missing.Add(MandatoryDetail.SerialNumber);
            if (PurchaseDate is null) missing.Add(MandatoryDetail.PurchaseDate);
            if (CountryOfPurchase is null) missing.Add(MandatoryDetail.CountryOfPurchase);
            if (Dealer is null) missing.Add(MandatoryDetail.Dealer);
            return missing;
        }
    }

    public bool IsComplete => SerialNumber is not null && PurchaseDate is not null && CountryOfPurchase is not null && Dealer is not null;
}

public static class ProductPoints
{
    /// <summary>
    /// Points are allocated once, the moment the last mandatory detail is given, at the model's value in force then. A model
    /// withdrawn after the product was registered still earns its last value: withdrawal stops new registrations only.
    /// </summary>
    public static PointsAllocated? AllocateIfDue(ProductRegistration registration, Catalogue.ProductModelView model, DateTimeOffset now) =>
        registration is { Deregistered: false, AllocatedPoints: null } && registration.Details.IsComplete
            ? new PointsAllocated(registration.Id, registration.AccountId, registration.ModelCode, registration.SerialNumber!,
                model.Points, model.CatalogueVersion, now)
            : null;

    /// <summary>A decided event and the registration after it, with the points added when that event made them due.</summary>
    public static RegistrationDecision WithPointsIfDue(object decided, ProductRegistration after, Catalogue.ProductModelView model,
        DateTimeOffset now) =>
        AllocateIfDue(after, model, now) is { } allocated ? new([decided, allocated], after.Apply(allocated)) : new([decided], after);
}
