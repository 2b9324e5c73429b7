using System.Text.RegularExpressions;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using JasperFx.Events;
using Marten;
using Marten.Schema;

namespace CpsLedger.Api.Invoicing;

/// <summary>Where an invoice stands: <c>open</c> (not paid, and not overdue), <c>overdue</c> (not paid by its due date), <c>paid</c>
/// (the payments cover its total) or <c>cancelled</c> (by a credit note).</summary>
public enum InvoiceStatus
{
    Open,
    Overdue,
    Paid,

    /// <summary>Cancelled by a credit note (finance's, or the ledger's own): nothing is owed on it.</summary>
    Cancelled,
}

/// <summary>What an invoice is for. Invoices issued before kinds were recorded are <see cref="Membership"/> (a joining's annual fee).</summary>
public enum InvoiceKind
{
    /// <summary>The annual fee of the term a join started.</summary>
    Membership,

    /// <summary>The annual fee of a renewed term.</summary>
    Renewal,

    /// <summary>The pro-rated difference of a mid-term upgrade.</summary>
    Upgrade,
}

/// <summary>What a payment did to its invoice: <c>partial</c> (less than outstanding), <c>full</c>, <c>overpayment</c> (more than
/// outstanding), or <c>after_cancellation</c>.</summary>
public enum PaymentKind
{
    Partial,
    Full,
    Overpayment,

    /// <summary>Received after the invoice was cancelled (a card charge found charged once its answer came too late): all of it is refunded.</summary>
    AfterCancellation,
}

/// <summary>The payment gateway's answer to a card charge: <c>approved</c>, <c>declined</c> (by the card's bank) or <c>error</c>
/// (the gateway failed; retried).</summary>
public enum ChargeOutcome
{
    Approved,
    Declined,
    Error,
}

/// <summary>One line of an invoice, its amount already rounded to the currency's two decimals.</summary>
/// <param name="Description">What the line charges, as printed on the invoice.</param>
/// <param name="Amount">The line's amount before VAT, in the invoice's currency.</param>
public sealed record InvoiceLine(string Description, decimal Amount);

/// <summary>The buyer as the invoice records it when issued (the account's billing details then).</summary>
/// <param name="Address">Null when the account had no billing address yet (the invoice shows the company and country).</param>
/// <param name="Name">The buyer's (company's) name.</param>
/// <param name="Country">The buyer's country: ISO 3166-1 alpha-2 code.</param>
/// <param name="VatId">The buyer's EU VAT ID (e.g. "EE100247019"); null when it had none.</param>
/// <param name="ContactEmail">The e-mail address the invoice was sent to.</param>
public sealed record InvoiceBuyer(string Name, Accounts.PostalAddress? Address, string Country, string? VatId, string ContactEmail);

/// <summary>
/// The invoice for a membership's annual fee was issued, with its number, lines, VAT, total and due date. The parameters after
/// <paramref name="IssuedAt"/> were added with EU invoicing: invoices issued before have them null (see docs/invoicing.md).
/// </summary>
/// <param name="Seller">The seller's details at issue (configuration "Seller").</param>
/// <param name="Payee">The account payments go to, at issue.</param>
/// <param name="VatDecision">How the VAT was decided (category, rate, country, legal mention) with the VAT table version used.</param>
/// <param name="CreditorReference">The ISO 11649 reference derived from the invoice number (RF..).</param>
/// <param name="Replaces">The cancelled invoice this one replaces (finance's corrected invoice); null for every other invoice.</param>
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
    DateOnly? PeriodEnd = null,
    InvoiceKind? Kind = null,
    ReplacedInvoice? Replaces = null);

/// <summary>The cancelled invoice a corrected one replaces, and the credit note that cancelled it (EN 16931 BG-3).</summary>
/// <param name="InvoiceId">The cancelled invoice's id.</param>
/// <param name="InvoiceNumber">The cancelled invoice's number.</param>
/// <param name="IssuedOn">The day the cancelled invoice was issued.</param>
/// <param name="CreditNoteNumber">The number of the credit note that cancelled it.</param>
public sealed record ReplacedInvoice(Guid InvoiceId, string InvoiceNumber, DateOnly IssuedOn, string CreditNoteNumber);

