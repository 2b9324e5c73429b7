using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Invoicing;

/// <summary>Issue the corrected invoice replacing a cancelled one (finance): the same charge for the same term, decided again today.</summary>
/// <param name="Reason">Why, for the audit trail (the usual one: the buyer's details or VAT were wrong on the cancelled invoice).</param>
public sealed record ReplaceInvoice(string Reason);

public sealed class ReplaceInvoiceValidator : AbstractValidator<ReplaceInvoice>
{
    public ReplaceInvoiceValidator() =>
        RuleFor(x => x.Reason).ValidReason(); // on the events only: the corrected invoice names the credit note, not the reason
}

/// <summary>What finance sees after replacing: the new invoice and the one it replaces.</summary>
/// <param name="InvoiceNumber">The corrected invoice's number.</param>
/// <param name="ReplacesInvoiceNumber">The number of the cancelled invoice it replaces.</param>
/// <param name="CreditNoteNumber">The credit note that cancelled that invoice.</param>
/// <param name="Total">The corrected invoice's total, VAT included, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="DueOn">The day the corrected invoice is due.</param>
public sealed record InvoiceReplacement(string InvoiceNumber, string ReplacesInvoiceNumber, string CreditNoteNumber, decimal Total, string Currency,
    DateOnly DueOn);

public static class ReplaceInvoiceDecision
{
    /// <summary>
    /// A cancelled invoice is replaced once, and only while its term still owes it: not when support cancelled the membership term (its
    /// cancellation decided nothing more is owed), not for a term that never began or a renewal issued ahead of its term (choosing the
    /// renewal tier again issues that invoice), not for a renewal choice a later choice replaced (the term is invoiced on that one).
    /// </summary>
    /// <param name="originalInvoiceId">The first invoice of the chain this one belongs to (itself unless it replaced another).</param>
    /// <param name="supportCancellation">Support's cancellation of the term the invoice is for, if any.</param>
    public static ProblemDetails Validate(Invoice invoice, AccountMembership? membership, Guid originalInvoiceId, MembershipCancelled? supportCancellation)
    {
        if (invoice.Status != InvoiceStatus.Cancelled)
            return Problems.Conflict("Invoice not cancelled",
                $"Invoice {invoice.InvoiceNumber} is {invoice.Status.ToString().ToLowerInvariant()}: only a cancelled invoice is replaced. " +
                "Cancel it first (POST /api/accounts/{accountId}/invoices/{invoiceNumber}/cancellation).");
        if (invoice.ReplacedBy is { } replacement)
            return Problems.Conflict("Invoice already replaced", $"Invoice {invoice.InvoiceNumber} was replaced by invoice {replacement}.");
        if (supportCancellation is { } cancelled)
            return Problems.Conflict("Membership cancelled",
                $"Membership {cancelled.MembershipNumber} was cancelled by CPS support on {cancelled.EndedOn:yyyy-MM-dd} ({cancelled.Reason}): " +
                "nothing is invoiced for its term any more.");
        if (TermOf(membership, invoice) is not { } term)
            return membership?.Renewal?.Proposed?.MembershipId == invoice.MembershipId
                ? Problems.Conflict("Renewal term not begun",
                    $"Invoice {invoice.InvoiceNumber} is a renewal invoice issued ahead of its term: choosing the renewal tier again " +
                    "(PUT /api/accounts/{accountId}/membership/renewal) issues a new one.")
                : Problems.Conflict("Term never began",
                    $"The membership term invoice {invoice.InvoiceNumber} was for never began: nothing is owed for it.");
        if (invoice.Kind == InvoiceKind.Renewal && term.RenewalInvoiceId != originalInvoiceId)
            return Problems.Conflict("Renewal choice replaced",
                $"Invoice {invoice.InvoiceNumber} was for a renewal choice that a later choice replaced before the term began: " +
                "the term is invoiced on that choice.");
        return WolverineContinue.NoProblems;
    }

    /// <summary>The term the invoice is for, once it has begun: the membership in force or a past one (never a renewal proposed).</summary>
    public static MembershipTerm? TermOf(AccountMembership? membership, Invoice invoice) =>
        membership?.Membership is { } current && current.MembershipId == invoice.MembershipId ? current
        : membership?.PastMemberships.FirstOrDefault(t => t.MembershipId == invoice.MembershipId);

