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

    /// <summary>Cancelled by finance with a credit note: nothing is owed on it.</summary>
    Cancelled,
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

/// <summary>The buyer as the invoice records it when issued (the account's billing details then).</summary>
/// <param name="Address">Null when the account had no billing address yet (the invoice shows the company and country).</param>
public sealed record InvoiceBuyer(string Name, Accounts.PostalAddress? Address, string Country, string? VatId, string ContactEmail);

/// <summary>
/// The invoice for a membership's annual fee was issued, with its number, lines, VAT, total and due date. The parameters after
/// <paramref name="IssuedAt"/> were added with EU invoicing: invoices issued before have them null (see docs/invoicing.md).
/// </summary>
/// <param name="Seller">The seller's details at issue (configuration "Seller").</param>
/// <param name="Payee">The account payments go to, at issue.</param>
/// <param name="VatDecision">How the VAT was decided (category, rate, country, legal mention) with the VAT table version used.</param>
/// <param name="CreditorReference">The ISO 11649 reference derived from the invoice number (RF..).</param>
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
    DateTimeOffset IssuedAt,
    InvoiceSeller? Seller = null,
    InvoiceBuyer? Buyer = null,
    PayeeAccount? Payee = null,
    VatTreatment? VatDecision = null,
    long? VatTableVersion = null,
    string? CreditorReference = null,
    DateOnly? PeriodStart = null,
    DateOnly? PeriodEnd = null);

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

/// <summary>An invoice as members and finance read it: lines, totals, payments, charge attempts and status.</summary>
public sealed class Invoice
{
    public Guid Id { get; set; }
    public string InvoiceNumber { get; set; } = "";
    public Guid AccountId { get; set; }
    public Guid MembershipId { get; set; }
    public string MembershipNumber { get; set; } = "";
    public string CompanyName { get; set; } = "";
    public string Country { get; set; } = "";
    public PaymentMethod PaymentMethod { get; set; }
    public string Currency { get; set; } = "";
    public List<InvoiceLine> Lines { get; set; } = [];
    public decimal Subtotal { get; set; }
    public decimal VatRate { get; set; }
    public decimal Vat { get; set; }
    public decimal Total { get; set; }
    public DateOnly IssuedOn { get; set; }
    public DateOnly DueOn { get; set; }
    public DateTimeOffset IssuedAt { get; set; }
    public InvoiceStatus Status { get; set; }
    public decimal TotalReceived { get; set; }
    public decimal Outstanding { get; set; }
    public decimal Overpaid { get; set; }
    public DateTimeOffset? PaidAt { get; set; }
    public DateTimeOffset? OverdueAt { get; set; }
    public List<InvoicePayment> Payments { get; set; } = [];
    public List<ChargeAttempt> ChargeAttempts { get; set; } = [];

    /// <summary>Null on invoices issued before seller details were recorded.</summary>
    public InvoiceSeller? Seller { get; set; }

    /// <summary>Null on invoices issued before buyer details were recorded (company name and country above still hold).</summary>
    public InvoiceBuyer? Buyer { get; set; }

    /// <summary>The account the invoice asks to pay into; null on invoices issued before it was recorded.</summary>
    public PayeeAccount? Payee { get; set; }

    /// <summary>How the VAT was decided; null on invoices issued before (VAT at <see cref="VatRate"/>, no category recorded).</summary>
    public VatTreatment? VatTreatment { get; set; }

    public long? VatTableVersion { get; set; }

    /// <summary>ISO 11649 reference to quote on a transfer; derived from the number, so older invoices have one too.</summary>
    public string CreditorReference { get; set; } = "";

    /// <summary>The membership term the fee is for; null on invoices issued before it was recorded.</summary>
    public DateOnly? PeriodStart { get; set; }

    public DateOnly? PeriodEnd { get; set; }

    public DateTimeOffset? CancelledAt { get; set; }
    public string? CancellationReason { get; set; }

    /// <summary>The credit note that cancelled the invoice, if any.</summary>
    public CreditNoteIssued? CreditNote { get; set; }

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
        Seller = e.Seller,
        Buyer = e.Buyer,
        Payee = e.Payee,
        VatTreatment = e.VatDecision,
        VatTableVersion = e.VatTableVersion,
        CreditorReference = e.CreditorReference ?? CreditorReferences.For(e.InvoiceNumber),
        PeriodStart = e.PeriodStart,
        PeriodEnd = e.PeriodEnd,
    };

    public void Apply(CardChargeAttempted e) =>
        ChargeAttempts.Add(new ChargeAttempt(e.Attempt, e.IdempotencyKey, e.Amount, e.Outcome, e.GatewayReference, e.Reason, e.NextAttemptOn,
            e.AttemptedAt));

    public void Apply(PaymentReceived e)
    {
        Payments.Add(new InvoicePayment(e.PaymentId, e.Method, e.Amount, e.Currency, e.ValueDate, e.Reference, e.BankReference, e.Kind,
            e.RecordedAt));
        TotalReceived = e.TotalReceived;
        Outstanding = e.Outstanding;
        Overpaid = e.Overpaid;
    }

    public void Apply(InvoicePaid e)
    {
        Status = InvoiceStatus.Paid;
        PaidAt = e.PaidAt;
    }

    public void Apply(InvoiceBecameOverdue e)
    {
        Status = InvoiceStatus.Overdue;
        OverdueAt = e.OverdueAt;
    }

    public void Apply(InvoiceCancelled e)
    {
        Status = InvoiceStatus.Cancelled;
        Outstanding = 0;
        CancelledAt = e.CancelledAt;
        CancellationReason = e.Reason;
    }

    public void Apply(CreditNoteIssued e) => CreditNote = e;
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