/// <summary>Finance issued a corrected invoice in place of this cancelled one: the term is invoiced again, by that invoice.</summary>
public sealed record InvoiceReplaced(Guid InvoiceId, string InvoiceNumber, Guid AccountId, Guid ReplacementInvoiceId, string ReplacementInvoiceNumber,
    string Reason, DateTimeOffset ReplacedAt);

/// <summary>
/// The card was presented to the payment gateway for this invoice: one event per attempt, whatever the outcome. The
/// idempotency key is what the gateway saw, so a support agent can find the attempt in the provider's dashboard.
/// </summary>
/// <param name="Card">The card presented, as the member sees it (brand, last four), so that what is said of the attempt later names the
/// card charged, not the one on file by then. Null on attempts recorded before (2026-12-04), and when no card with those details was
/// presented: none on file, a card recorded as a card-form token before cards were saved at the provider, or a charge found at the
/// provider for an earlier delivery (<see cref="ChargeCardDecision.DecideFound"/>).</param>
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
    DateTimeOffset AttemptedAt,
    ChargedCard? Card = null);

/// <summary>The card a charge attempt presented, as the member sees a card: never its token or the provider's reference.</summary>
/// <param name="Brand">The card's brand, e.g. "Visa".</param>
/// <param name="Last4">The card number's last four digits.</param>
public sealed record ChargedCard(string Brand, string Last4);

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

/// <summary>
/// Money arrived for an invoice already cancelled by a credit note: a card charge whose answer was lost or late (outcome unknown, rolled
/// back), found charged at the provider after a cancellation had committed in the meantime. Nothing is owed on a cancelled invoice, so all
/// of it is a refund due (made outside the ledger, as the credit note's); the credit note, issued before, stays as it was.
/// </summary>
/// <param name="CreditNoteNumber">The credit note that had cancelled the invoice.</param>
/// <param name="TotalReceived">Everything received on the invoice, this payment included.</param>
/// <param name="RefundDue">What is to be refunded on the invoice now: everything received on it (the credit note's refund due and this), less what
/// was refunded already.</param>
public sealed record PaymentReceivedAfterCancellation(
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
    string CreditNoteNumber,
    decimal TotalReceived,
    decimal RefundDue,
    DateTimeOffset RecordedAt);

/// <summary>What a refund paid back: the excess of an invoice that is owed, or money received on a cancelled one.</summary>
public enum RefundOf
{
    /// <summary>Received beyond the total of an open, overdue or paid invoice (its <c>overpaid</c>).</summary>
    Overpayment,

    /// <summary>Received on an invoice cancelled by a credit note (its <c>refundDue</c>).</summary>
    Cancellation,
}

/// <summary>
/// Finance paid money on the invoice back to the member (a bank transfer out, made outside the ledger) and recorded it: the
/// invoice's <c>refunded</c> grows, and what is still owed back (<c>overpaid</c>, or <c>refundDue</c> on a cancelled invoice) shrinks
/// by as much. The invoice's <c>totalReceived</c> is unchanged: the money was received, then some of it paid back.
/// </summary>
/// <param name="PaidOn">The date the refund left CPS's bank account.</param>
/// <param name="Reference">The bank's (or finance's) reference of the refund transfer (recorded once per invoice).</param>
/// <param name="Refunded">Everything refunded on the invoice, this refund included.</param>
/// <param name="StillOwedBack">What is still to be refunded on the invoice after this one.</param>
public sealed record RefundPaid(
    Guid InvoiceId,
    string InvoiceNumber,
    Guid AccountId,
    Guid RefundId,
    decimal Amount,
    string Currency,
    DateOnly PaidOn,
    string Reference,
    RefundOf Of,
    decimal Refunded,
    decimal StillOwedBack,
    DateTimeOffset RecordedAt);

/// <summary>The payments received cover the invoice's total.</summary>
public sealed record InvoicePaid(Guid InvoiceId, string InvoiceNumber, Guid AccountId, decimal TotalReceived, DateTimeOffset PaidAt);