    /// <summary>
    /// The corrected invoice, issued as any invoice is (<see cref="IssueInvoiceDecision.Decide"/>): the cancelled invoice's kind, charged line
    /// (description and net amount) and period; the surcharge and VAT decided again from today's billing details and VAT table; the term's
    /// payment method; due after the payment term from today; today's seller and payee; and a reference to the invoice it replaces.
    /// </summary>
    public static InvoiceIssued Decide(Invoice cancelled, MembershipTerm term, string invoiceNumber, AccountView account, InvoicingOptions options,
        InvoiceSeller seller, PayeeAccount payee, VatRateTable vatTable, DateTimeOffset now)
    {
        var charged = cancelled.Lines[0];
        var creditNote = cancelled.CreditNote?.CreditNoteNumber
                         ?? throw new InvalidOperationException($"Cancelled invoice {cancelled.InvoiceNumber} has no credit note.");
        return IssueInvoiceDecision.Decide(InvoiceStream.ForReplacement(cancelled.Id), invoiceNumber, cancelled.AccountId, account, term, options,
            seller, payee, vatTable, now, cancelled.Kind, new InvoiceCharge(charged.Description, charged.Amount), periodStart: cancelled.PeriodStart,
            replaces: new ReplacedInvoice(cancelled.Id, cancelled.InvoiceNumber, cancelled.IssuedOn, creditNote));
    }

    /// <summary>What the cancelled invoice's own stream records: which invoice replaced it, and why.</summary>
    public static InvoiceReplaced Replaced(Invoice cancelled, InvoiceIssued replacement, ReplaceInvoice command, DateTimeOffset now) =>
        new(cancelled.Id, cancelled.InvoiceNumber, cancelled.AccountId, replacement.InvoiceId, replacement.InvoiceNumber, command.Reason.Trim(), now);
}

/// <summary>
/// What replacing needs besides the invoice: its claim (null: not this account's), the account, its membership, the first invoice of the
/// replacement chain, and support's cancellation of the invoice's term if there was one.
/// </summary>
public sealed record ReplacementContext(InvoiceNumberClaim? Claim, AccountView Account, AccountMembership? Membership, Guid OriginalInvoiceId,
    MembershipCancelled? SupportCancellation);

