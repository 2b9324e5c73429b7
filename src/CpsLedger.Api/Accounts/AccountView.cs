using CpsLedger.Api.Platform;
using Marten;
using Marten.Events.Aggregation;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Accounts;

/// <summary>The account as the portal shows it ("My account").</summary>
public sealed class AccountView
{
    public Guid Id { get; set; }
    public string CompanyName { get; set; } = "";
    public string ContactEmail { get; set; } = "";
    public string Country { get; set; } = "";
    public List<string> OldCpsEmails { get; set; } = [];
    public DateTimeOffset OpenedAt { get; set; }

    /// <summary>Where invoices are addressed (null until the member sets it: invoices then show the company and country).</summary>
    public PostalAddress? BillingAddress { get; set; }

    /// <summary>The buyer's EU VAT ID, checked when given; null when it has none.</summary>
    public string? VatId { get; set; }

    public DateTimeOffset? BillingDetailsChangedAt { get; set; }
}

public sealed partial class AccountViewProjection : SingleStreamProjection<AccountView, Guid>
{
    public static AccountView Create(BusinessAccountOpened e) => new()
    {
        Id = e.AccountId,
        CompanyName = e.CompanyName,
        ContactEmail = e.ContactEmail,
        Country = e.Country,
        OldCpsEmails = [.. e.OldCpsEmails],
        OpenedAt = e.OpenedAt,
    };

    public static void Apply(AccountView view, OldCpsEmailLinked e)
    {
        if (!view.OldCpsEmails.Contains(e.Email))
            view.OldCpsEmails.Add(e.Email);
    }

    public static void Apply(AccountView view, OldCpsEmailUnlinked e) => view.OldCpsEmails.Remove(e.Email);

    public static void Apply(AccountView view, BillingDetailsChanged e)
    {
        view.BillingAddress = e.Address;
        view.VatId = e.VatId;
        view.BillingDetailsChangedAt = e.ChangedAt;
    }
}

public static class AccountLookup
{
    /// <summary>Whether the account exists (routes under an account answer 404 for one that does not).</summary>
    public static async Task<bool> ExistsAsync(IQuerySession session, Guid accountId, CancellationToken ct) =>
        await session.LoadAsync<AccountView>(accountId, ct) is not null;
}

public static class GetAccountEndpoint
{
    [WolverineGet("/api/accounts/{accountId}", OperationId = "GetAccount")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [Tags("Accounts")]
    [EndpointSummary("Read a business account")]
    [ProducesResponseType<AccountView>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    public static async Task<IResult> Get(Guid accountId, IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<AccountView>(accountId, ct) is { } view ? Results.Ok(view) : Results.NotFound();
}
