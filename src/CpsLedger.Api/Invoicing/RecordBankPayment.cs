using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Invoicing;

public static class InvoicePayments
{
    /// <summary>
    /// Money received for an invoice: partial while the total received is below the invoice total, full when it equals it,
    /// overpayment above it; the invoice is paid (once) when the total received covers it.
    /// </summary>
    public static IReadOnlyList<object> Receive(Invoice invoice, Guid paymentId, PaymentMethod method, decimal amount, string currency,
        DateOnly valueDate, string? reference, string bankReference, DateTimeOffset now)
    {
        var received = invoice.TotalReceived + amount;
        var kind = received < invoice.Total ? PaymentKind.Partial : received == invoice.Total ? PaymentKind.Full : PaymentKind.Overpayment;
        List<object> events =
        [
            new PaymentReceived(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, paymentId, method, amount, currency, valueDate, reference,
                bankReference, kind, received, Math.Max(invoice.Total - received, 0), Math.Max(received - invoice.Total, 0), now),
        ];
        if (invoice.Status != InvoiceStatus.Paid && received >= invoice.Total)
            events.Add(new InvoicePaid(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, received, now));
        return events;
    }
}

/// <summary>A bank transfer received, as finance reads it from the bank statement.</summary>
/// <param name="InvoiceNumber">The invoice paid, e.g. "INV-2026-000001"; or leave it out and give the creditor reference or the transfer's reference.</param>
/// <param name="Reference">The transfer's reference text; a creditor reference (RF..) or an invoice number is found in it.</param>
/// <param name="Amount">Amount received, at most two decimals.</param>
/// <param name="Currency">ISO 4217 code; must be the invoice's.</param>
/// <param name="ValueDate">The date the bank credited the money.</param>
/// <param name="BankReference">The bank's reference of the transfer (recorded once per invoice).</param>
/// <param name="CreditorReference">The ISO 11649 structured reference the transfer carried ("RF18 INV2 0260 0000 1"), as printed on the invoice.</param>
public sealed record RecordBankPayment(string? InvoiceNumber, string? Reference, decimal Amount, string Currency, DateOnly ValueDate,
    string BankReference, string? CreditorReference = null);

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
        RuleFor(x => x.Amount).GreaterThan(0).PrecisionScale(18, 2, ignoreTrailingZeros: true);
        RuleFor(x => x.Currency).NotEmpty().Matches("^[A-Z]{3}$").WithMessage("An ISO 4217 currency code in upper case, e.g. EUR.");
        // Today anywhere on Earth (up to UTC+14) is the latest a bank can have credited money.
        RuleFor(x => x.ValueDate).NotEqual(default(DateOnly)).WithMessage("The value date is required.")
            .Must(d => d <= DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime.AddHours(14))).WithMessage("The value date is in the future.");
        RuleFor(x => x.BankReference).NotEmpty().MaximumLength(100);
    }
}

/// <summary>What finance sees after recording: the payment and where the invoice stands now.</summary>
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

public static class RecordBankPaymentEndpoint
{
    /// <summary>The decision on a payment for a found invoice: the events, or why not (wrong currency, recorded before).</summary>
    public static (IReadOnlyList<object> Events, ProblemDetails? Problem) Decide(Invoice invoice, RecordBankPayment command, Guid paymentId,
        DateTimeOffset now)
    {
        if (invoice.Status == InvoiceStatus.Cancelled)
            return ([], Problems.Conflict("Invoice cancelled",
                $"Invoice {invoice.InvoiceNumber} was cancelled by credit note {invoice.CreditNote?.CreditNoteNumber}: nothing is owed on it. Refund the transfer."));
        if (!string.Equals(command.Currency, invoice.Currency, StringComparison.Ordinal))
            return ([], Problems.Invalid("currency", $"Invoice {invoice.InvoiceNumber} is in {invoice.Currency}, not {command.Currency}."));
        if (invoice.Payments.Any(p => string.Equals(p.BankReference, command.BankReference.Trim(), StringComparison.OrdinalIgnoreCase)))
            return ([], Problems.Conflict("Payment already recorded",
                $"A payment with bank reference \"{command.BankReference.Trim()}\" is already recorded on invoice {invoice.InvoiceNumber}."));
        return (InvoicePayments.Receive(invoice, paymentId, PaymentMethod.BankTransfer, command.Amount, invoice.Currency, command.ValueDate,
            command.Reference?.Trim(), command.BankReference.Trim(), now), null);
    }

    [WolverinePost("/api/payments/bank-transfers", OperationId = "RecordBankPayment")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [Tags("Invoices")]
    [EndpointSummary("Record a bank transfer received against an invoice (by invoice number or the transfer's reference)")]
    [RequestExample("""{"reference":"CPS INV-2026-000001 Valgus Studio","amount":124.00,"currency":"EUR","valueDate":"2026-12-01","bankReference":"LHV-20261201-0042"}""")]
    [ProducesResponseType<BankPaymentRecorded>(StatusCodes.Status201Created)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<IResult> Post(RecordBankPayment command, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        var (number, mismatch) = BankPaymentMatching.InvoiceNumberOf(command);
        if (mismatch is not null)
            return Results.Problem(mismatch);
        if (number is null)
            return Results.Problem(Problems.NotFound("No matching invoice",
                $"The reference \"{command.CreditorReference ?? command.Reference}\" names no invoice of ours (RF.. INV.. or INV-YYYY-NNNNNN). Nothing was recorded; record the payment " +
                "with the invoice number once it is known."));
        var claim = await session.LoadAsync<InvoiceNumberClaim>(number, ct);
        if (claim is null)
            return Results.Problem(Problems.NotFound("No matching invoice",
                $"There is no invoice {number}. Nothing was recorded; record the payment once the invoice is known."));

        var stream = await session.Events.FetchForWriting<Invoice>(claim.InvoiceId, ct);
        var invoice = stream.Aggregate ?? throw new InvalidOperationException($"Invoice {number} is claimed but missing.");
        var now = clock.GetUtcNow();
        var (events, problem) = Decide(invoice, command, Guid.CreateVersion7(), now);
        if (problem is not null)
            return Results.Problem(problem);

        var received = (PaymentReceived)events[0];
        var paid = events.OfType<InvoicePaid>().Any();
        var reinstated = paid && await OverdueDecision.ReinstateIfSuspendedAsync(session, invoice, now, ct);

        var status = paid ? InvoiceStatus.Paid : invoice.Status;
        stream.AppendMany(events);
        return Results.Created($"/api/accounts/{invoice.AccountId}/invoices/{invoice.InvoiceNumber}",
            new BankPaymentRecorded(received.PaymentId, invoice.InvoiceNumber, invoice.AccountId, received.Amount, received.Currency, received.Kind,
                received.TotalReceived, received.Outstanding, received.Overpaid, status, reinstated));
    }
}
