using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Accounts;

/// <summary>A postal address as invoices print it (EN 16931 BG-5/BG-8: street, additional line, postal code, city, country).</summary>
/// <param name="Street">Street and number (BT-35/BT-50).</param>
/// <param name="AdditionalStreet">A second address line; null when none.</param>
/// <param name="PostalCode">The postal code.</param>
/// <param name="City">The city.</param>
/// <param name="Country">ISO 3166-1 alpha-2 code.</param>
public sealed record PostalAddress(string Street, string? AdditionalStreet, string PostalCode, string City, string Country)
{
    /// <summary>The lines of an address block, the country last by its English name.</summary>
    public IReadOnlyList<string> Lines() =>
        new[] { Street, AdditionalStreet, $"{PostalCode} {City}".Trim(), CountryCodes.NameOf(Country) }
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
/// <param name="SupportReason">Support only, and required from support: why it changes the member's billing details. Recorded on
/// the event the change writes and listed among the support overrides. A member or the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
/// <param name="Address">The billing address invoices will print from now on.</param>
public sealed record ChangeBillingDetails(
    BillingAddressInput Address,
    string? VatId,
    [property: MultiLineText] string? SupportReason = null,
    string? TicketReference = null);

/// <summary>The billing address as a request gives it (trimmed when recorded; a blank second line is recorded as none).</summary>
/// <param name="Country">ISO 3166-1 alpha-2 code in upper case; for a VAT ID, its member state.</param>
/// <param name="Street">Street and number.</param>
/// <param name="AdditionalStreet">A second address line; leave out when none.</param>
/// <param name="PostalCode">The postal code.</param>
/// <param name="City">The city.</param>
public sealed record BillingAddressInput(string Street, string? AdditionalStreet, string PostalCode, string City, string Country);

public sealed class ChangeBillingDetailsValidator : AbstractValidator<ChangeBillingDetails>
{
    public ChangeBillingDetailsValidator()
    {
        RuleFor(x => x.Address).NotNull().WithMessage("The billing address is required.");
        // Field errors are keyed by the JSON path the client sent ("address.street").
        // Every line is printed on invoices: characters their fonts have no glyph for are refused (Invoicing/PrintableText.cs).
        RuleFor(x => x.Address.Street).NotEmpty().MaximumLength(200).PrintableOnInvoices()
            .OverridePropertyName("address.street").When(x => x.Address is not null);
        RuleFor(x => x.Address.AdditionalStreet).MaximumLength(200).PrintableOnInvoices().OverridePropertyName("address.additionalStreet").When(x => x.Address is not null);
        RuleFor(x => x.Address.PostalCode).NotEmpty().MaximumLength(20).PrintableOnInvoices()
            .OverridePropertyName("address.postalCode").When(x => x.Address is not null);
        RuleFor(x => x.Address.City).NotEmpty().MaximumLength(100).PrintableOnInvoices()
            .OverridePropertyName("address.city").When(x => x.Address is not null);
        RuleFor(x => x.Address.Country).NotEmpty().Must(CountryCodes.IsAssigned)
            .WithMessage("Country must be an ISO 3166-1 alpha-2 code in upper case, e.g. \"EE\".")
            .OverridePropertyName("address.country").When(x => x.Address is not null);
        RuleFor(x => x.VatId).MaximumLength(30);
        // Whether they are required or refused depends on the caller: ChangeBillingDetailsEndpoint.Before.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

/// <summary>What the portal shows: the billing address and VAT ID the next invoice will carry.</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="CompanyName">The company name invoices print.</param>
/// <param name="Address">The billing address; null until set.</param>
/// <param name="VatId">The EU VAT ID; null when none was given.</param>
/// <param name="ChangedAt">When the billing details were last set, UTC; null until set.</param>
public sealed record BillingDetails(Guid AccountId, string CompanyName, PostalAddress? Address, string? VatId, DateTimeOffset? ChangedAt);

public static class BillingDetailsDecision
{
    public static PostalAddress AddressOf(BillingAddressInput a) =>
        new(a.Street.Trim(), string.IsNullOrWhiteSpace(a.AdditionalStreet) ? null : a.AdditionalStreet.Trim(), a.PostalCode.Trim(), a.City.Trim(),
            a.Country);

    /// <summary>
    /// A VAT ID must pass the check and belong to the billing address's member state (reverse charge is decided from it); buyers
    /// outside the EU have no EU VAT ID to record. The field that is wrong, or nothing.
    /// </summary>
    public static ProblemDetails Validate(ChangeBillingDetails command, VatIdCheckResult? check)
    {
        if (check is null)
            return WolverineContinue.NoProblems;
        var country = command.Address.Country;
        if (!EuMemberStates.Contains(country))
            return Problems.Invalid("vatId",
                $"VAT IDs are recorded for buyers in EU member states; invoices to {country} carry no EU VAT. Leave the VAT ID out.");
        if (!check.Valid)
            return Problems.Invalid("vatId", check.Problem ?? "The VAT ID is not valid.");
        if (check.Country != country)
            return Problems.Invalid("vatId",
                $"The VAT ID {check.VatId} is from {CountryCodes.NameOf(check.Country!)}, but the billing address is in {CountryCodes.NameOf(country)}.");
        return WolverineContinue.NoProblems;
    }

    /// <summary>The event for details that passed <see cref="Validate"/>; nothing changed: no event.</summary>
    public static BillingDetailsChanged? Decide(Guid accountId, AccountView current, ChangeBillingDetails command, VatIdCheckResult? check,
        DateTimeOffset now)
    {
        var address = AddressOf(command.Address);
        var vatId = check?.VatId;
        if (current.BillingAddress == address && current.VatId == vatId)
            return null;
        return new BillingDetailsChanged(accountId, address, vatId, check?.Method, now);
    }
}

/// <summary>What the VAT ID check port answered (null: no VAT ID given), with the account as the portal shows it.</summary>
public sealed record BillingDetailsContext(AccountView Account, VatIdCheckResult? Check);

public static class ChangeBillingDetailsEndpoint
{
    // Before the VAT ID goes to the check port: support's reason and ticket, on the change's event (SupportReason.OnBehalf).
    public static ProblemDetails Before(ChangeBillingDetails command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    public static async Task<BillingDetailsContext> LoadAsync(Guid accountId, ChangeBillingDetails command, IQuerySession session,
        IVatIdCheck vatIds, CancellationToken ct)
    {
        // The account exists (the {accountId} policy checked it before).
        var account = await session.LoadAsync<AccountView>(accountId, ct) ?? throw new AccountNotFoundException(accountId);
        return new BillingDetailsContext(account, string.IsNullOrWhiteSpace(command.VatId) ? null : await vatIds.CheckAsync(command.VatId, ct));
    }

    public static ProblemDetails Validate(ChangeBillingDetails command, BillingDetailsContext context) =>
        BillingDetailsDecision.Validate(command, context.Check);

    [WolverinePut("/api/accounts/{accountId}/billing-details", OperationId = "ChangeBillingDetails")]
    [RequestExample("""{"address":{"street":"Kanalstraße 12","postalCode":"20095","city":"Hamburg","country":"DE"},"vatId":"DE143454214"}""")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Set the billing address and optional VAT ID that the account's next invoices carry (a VAT ID in another EU country than the seller's means reverse charge); support also gives supportReason and ticketReference")]
    public static (BillingDetails, Events) Put(Guid accountId, ChangeBillingDetails command, [WriteAggregate("accountId")] BusinessAccount account,
        BillingDetailsContext context, TimeProvider clock)
    {
        var view = context.Account;
        var changed = BillingDetailsDecision.Decide(accountId, view, command, context.Check, clock.GetUtcNow());
        return changed is null
            ? (new BillingDetails(accountId, view.CompanyName, view.BillingAddress, view.VatId, view.BillingDetailsChangedAt), [])
            : (new BillingDetails(accountId, view.CompanyName, changed.Address, changed.VatId, changed.ChangedAt), [changed]);
    }
}

public static class GetBillingDetailsEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/billing-details", OperationId = "GetBillingDetails")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("The billing address and VAT ID the account's next invoice will carry (null until set)")]
    public static async Task<Results<Ok<BillingDetails>, ProblemHttpResult>> Get(Guid accountId, IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<AccountView>(accountId, ct) is { } view
            ? TypedResults.Ok(new BillingDetails(accountId, view.CompanyName, view.BillingAddress, view.VatId, view.BillingDetailsChangedAt))
            : TypedResults.Problem(Problems.AccountNotFound);
}