/// <summary>The invoice was not paid by its due date (for a card: the last charge attempt failed).</summary>
public sealed record InvoiceBecameOverdue(Guid InvoiceId, string InvoiceNumber, Guid AccountId, decimal Outstanding, string Currency,
    DateOnly DueOn, DateOnly SuspensionOn, DateTimeOffset OverdueAt);

/// <summary>A payment received on the invoice: a bank transfer finance recorded, or an approved card charge.</summary>
/// <param name="PaymentId">The payment's id.</param>
/// <param name="Method"><c>card</c> or <c>bank_transfer</c>.</param>
/// <param name="Amount">The amount received, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code, the invoice's currency.</param>
/// <param name="ValueDate">The day the money arrived (a transfer's value date; a card charge's day).</param>
/// <param name="Reference">The transfer's reference text as the payer wrote it (for a card charge, the attempt's
/// idempotency key); null when a transfer gave none.</param>
/// <param name="BankReference">The bank's (or the payment gateway's) reference of the payment.</param>
/// <param name="Kind">What the payment did to the invoice.</param>
/// <param name="RecordedAt">When the payment was recorded, UTC.</param>
public sealed record InvoicePayment(Guid PaymentId, PaymentMethod Method, decimal Amount, string Currency, DateOnly ValueDate,
    string? Reference, string BankReference, PaymentKind Kind, DateTimeOffset RecordedAt);

/// <summary>A refund paid on the invoice, as the invoice lists it.</summary>
/// <param name="RefundId">The refund's id.</param>
/// <param name="Amount">The amount paid back, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code, the invoice's currency.</param>
/// <param name="PaidOn">The day the refund left CPS's bank account.</param>
/// <param name="Reference">The bank's (or finance's) reference of the refund transfer.</param>
/// <param name="Of">What it paid back: an overpayment, or money received on a cancelled invoice.</param>
/// <param name="RecordedAt">When finance recorded it, UTC.</param>
public sealed record InvoiceRefund(Guid RefundId, decimal Amount, string Currency, DateOnly PaidOn, string Reference, RefundOf Of,
    DateTimeOffset RecordedAt);

/// <summary>One attempt to charge the card on file for the invoice, whatever its outcome.</summary>
/// <param name="Card">The card presented (brand, last four); null on attempts recorded before 2026-12-04, and when no card with those
/// details was presented (none on file, or a card recorded before card details were kept).</param>
/// <param name="Attempt">The attempt's number, from 1.</param>
/// <param name="IdempotencyKey">The key the payment gateway saw ("&lt;invoice number&gt;-attempt-&lt;n&gt;"): support finds the
/// attempt in the provider's dashboard by it.</param>
/// <param name="Amount">The amount charged, in the invoice's currency.</param>
/// <param name="Outcome">The gateway's answer.</param>
/// <param name="GatewayReference">The gateway's reference of the charge; null when it gave none.</param>
/// <param name="Reason">Why it was declined or failed, as the gateway said; null when approved.</param>
/// <param name="NextAttemptOn">The day the next attempt is due; null when approved or after the last attempt.</param>
/// <param name="AttemptedAt">When the card was presented, UTC.</param>
public sealed record ChargeAttempt(int Attempt, string IdempotencyKey, decimal Amount, ChargeOutcome Outcome, string? GatewayReference,
    string? Reason, DateOnly? NextAttemptOn, DateTimeOffset AttemptedAt, ChargedCard? Card = null);

