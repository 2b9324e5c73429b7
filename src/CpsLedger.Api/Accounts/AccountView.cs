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

    // Nothing of the view changes, but support's link appends the verification right after the link, in one commit: an inline
    // projection stores the version of the commit's last event, a rebuild (Marten's or the fast one) the version of the last event the
    // projection handles, and the two differed by one (found by the concurrent walk, ConcurrentWalkTests). Handled, both say 3.
    public static void Apply(AccountView view, Migration.OldCpsEmailVerified e)
    {
    }

    public static void Apply(AccountView view, BillingDetailsChanged e)
    {
        view.BillingAddress = e.Address;
        view.VatId = e.VatId;
        view.BillingDetailsChangedAt = e.ChangedAt;
    }
}

public static class GetAccountEndpoint
{
    // The account exists: every {accountId} route answers 404 before it gets here (Platform/AccountScope.cs).
    [WolverineGet("/api/accounts/{accountId}", OperationId = "GetAccount")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("Read a business account")]
    public static async Task<AccountView> Get(Guid accountId, IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<AccountView>(accountId, ct) ?? throw new InvalidOperationException($"Account {accountId} vanished.");
}
