using System.Text.RegularExpressions;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using Marten.Schema;

namespace CpsLedger.Api.Invoicing;

public enum InvoiceStatus
{
    Open,
    Overdue,
    Paid,
}

public enum PaymentKind
{
    Partial,
    Full,
    Overpayment,
}

public enum ChargeOutcome
{
    Approved,
    Declined,
    Error,
}

/// <summary>One line of an invoice, its amount already rounded to the currency's two decimals.</summary>
public sealed record InvoiceLine(string Description, decimal Amount);

/// <summary>The invoice for a membership's annual fee was issued, with its number, lines, VAT, total and due date.</summary>
public sealed record InvoiceIssued(
    Guid InvoiceId,
    string InvoiceNumber,
    Guid AccountId,
    Guid MembershipId,
    string MembershipNumber,
    string CompanyName,
    string Country,
    PaymentMethod PaymentMethod,
    string Currency,
    IReadOnlyList<InvoiceLine> Lines,
    decimal Subtotal,
    decimal VatRate,
    decimal Vat,
    decimal Total,
    DateOnly IssuedOn,
    DateOnly DueOn,
    DateTimeOffset IssuedAt);

/// <summary>
/// The card was presented to the payment gateway for this invoice: one event per attempt, whatever the outcome. The
/// idempotency key is what the gateway saw, so a support agent can find the attempt in the provider's dashboard.
/// </summary>
public sealed record CardChargeAttempted(
    Guid InvoiceId,
    string InvoiceNumber,
    int Attempt,
    string IdempotencyKey,
    decimal Amount,
    string Currency,
    ChargeOutcome Outcome,
    string? GatewayReference,
    string? Reason,
    DateOnly? NextAttemptOn,
    DateTimeOffset AttemptedAt);

/// <summary>Money arrived for the invoice (a bank transfer recorded by finance, or an approved card charge).</summary>
public sealed record PaymentReceived(
    Guid InvoiceId,
    string InvoiceNumber,
    Guid AccountId,
    Guid PaymentId,
    PaymentMethod Method,
    decimal Amount,
    string Currency,
    DateOnly ValueDate,
    string? Reference,
    string BankReference,
    PaymentKind Kind,
    decimal TotalReceived,
    decimal Outstanding,
    decimal Overpaid,
    DateTimeOffset RecordedAt);

/// <summary>The payments received cover the invoice's total.</summary>
public sealed record InvoicePaid(Guid InvoiceId, string InvoiceNumber, Guid AccountId, decimal TotalReceived, DateTimeOffset PaidAt);

/// <summary>The invoice was not paid by its due date (for a card: the last charge attempt failed).</summary>
public sealed record InvoiceBecameOverdue(Guid InvoiceId, string InvoiceNumber, Guid AccountId, decimal Outstanding, string Currency,
    DateOnly DueOn, DateOnly SuspensionOn, DateTimeOffset OverdueAt);

public sealed record InvoicePayment(Guid PaymentId, PaymentMethod Method, decimal Amount, string Currency, DateOnly ValueDate,
    string? Reference, string BankReference, PaymentKind Kind, DateTimeOffset RecordedAt);

public sealed record ChargeAttempt(int Attempt, string IdempotencyKey, decimal Amount, ChargeOutcome Outcome, string? GatewayReference,
    string? Reason, DateOnly? NextAttemptOn, DateTimeOffset AttemptedAt);

/// <summary>An invoice as members and finance read it: lines, totals, payments, charge attempts and status (an inline snapshot, immutable).</summary>
public sealed record Invoice
{
    public Guid Id { get; init; }
    public string InvoiceNumber { get; init; } = "";
    public Guid AccountId { get; init; }
    public Guid MembershipId { get; init; }
    public string MembershipNumber { get; init; } = "";
    public string CompanyName { get; init; } = "";
    public string Country { get; init; } = "";
    public PaymentMethod PaymentMethod { get; init; }
    public string Currency { get; init; } = "";
    public IReadOnlyList<InvoiceLine> Lines { get; init; } = [];
    public decimal Subtotal { get; init; }
    public decimal VatRate { get; init; }
    public decimal Vat { get; init; }
    public decimal Total { get; init; }
    public DateOnly IssuedOn { get; init; }
    public DateOnly DueOn { get; init; }
    public DateTimeOffset IssuedAt { get; init; }
    public InvoiceStatus Status { get; init; }
    public decimal TotalReceived { get; init; }
    public decimal Outstanding { get; init; }
    public decimal Overpaid { get; init; }
    public DateTimeOffset? PaidAt { get; init; }
    public DateTimeOffset? OverdueAt { get; init; }
    public IReadOnlyList<InvoicePayment> Payments { get; init; } = [];
    public IReadOnlyList<ChargeAttempt> ChargeAttempts { get; init; } = [];