/// <summary>An invoice as members and finance read it: lines, totals, payments, charge attempts and status.</summary>
/// <remarks>An inline snapshot, immutable.</remarks>
public sealed record Invoice
{
    /// <summary>The invoice's id.</summary>
    public Guid Id { get; init; }
    /// <summary>The invoice number printed on it, e.g. "INV-2026-000001": the invoice routes take it.</summary>
    public string InvoiceNumber { get; init; } = "";
    /// <summary>The business account invoiced.</summary>
    public Guid AccountId { get; init; }
    /// <summary>The membership term the invoice is for.</summary>
    public Guid MembershipId { get; init; }
    /// <summary>The membership number printed on the invoice.</summary>
    public string MembershipNumber { get; init; } = "";
    /// <summary>The buyer's company name when issued.</summary>
    public string CompanyName { get; init; } = "";
    /// <summary>The buyer's country when issued: ISO 3166-1 alpha-2 code.</summary>
    public string Country { get; init; } = "";
    /// <summary>How it is paid: <c>card</c> (charged on the due date) or <c>bank_transfer</c>.</summary>
    public PaymentMethod PaymentMethod { get; init; }
    /// <summary>ISO 4217 code of every amount on the invoice, e.g. "EUR".</summary>
    public string Currency { get; init; } = "";
    /// <summary>The invoice's lines, amounts before VAT.</summary>
    public IReadOnlyList<InvoiceLine> Lines { get; init; } = [];
    /// <summary>The lines' total before VAT, in <c>currency</c>.</summary>
    public decimal Subtotal { get; init; }
    /// <summary>The VAT rate applied, as a fraction (0.24 is 24 %); 0 under reverse charge or outside the EU.</summary>
    public decimal VatRate { get; init; }
    /// <summary>The VAT amount, in <c>currency</c>, rounded to two decimals.</summary>
    public decimal Vat { get; init; }
    /// <summary>What the invoice asks to be paid: subtotal plus VAT, in <c>currency</c>.</summary>
    public decimal Total { get; init; }
    /// <summary>The invoice date.</summary>
    public DateOnly IssuedOn { get; init; }
    /// <summary>The day payment is due (a card is charged on it).</summary>
    public DateOnly DueOn { get; init; }
    /// <summary>When the invoice was issued, UTC.</summary>
    public DateTimeOffset IssuedAt { get; init; }
    /// <summary>Where the invoice stands.</summary>
    public InvoiceStatus Status { get; init; }

    /// <summary>Everything received on the invoice: every payment, one received after a cancellation included.</summary>
    public decimal TotalReceived { get; init; }

    /// <summary>What is still to be paid: 0 once the payments cover the total, or the invoice is cancelled.</summary>
    public decimal Outstanding { get; init; }

    /// <summary>
    /// On an invoice that is owed (open, overdue, paid), what was received beyond its total and not refunded yet; 0 on a cancelled one,
    /// where everything received and not refunded is <see cref="RefundDue"/>, so no money is read twice.
    /// </summary>
    /// <remarks>Derived, like it: an invoice overpaid and then cancelled before this read its excess twice (overpaid and refund due),
    /// and reads it once without a rebuild.</remarks>
    public decimal Overpaid => Status == InvoiceStatus.Cancelled ? 0 : Math.Max(TotalReceived - Total - Refunded, 0);

    /// <summary>
    /// On a cancelled invoice, everything received on it and not refunded yet (<see cref="Refunded"/>): the credit note's refund due and
    /// any payment received after the cancellation; 0 on any other.
    /// </summary>
    /// <remarks>Derived, not stored apart, so invoices cancelled before it existed read the same after a replay.</remarks>
    public decimal RefundDue => Status == InvoiceStatus.Cancelled ? Math.Max(TotalReceived - Refunded, 0) : 0;

    /// <summary>What finance recorded as paid back on the invoice (<see cref="Refunds"/>); <see cref="TotalReceived"/> still counts the
    /// money refunded.</summary>
    /// <remarks>Derived from the refunds listed, so the two cannot disagree.</remarks>
    public decimal Refunded => Refunds.Sum(r => r.Amount);

    /// <summary>The refunds paid on the invoice, oldest first.</summary>
    public IReadOnlyList<InvoiceRefund> Refunds { get; init; } = [];

    /// <summary>When the payments first covered the total, UTC; null until then.</summary>
    public DateTimeOffset? PaidAt { get; init; }
    /// <summary>When it became overdue, UTC; null unless it did.</summary>
    public DateTimeOffset? OverdueAt { get; init; }
    /// <summary>Every payment received on it, oldest first.</summary>
    public IReadOnlyList<InvoicePayment> Payments { get; init; } = [];
    /// <summary>Every card charge attempt, oldest first; empty for a bank transfer invoice.</summary>
    public IReadOnlyList<ChargeAttempt> ChargeAttempts { get; init; } = [];

