using CpsLedger.Api.Membership;

namespace CpsLedger.Api.Invoicing;

/// <summary>An invoice's money: lines, subtotal, VAT and total, all in the fee's currency (the surcharge too).</summary>
public sealed record InvoiceAmounts(IReadOnlyList<InvoiceLine> Lines, decimal Subtotal, decimal VatRate, decimal Vat, decimal Total);

/// <summary>What an invoice charges for, before surcharge and VAT: one line's description and amount.</summary>
public sealed record InvoiceCharge(string Description, decimal Amount);

public static class InvoiceCalculation
{
    /// <summary>
    /// The rounding rule, in one place: each line and the VAT are rounded to 2 decimals, half away from zero (commercial
    /// rounding: 0.125 -> 0.13), and the VAT is computed on the sum of the rounded lines. Subtotal and total are then exact
    /// sums of rounded amounts, so the printed lines always add up to the printed total.
    /// </summary>
    public static decimal Round(decimal amount) => Math.Round(amount, 2, MidpointRounding.AwayFromZero);

    /// <summary>
    /// Tier fee; a bank-transfer surcharge line only when paying by bank transfer and the buyer's country has one, at its amount in the
    /// invoice's <paramref name="currency"/> (none there: no invoice, see <see cref="InvoicingOptions.BankTransferSurcharge"/>); VAT at the
    /// rate <see cref="VatRules.Decide"/> gave (0 for reverse charge and outside the EU). The PDF, the e-mail and the e-invoice
    /// all print these figures as the invoice recorded them; none of them computes an amount of its own.
    /// </summary>
    public static InvoiceAmounts Calculate(string tierName, decimal annualFee, PaymentMethod method, string country, string currency,
        InvoicingOptions options, VatTreatment vatTreatment) =>
        Calculate(new InvoiceCharge($"CPS {tierName} membership, annual fee", annualFee), method, country, currency, options, vatTreatment);

    /// <summary>
    /// The same rules for any charge of a membership: the annual fee of a term (joining or renewal) or the pro-rated difference of an
    /// upgrade. One calculation, whatever the invoice is for; every amount in <paramref name="currency"/>, the term's.
    /// </summary>
    public static InvoiceAmounts Calculate(InvoiceCharge charge, PaymentMethod method, string country, string currency, InvoicingOptions options,
        VatTreatment vatTreatment)
    {
        List<InvoiceLine> lines = [new(charge.Description, Round(charge.Amount))];
        if (method == PaymentMethod.BankTransfer && options.BankTransferSurcharge(country, currency) is { } surcharge && surcharge != 0)
            lines.Add(new InvoiceLine($"Bank transfer surcharge ({country})", Round(surcharge)));

        var subtotal = lines.Sum(l => l.Amount);
        var rate = vatTreatment.Rate;
        var vat = Round(subtotal * rate);
        return new InvoiceAmounts(lines, subtotal, rate, vat, subtotal + vat);
    }
}
