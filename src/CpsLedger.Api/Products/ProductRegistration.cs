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

/// <summary>The registration's write model: what the decisions need, aggregated live from its stream.</summary>
public sealed class ProductRegistration
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public string ModelCode { get; set; } = "";
    public string? SerialNumber { get; set; }
    public DateOnly? PurchaseDate { get; set; }
    public string? CountryOfPurchase { get; set; }
    public string? Dealer { get; set; }
    public List<MandatoryDetail> BestGuesses { get; set; } = [];
    public int? AllocatedPoints { get; set; }
    public long AllocatedCatalogueVersion { get; set; }
    public bool Deregistered { get; set; }

    public static ProductRegistration Create(ProductRegistered e) => new()
    {
        Id = e.RegistrationId,
        AccountId = e.AccountId,
        ModelCode = e.ModelCode,
        SerialNumber = e.SerialNumber,
        PurchaseDate = e.PurchaseDate,
        CountryOfPurchase = e.CountryOfPurchase,
        Dealer = e.Dealer,
        BestGuesses = [.. e.BestGuesses],
    };

    public void Apply(ProductDetailsAmended e)
    {
        SerialNumber = e.SerialNumber ?? SerialNumber;
        PurchaseDate = e.PurchaseDate ?? PurchaseDate;
        CountryOfPurchase = e.CountryOfPurchase ?? CountryOfPurchase;
        Dealer = e.Dealer ?? Dealer;
        BestGuesses = [.. e.BestGuesses];
    }

    public void Apply(PointsAllocated e)
    {
        AllocatedPoints = e.Points;
        AllocatedCatalogueVersion = e.CatalogueVersion;
    }

    public void Apply(PointsRemoved _) => AllocatedPoints = null;

    public void Apply(ProductDeregistered _) => Deregistered = true;

    public RegistrationDetails Details => new(SerialNumber, PurchaseDate, CountryOfPurchase, Dealer);
}

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

public static class ProductRegistrations
{
    /// <summary>
    /// The registration for writing, when it is this account's and still registered; otherwise the answer to give (404 for
    /// another account's registration too, so its existence is not revealed; 409 once deregistered).
    /// </summary>
    public static async Task<(JasperFx.Events.IEventStream<ProductRegistration> Stream, IResult? Refusal)> FetchRegisteredAsync(
        Marten.IDocumentSession session, Guid accountId, Guid registrationId, CancellationToken ct)
    {
        var stream = await session.Events.FetchForWriting<ProductRegistration>(registrationId, ct);
        if (stream.Aggregate is not { } registration || registration.AccountId != accountId)
            return (stream, ProductProblems.NotFound());
        return (stream, registration.Deregistered ? ProductProblems.AlreadyDeregistered() : null);
    }

    /// <summary>The registration after these events: what a command's response reports before the projections are read.</summary>
    public static ProductRegistration Replay(IEnumerable<object> events, ProductRegistration? start = null)
    {
        var registration = start;
        foreach (var e in events)
        {
            switch (e)
            {
                case ProductRegistered registered: registration = ProductRegistration.Create(registered); break;
                case ProductDetailsAmended amended: registration!.Apply(amended); break;
                case PointsAllocated allocated: registration!.Apply(allocated); break;
                case PointsRemoved removed: registration!.Apply(removed); break;
                case ProductDeregistered deregistered: registration!.Apply(deregistered); break;
            }
        }

        return registration ?? throw new InvalidOperationException("A registration starts with ProductRegistered.");
    }
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
}