    /// <summary>Null on invoices issued before seller details were recorded.</summary>
    public InvoiceSeller? Seller { get; init; }

    /// <summary>Null on invoices issued before buyer details were recorded (company name and country above still hold).</summary>
    public InvoiceBuyer? Buyer { get; init; }

    /// <summary>The account the invoice asks to pay into; null on invoices issued before it was recorded.</summary>
    public PayeeAccount? Payee { get; init; }

    /// <summary>
    /// The account to pay into, as the invoice's documents and e-mails print it: the one recorded at issue, or for an invoice
    /// issued before it was recorded, the seller's configured one.
    /// </summary>
    public PayeeAccount PaysInto(SellerOptions seller) => Payee ?? seller.ToPayeeAccount();

    /// <summary>How the VAT was decided; null on invoices issued before (VAT at <see cref="VatRate"/>, no category recorded).</summary>
    public VatTreatment? VatTreatment { get; init; }

    /// <summary>The VAT table version the rate was taken from; null on invoices issued before it was recorded.</summary>
    public long? VatTableVersion { get; init; }

    /// <summary>ISO 11649 reference to quote on a transfer; derived from the number, so older invoices have one too.</summary>
    public string CreditorReference { get; init; } = "";

    /// <summary>The first day the invoice charges for: the term's first day, or an upgrade's effective day; null on invoices issued
    /// before it was recorded.</summary>
    public DateOnly? PeriodStart { get; init; }

    /// <summary>The last day of the membership term the fee is for; null on invoices issued before it was recorded.</summary>
    public DateOnly? PeriodEnd { get; init; }

    /// <summary>What the invoice is for: a joining's term, a renewal, an upgrade.</summary>
    public InvoiceKind Kind { get; init; }

    /// <summary>When a credit note cancelled it, UTC; null unless cancelled.</summary>
    public DateTimeOffset? CancelledAt { get; init; }
    /// <summary>Why it was cancelled, as printed on the credit note: finance's reason, or the ledger's own words when a renewal choice,
    /// a stopped or lapsed renewal or support's cancellation of the membership cancelled it (never support's reason); null unless
    /// cancelled.</summary>
    public string? CancellationReason { get; init; }

    /// <summary>The credit note that cancelled the invoice, if any.</summary>
    public CreditNoteIssued? CreditNote { get; init; }

    /// <summary>The cancelled invoice this one replaces (a corrected invoice), if any.</summary>
    public ReplacedInvoice? Replaces { get; init; }

    /// <summary>The number of the corrected invoice that replaced this cancelled one, if any.</summary>
    public string? ReplacedBy { get; init; }

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
        Kind = e.Kind ?? InvoiceKind.Membership,
        Replaces = e.Replaces,
    };

    public Invoice Apply(CardChargeAttempted e) => this with
    {
        ChargeAttempts = [.. ChargeAttempts, new ChargeAttempt(e.Attempt, e.IdempotencyKey, e.Amount, e.Outcome, e.GatewayReference, e.Reason,
            e.NextAttemptOn, e.AttemptedAt, e.Card)],
    };

    public Invoice Apply(PaymentReceived e) => this with
    {
        Payments = [.. Payments, new InvoicePayment(e.PaymentId, e.Method, e.Amount, e.Currency, e.ValueDate, e.Reference, e.BankReference, e.Kind,
            e.RecordedAt)],
        TotalReceived = e.TotalReceived,
        Outstanding = e.Outstanding,
    };

    public Invoice Apply(PaymentReceivedAfterCancellation e) => this with
    {
        Payments = [.. Payments, new InvoicePayment(e.PaymentId, e.Method, e.Amount, e.Currency, e.ValueDate, e.Reference, e.BankReference,
            PaymentKind.AfterCancellation, e.RecordedAt)],
        TotalReceived = e.TotalReceived,
    };

    public Invoice Apply(RefundPaid e) => this with
    {
        Refunds = [.. Refunds, new InvoiceRefund(e.RefundId, e.Amount, e.Currency, e.PaidOn, e.Reference, e.Of, e.RecordedAt)],
    };

    public Invoice Apply(InvoicePaid e) => this with { Status = InvoiceStatus.Paid, PaidAt = e.PaidAt };

    public Invoice Apply(InvoiceBecameOverdue e) => this with { Status = InvoiceStatus.Overdue, OverdueAt = e.OverdueAt };

    public Invoice Apply(InvoiceCancelled e) => this with
    {
        Status = InvoiceStatus.Cancelled,
        Outstanding = 0,
        CancelledAt = e.CancelledAt,
        CancellationReason = e.Reason,
    };

    public Invoice Apply(CreditNoteIssued e) => this with { CreditNote = e };

    public Invoice Apply(InvoiceReplaced e) => this with { ReplacedBy = e.ReplacementInvoiceNumber };
}