public static class ReplaceInvoiceEndpoint
{
    // The membership's lock before the membership and the invoices are read (MembershipStream): support's cancellation of the term
    // either committed before (and is read: 409) or waits for the replacement and cancels it too.
    public static Task<ReplacementContext> LoadAsync(Guid accountId, string invoiceNumber, IDocumentSession session, CancellationToken ct) =>
        ReadAsync(accountId, invoiceNumber, session,
            async () => (await session.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(accountId), ct)).Aggregate, ct);

    /// <summary>What the write and its preview decide on; <paramref name="membership"/> reads the membership (locked by the write).</summary>
    public static async Task<ReplacementContext> ReadAsync(Guid accountId, string invoiceNumber, IQuerySession session,
        Func<Task<AccountMembership?>> membership, CancellationToken ct)
    {
        var claim = await session.LoadAsync<InvoiceNumberClaim>(invoiceNumber.Trim().ToUpperInvariant(), ct);
        var account = await session.LoadAsync<AccountView>(accountId, ct) ?? throw new AccountNotFoundException(accountId);
        if (claim?.AccountId != accountId)
            return new ReplacementContext(null, account, null, Guid.Empty, null);

        var term = await membership();
        // The chain back to the invoice the ledger issued for the term: a renewal's is the one the term renewed on.
        var claimed = await session.LoadAsync<Invoice>(claim.InvoiceId, ct);
        var (invoice, original) = (claimed, claim.InvoiceId);
        while (invoice?.Replaces is { } replaced)
        {
            original = replaced.InvoiceId;
            invoice = await session.LoadAsync<Invoice>(original, ct);
        }

        var membershipId = claimed?.MembershipId;
        var events = await session.Events.FetchStreamAsync(MembershipStream.For(accountId), token: ct);
        var supportCancellation = events.Select(e => e.Data).OfType<MembershipCancelled>().FirstOrDefault(c => c.MembershipId == membershipId);
        return new ReplacementContext(claim, account, term, original, supportCancellation);
    }

    public static ProblemDetails Before(ReplacementContext context, string invoiceNumber) =>
        context.Claim is null ? InvoiceQueries.InvoiceNotFound : WolverineContinue.NoProblems;

    public static Guid InvoiceStreamId(ReplacementContext context) => InvoiceNumberClaims.StreamOf(context.Claim);

    public static ProblemDetails Validate(Invoice? invoice, ReplacementContext context) => invoice is null
        ? WolverineContinue.NoProblems
        : ReplaceInvoiceDecision.Validate(invoice, context.Membership, context.OriginalInvoiceId, context.SupportCancellation);

    [WolverinePost("/api/accounts/{accountId}/invoices/{invoiceNumber}/replacement", OperationId = "ReplaceInvoice")]
    [RequestExample("""{"reason":"Reissued with the buyer's VAT ID: reverse charge"}""")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("Issue the corrected invoice replacing a cancelled one (finance, with a reason): same charge and term, VAT decided again, a new number")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<(Created<InvoiceReplacement>, Events, OutgoingMessages)> Post(Guid accountId, ReplaceInvoice command,
        ReplacementContext context, [WriteAggregate(FromMethod = nameof(InvoiceStreamId), Required = false)] Invoice? claimed,
        IDocumentSession session, IOptions<SellerOptions> seller, IOptions<InvoicingOptions> invoicing, TimeProvider clock, InvoiceIssueTestSeam seam,
        CancellationToken ct)
    {
        // Before answered 404 without a claim; a claimed invoice exists (both are written in one transaction).
        var cancelled = claimed ?? throw new InvalidOperationException("A claimed invoice is missing.");
        var now = clock.GetUtcNow();
        var decide = await DecisionAsync(cancelled, context, session, seller.Value, invoicing.Value, now, ct);
        // Number, claim and the new invoice's stream (its id derived from the cancelled one: a second replacement collides) commit with the
        // cancelled invoice's InvoiceReplaced, and with the e-mail and the follow-up (the outbox), or not at all.
        var issued = await InvoiceNumberSeries.IssueAsync(session, now, decide, seam, ct);
        Support.SupportReason.Record(session, command.Reason.Trim());
        return (TypedResults.Created($"/api/accounts/{accountId}/invoices/{issued.InvoiceNumber}",
                new InvoiceReplacement(issued.InvoiceNumber, cancelled.InvoiceNumber, issued.Replaces!.CreditNoteNumber, issued.Total, issued.Currency,
                    issued.DueOn)),
            [ReplaceInvoiceDecision.Replaced(cancelled, issued, command, now)], InvoiceNumberSeries.WhatFollows(issued, now));
    }

    /// <summary>
    /// <see cref="ReplaceInvoiceDecision.Decide"/> for a replacement that passed <see cref="Validate"/>, given the number it is issued
    /// under: the write's and the preview's (which takes none).
    /// </summary>
    public static async Task<Func<string, InvoiceIssued>> DecisionAsync(Invoice cancelled, ReplacementContext context, IQuerySession session,
        SellerOptions seller, InvoicingOptions invoicing, DateTimeOffset now, CancellationToken ct)
    {
        var term = ReplaceInvoiceDecision.TermOf(context.Membership, cancelled) ?? throw new InvalidOperationException("Validate found the term.");
        var vatTable = await session.LoadAsync<VatRateTable>(VatTableStream.Id, ct)
                       ?? throw new InvalidOperationException("The VAT rate table is missing (it is loaded on first start).");
        return number => ReplaceInvoiceDecision.Decide(cancelled, term, number, context.Account, invoicing, seller.ToInvoiceSeller(),
            seller.ToPayeeAccount(), vatTable, now);
    }
}

/// <summary>
/// What replacing a cancelled invoice would issue, decided now by the same rules as the write and written nowhere: finance's review
/// before it writes. No invoice number is taken (the write numbers it).
/// </summary>
/// <param name="ReplacesInvoiceNumber">The cancelled invoice it would replace.</param>
/// <param name="CreditNoteNumber">The credit note that cancelled that invoice.</param>
/// <param name="AccountId">The business account.</param>
/// <param name="CompanyName">The buyer the corrected invoice would be addressed to (today's billing details).</param>
/// <param name="Lines">The corrected invoice's lines, amounts before VAT: the cancelled invoice's charge, the surcharge decided again.</param>
/// <param name="Subtotal">The lines' total before VAT, in <c>currency</c>.</param>
/// <param name="VatRate">The VAT rate decided today, as a fraction (0.24 is 24 %).</param>
/// <param name="Vat">The VAT, in <c>currency</c>.</param>
/// <param name="Total">The corrected invoice's total, VAT included, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="PeriodStart">The first day of the period it charges.</param>
/// <param name="PeriodEnd">The last day of the period it charges.</param>
/// <param name="DueOn">The day it would be due if issued today.</param>
/// <param name="ReplacedTotal">The cancelled invoice's total, for comparison.</param>
/// <param name="Events">The events the write would append, by type name, in order.</param>
public sealed record ReplacementPreview(
    string ReplacesInvoiceNumber,
    string CreditNoteNumber,
    Guid AccountId,
    string CompanyName,
    IReadOnlyList<InvoiceLine> Lines,
    decimal Subtotal,
    decimal VatRate,
    decimal Vat,
    decimal Total,
    string Currency,
    DateOnly? PeriodStart,
    DateOnly? PeriodEnd,
    DateOnly DueOn,
    decimal ReplacedTotal,
    IReadOnlyList<string> Events);

