using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using FluentValidation;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Invoicing;

public static class InvoicePayments
{
    /// <summary>
    /// Money received for an invoice: partial while the total received is below the invoice total, full when it equals it,
    /// overpayment above it; the invoice is paid (once) when the total received covers it. The overpaid amount is what is owed back now:
    /// the excess less what was refunded of it before.
    /// </summary>
    public static IReadOnlyList<object> Receive(Invoice invoice, Guid paymentId, PaymentMethod method, decimal amount, string currency,
        DateOnly valueDate, string? reference, string bankReference, DateTimeOffset now)
    {
        var received = invoice.TotalReceived + amount;
        var kind = received < invoice.Total ? PaymentKind.Partial : received == invoice.Total ? PaymentKind.Full : PaymentKind.Overpayment;
        List<object> events =
        [
            new PaymentReceived(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, paymentId, method, amount, currency, valueDate, reference,
                bankReference, kind, received, Math.Max(invoice.Total - received, 0), Math.Max(received - invoice.Total - invoice.Refunded, 0), now),
        ];
        if (invoice.Status != InvoiceStatus.Paid && received >= invoice.Total)
            events.Add(new InvoicePaid(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, received, now));
        return events;
    }
}

/// <summary>A bank transfer received, as finance reads it from the bank statement.</summary>
/// <param name="InvoiceNumber">The invoice paid, e.g. "INV-2026-000001"; or leave it out and give the creditor reference or the transfer's reference.</param>
/// <param name="Reference">The transfer's reference text; a creditor reference (RF..) or an invoice number is found in it (text naming more than one invoice is refused: give invoiceNumber).</param>
/// <param name="Amount">Amount received, at most two decimals.</param>
/// <param name="Currency">ISO 4217 code; must be the invoice's.</param>
/// <param name="ValueDate">The date the bank credited the money: not in the future, not before the invoice's issue date.</param>
/// <param name="BankReference">The bank's reference of the transfer (recorded once per invoice).</param>
/// <param name="CreditorReference">The ISO 11649 structured reference the transfer carried ("RF18 INV2 0260 0000 1"), as printed on the invoice.</param>
public sealed record RecordBankPayment(string? InvoiceNumber, string? Reference, decimal Amount, string Currency, DateOnly ValueDate,
    string BankReference, string? CreditorReference = null);

/// <summary>The rules every sum of money finance records follows, coming in (a bank transfer) or going out (a refund).</summary>
public static class MoneyRules
{
    public static IRuleBuilderOptions<T, decimal> MoneyAmount<T>(this IRuleBuilder<T, decimal> rule) =>
        rule.GreaterThan(0).PrecisionScale(18, 2, ignoreTrailingZeros: true);

    public static IRuleBuilderOptions<T, string> CurrencyCode<T>(this IRuleBuilder<T, string> rule) =>
        rule.NotEmpty().Matches("^[A-Z]{3}$").WithMessage("An ISO 4217 currency code in upper case, e.g. EUR.");

    /// <summary>
    /// A date a bank booked money on: not after today anywhere on Earth (up to UTC+14). Its earliest is the invoice's to say (the
    /// decision names it); a missing date is the request gate's. 0001-01-01 is a date given, never read as "missing".
    /// </summary>
    public static IRuleBuilderOptions<T, DateOnly> BankDate<T>(this IRuleBuilder<T, DateOnly> rule, TimeProvider clock, string whenFuture) =>
        rule.Must(d => d <= DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime.AddHours(14))).WithMessage(whenFuture);
}