public static class InvoiceStream
{
    /// <summary>One invoice per membership term: its stream id derived from the membership id, so issuing twice collides.</summary>
    public static Guid ForMembership(Guid membershipId) => Platform.DerivedIds.Hashed($"cpsledger:invoice:{membershipId:N}");

    /// <summary>
    /// The renewal invoice issued ahead (bank transfer) for a renewal term: the offer's is the term's own; each later tier choice that
    /// replaces it has one of its own, so a choice cannot be invoiced twice.
    /// </summary>
    public static Guid ForRenewal(Guid renewalMembershipId, int choice) => choice == 0
        ? ForMembership(renewalMembershipId)
        : Platform.DerivedIds.Hashed($"cpsledger:invoice:{renewalMembershipId:N}:choice:{choice}");

    /// <summary>The corrected invoice replacing a cancelled one: derived from it, so a second replacement, even a concurrent one, collides.</summary>
    public static Guid ForReplacement(Guid cancelledInvoiceId) => Platform.DerivedIds.Hashed($"cpsledger:invoice:replacement:{cancelledInvoiceId:N}");

    /// <summary>The pro-rated invoice of an upgrade.</summary>
    public static Guid ForUpgrade(Guid upgradeId) => Platform.DerivedIds.Hashed($"cpsledger:invoice:upgrade:{upgradeId:N}");

    /// <summary>
    /// For a handler that knows only the invoice's id: its membership's lock (<see cref="MembershipStream"/>), then the invoice fetched
    /// for writing under it, as every write to a term in force takes them. The invoice is read once before the lock only for its
    /// account, which never changes. Null when no such invoice was issued.
    /// </summary>
    public static async Task<(IEventStream<AccountMembership> Membership, IEventStream<Invoice> Invoice)?> FetchUnderMembershipLockAsync(
        IDocumentSession session, Guid invoiceId, CancellationToken ct)
    {
        if (await session.LoadAsync<Invoice>(invoiceId, ct) is not { } issued)
            return null;
        var membership = await session.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(issued.AccountId), ct);
        return (membership, await session.Events.FetchForWriting<Invoice>(invoiceId, ct));
    }
}

/// <summary>
/// Invoice numbers "INV-2026-000001": sequential per calendar year of the issue date, six digits (a million invoices a year).
/// </summary>
public static partial class InvoiceNumbers
{
    public static string Format(int year, int sequence) => $"INV-{year:D4}-{sequence:D6}";

    /// <summary>The first invoice number found in a bank transfer's reference text, if any (upper-cased).</summary>
    public static string? FindIn(string? text) => text is null ? null : Pattern().Match(text.ToUpperInvariant()) is { Success: true } m ? m.Value : null;

    /// <summary>Every invoice number in a bank transfer's reference text, in the order written (upper-cased).</summary>
    public static IEnumerable<string> AllIn(string? text) =>
        text is null ? [] : Pattern().Matches(text.ToUpperInvariant()).Select(m => m.Value);

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

public static class InvoiceNumberClaims
{
    private static readonly Guid NoInvoice = DerivedIds.Hashed("cpsledger:invoice:none");

    /// <summary>
    /// The invoice stream a write on an invoice named by its number fetches: the claimed invoice's. Without a claim the workflow
    /// still fetches a stream (the endpoint's Before then answers 404): one that never exists, as Marten refuses an empty id.
    /// </summary>
    public static Guid StreamOf(InvoiceNumberClaim? claim) => claim?.InvoiceId ?? NoInvoice;
}
