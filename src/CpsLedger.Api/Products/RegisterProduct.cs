using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Platform;
using System.Security.Claims;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Products;

/// <summary>Register a product under a business account ("My Products"). Any of the four mandatory details may be left out.</summary>
/// <param name="ModelCode">Catalogue code of the product model, e.g. "EOS-R5".</param>
/// <param name="SerialNumber">As printed on the product; compared without spaces and case.</param>
/// <param name="PurchaseDate">Not in the future.</param>
/// <param name="CountryOfPurchase">ISO 3166-1 alpha-2 code, e.g. "EE".</param>
/// <param name="Dealer">Where the product was bought.</param>
/// <param name="BestGuesses">Which of the given details are a best guess rather than exact.</param>
/// <param name="SupportReason">Support only, and required from support: why it registers a product on the member's account.
/// Recorded on every event the registration writes and listed among the support overrides. A member or the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record RegisterProduct(
    string ModelCode,
    string? SerialNumber,
    DateOnly? PurchaseDate,
    string? CountryOfPurchase,
    string? Dealer,
    IReadOnlyList<MandatoryDetail>? BestGuesses,
    [property: MultiLineText] string? SupportReason = null,
    string? TicketReference = null);

public sealed class RegisterProductValidator : AbstractValidator<RegisterProduct>
{
    public RegisterProductValidator(TimeProvider clock)
    {
        RuleFor(x => x.ModelCode).NotEmpty().MaximumLength(40);
        this.ApplyDetailRules(clock, x => x.SerialNumber, x => x.PurchaseDate, x => x.CountryOfPurchase, x => x.Dealer, x => x.BestGuesses);
        // Whether they are required or refused depends on the caller: RegisterProductEndpoint.Validate.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

/// <summary>The rules a mandatory detail obeys whenever it is given, at registration or in an amendment.</summary>
public static class MandatoryDetailRules
{
    public const int MaxSerialLength = 64;
    public const int MaxDealerLength = 200;
    public static readonly DateOnly EarliestPurchaseDate = new(1950, 1, 1);

    public static void ApplyDetailRules<T>(this AbstractValidator<T> validator, TimeProvider clock,
        System.Linq.Expressions.Expression<Func<T, string?>> serial,
        System.Linq.Expressions.Expression<Func<T, DateOnly?>> purchaseDate,
        System.Linq.Expressions.Expression<Func<T, string?>> country,
        System.Linq.Expressions.Expression<Func<T, string?>> dealer,
        System.Linq.Expressions.Expression<Func<T, IReadOnlyList<MandatoryDetail>?>> bestGuesses)
    {
        // Compiled once, when the (singleton) validator is built: compiling in the conditions cost every request about
        // nine expression compilations (9 % of the service's busy time in benchmark P1).
        var serialOf = serial.Compile();
        var purchaseDateOf = purchaseDate.Compile();
        var countryOf = country.Compile();
        var dealerOf = dealer.Compile();
        var bestGuessesOf = bestGuesses.Compile();

        validator.RuleFor(serial)
            .Must(s => s!.Trim().Length > 0).WithMessage("Serial number must not be blank; leave it out when it is not known.")
            .Must(s => SerialNumbers.Tidy(s!).Length <= MaxSerialLength).WithMessage($"Serial number must be at most {MaxSerialLength} characters.")
            .Must(s => s!.All(c => char.IsLetterOrDigit(c) || c is '-' or '/' or '.' || char.IsWhiteSpace(c)))
            .WithMessage("Serial number may contain only letters, digits, spaces and - / .")
            .When(x => serialOf(x) is not null);
        validator.RuleFor(purchaseDate)
            .Must(d => d!.Value <= LatestPossiblePurchaseDate(clock)).WithMessage("Purchase date must not be in the future.")
            .Must(d => d!.Value >= EarliestPurchaseDate).WithMessage($"Purchase date must not be before {EarliestPurchaseDate:yyyy-MM-dd}.")
            .When(x => purchaseDateOf(x) is not null);
        validator.RuleFor(country)
            .Must(CountryCodes.IsAssigned).WithMessage("Country of purchase must be an ISO 3166-1 alpha-2 code in upper case, e.g. \"EE\".")
            .When(x => countryOf(x) is not null);
        validator.RuleFor(dealer)
            .Must(d => d!.Trim().Length > 0).WithMessage("Dealer must not be blank; leave it out when it is not known.")
            .MaximumLength(MaxDealerLength)
            .When(x => dealerOf(x) is not null);

        var given = new Func<T, MandatoryDetail, bool>((x, detail) => detail switch
        {
            MandatoryDetail.SerialNumber => serialOf(x) is not null,
            MandatoryDetail.PurchaseDate => purchaseDateOf(x) is not null,
            MandatoryDetail.CountryOfPurchase => countryOf(x) is not null,
            _ => dealerOf(x) is not null,
        });
        validator.RuleFor(bestGuesses)
            .Must(list => list!.Distinct().Count() == list!.Count).WithMessage("Best guesses must not repeat.")
            .Must((x, list) => list!.All(d => Enum.IsDefined(d) && given(x, d)))
            .WithMessage("Only a detail given in this request can be marked as a best guess.")
            .When(x => bestGuessesOf(x) is not null);
    }

    // A purchase made today anywhere on Earth (the date line is at most 14 hours ahead of UTC) is not in the future.
    public static DateOnly LatestPossiblePurchaseDate(TimeProvider clock) =>
        DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime.AddHours(14));
}

/// <summary>A registration's answer: where it lives and what the member sees at once (green tick, points, what is missing).</summary>
/// <param name="RegistrationId">The registration's id: the product's id in the products routes.</param>
/// <param name="Url">Where the product is read: <c>/api/accounts/{accountId}/products/{registrationId}</c>.</param>
/// <param name="ModelCode">The catalogue model code registered.</param>
/// <param name="SerialNumber">The serial number as given, spaces tidied to single spaces; null while missing.</param>
/// <param name="GreenTick">True when all four details are given and the points are allocated.</param>
/// <param name="Points">Points the product counts now; 0 while details are missing or once deregistered.</param>
/// <param name="MissingDetails">The mandatory details still missing (empty once complete).</param>
/// <param name="BestGuesses">The given details marked as a best guess.</param>
/// <param name="Deregistered">True once the product was deregistered.</param>
public sealed record ProductRegistrationStatus(
    Guid RegistrationId,
    string Url,
    string ModelCode,
    string? SerialNumber,
    bool GreenTick,
    int Points,
    IReadOnlyList<MandatoryDetail> MissingDetails,
    IReadOnlyList<MandatoryDetail> BestGuesses,
    bool Deregistered)
{
    public static ProductRegistrationStatus Of(ProductRegistration registration) => new(
        registration.Id,
        $"/api/accounts/{registration.AccountId}/products/{registration.Id}",
        registration.ModelCode,
        registration.SerialNumber,
        registration.AllocatedPoints is not null,
        registration.AllocatedPoints ?? 0,
        registration.Deregistered ? [] : registration.Details.Missing,
        registration.BestGuesses,
        registration.Deregistered);
}

public static class RegisterProductEndpoint
{
    /// <summary>
    /// The decision: the registration, and its points at once when all four details are given, at the catalogue value in force.
    /// </summary>
    public static RegistrationDecision Decide(Guid registrationId, Guid accountId, RegisterProduct command, ProductModelView model,
        RegistrationSource source, DateTimeOffset now)
    {
        var registered = new ProductRegistered(
            registrationId,
            accountId,
            model.Code,
            model.Name,
            model.Category,
            command.SerialNumber is null ? null : SerialNumbers.Tidy(command.SerialNumber),
            command.PurchaseDate,
            command.CountryOfPurchase,
            command.Dealer?.Trim(),
            [.. (command.BestGuesses ?? []).Order()],
            source,
            now);
        return ProductPoints.WithPointsIfDue(registered, ProductRegistration.Create(registered), model, now);
    }

