using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Accounts;

/// <summary>A postal address as invoices print it (EN 16931 BG-5/BG-8: street, additional line, postal code, city, country).</summary>
public sealed record PostalAddress(string Street, string? AdditionalStreet, string PostalCode, string City, string Country)
{
    /// <summary>The lines of an address block, country last (by name for EU members).</summary>
    public IReadOnlyList<string> Lines() =>
        new[] { Street, AdditionalStreet, $"{PostalCode} {City}".Trim(), EuMemberStates.NameOf(Country) }
            .Where(l => !string.IsNullOrWhiteSpace(l)).Cast<string>().ToList();
}

/// <summary>
/// The account's billing address and VAT ID changed (set for the first time, corrected, or the VAT ID removed). Invoices
/// issued afterwards use them; invoices issued before keep what they were issued with.
/// </summary>
/// <param name="VatId">Normalised ("DE143454214"), or null: the buyer has none (VAT at its country's rate).</param>
/// <param name="VatIdCheck">How the VAT ID was checked when it was given (the check port's method), null without one.</param>
public sealed record BillingDetailsChanged(Guid AccountId, PostalAddress Address, string? VatId, string? VatIdCheck, DateTimeOffset ChangedAt);

/// <summary>Set the account's billing address and (optional) VAT ID.</summary>
/// <param name="VatId">EU VAT ID with its country prefix, e.g. "DE143454214" (EL for Greece); leave out when the company has none.</param>
public sealed record ChangeBillingDetails(BillingAddressInput Address, string? VatId);

/// <param name="Country">ISO 3166-1 alpha-2 code in upper case; for a VAT ID, its member state.</param>
public sealed record BillingAddressInput(string Street, string? AdditionalStreet, string PostalCode, string City, string Country);

public sealed class ChangeBillingDetailsValidator : AbstractValidator<ChangeBillingDetails>
{
    public ChangeBillingDetailsValidator()
    {
        RuleFor(x => x.Address).NotNull().WithMessage("The billing address is required.");
        // Field errors are keyed by the JSON path the client sent ("address.street").
        RuleFor(x => x.Address.Street).NotEmpty().MaximumLength(200).Must(NotBlank).WithMessage("Street must not be blank.")
            .OverridePropertyName("address.street").When(x => x.Address is not null);
        RuleFor(x => x.Address.AdditionalStreet).MaximumLength(200).OverridePropertyName("address.additionalStreet").When(x => x.Address is not null);
        RuleFor(x => x.Address.PostalCode).NotEmpty().MaximumLength(20).Must(NotBlank).WithMessage("Postal code must not be blank.")
            .OverridePropertyName("address.postalCode").When(x => x.Address is not null);
        RuleFor(x => x.Address.City).NotEmpty().MaximumLength(100).Must(NotBlank).WithMessage("City must not be blank.")
            .OverridePropertyName("address.city").When(x => x.Address is not null);
        RuleFor(x => x.Address.Country).NotEmpty().Must(CountryCodes.IsAssigned)
            .WithMessage("Country must be an ISO 3166-1 alpha-2 code in upper case, e.g. \"EE\".")
            .OverridePropertyName("address.country").When(x => x.Address is not null);
        RuleFor(x => x.VatId).MaximumLength(30);
    }

    private static bool NotBlank(string? text) => text is null || text.Trim().Length > 0;
}

/// <summary>What the portal shows: the billing address and VAT ID the next invoice will carry.</summary>
public sealed record BillingDetails(Guid AccountId, string CompanyName, PostalAddress? Address, string? VatId, DateTimeOffset? ChangedAt);

public static class BillingDetailsDecision
{
    /// <summary>
    /// The event, or the field that is wrong: a VAT ID must pass the check and belong to the billing address's member state
    /// (reverse charge is decided from it); buyers outside the EU have no EU VAT ID to record. Nothing changed: no event.
    /// </summary>
    public static (BillingDetailsChanged? Changed, ProblemDetails? Problem) Decide(Guid accountId, AccountView current, ChangeBillingDetails command,
        VatIdCheckResult? check, DateTimeOffset now)
    {
        var a = command.Address;
        var address = new PostalAddress(a.Street.Trim(), string.IsNullOrWhiteSpace(a.AdditionalStreet) ? null : a.AdditionalStreet.Trim(),
            a.PostalCode.Trim(), a.City.Trim(), a.Country);
        string? vatId = null;
        if (check is not null)
        {
            if (!EuMemberStates.Contains(address.Country))
                return (null, Problems.Invalid("vatId",
                    $"VAT IDs are recorded for buyers in EU member states; invoices to {address.Country} carry no EU VAT. Leave the VAT ID out."));
            if (!check.Valid)
                return (null, Problems.Invalid("vatId", check.Problem ?? "The VAT ID is not valid."));
            if (check.Country != address.Country)
                return (null, Problems.Invalid("vatId",
                    $"The VAT ID {check.VatId} is from {EuMemberStates.NameOf(check.Country!)}, but the billing address is in {EuMemberStates.NameOf(address.Country)}."));
            vatId = check.VatId;
        }

        if (current.BillingAddress == address && current.VatId == vatId)
            return (null, null);
        return (new BillingDetailsChanged(accountId, address, vatId, check?.Method, now), null);
    }
}

public static class ChangeBillingDetailsEndpoint
{
    [WolverinePut("/api/accounts/{accountId}/billing-details", OperationId = "ChangeBillingDetails")]
    [RequestExample("""{"address":{"street":"Kanalstraße 12","postalCode":"20095","city":"Hamburg","country":"DE"},"vatId":"DE143454214"}""")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Set the billing address and optional VAT ID that the account's next invoices carry (a VAT ID in another EU country than the seller's means reverse charge)")]
    [ProducesResponseType<BillingDetails>(StatusCodes.Status200OK)]
    public static async Task<IResult> Put(Guid accountId, ChangeBillingDetails command, IDocumentSession session, IVatIdCheck vatIds,
        TimeProvider clock, CancellationToken ct)
    {
        // The write model gives the expected stream version (a concurrent change conflicts); the view holds the details.
        var stream = await session.Events.FetchForWriting<BusinessAccount>(accountId, ct);
        var view = await session.LoadAsync<AccountView>(accountId, ct);
        if (stream.Aggregate is null || view is null)
            return Results.Problem(Problems.AccountNotFound);

        var check = string.IsNullOrWhiteSpace(command.VatId) ? null : await vatIds.CheckAsync(command.VatId, ct);
        var (changed, problem) = BillingDetailsDecision.Decide(accountId, view, command, check, clock.GetUtcNow());
        if (problem is not null)
            return Results.Problem(problem);
        if (changed is null)
            return Results.Ok(new BillingDetails(accountId, view.CompanyName, view.BillingAddress, view.VatId, view.BillingDetailsChangedAt));

        stream.AppendOne(changed);
        return Results.Ok(new BillingDetails(accountId, view.CompanyName, changed.Address, changed.VatId, changed.ChangedAt));
    }
}

public static class GetBillingDetailsEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/billing-details", OperationId = "GetBillingDetails")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("The billing address and VAT ID the account's next invoice will carry (null until set)")]
    [ProducesResponseType<BillingDetails>(StatusCodes.Status200OK)]
    public static async Task<IResult> Get(Guid accountId, IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<AccountView>(accountId, ct) is { } view
            ? Results.Ok(new BillingDetails(accountId, view.CompanyName, view.BillingAddress, view.VatId, view.BillingDetailsChangedAt))
            : Results.Problem(Problems.AccountNotFound);
}
