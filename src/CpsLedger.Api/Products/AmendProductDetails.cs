using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Platform;
using System.Security.Claims;
using FluentValidation;
using Marten;
using Wolverine.Marten;
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
/// <param name="SupportReason">Support only, and required from support: why it changes the member's registration. Recorded on every
/// event the change writes and listed among the support overrides. A member or the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
/// <param name="SerialNumber">As printed on the product; leave out to keep the one recorded.</param>
/// <param name="PurchaseDate">The day it was bought, not in the future; leave out to keep the one recorded.</param>
/// <param name="CountryOfPurchase">ISO 3166-1 alpha-2 code, e.g. "EE"; leave out to keep the one recorded.</param>
/// <param name="Dealer">Where it was bought; leave out to keep the one recorded.</param>
public sealed record AmendProductDetails(
    string? SerialNumber,
    DateOnly? PurchaseDate,
    string? CountryOfPurchase,
    string? Dealer,
    IReadOnlyList<MandatoryDetail>? BestGuesses,
    string? ModelCode,
    [property: MultiLineText] string? SupportReason = null,
    string? TicketReference = null);

public sealed class AmendProductDetailsValidator : AbstractValidator<AmendProductDetails>
{
    public AmendProductDetailsValidator(TimeProvider clock)
    {
        RuleFor(x => x)
            .Must(x => x.SerialNumber is not null || x.PurchaseDate is not null || x.CountryOfPurchase is not null || x.Dealer is not null
                       || x.BestGuesses is { Count: > 0 })
            .OverridePropertyName(RequestGate.BodyKey) // no member is wrong: the body as a whole says nothing
            .WithMessage("Give at least one detail to complete or correct.")
            .When(x => x.ModelCode is null);
        this.ApplyDetailRules(clock, x => x.SerialNumber, x => x.PurchaseDate, x => x.CountryOfPurchase, x => x.Dealer, x => x.BestGuesses);
        // Whether they are required or refused depends on the caller: AmendProductDetailsEndpoint.Validate.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

public static class AmendProductDetailsEndpoint
{
    /// <summary>
    /// The decision: the details that actually change (nothing when the request repeats what is stored), and the points when
    /// this amendment completes the details. An exact value given again replaces a best guess.
    /// </summary>
    public static RegistrationDecision Decide(ProductRegistration registration, AmendProductDetails command, ProductModelView model,
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
            return new([], registration);

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
        return ProductPoints.WithPointsIfDue(amended, registration.Apply(amended), model, now);
    }

    // Support's reason and ticket, on the amendment and the points it allocates alike (SupportReason.OnBehalf).
    public static ProblemDetails Before(AmendProductDetails command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    public static ProblemDetails Validate(Guid accountId, ProductRegistration? registration, AmendProductDetails command)
    {
        if (ProductChecks.Registered(accountId, registration) is { Status: not null } refused)
            return refused;
        return command.ModelCode is not null && ProductModelCode.Normalize(command.ModelCode) != ProductModelCode.Normalize(registration!.ModelCode)
            ? Problems.Invalid("modelCode",
                "The model of a registration cannot be changed. Deregister it (reason: registered in error) and register the right model.")
            : WolverineContinue.NoProblems;
    }

    // A query plan, so Wolverine reads the model in the same batch as the registration's events and the account check.
    public static ModelOfRegistration Load(Guid registrationId) => new(registrationId);

    // The model's points value in force now: completing the details allocates it. Read again only when the batch could not
    // find it through the registration's view (a view being rebuilt): never decided on a model other than the registration's.
    // Validate ran first: the registration is there.
    public static async Task<ProductModelView> LoadAsync(ProductRegistration? registration, ModelOfRegistration.Found batched,
        IQuerySession session, CancellationToken ct) =>
        batched.Model is { } model && ProductModelCode.Normalize(model.Code) == ProductModelCode.Normalize(registration!.ModelCode)
            ? model
            : await session.LoadAsync<ProductModelView>(ProductModelCode.StreamIdFor(registration!.ModelCode), ct)
              ?? throw new InvalidOperationException($"Catalogue model {registration.ModelCode} of registration {registration.Id} is missing.");

    [WolverinePatch("/api/accounts/{accountId}/products/{registrationId}", OperationId = "AmendProductDetails")]
    [RequestExample("""{"dealer":"Photopoint"}""")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Complete or correct a product's mandatory details (completing them allocates the points); support also gives supportReason and ticketReference")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    [ReusesLoadedDocuments]
    public static (ProductRegistrationStatus, Events) Patch(AmendProductDetails command,
        // Not required: a missing registration is Validate's "Product not found", worded as another account's and as the GET's.
        [WriteAggregate("registrationId", Required = false)] ProductRegistration? registration, ProductModelView model, TimeProvider clock)
    {
        var decision = Decide(registration!, command, model, clock.GetUtcNow());
        return (ProductRegistrationStatus.Of(decision.After), [.. decision.Events]);
    }
}

/// <summary>
/// The catalogue model of a registration, found by the model code in the registration's <see cref="ProductView"/> (written
/// inline with the registration): a query that can join the batch of the registration's own events, whose model code is not
/// known before that batch has run. <see cref="AmendProductDetailsEndpoint.LoadAsync"/> checks the code against the events.
/// In a batch it loads the view too: in the PATCH's session (<see cref="ReusesLoadedDocumentsAttribute"/>) the inline
/// ProductView projection then finds it in the identity map and does not read it again.
/// </summary>
public sealed class ModelOfRegistration(Guid registrationId) : IBatchQueryPlan<ModelOfRegistration.Found>, IQueryPlan<ModelOfRegistration.Found>
{
    /// <summary>The model, or null when the registration has no view (none, or a rebuild under way).</summary>
    public sealed record Found(ProductModelView? Model);

    public async Task<Found> Fetch(Marten.Services.BatchQuerying.IBatchedQuery query)
    {
        var view = query.Load<ProductView>(registrationId);
        var model = query.Query<ProductModelView>(Where(query.Parent), registrationId);
        await view;
        return new((await model).SingleOrDefault());
    }

    public async Task<Found> Fetch(IQuerySession session, CancellationToken token) =>
        new((await session.QueryAsync<ProductModelView>(Where(session), token, registrationId)).SingleOrDefault());

    // By the catalogue's unique index on the code, through the view's primary key.
    private static string Where(IQuerySession session) =>
        "where data ->> 'Code' = (select p.data ->> 'ModelCode' from "
        + session.DocumentStore.Options.FindOrResolveDocumentType(typeof(ProductView)).TableName.QualifiedName
        + " as p where p.id = ?)";
}

public static class ProductChecks
{
    public const string NotFoundDetail = "This account has no registered product with this id.";

    /// <summary>An unknown registration and another account's read alike, whether read or changed: its existence is not revealed.</summary>
    public static ProblemDetails NotFound => Problems.NotFound("Product not found", NotFoundDetail);

    /// <summary>
    /// Only this account's registration, while registered, can be changed: 404 for none with this id or another account's,
    /// 409 once deregistered.
    /// </summary>
    public static ProblemDetails Registered(Guid accountId, ProductRegistration? registration) =>
        registration is null || registration.AccountId != accountId ? NotFound
        : registration.Deregistered ? Problems.Conflict("Product deregistered", "This product was deregistered. To own it again, register it again.")
        : WolverineContinue.NoProblems;
}
