using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using CpsLedger.Api.Platform;
using JasperFx.Events;
using JasperFx.Events.Projections;
using Marten;
using Marten.Events.Projections;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Support;

/// <summary>One support override, listed for review across accounts: what, on which account, by whom, why, when.</summary>
public sealed class SupportOverride
{
    /// <summary>The id of the event that is the override.</summary>
    public Guid Id { get; set; }
    /// <summary>The account it was done on.</summary>
    public Guid AccountId { get; set; }
    /// <summary>What was done, e.g. <c>points_adjusted</c>.</summary>
    public string Action { get; set; } = "";
    /// <summary>What was done, in words for a person.</summary>
    public string Description { get; set; } = "";
    /// <summary>Why, as support or finance wrote it for the audit trail.</summary>
    public string Reason { get; set; } = "";
    /// <summary>The support ticket it answers; null when none was given.</summary>
    public string? TicketReference { get; set; }
    /// <summary>Who did it (a token's <c>sub</c>).</summary>
    public string? By { get; set; }
    /// <summary>When, UTC.</summary>
    public DateTimeOffset At { get; set; }
}

/// <summary>Writes a <see cref="SupportOverride"/> for every support action, in the action's own transaction.</summary>
public sealed partial class SupportOverrideProjection : EventProjection
{
    public SupportOverrideProjection() => Options.DeleteViewTypeOnTeardown<SupportOverride>();

    public SupportOverride Create(IEvent<PointsAdjusted> e) =>
        Row(e, e.Data.AccountId, "points_adjusted",
            $"{(e.Data.Points > 0 ? "+" : "")}{e.Data.Points} points",
            e.Data.Reason, e.Data.TicketReference, e.Data.AdjustedAt);

    public SupportOverride Create(IEvent<Accounts.OldCpsEmailLinked> e) =>
        Row(e, e.Data.AccountId, "old_cps_email_linked",
            $"Old CPS e-mail {e.Data.Email} linked",
            e.Data.Reason, e.Data.TicketReference, e.Data.LinkedAt);

    public SupportOverride Create(IEvent<Accounts.OldCpsEmailUnlinked> e) =>
        Row(e, e.Data.AccountId, "old_cps_email_unlinked",
            $"Old CPS e-mail {e.Data.Email} unlinked",
            e.Data.Reason, e.Data.TicketReference, e.Data.UnlinkedAt);

    // Support acting on someone else's behalf through a request a member or the portal makes too (SupportReason.Check): the
    // events of those requests are told apart by support's reason and ticket in their headers (finance's calls carry no ticket
    // header; support's own link, unlink, resend, adjustment and cancellation do, and have rows of their own, from events not
    // listed here but for a link's verification and a cancellation's credit notes, which their listed_as header leaves out below). Each event is a line,
    // so what a request set off in its own transaction (the points a registration allocated, the credit note of a replaced
    // renewal invoice, each migrated product) is listed with it, its event type the action. What later transactions write
    // (the invoice after a join) is the ledger's own doing, caused by support: not an override. A migration by a member, and the
    // registrations it writes, carry neither: they move what the account's proven old e-mail owned.
    public static readonly IReadOnlyList<Type> OnBehalfEvents =
    [
        typeof(Accounts.BusinessAccountOpened), typeof(Products.ProductRegistered), typeof(Products.ProductDetailsAmended),
        typeof(Products.PointsAllocated), typeof(Products.PointsRemoved), typeof(Products.ProductDeregistered), typeof(Membership.CpsJoined),
        typeof(Membership.TierUpgraded), typeof(Membership.RenewalTierChosen), typeof(Membership.RenewalStopped),
        typeof(Invoicing.InvoiceCancelled), typeof(Invoicing.CreditNoteIssued), typeof(Accounts.BillingDetailsChanged),
        typeof(Invoicing.PaymentCardSaved), typeof(Migration.OldCpsEmailVerificationRequested), typeof(Migration.OldCpsEmailVerified),
        typeof(Migration.OldCpsEmailVerificationFailed), typeof(Membership.LegacyMembershipNumberRecorded), typeof(Migration.LegacyProductMigrated),
    ];

