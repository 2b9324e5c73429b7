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

    /// <summary>How to pay: the amount, the date, the account (IBAN, BIC, holder) and the creditor reference to quote.</summary>
    public static IReadOnlyList<string> PaymentInstructions(Invoice invoice, PayeeAccount payee)
    {
        var reference = CreditorReferences.Grouped(invoice.CreditorReference);
        var account = TransferDetails(invoice, payee);
        return invoice.PaymentMethod == PaymentMethod.Card
            ? [$"Your card will be charged {Money(invoice.Total)} {invoice.Currency} on {invoice.DueOn:yyyy-MM-dd}; there is nothing to do.",
                "To pay by bank transfer instead:", .. account]
            : [$"Please transfer {Money(invoice.Total)} {invoice.Currency} by {invoice.DueOn:yyyy-MM-dd}, quoting the reference {reference}:", .. account];
    }

    /// <summary>Where a bank transfer goes and the creditor reference it quotes (the invoice, the reminder, the suspension).</summary>
    public static IReadOnlyList<string> TransferDetails(Invoice invoice, PayeeAccount payee) =>
    [
        $"Account holder: {payee.AccountName}",
        $"IBAN: {BankAccounts.GroupedIban(payee.Iban)}",
        $"BIC: {payee.Bic}",
        $"Reference: {CreditorReferences.Grouped(invoice.CreditorReference)} (or quote {invoice.InvoiceNumber})",
    ];

    /// <summary>The seller's identification in one line (legal name, VAT ID, registration number), or the programme's name on older invoices.</summary>
    public static string SellerLine(Invoice invoice) => invoice.Seller is { } s
        ? $"{s.LegalName} · VAT ID {s.VatId} · Company reg. no. {s.CompanyRegistrationNumber}"
        : "Canon Professional Services";
}