    public static Invoice Create(InvoiceIssued e) => new()
    {
        Id = e.InvoiceId,
        InvoiceNumber = e.InvoiceNumber,
        AccountId = e.AccountId,
        MembershipId = e.MembershipId,
        MembershipNumber = e.MembershipNumber,
        CompanyName = e.CompanyName,
        Country = e.Country,
        PaymentMethod = e.PaymentMethod,
        Currency = e.Currency,
        Lines = [.. e.Lines],
        Subtotal = e.Subtotal,
        VatRate = e.VatRate,
        Vat = e.Vat,
        Total = e.Total,
        IssuedOn = e.IssuedOn,
        DueOn = e.DueOn,
        IssuedAt = e.IssuedAt,
        Status = InvoiceStatus.Open,
        Outstanding = e.Total,
    };

    public Invoice Apply(CardChargeAttempted e) => this with
    {
        ChargeAttempts = [.. ChargeAttempts, new ChargeAttempt(e.Attempt, e.IdempotencyKey, e.Amount, e.Outcome, e.GatewayReference, e.Reason,
            e.NextAttemptOn, e.AttemptedAt)],
    };

    public Invoice Apply(PaymentReceived e) => this with
    {
        Payments = [.. Payments, new InvoicePayment(e.PaymentId, e.Method, e.Amount, e.Currency, e.ValueDate, e.Reference, e.BankReference, e.Kind,
            e.RecordedAt)],
        TotalReceived = e.TotalReceived,
        Outstanding = e.Outstanding,
        Overpaid = e.Overpaid,
    };

    public Invoice Apply(InvoicePaid e) => this with { Status = InvoiceStatus.Paid, PaidAt = e.PaidAt };

    public Invoice Apply(InvoiceBecameOverdue e) => this with { Status = InvoiceStatus.Overdue, OverdueAt = e.OverdueAt };
}

public static class InvoiceStream
{
    /// <summary>One invoice per membership term: its stream id derived from the membership id, so issuing twice collides.</summary>
    public static Guid ForMembership(Guid membershipId) => Platform.DerivedIds.Hashed($"cpsledger:invoice:{membershipId:N}");
}

/// <summary>
/// Invoice numbers "INV-2026-000001": sequential per calendar year of the issue date, six digits (a million invoices a year).
/// </summary>
public static partial class InvoiceNumbers
{
    public static string Format(int year, int sequence) => $"INV-{year:D4}-{sequence:D6}";

    /// <summary>The first invoice number found in a bank transfer's reference text, if any (upper-cased).</summary>
    public static string? FindIn(string? text) => text is null ? null : Pattern().Match(text.ToUpperInvariant()) is { Success: true } m ? m.Value : null;

    public static bool IsWellFormed(string number) => Pattern().IsMatch(number) && Pattern().Match(number).Value == number;

    [GeneratedRegex(@"INV-\d{4}-\d{6}")]
    private static partial Regex Pattern();
}

/// <summary>
/// The last invoice number issued in a year (id: the year). Updated with optimistic concurrency in the transaction that
/// appends <see cref="InvoiceIssued"/>: a failed or retried issue rolls the counter back too, so there are no gaps.
/// </summary>
[UseOptimisticConcurrency]
public sealed class InvoiceNumberCounter
{
    public string Id { get; set; } = "";
    public int Last { get; set; }
}

/// <summary>The invoice number's claim: its primary key makes the database refuse a number issued twice.</summary>
[ConflictDescription("Invoice number already issued", "The invoice number could not be assigned. Please try again.")]
public sealed class InvoiceNumberClaim
{
    public string Id { get; set; } = "";
    public Guid InvoiceId { get; set; }
    public Guid AccountId { get; set; }
}