    public void Project(IEvent<Accounts.BusinessAccountOpened> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.OpenedAt, ops);

    public void Project(IEvent<Products.ProductRegistered> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.RegisteredAt, ops);

    public void Project(IEvent<Products.ProductDetailsAmended> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.AmendedAt, ops);

    public void Project(IEvent<Products.PointsAllocated> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.AllocatedAt, ops);

    public void Project(IEvent<Products.PointsRemoved> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.RemovedAt, ops);

    public void Project(IEvent<Products.ProductDeregistered> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.DeregisteredAt, ops);

    public void Project(IEvent<Membership.CpsJoined> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.JoinedAt, ops);

    public void Project(IEvent<Membership.TierUpgraded> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.UpgradedAt, ops);

    public void Project(IEvent<Membership.RenewalTierChosen> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.ChosenAt, ops);

    public void Project(IEvent<Membership.RenewalStopped> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.StoppedAt, ops);

    public void Project(IEvent<Invoicing.InvoiceCancelled> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.CancelledAt, ops);

    public void Project(IEvent<Invoicing.CreditNoteIssued> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.IssuedAt, ops);

    public void Project(IEvent<Accounts.BillingDetailsChanged> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.ChangedAt, ops);

    public void Project(IEvent<Invoicing.PaymentCardSaved> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.RecordedAt, ops);

    public void Project(IEvent<Migration.OldCpsEmailVerificationRequested> e, IDocumentOperations ops) =>
        OnBehalf(e, e.Data.AccountId, e.Data.RequestedAt, ops);

    // A link's verification carries the link's reason and ticket too (one transaction), and its listed_as header: the link is its
    // row, listed once.
    public void Project(IEvent<Migration.OldCpsEmailVerified> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.VerifiedAt, ops);

    public void Project(IEvent<Migration.OldCpsEmailVerificationFailed> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.FailedAt, ops);

    public void Project(IEvent<Membership.LegacyMembershipNumberRecorded> e, IDocumentOperations ops) =>
        OnBehalf(e, e.Data.AccountId, e.Data.RecordedAt, ops);

    public void Project(IEvent<Migration.LegacyProductMigrated> e, IDocumentOperations ops) => OnBehalf(e, e.Data.AccountId, e.Data.MigratedAt, ops);

    private static void OnBehalf(IEvent e, Guid accountId, DateTimeOffset at, IDocumentOperations ops)
    {
        // An event of a support action with its own row (a cancellation's credit notes) is that row's.
        if (SupportReason.Of(e) is not { Reason: { } reason, Ticket: { } ticket } || Platform.SystemActor.Header(e, SupportReason.ListedAsHeader) is not null)
            return;
        ops.Store(Row(e, accountId, e.EventTypeName, Audit.AccountHistory.Describe(e.Data), reason, ticket, at));
    }

    // Every row: the event is the override (its id), done by the event's user.
    private static SupportOverride Row(IEvent e, Guid accountId, string action, string description, string reason, string? ticket,
        DateTimeOffset at) => new()
        {
            Id = e.Id,
            AccountId = accountId,
            Action = action,
            Description = description,
            Reason = reason,
            TicketReference = ticket,
            By = e.UserName,
            At = at,
        };

    // Support's cancellation: its reason and ticket are the event's own (no ticket on cancellations stored before 2026-12-06).
    public SupportOverride Create(IEvent<Membership.MembershipCancelled> e) =>
        Row(e, e.Data.AccountId, "membership_cancelled",
            $"Membership {e.Data.MembershipNumber} cancelled, ended on {e.Data.EndedOn:yyyy-MM-dd}" +
            (e.Data.CancelledInvoices.Count > 0 ? $"; invoices cancelled by credit note: {string.Join(", ", e.Data.CancelledInvoices)}" : ""),
            e.Data.Reason, e.Data.TicketReference, e.Data.CancelledAt);

    public SupportOverride Create(IEvent<InvitationEmailResent> e) =>
        Row(e, e.Data.AccountId, "invitation_email_resent",
            "Invitation e-mail sent again",
            e.Data.Reason, e.Data.TicketReference, e.Data.ResentAt);
}