public sealed class RecordBankPaymentValidator : AbstractValidator<RecordBankPayment>
{
    public RecordBankPaymentValidator(TimeProvider clock)
    {
        RuleFor(x => x.InvoiceNumber).Must(n => string.IsNullOrWhiteSpace(n) || InvoiceNumbers.IsWellFormed(n.Trim().ToUpperInvariant()))
            .WithMessage("An invoice number looks like INV-2026-000001.");
        RuleFor(x => x.Reference).MaximumLength(500)
            .Must((cmd, reference) => !string.IsNullOrWhiteSpace(cmd.InvoiceNumber) || !string.IsNullOrWhiteSpace(cmd.CreditorReference)
                                      || !string.IsNullOrWhiteSpace(reference))
            .WithMessage("Give the invoice number, the creditor reference or the transfer's reference.");
        // A mistyped structured reference fails its check digits: refused, never matched to another invoice.
        RuleFor(x => x.CreditorReference).MaximumLength(50)
            .Must(r => r is null || CreditorReferences.IsValid(r))
            .WithMessage(r => CreditorReferences.LooksLikeOne(r.CreditorReference!)
                ? $"{r.CreditorReference} fails its check digits (ISO 11649): is a character mistyped?"
                : "A creditor reference looks like RF18 INV2 0260 0000 1 (RF, two check digits, up to 21 letters and digits).");
        RuleFor(x => x.Reference)
            .Must(text => CreditorReferences.FindIn(text).All(CreditorReferences.IsValid))
            .WithMessage(x => $"{CreditorReferences.FindIn(x.Reference).First(r => !CreditorReferences.IsValid(r))} in the reference fails its check digits (ISO 11649): is a character mistyped?")
            .When(x => string.IsNullOrWhiteSpace(x.InvoiceNumber) && string.IsNullOrWhiteSpace(x.CreditorReference));
        RuleFor(x => x.Amount).MoneyAmount();
        RuleFor(x => x.Currency).CurrencyCode();
        RuleFor(x => x.ValueDate).BankDate(clock, "The value date is in the future.");
        RuleFor(x => x.BankReference).NotEmpty().MaximumLength(100);
    }
}

/// <summary>What finance sees after recording: the payment and where the invoice stands now.</summary>
/// <param name="PaymentId">The recorded payment's id.</param>
/// <param name="InvoiceNumber">The invoice it was recorded on.</param>
/// <param name="AccountId">The invoice's business account.</param>
/// <param name="Amount">The amount received, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code, the invoice's.</param>
/// <param name="Kind">What the payment did to the invoice.</param>
/// <param name="TotalReceived">Everything received on the invoice now, this payment included.</param>
/// <param name="Outstanding">What is still to be paid on the invoice; 0 once covered.</param>
/// <param name="Overpaid">What was received beyond the total and not refunded; 0 when none.</param>
/// <param name="InvoiceStatus">The invoice's status after the payment.</param>
/// <param name="MembershipReinstated">True when the invoice kept the membership suspended and the payment made it active
/// again.</param>
public sealed record BankPaymentRecorded(
    Guid PaymentId,
    string InvoiceNumber,
    Guid AccountId,
    decimal Amount,
    string Currency,
    PaymentKind Kind,
    decimal TotalReceived,
    decimal Outstanding,
    decimal Overpaid,
    InvoiceStatus InvoiceStatus,
    bool MembershipReinstated);