/// <summary>The account's invoice by that number and what replacing it decides on (claim null: not this account's).</summary>
public sealed record PreviewedReplacement(ReplacementContext Context, Invoice? Invoice);

/// <summary>
/// Finance's review of a replacement before it writes it: the write's reads, <see cref="ReplaceInvoiceDecision.Validate"/> and
/// <see cref="ReplaceInvoiceDecision.Decide"/>, written nowhere (a query session: no number taken, no event, no message, no key).
/// </summary>
public static class PreviewReplacementEndpoint
{
    // What the write reads, without the membership's lock: nothing is written, and the write takes the lock and decides again.
    public static async Task<PreviewedReplacement> LoadAsync(Guid accountId, string invoiceNumber, IQuerySession session, CancellationToken ct)
    {
        var context = await ReplaceInvoiceEndpoint.ReadAsync(accountId, invoiceNumber, session,
            () => session.LoadAsync<AccountMembership>(MembershipStream.For(accountId), ct), ct);
        return new PreviewedReplacement(context, context.Claim is { } claim ? await session.LoadAsync<Invoice>(claim.InvoiceId, ct) : null);
    }

    /// <summary>The write's refusals, in its order: no such invoice on the account (404), then the replacement's own (409).</summary>
    public static ProblemDetails Before(PreviewedReplacement previewed, string invoiceNumber) =>
        ReplaceInvoiceEndpoint.Before(previewed.Context, invoiceNumber) is var unknown && !ReferenceEquals(unknown, WolverineContinue.NoProblems)
            ? unknown
            : ReplaceInvoiceEndpoint.Validate(previewed.Invoice, previewed.Context);

    // The write's path and body with "/preview", as for a transfer (PreviewBankPaymentEndpoint says why): 200, never 201.
    [WolverinePost("/api/accounts/{accountId}/invoices/{invoiceNumber}/replacement/preview", OperationId = "PreviewReplaceInvoice")]
    [RequestExample("""{"reason":"Reissued with the buyer's VAT ID: reverse charge"}""")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("What issuing the replacement of this cancelled invoice would issue (or the write's refusal), decided by the same rules and written nowhere")]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    [WritesNothing]
    public static async Task<ReplacementPreview> Post(Guid accountId, ReplaceInvoice command, PreviewedReplacement previewed, IQuerySession session,
        IOptions<SellerOptions> seller, IOptions<InvoicingOptions> invoicing, TimeProvider clock, CancellationToken ct)
    {
        // Before answered 404 without a claim; a claimed invoice exists (both are written in one transaction).
        var cancelled = previewed.Invoice ?? throw new InvalidOperationException("A claimed invoice is missing.");
        var now = clock.GetUtcNow();
        var decide = await ReplaceInvoiceEndpoint.DecisionAsync(cancelled, previewed.Context, session, seller.Value, invoicing.Value, now, ct);
        // Sequence 0 is never issued: the decision needs a number (its creditor reference is made from it), and the preview takes none.
        var issued = decide(InvoiceNumbers.Format(now.UtcDateTime.Year, 0));
        return new ReplacementPreview(cancelled.InvoiceNumber, issued.Replaces!.CreditNoteNumber, accountId, issued.CompanyName, issued.Lines,
            issued.Subtotal, issued.VatRate, issued.Vat, issued.Total, issued.Currency, issued.PeriodStart, issued.PeriodEnd, issued.DueOn,
            cancelled.Total, [.. new object[] { issued, ReplaceInvoiceDecision.Replaced(cancelled, issued, command, now) }.Select(e => e.GetType().Name)]);
    }
}
