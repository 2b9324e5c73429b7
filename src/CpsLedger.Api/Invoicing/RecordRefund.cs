using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using FluentValidation;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Invoicing;

/// <summary>A refund finance paid to the member (a transfer out of CPS's bank account) against money owed back on an invoice.</summary>
/// <param name="Amount">Amount paid back, at most two decimals; at most what is still owed back on the invoice.</param>
/// <param name="Currency">ISO 4217 code; must be the invoice's.</param>
/// <param name="PaidOn">The date the refund left CPS's bank account: not in the future, not before the invoice first received money.</param>
/// <param name="Reference">The bank's reference of the refund transfer (recorded once per invoice).</param>
public sealed record RecordRefund(decimal Amount, string Currency, DateOnly PaidOn, string Reference);

public sealed class RecordRefundValidator : AbstractValidator<RecordRefund>
{
    public RecordRefundValidator(TimeProvider clock)
    {
        RuleFor(x => x.Amount).MoneyAmount();
        RuleFor(x => x.Currency).CurrencyCode();
        RuleFor(x => x.PaidOn).BankDate(clock, "The refund's date is in the future.");
        RuleFor(x => x.Reference).NotEmpty().MaximumLength(100);
    }
}

/// <summary>What finance sees after recording a refund: the refund and what is still owed back on the invoice.</summary>
/// <param name="Refunded">Everything refunded on the invoice, this refund included.</param>
/// <param name="StillOwedBack">What is still to be refunded on the invoice (its <c>overpaid</c>, or <c>refundDue</c> when cancelled).</param>
/// <param name="RefundId">The recorded refund's id.</param>
/// <param name="InvoiceNumber">The invoice it was paid on.</param>
/// <param name="AccountId">The invoice's business account.</param>
/// <param name="Amount">The amount paid back, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code, the invoice's.</param>
/// <param name="PaidOn">The day the refund left CPS's bank account.</param>
/// <param name="Reference">The bank's (or finance's) reference of the refund transfer.</param>
/// <param name="Of">What it paid back: an overpayment, or money received on a cancelled invoice.</param>
/// <param name="InvoiceStatus">The invoice's status (a refund does not change it).</param>
public sealed record RefundRecorded(
    Guid RefundId,
    string InvoiceNumber,
    Guid AccountId,
    decimal Amount,
    string Currency,
    DateOnly PaidOn,
    string Reference,
    RefundOf Of,
    decimal Refunded,
    decimal StillOwedBack,
    InvoiceStatus InvoiceStatus);

/// <summary>
/// What recording a refund would do, decided now by the same rules as the write and written nowhere: finance's review before it records.
/// </summary>
/// <param name="InvoiceNumber">The invoice the refund would be recorded on.</param>
/// <param name="AccountId">The invoice's business account.</param>
/// <param name="CompanyName">The buyer the invoice is addressed to.</param>
/// <param name="Amount">The amount paid back, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code, the invoice's.</param>
/// <param name="Of">What it would pay back: an overpayment, or money received on a cancelled invoice.</param>
/// <param name="OwedBackBefore">What is owed back on the invoice now, before this refund.</param>
/// <param name="Refunded">Everything refunded on the invoice after this refund, this refund included.</param>
/// <param name="StillOwedBack">What would still be owed back on the invoice after this refund.</param>
/// <param name="InvoiceStatus">The invoice's status (a refund does not change it).</param>
public sealed record RefundPreview(
    string InvoiceNumber,
    Guid AccountId,
    string CompanyName,
    decimal Amount,
    string Currency,
    RefundOf Of,
    decimal OwedBackBefore,
    decimal Refunded,
    decimal StillOwedBack,
    InvoiceStatus InvoiceStatus);

public static class RefundDecision
{
    /// <summary>
    /// What CPS owes back on the invoice now: its excess over the total while it is owed (open, overdue, paid), or everything received
    /// on it once cancelled, less what was refunded either way (<see cref="Invoice.Overpaid"/>, <see cref="Invoice.RefundDue"/>).
    /// </summary>
    public static decimal OwedBack(Invoice invoice) => OwedBackOf(invoice.Overpaid, invoice.RefundDue);

    /// <summary>The same from the two figures as stored beside the document (<c>InvoiceList.AddInvoiceListColumns</c>).</summary>
    public static decimal OwedBackOf(decimal overpaid, decimal refundDue) => overpaid + refundDue;

