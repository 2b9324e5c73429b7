using System.Globalization;
using CpsLedger.Api.Membership;

namespace CpsLedger.Api.Invoicing;

/// <summary>
/// How an invoice's figures and instructions are worded, once for the PDF and the e-mail: both print the amounts the
/// invoice recorded (<see cref="InvoiceCalculation"/>) through these functions, so they cannot disagree.
/// </summary>
public static class InvoiceWording
{
    public static string Money(decimal amount) => amount.ToString("#,##0.00", CultureInfo.InvariantCulture);

    public static string Percent(decimal rate) => (rate * 100).ToString("0.##", CultureInfo.InvariantCulture) + " %";

    /// <summary>"VAT 22 % (IT)", "VAT 0 % (reverse charge)", "VAT 0 % (not subject to EU VAT)"; older invoices: "VAT 22 %".</summary>
    public static string VatLabel(Invoice invoice) => invoice.VatTreatment switch
    {
        { Category: VatCategory.ReverseCharge } => "VAT 0 % (reverse charge)",
        { Category: VatCategory.OutsideScope } => "VAT 0 % (not subject to EU VAT)",
        { } standard => $"VAT {Percent(standard.Rate)} ({standard.Country})",
        null => $"VAT {Percent(invoice.VatRate)}",
    };

    /// <summary>The legal mention the VAT decision requires (reverse charge, outside the EU), if any.</summary>
    public static string? VatMention(Invoice invoice) => invoice.VatTreatment?.Mention;

    /// <summary>"Replaces invoice INV-…, cancelled by credit note CN-…" on a corrected invoice; null on any other.</summary>
    public static string? Replacement(Invoice invoice) => invoice.Replaces is { } r
        ? $"Replaces invoice {r.InvoiceNumber} of {r.IssuedOn:yyyy-MM-dd}, cancelled by credit note {r.CreditNoteNumber}."
        : null;

    /// <summary>
    /// How to pay: the amount, the date, the account (IBAN, BIC, holder) and the creditor reference to quote. One element per
    /// sentence or account detail, never broken by hand: the PDF wraps each to its box (InvoicePdf), the e-mail's flowed text to the
    /// reader's window (<see cref="Accounts.MemberEmails.Text"/>).
    /// </summary>
    /// <param name="cardOnFile">
    /// For a card invoice, whether the account has a card on file as these words are written: the e-mail, written once, knows and
    /// says so. Null for the PDF: it is drawn again from the invoice's own facts at every download and a card may be recorded after
    /// the issue, so its words hold either way. Without a card the due date's charge is declined (ChargeCardHandler), the invoice goes
    /// overdue after the last attempt and the membership is suspended after the grace period.
    /// </param>
    public static IReadOnlyList<string> PaymentInstructions(Invoice invoice, PayeeAccount payee, bool? cardOnFile = null)
    {
        // The reference is named once, in the account details' "Reference:" line that the sentences point to (named in the sentence
        // too, it stood twice a line apart).
        var account = TransferDetails(invoice, payee);
        var (amount, due) = ($"{Money(invoice.Total)} {invoice.Currency}", invoice.DueOn.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        if (invoice.PaymentMethod != PaymentMethod.Card)
            return [$"Please transfer {amount} by {due}, quoting the reference below:", .. account];
        const string otherwise = "Otherwise the charge is declined, the invoice becomes overdue and your CPS membership is suspended until it is paid.";
        return cardOnFile switch
        {
            true =>
            [
                $"Your card will be charged {amount} on {due}; there is nothing to do.", "To pay by bank transfer instead, quote the reference below:",
                .. account,
            ],
            false =>
            [
                $"No card is on file for your account, so nothing can be charged on {due}.",
                $"Please record a card in the CPS portal before {due}, or transfer {amount} by {due}, quoting the reference below:",
                .. account, otherwise,
            ],
            null =>
            [
                $"The card on file for your account will be charged {amount} on {due}.",
                $"No card on file yet? Record one in the CPS portal before {due}, or transfer {amount} by {due}, quoting the reference below:",
                .. account, otherwise,
            ],
        };
    }

    /// <summary>Where a bank transfer goes and the creditor reference it quotes (the invoice, the reminder, the suspension).</summary>
    public static IReadOnlyList<string> TransferDetails(Invoice invoice, PayeeAccount payee) =>
    [
        $"Account holder: {payee.AccountName}",
        $"IBAN: {BankAccounts.GroupedIban(payee.Iban)}",
        $"BIC: {payee.Bic}",
        $"Reference: {CreditorReferences.Grouped(invoice.CreditorReference)} (or quote {invoice.InvoiceNumber})",
    ];

    /// <summary>
    /// What a credit note settles: the money received on the invoice to be refunded, or nothing to be paid on it; one sentence to an
    /// element (the PDF wraps each to its box, as <see cref="PaymentInstructions"/>). Where an overpayment was refunded before the cancellation, the refund due is not what was received:
    /// both are named, so the amount refunded is not read as the amount received.
    /// </summary>
    /// <param name="invoice">The cancelled invoice, as it stands when the words are written: only its overpayment refunds are read, and
    /// those precede the cancellation (a cancelled invoice has nothing overpaid), so a later refund or payment changes nothing here.</param>
    public static IReadOnlyList<string> CreditNoteSettlement(Invoice invoice, CreditNoteIssued note) => note.RefundDue > 0
        ? RefundedBefore(invoice) is var before and > 0
            ? [$"Received on invoice {note.InvoiceNumber}: {Money(note.RefundDue + before)} {note.Currency}; refunded already: {Money(before)} {note.Currency}.",
               $"The remaining {Money(note.RefundDue)} {note.Currency} will be refunded to you."]
            : [$"{Money(note.RefundDue)} {note.Currency} received on invoice {note.InvoiceNumber} will be refunded to you."]
        : [$"Invoice {note.InvoiceNumber} is cancelled in full: nothing is to be paid on it."];

    /// <summary>What was paid back on the invoice as an overpayment: before any cancellation, which leaves nothing overpaid.</summary>
    public static decimal RefundedBefore(Invoice invoice) => invoice.Refunds.Where(r => r.Of == RefundOf.Overpayment).Sum(r => r.Amount);

    /// <summary>The seller's identification in one line (legal name, VAT ID, registration number), or the programme's name on older invoices.</summary>
    public static string SellerLine(Invoice invoice) => invoice.Seller is { } s
        ? $"{s.LegalName} · VAT ID {s.VatId} · Company reg. no. {s.CompanyRegistrationNumber}"
        : "Canon Professional Services";
}