/// <summary>
/// What recording a bank transfer would do, decided now by the same rules as the write and written nowhere: finance's review before it
/// records. Another payment recorded in between changes the answer; the write decides again.
/// </summary>
/// <param name="InvoiceNumber">The invoice the transfer would be recorded on (named by its number, creditor reference or reference).</param>
/// <param name="AccountId">The invoice's business account.</param>
/// <param name="CompanyName">The buyer the invoice is addressed to.</param>
/// <param name="Amount">The amount received, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code, the invoice's.</param>
/// <param name="Kind">What the payment would do to the invoice.</param>
/// <param name="InvoiceTotal">The invoice's total.</param>
/// <param name="OutstandingBefore">What is to be paid on the invoice now, before this payment.</param>
/// <param name="TotalReceived">Everything received on the invoice after this payment, this payment included.</param>
/// <param name="Outstanding">What would still be to be paid after this payment; 0 once covered.</param>
/// <param name="Overpaid">What would be received beyond the total and not refunded after this payment (owed back to the payer); 0 when none.</param>
/// <param name="InvoiceStatus">The invoice's status after this payment.</param>
/// <param name="Events">The events the write would append, by type name, in order (e.g. <c>PaymentReceived</c>, <c>InvoicePaid</c>).</param>
/// <param name="MembershipAfter">What paying the invoice in full would do to the membership a suspension of it holds: <c>reinstated</c>,
/// or <c>suspension_moved</c> to another invoice of the term overdue past its grace period; null when the membership is left as it is.</param>
public sealed record BankPaymentPreview(
    string InvoiceNumber,
    Guid AccountId,
    string CompanyName,
    decimal Amount,
    string Currency,
    PaymentKind Kind,
    decimal InvoiceTotal,
    decimal OutstandingBefore,
    decimal TotalReceived,
    decimal Outstanding,
    decimal Overpaid,
    InvoiceStatus InvoiceStatus,
    IReadOnlyList<string> Events,
    MembershipAfterSettlement? MembershipAfter);

/// <summary>
/// The invoice a bank transfer names, by its number, its creditor reference or found in the transfer's reference; null when none.
/// <paramref name="Mismatch"/>: a number and a creditor reference that name different invoices. <paramref name="Membership"/>: the
/// invoice's membership stream, locked (null without a claim).
/// </summary>
public sealed record NamedInvoice(string? Number, InvoiceNumberClaim? Claim, ProblemDetails? Mismatch = null,
    IEventStream<AccountMembership>? Membership = null);

