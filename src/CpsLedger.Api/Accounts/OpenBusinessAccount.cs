using System.Globalization;
using System.Net.Mail;
using System.Security.Claims;
using System.Text.Json.Serialization;
using CpsLedger.Api.Platform;
using FluentValidation;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Accounts;

/// <summary>Open a business account. Called by the portal when a company signs up, or by support.</summary>
/// <param name="CompanyName">Registered company name.</param>
/// <param name="ContactEmail">Contact e-mail, unique across accounts (compared case-insensitively).</param>
/// <param name="Country">ISO 3166-1 alpha-2 code, e.g. "EE".</param>
/// <param name="OldCpsEmails">E-mail addresses of old CPS accounts, so that their products can be migrated.</param>
/// <param name="SupportReason">Support only, and required from support: why it opens the account instead of the company signing
/// up in the portal. Recorded on the account's first event and listed among the support overrides. The portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record OpenBusinessAccount(
    string CompanyName,
    string ContactEmail,
    string Country,
    IReadOnlyList<string>? OldCpsEmails,
    [property: MultiLineText] string? SupportReason = null,
    string? TicketReference = null);

public sealed class OpenBusinessAccountValidator : AbstractValidator<OpenBusinessAccount>
{
    public const int MaxOldCpsEmails = 20;

    public OpenBusinessAccountValidator()
    {
        RuleFor(x => x.CompanyName).NotEmpty().MaximumLength(200).PrintableOnInvoices(); // printed on invoices
        RuleFor(x => x.ContactEmail).NotEmpty().MaximumLength(254)
            .ValidEmailAddress("Contact e-mail");
        RuleFor(x => x.Country).NotEmpty()
            .Must(CountryCodes.IsAssigned).WithMessage("Country must be an ISO 3166-1 alpha-2 code in upper case, e.g. \"EE\".");
        RuleFor(x => x.OldCpsEmails)
            .Must(list => list is null || list.Count <= MaxOldCpsEmails)
            .WithMessage($"At most {MaxOldCpsEmails} old CPS e-mail addresses.")
            .Must(list => list is null || list.Select(e => e?.Trim().ToLowerInvariant()).Distinct().Count() == list.Count)
            .WithMessage("Old CPS e-mail addresses must not repeat.");
        RuleForEach(x => x.OldCpsEmails).NotEmpty().MaximumLength(254)
            .ValidEmailAddress("Old CPS e-mail"); // said of the one item its key names
        // Whether they are required or refused depends on the caller: OpenBusinessAccountEndpoint.Before.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

public static class EmailAddresses
{
    public static bool IsValid(string? email) =>
        email is not null
        && InvisibleCharacter(email) is null
        && MailAddress.TryCreate(email.Trim(), out var parsed)
        && parsed.Address == email.Trim()
        && parsed.Host.Contains('.');

    /// <summary>The first invisible (Unicode format) character in the address, if any: a zero-width space, a soft hyphen...</summary>
    public static char? InvisibleCharacter(string? email) =>
        email?.FirstOrDefault(c => char.GetUnicodeCategory(c) == UnicodeCategory.Format) is { } c and not '\0' ? c : null;

    /// <summary>
    /// The rule every e-mail field of the API applies: a valid address, and one that says which invisible character to remove
    /// when that is what is wrong (the address looks right on screen, so "not valid" alone would leave the caller guessing).
    /// </summary>
    public static IRuleBuilderOptions<T, string> ValidEmailAddress<T>(this IRuleBuilder<T, string> rule, string field) =>
        rule.Must(IsValid).WithMessage((_, email) => InvisibleCharacter(email) is { } c
            ? $"{field} contains an invisible character (U+{(int)c:X4}); remove it."
            : $"{field} must be a valid e-mail address.");
}

public static class OpenBusinessAccountEndpoint
{
    // Support opening an account speaks for a company that has not signed up itself, and takes its contact e-mail for good:
    // it says why and which ticket, on the account's first event (SupportReason.OnBehalf). The portal gives neither.
    public static ProblemDetails Before(OpenBusinessAccount command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    /// <summary>The decision: a new account with its details tidied (trimmed; old e-mails lower-case).</summary>
    public static BusinessAccountOpened Decide(Guid accountId, OpenBusinessAccount command, DateTimeOffset now) => new(
        accountId,
        command.CompanyName.Trim(),
        command.ContactEmail.Trim(),
        command.Country,
        (command.OldCpsEmails ?? []).Select(e => e.Trim().ToLowerInvariant()).ToList(),
        now);

    [WolverinePost("/api/accounts", OperationId = "OpenBusinessAccount")]
    [RequestExample("""{"companyName":"Studio Tamm OÜ","contactEmail":"kadri@studiotamm.example","country":"EE","oldCpsEmails":["kadri.tamm@old.example"]}""")]
    [Authorize(Roles = $"{LedgerRoles.Portal},{LedgerRoles.Support}")]
    [EndpointSummary("Open a business account; support also gives supportReason and ticketReference")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static (BusinessAccountCreated, IStartStream) Post(OpenBusinessAccount command, TimeProvider clock)
    {
        var accountId = Guid.CreateVersion7();
        var opened = Decide(accountId, command, clock.GetUtcNow());
        return (new BusinessAccountCreated(accountId), MartenOps.StartStream<BusinessAccount>(accountId, opened));
    }

    // The natural key refused a second account with this contact e-mail; say so without naming the other account.
    public static ProblemDetails OnException(DuplicateNaturalKeyException _) => new()
    {
        Status = StatusCodes.Status409Conflict,
        Title = "Contact e-mail already in use",
        Detail = "Another business account already uses this contact e-mail.",
    };
}

/// <summary>201 Created with Location, and the new account's id by its name.</summary>
/// <param name="AccountId">The new account's id.</param>
public sealed record BusinessAccountCreated(Guid AccountId) : CreationResponse($"/api/accounts/{AccountId}")
{
    // Until 2026-12-05 the body was Wolverine's CreationResponse<Guid>, which names the id "value": still sent for the
    // callers that read it, last in the body.
    [Obsolete("Deprecated: the same id as accountId, sent for callers written before accountId. Read accountId.")]
    [JsonPropertyOrder(1)]
    public Guid Value => AccountId;
}