    /// <summary>
    /// A refund is refused when its reference was recorded on the invoice before, when nothing is owed back on the invoice, when its
    /// currency is not the invoice's, or when it is more than what is owed back (409); a date before the invoice first received money
    /// is a mistyped date (400).
    /// </summary>
    public static ProblemDetails Validate(Invoice invoice, RecordRefund command)
    {
        var owed = OwedBack(invoice);
        if (invoice.Refunds.Any(r => string.Equals(r.Reference, command.Reference.Trim(), StringComparison.OrdinalIgnoreCase)))
            return Problems.Conflict("Refund already recorded",
                $"A refund with reference \"{command.Reference.Trim()}\" is already recorded on invoice {invoice.InvoiceNumber}.");
        if (owed <= 0)
            return Problems.Conflict("Nothing to refund",
                $"Nothing is owed back on invoice {invoice.InvoiceNumber}: {Received(invoice)}. Nothing was recorded.");
        // The invoice's currency never changes: another is a mistyped field, a 400 on it as on a transfer, not a conflict with what
        // was recorded (until 2026-12-05 it was a 409).
        if (!string.Equals(command.Currency, invoice.Currency, StringComparison.Ordinal))
            return Problems.Invalid("currency",
                $"Invoice {invoice.InvoiceNumber} is in {invoice.Currency}, not {command.Currency}: a refund is recorded in the currency received.");
        if (command.Amount > owed)
            return Problems.Conflict("Refund exceeds what is owed back",
                $"{InvoiceWording.Money(owed)} {invoice.Currency} is owed back on invoice {invoice.InvoiceNumber}, not {InvoiceWording.Money(command.Amount)}. Nothing was recorded.");
        // Money cannot go back before it came in: the first payment's value date is the earliest a refund can be paid.
        var firstReceived = invoice.Payments.Min(p => p.ValueDate);
        if (command.PaidOn < firstReceived)
            return Problems.Invalid("paidOn", $"The refund's date is before invoice {invoice.InvoiceNumber} first received money: the earliest " +
                                              $"date is {firstReceived:yyyy-MM-dd}.");
        return WolverineContinue.NoProblems;
    }

    private static string Received(Invoice invoice) =>
        invoice.TotalReceived == 0 ? "nothing was received on it"
        : invoice.Refunded > 0 ? $"{InvoiceWording.Money(invoice.Refunded)} {invoice.Currency} of the {InvoiceWording.Money(invoice.TotalReceived)} received was refunded already" +
                                 (invoice.Status == InvoiceStatus.Cancelled ? "" : $" and {InvoiceWording.Money(invoice.Total)} paid the invoice")
        : $"the {InvoiceWording.Money(invoice.TotalReceived)} {invoice.Currency} received is not more than its total";

    /// <summary>The refund that passed <see cref="Validate"/>: what it paid back and what is still owed back after it.</summary>
    public static RefundPaid Decide(Invoice invoice, RecordRefund command, Guid refundId, DateTimeOffset now)
    {
        var refunded = invoice.Refunded + command.Amount;
        return new RefundPaid(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, refundId, command.Amount, invoice.Currency, command.PaidOn,
            command.Reference.Trim(), invoice.Status == InvoiceStatus.Cancelled ? RefundOf.Cancellation : RefundOf.Overpayment, refunded,
            OwedBack(invoice) - command.Amount, now);
    }
}

/// <summary>The invoice's claim (null: not this account's) and the account's membership stream, locked (null without a claim).</summary>
public sealed record RefundContext(InvoiceNumberClaim? Claim, IEventStream<AccountMembership>? Membership = null);