public static class RecordBankPaymentEndpoint
{
    // The membership's lock before the invoice is read (the workflow fetches it after this): a cancellation of the term holding the
    // lock commits first and the transfer reads the invoice cancelled (409 "Invoice cancelled", refund the transfer), instead of
    // failing the version check on an invoice read open (409 "Concurrent change", then "Invoice cancelled" when sent again).
    public static async Task<NamedInvoice> LoadAsync(RecordBankPayment command, IDocumentSession session, CancellationToken ct)
    {
        var named = await NameAsync(command, session, ct);
        if (named.Claim is not { } claim)
            return named;
        return named with { Membership = await session.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(claim.AccountId), ct) };
    }

    /// <summary>The invoice the transfer names, found as the write finds it (the preview reads it too); nothing locked.</summary>
    public static async Task<NamedInvoice> NameAsync(RecordBankPayment command, IQuerySession session, CancellationToken ct)
    {
        var (number, mismatch) = BankPaymentMatching.InvoiceNumberOf(command);
        if (number is null || await session.LoadAsync<InvoiceNumberClaim>(number, ct) is not { } claim)
            return new NamedInvoice(number, null, mismatch);
        return new NamedInvoice(number, claim, mismatch);
    }

    /// <summary>Nothing is recorded against an invoice that cannot be named: finance records it again once it is known.</summary>
    public static ProblemDetails Before(NamedInvoice named, RecordBankPayment command) => named switch
    {
        { Mismatch: { } mismatch } => mismatch,
        { Number: null } => Problems.NotFound("No matching invoice",
            $"The reference \"{command.CreditorReference ?? command.Reference}\" names no invoice of ours (RF.. INV.. or INV-YYYY-NNNNNN). " +
            "Nothing was recorded; record the payment with the invoice number once it is known."),
        { Claim: null } => Problems.NotFound("No matching invoice",
            $"There is no invoice {named.Number}. Nothing was recorded; record the payment once the invoice is known."),
        _ => WolverineContinue.NoProblems,
    };

    public static Guid InvoiceStreamId(NamedInvoice named) => InvoiceNumberClaims.StreamOf(named.Claim);

    /// <summary>
    /// A payment for a found invoice is refused when the invoice was cancelled, when its currency is not the invoice's, when its
    /// value date is before the invoice's issue date, or when it was recorded before.
    /// </summary>
    public static ProblemDetails Validate(Invoice? invoice, RecordBankPayment command)
    {
        if (invoice is null)
            return WolverineContinue.NoProblems; // no claim: Before answered
        // A member may pay the invoice first received after finance replaced it: the replacement charges the same, so finance is
        // pointed to it rather than only told to refund money the member then owes again.
        if (invoice.Status == InvoiceStatus.Cancelled)
            return Problems.Conflict("Invoice cancelled", invoice.ReplacedBy is { } replacement
                ? $"Invoice {invoice.InvoiceNumber} was cancelled by credit note {invoice.CreditNote?.CreditNoteNumber} and replaced by invoice " +
                  $"{replacement}: nothing is owed on {invoice.InvoiceNumber}. If the transfer pays that charge, record it against {replacement} " +
                  "(invoiceNumber); otherwise refund it."
                : $"Invoice {invoice.InvoiceNumber} was cancelled by credit note {invoice.CreditNote?.CreditNoteNumber}: nothing is owed on it. Refund the transfer.");
        if (!string.Equals(command.Currency, invoice.Currency, StringComparison.Ordinal))
            return Problems.Invalid("currency", $"Invoice {invoice.InvoiceNumber} is in {invoice.Currency}, not {command.Currency}.");
        // A transfer quoting the invoice cannot predate it: the issue date printed on the invoice is the earliest value date.
        if (command.ValueDate < invoice.IssuedOn)
            return Problems.Invalid("valueDate", $"The value date is before invoice {invoice.InvoiceNumber} was issued: the earliest " +
                                                 $"value date is {invoice.IssuedOn:yyyy-MM-dd}, its issue date.");
        if (invoice.Payments.Any(p => string.Equals(p.BankReference, command.BankReference.Trim(), StringComparison.OrdinalIgnoreCase)))
            return Problems.Conflict("Payment already recorded",
                $"A payment with bank reference \"{command.BankReference.Trim()}\" is already recorded on invoice {invoice.InvoiceNumber}.");
        return WolverineContinue.NoProblems;
    }

    /// <summary>The decision on a payment that passed <see cref="Validate"/>.</summary>
    public static IReadOnlyList<object> Decide(Invoice invoice, RecordBankPayment command, Guid paymentId, DateTimeOffset now) =>
        InvoicePayments.Receive(invoice, paymentId, PaymentMethod.BankTransfer, command.Amount, invoice.Currency, command.ValueDate,
            command.Reference?.Trim(), command.BankReference.Trim(), now);

    [WolverinePost("/api/payments/bank-transfers", OperationId = "RecordBankPayment")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("Record a bank transfer received against an invoice (by invoice number, creditor reference or the transfer's reference)")]
    [RequestExample("""{"reference":"CPS INV-2026-000001 Valgus Studio","amount":124.00,"currency":"EUR","valueDate":"2026-12-01","bankReference":"LHV-20261201-0042"}""")]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<(Created<BankPaymentRecorded>, Events)> Post(RecordBankPayment command, NamedInvoice named,
        [WriteAggregate(FromMethod = nameof(InvoiceStreamId), Required = false)] Invoice? claimed, IDocumentSession session,
        IOptions<InvoicingOptions> invoicing, TimeProvider clock, CancellationToken ct)
    {
        // Before answered 404 when no claim names an invoice; a claimed invoice exists (both are written in one transaction).
        var invoice = claimed ?? throw new InvalidOperationException("A claimed invoice is missing.");
        var now = clock.GetUtcNow();
        var events = Decide(invoice, command, Guid.CreateVersion7(), now);
        var received = (PaymentReceived)events[0];
        var paid = events.OfType<InvoicePaid>().Any();
        // Paying in full lifts a suspension (or moves it to another overdue invoice) in the same transaction (the membership stream).
        var reinstated = paid && await OverdueDecision.ReinstateIfSuspendedAsync(session, invoice, invoicing.Value, now, ct, named.Membership);
        return (TypedResults.Created($"/api/accounts/{invoice.AccountId}/invoices/{invoice.InvoiceNumber}",
                new BankPaymentRecorded(received.PaymentId, invoice.InvoiceNumber, invoice.AccountId, received.Amount, received.Currency,
                    received.Kind, received.TotalReceived, received.Outstanding, received.Overpaid, paid ? InvoiceStatus.Paid : invoice.Status,
                    reinstated)),
            [.. events]);
    }
}