/// <summary>One page of support overrides, newest first.</summary>
/// <param name="Items">The page's overrides.</param>
/// <param name="Page">The page number, from 1.</param>
/// <param name="PageSize">Overrides per page asked for.</param>
/// <param name="Total">Overrides matching the filters, on all pages.</param>
public sealed record SupportOverridePage(IReadOnlyList<SupportOverride> Items, int Page, int PageSize, long Total);

public static class ListSupportOverridesEndpoint
{
    [WolverineGet("/api/support/overrides", OperationId = "ListSupportOverrides")]
    [Authorize(Roles = $"{LedgerRoles.Support},{LedgerRoles.Auditor}")]
    [EndpointSummary("Support overrides across accounts for review, newest first (filter by account, time, acting user)")]
    [ProducesResponseType<SupportOverridePage>(StatusCodes.Status200OK)]
    public static async Task<IResult> Get(
        [Description("Only this account's overrides.")] Guid? accountId,
        [Description("Only overrides whose at is at or after this moment (included): ISO 8601 with its offset, " +
                     "e.g. 2026-11-01T00:00:00Z for UTC (a time without an offset is refused).")]
        DateTimeOffset? from,
        [Description("Only overrides whose at is before this moment (not included); the same form as from, and not earlier than it. " +
                     "To include the moment itself, give through instead.")] DateTimeOffset? to,
        [Description("Only overrides whose at is at or before this moment (included), to the microsecond, as the history's through " +
                     "reads it. The same form as from, not earlier than it; give this or to, not both.")] DateTimeOffset? through,
        [Description("Only overrides by this user, exactly as an override's by shows it.")] string? by,
        [Description("The page, from 1 (default 1); a page past the last has no items.")][Range(1, Paging.MaxPage)] int? page,
        [Description("Overrides per page (default 50).")][Range(1, 200)] int? pageSize,
        IQuerySession session, HttpContext http, CancellationToken ct)
    {
        var p = page ?? 1;
        // In range: the request gate refuses a page or pageSize outside its [Range] before this runs (RequestGateTests).
        var size = pageSize ?? 50;
        if (TimeRange.Check(from, to, through) is HttpValidationProblemDetails range)
            return Results.Problem(range);

        IQueryable<SupportOverride> query = session.Query<SupportOverride>();
        if (accountId is { } account)
            query = query.Where(o => o.AccountId == account);
        // PostgreSQL takes a timestamptz parameter in UTC only; the moment is the same whatever offset the client wrote.
        if (from?.ToUniversalTime() is { } f)
            query = query.Where(o => o.At >= f);
        if (to?.ToUniversalTime() is { } t)
            query = query.Where(o => o.At < t);
        // Rounded to the stored microseconds as the history's through rounds it: an override's at, as listed, includes it.
        if (through is { } th)
        {
            var last = TimeRange.ToStoredPrecision(th);
            query = query.Where(o => o.At <= last);
        }
        if (!string.IsNullOrWhiteSpace(by))
            query = query.Where(o => o.By == by);

        var total = await query.CountAsync(ct);
        // One request's events share their instant (a migration's products): the event id breaks the tie, or each page could order
        // them differently and a page boundary among them repeat one and drop another.
        var items = await query.OrderByDescending(o => o.At).ThenByDescending(o => o.Id).Skip((p - 1) * size).Take(size).ToListAsync(ct);
        Paging.Links(http, p, size, total);
        return Results.Ok(new SupportOverridePage(items, p, size, total));
    }
}

public static class SupportRegistration
{
    public static void AddSupport(this StoreOptions opts)
    {
        // Inline: the explanation shows an adjustment in the very next read, and the override list is never behind.
        opts.Projections.Add<AccountAdjustmentsProjection>(ProjectionLifecycle.Inline);
        opts.Projections.Add<SupportOverrideProjection>(ProjectionLifecycle.Inline);
        opts.Schema.For<SupportOverride>().Duplicate(x => x.AccountId).Duplicate(x => x.At);
    }
}