    // The account itself is checked by the policy on every {accountId} route (Platform/AccountScope.cs).
    // A query plan, so Wolverine reads the model in the same batch as that check: one round trip.
    public static ProductModelByCode Load(RegisterProduct command) => new(command.ModelCode);

    // Support's reason and ticket, on the registration and the points it allocates alike (SupportReason.OnBehalf).
    public static ProblemDetails Before(RegisterProduct command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    public static ProblemDetails Validate(ProductModelView? model, RegisterProduct command) => CatalogueChecks.Registrable(model, command.ModelCode);

    [WolverinePost("/api/accounts/{accountId}/products", OperationId = "RegisterProduct")]
    [RequestExample("""{"modelCode":"EOS-R5","serialNumber":"0123 4567","purchaseDate":"2024-03-01","countryOfPurchase":"EE","bestGuesses":["purchase_date"]}""")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Register a product (points are allocated once all four mandatory details are given); support also gives supportReason and ticketReference")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static (ProductRegistrationCreated, IStartStream) Post(Guid accountId, RegisterProduct command, ProductModelView model,
        TimeProvider clock)
    {
        var registrationId = Guid.CreateVersion7();
        var decision = Decide(registrationId, accountId, command, model, RegistrationSource.Registration, clock.GetUtcNow());
        return (new ProductRegistrationCreated(ProductRegistrationStatus.Of(decision.After)),
            MartenOps.StartStream<ProductRegistration>(registrationId, [.. decision.Events]));
    }
}

/// <summary>201 Created with Location, and the registration's status as the body.</summary>
/// <param name="Registration">The new registration: what the member sees at once.</param>
public sealed record ProductRegistrationCreated(ProductRegistrationStatus Registration) : CreationResponse(Registration.Url);

public static class CatalogueChecks
{
    /// <summary>Only a listed model can be registered; the message says which code and why.</summary>
    public static ProblemDetails Registrable(ProductModelView? model, string code) => model switch
    {
        null => Problems.Invalid("modelCode", $"There is no product model with code \"{code.Trim()}\" in the catalogue."),
        { Withdrawn: true } => Problems.Invalid("modelCode",
            $"Product model \"{model.Code}\" ({model.Name}) was withdrawn from the catalogue and can no longer be registered."),
        _ => WolverineContinue.NoProblems,
    };
}