/// <summary>The invoice a transfer names and that invoice as it stands now (null without a claim).</summary>
public sealed record PreviewedInvoice(NamedInvoice Named, Invoice? Invoice);

/// <summary>
/// Finance's review of a transfer before recording it: the write's own lookup, refusals and decision, run on the invoice as it stands and
/// written nowhere (a query session: no event, no message, no idempotency key). The console states what it answers, so the rule that
/// decides a payment is written once.
/// </summary>
public static class PreviewBankPaymentEndpoint
{
    // The invoice as the write reads it (its inline snapshot), without the membership's lock: nothing is written, and the write
    // takes the lock and decides again on what it then reads.
    public static async Task<PreviewedInvoice> LoadAsync(RecordBankPayment command, IQuerySession session, CancellationToken ct)
    {
        var named = await RecordBankPaymentEndpoint.NameAsync(command, session, ct);
        return new PreviewedInvoice(named, named.Claim is { } claim ? await session.LoadAsync<Invoice>(claim.InvoiceId, ct) : null);
    }

    /// <summary>The write's refusals, in its order: no invoice named (404), then the invoice's own (cancelled, currency, date, recorded).</summary>
    public static ProblemDetails Before(PreviewedInvoice previewed, RecordBankPayment command) =>
        RecordBankPaymentEndpoint.Before(previewed.Named, command) is var unnamed && !ReferenceEquals(unnamed, WolverineContinue.NoProblems)
            ? unnamed
            : RecordBankPaymentEndpoint.Validate(previewed.Invoice, command);

    // POST with the write's body under the write's own path: a GET carries no body, and the same body read by the same strict gate
    // and validator is what makes the preview answer for exactly what "Write it" sends. "preview" is a noun, as "cancellation" and
    // "replacement" are on an invoice, and, unlike those, creates nothing (200, never 201).
    [WolverinePost("/api/payments/bank-transfers/preview", OperationId = "PreviewBankPayment")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("What recording this bank transfer would do (or the write's refusal), decided by the same rules and written nowhere")]
    [RequestExample("""{"reference":"CPS INV-2026-000001 Valgus Studio","amount":124.00,"currency":"EUR","valueDate":"2026-12-01","bankReference":"LHV-20261201-0042"}""")]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    [WritesNothing]
    public static async Task<BankPaymentPreview> Post(RecordBankPayment command, PreviewedInvoice previewed, IQuerySession session,
        IOptions<InvoicingOptions> invoicing, TimeProvider clock, CancellationToken ct)
    {
        // Before answered 404 when no claim names an invoice; a claimed invoice exists (both are written in one transaction).
        var invoice = previewed.Invoice ?? throw new InvalidOperationException("A claimed invoice is missing.");
        var now = clock.GetUtcNow();
        var events = RecordBankPaymentEndpoint.Decide(invoice, command, Guid.Empty, now);
        var received = (PaymentReceived)events[0];
        var paid = events.OfType<InvoicePaid>().Any();
        // As the write: only paying in full settles the invoice a suspension may rest on.
        var membershipAfter = paid ? await OverdueDecision.PreviewAfterSettlementAsync(session, invoice, invoicing.Value, now, ct) : null;
        return new BankPaymentPreview(invoice.InvoiceNumber, invoice.AccountId, invoice.CompanyName, received.Amount, received.Currency,
            received.Kind, invoice.Total, invoice.Outstanding, received.TotalReceived, received.Outstanding, received.Overpaid,
            paid ? InvoiceStatus.Paid : invoice.Status, [.. events.Select(e => e.GetType().Name)], membershipAfter);
    }
}
