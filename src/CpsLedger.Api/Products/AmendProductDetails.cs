using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Marten.Events;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Products;

/// <summary>
/// Complete or correct a registration's mandatory details. Only the details given change; completing the last missing one
/// allocates the points. The model cannot change: deregister and register again.
/// </summary>
/// <param name="ModelCode">Leave out. Present only so that an attempt to change the model gets a clear answer.</param>
/// <param name="BestGuesses">Which of the details given in this request are a best guess; details not given keep their flag.</param>
public sealed record AmendProductDetails(
    string? SerialNumber,
    DateOnly? PurchaseDate,
    string? CountryOfPurchase,
    string? Dealer,
    IReadOnlyList<MandatoryDetail>? BestGuesses,
    string? ModelCode);

public sealed class AmendProductDetailsValidator : AbstractValidator<AmendProductDetails>
{
    public AmendProductDetailsValidator(TimeProvider clock)
    {
        RuleFor(x => x)
            .Must(x => x.SerialNumber is not null || x.PurchaseDate is not null || x.CountryOfPurchase is not null || x.Dealer is not null
                       || x.BestGuesses is not null)
            .WithName("details")
            .WithMessage("Give at least one detail to complete or correct.")
            .When(x => x.ModelCode is null);
        this.ApplyDetailRules(clock, x => x.SerialNumber, x => x.PurchaseDate, x => x.CountryOfPurchase, x => x.Dealer, x => x.BestGuesses);
    }
}

public static class AmendProductDetailsEndpoint
{
    /// <summary>
    /// The decision: the details that actually change (nothing when the request repeats what is stored), and the points when
    /// this amendment completes the details. An exact value given again replaces a best guess.
    /// </summary>
    public static IReadOnlyList<object> Decide(ProductRegistration registration, AmendProductDetails command, ProductModelView model,
        DateTimeOffset now)
    {
        var serial = command.SerialNumber is null ? null : SerialNumbers.Tidy(command.SerialNumber);
        // The same serial typed differently ("ab 12" for "AB12") is no change.
        var serialChanges = serial is not null && (registration.SerialNumber is null
                                                   || SerialNumbers.Normalize(serial) != SerialNumbers.Normalize(registration.SerialNumber));
        var dealer = command.Dealer?.Trim();
        var purchaseDate = command.PurchaseDate != registration.PurchaseDate ? command.PurchaseDate : null;
        var country = command.CountryOfPurchase != registration.CountryOfPurchase ? command.CountryOfPurchase : null;
        dealer = dealer != registration.Dealer ? dealer : null;

        var given = new List<MandatoryDetail>();
        if (command.SerialNumber is not null) given.Add(MandatoryDetail.SerialNumber);
        if (command.PurchaseDate is not null) given.Add(MandatoryDetail.PurchaseDate);
        if (command.CountryOfPurchase is not null) given.Add(MandatoryDetail.CountryOfPurchase);
        if (command.Dealer is not null) given.Add(MandatoryDetail.Dealer);
        var marked = command.BestGuesses ?? [];
        var bestGuesses = registration.BestGuesses.Where(d => !given.Contains(d)).Concat(marked).Distinct().Order().ToList();

        if (!serialChanges && purchaseDate is null && country is null && dealer is null
            && bestGuesses.SequenceEqual(registration.BestGuesses.Order()))
            return [];

        var amended = new ProductDetailsAmended(
            registration.Id,
            registration.AccountId,
            registration.ModelCode,
            serialChanges ? serial : null,
            serialChanges ? registration.SerialNumber : null,
            purchaseDate,
            country,
            dealer,
            bestGuesses,
            now);
        var after = ProductRegistrations.Replay([amended], Copy(registration));
        return ProductPoints.AllocateIfDue(after, model, now) is { } allocated ? [amended, allocated] : [amended];
    }

    [WolverinePatch("/api/accounts/{accountId}/products/{registrationId}", OperationId = "AmendProductDetails")]
    [RequestExample("""{"dealer":"Photopoint"}""")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [Tags("Products")]
    [EndpointSummary("Complete or correct a product's mandatory details (completing them allocates the points)")]
    [ProducesResponseType<ProductRegistrationStatus>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<IResult> Patch(Guid accountId, Guid registrationId, AmendProductDetails command, IDocumentSession session,
        TimeProvider clock, CancellationToken ct)
    {
        var (stream, refusal) = await ProductRegistrations.FetchRegisteredAsync(session, accountId, registrationId, ct);
        if (refusal is not null)
            return refusal;
        var registration = stream.Aggregate!;
        if (command.ModelCode is not null && ProductModelCode.Normalize(command.ModelCode) != ProductModelCode.Normalize(registration.ModelCode))
            return Results.Problem(Problems.Invalid("modelCode",
                "The model of a registration cannot be changed. Deregister it (reason: registered in error) and register the right model."));

        var model = await session.LoadAsync<ProductModelView>(ProductModelCode.StreamIdFor(registration.ModelCode), ct)
                    ?? throw new InvalidOperationException($"Catalogue model {registration.ModelCode} of registration {registrationId} is missing.");
        var events = Decide(registration, command, model, clock.GetUtcNow());
        stream.AppendMany(events);
        return Results.Ok(ProductRegistrationStatus.Of(ProductRegistrations.Replay(events, registration)));
    }

    private static ProductRegistration Copy(ProductRegistration r) => new()
    {
        Id = r.Id,
        AccountId = r.AccountId,
        ModelCode = r.ModelCode,
        SerialNumber = r.SerialNumber,
        PurchaseDate = r.PurchaseDate,
        CountryOfPurchase = r.CountryOfPurchase,
        Dealer = r.Dealer,
        BestGuesses = [.. r.BestGuesses],
        AllocatedPoints = r.AllocatedPoints,
        AllocatedCatalogueVersion = r.AllocatedCatalogueVersion,
        Deregistered = r.Deregistered,
    };
}

public static class ProductProblems
{
    public static IResult NotFound() => Results.Problem(Problems.NotFound("Product not found",
        "This account has no registered product with this id."));

    public static IResult AlreadyDeregistered() => Results.Problem(Problems.Conflict("Product deregistered",
        "This product was deregistered. To own it again, register it again."));
}