public static class RecordRefundEndpoint
{
    // The membership's lock before the invoice is read, as every settlement takes it ("Lock order", ARCHITECTURE.md): a transfer or a
    // cancellation holding it commits first and the refund reads what it changed (an overpayment grown, a refund due), instead of
    // failing the version check on the invoice (409 "Concurrent change").
    public static async Task<RefundContext> LoadAsync(Guid accountId, string invoiceNumber, IDocumentSession session, CancellationToken ct)
    {
        if (await ClaimAsync(accountId, invoiceNumber, session, ct) is not { } claim)
            return new RefundContext(null);
        return new RefundContext(claim, await session.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(accountId), ct));
    }

    /// <summary>The claim of the account's invoice by that number (null: not this account's), as the write and its preview find it.</summary>
    public static async Task<InvoiceNumberClaim?> ClaimAsync(Guid accountId, string invoiceNumber, IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<InvoiceNumberClaim>(invoiceNumber.Trim().ToUpperInvariant(), ct) is { } claim && claim.AccountId == accountId
            ? claim
            : null;

    public static ProblemDetails Before(RefundContext context, string invoiceNumber) =>
        context.Claim is null ? InvoiceQueries.InvoiceNotFound : WolverineContinue.NoProblems;

    public static Guid InvoiceStreamId(RefundContext context) => InvoiceNumberClaims.StreamOf(context.Claim);

    public static ProblemDetails Validate(Invoice? invoice, RecordRefund command) =>
        invoice is null ? WolverineContinue.NoProblems : RefundDecision.Validate(invoice, command);

    [WolverinePost("/api/accounts/{accountId}/invoices/{invoiceNumber}/refunds", OperationId = "RecordRefund")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("Record a refund finance paid to the member against what is owed back on an invoice (overpaid, or received on a cancelled invoice)")]
    [RequestExample("""{"amount":50.00,"currency":"EUR","paidOn":"2026-12-03","reference":"LHV-20261203-0107"}""")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static (Created<RefundRecorded>, Events) Post(Guid accountId, RecordRefund command, RefundContext context,
        [WriteAggregate(FromMethod = nameof(InvoiceStreamId), Required = false)] Invoice? claimed, TimeProvider clock)
    {
        // Before answered 404 without a claim; a claimed invoice exists (both are written in one transaction).
        var invoice = claimed ?? throw new InvalidOperationException("A claimed invoice is missing.");
        var refund = RefundDecision.Decide(invoice, command, Guid.CreateVersion7(), clock.GetUtcNow());
        return (TypedResults.Created($"/api/accounts/{accountId}/invoices/{invoice.InvoiceNumber}",
                new RefundRecorded(refund.RefundId, invoice.InvoiceNumber, accountId, refund.Amount, refund.Currency, refund.PaidOn, refund.Reference,
                    refund.Of, refund.Refunded, refund.StillOwedBack, invoice.Status)),
            [refund]);
    }
}

/// <summary>The account's invoice by that number and the invoice as it stands now (both null: not this account's).</summary>
public sealed record PreviewedRefund(InvoiceNumberClaim? Claim, Invoice? Invoice);

/// <summary>
/// Finance's review of a refund before recording it: the write's lookup, <see cref="RefundDecision.Validate"/> and
/// <see cref="RefundDecision.Decide"/> on the invoice as it stands, written nowhere (a query session).
/// </summary>
public static class PreviewRefundEndpoint
{
    // The invoice as the write reads it (its inline snapshot), without the membership's lock: nothing is written.
    public static async Task<PreviewedRefund> LoadAsync(Guid accountId, string invoiceNumber, IQuerySession session, CancellationToken ct) =>
        await RecordRefundEndpoint.ClaimAsync(accountId, invoiceNumber, session, ct) is { } claim
            ? new PreviewedRefund(claim, await session.LoadAsync<Invoice>(claim.InvoiceId, ct))
            : new PreviewedRefund(null, null);

    /// <summary>The write's refusals, in its order: no such invoice on the account (404), then the refund's own.</summary>
    public static ProblemDetails Before(PreviewedRefund previewed, string invoiceNumber, RecordRefund command) =>
        RecordRefundEndpoint.Before(new RefundContext(previewed.Claim), invoiceNumber) is var unknown && !ReferenceEquals(unknown, WolverineContinue.NoProblems)
            ? unknown
            : RecordRefundEndpoint.Validate(previewed.Invoice, command);

    // The write's path and body with "/preview", as for a transfer (PreviewBankPaymentEndpoint says why): 200, never 201.
    [WolverinePost("/api/accounts/{accountId}/invoices/{invoiceNumber}/refunds/preview", OperationId = "PreviewRefund")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("What recording this refund would do (or the write's refusal), decided by the same rules and written nowhere")]
    [RequestExample("""{"amount":50.00,"currency":"EUR","paidOn":"2026-12-03","reference":"LHV-20261203-0107"}""")]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    [WritesNothing]
    public static RefundPreview Post(Guid accountId, RecordRefund command, PreviewedRefund previewed, TimeProvider clock)
    {
        // Before answered 404 without a claim; a claimed invoice exists (both are written in one transaction).
        var invoice = previewed.Invoice ?? throw new InvalidOperationException("A claimed invoice is missing.");
        var refund = RefundDecision.Decide(invoice, command, Guid.Empty, clock.GetUtcNow());
        return new RefundPreview(invoice.InvoiceNumber, accountId, invoice.CompanyName, refund.Amount, refund.Currency, refund.Of,
            RefundDecision.OwedBack(invoice), refund.Refunded, refund.StillOwedBack, invoice.Status);
    }
}
