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
    /// <summary>The account's id: the <c>{accountId}</c> of every account route.</summary>
    public Guid Id { get; set; }
    /// <summary>The business's name as registered.</summary>
    public string CompanyName { get; set; } = "";
    /// <summary>The e-mail address the ledger writes to (invitations, invoices, notices).</summary>
    public string ContactEmail { get; set; } = "";
    /// <summary>The business's country: ISO 3166-1 alpha-2 code.</summary>
    public string Country { get; set; } = "";
    /// <summary>E-mail addresses of the member's old CPS accounts linked to this one, verified or not (see the migration
    /// status).</summary>
    public List<string> OldCpsEmails { get; set; } = [];
    /// <summary>When the account was opened, UTC.</summary>
    public DateTimeOffset OpenedAt { get; set; }

    /// <summary>Where invoices are addressed (null until the member sets it: invoices then show the company and country).</summary>
    public PostalAddress? BillingAddress { get; set; }

    /// <summary>The buyer's EU VAT ID, checked when given; null when it has none.</summary>
    public string? VatId { get; set; }

    /// <summary>When the billing details were last set, UTC; null until set.</summary>
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
