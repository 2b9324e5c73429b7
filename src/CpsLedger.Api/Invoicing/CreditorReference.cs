using System.Text.RegularExpressions;
using CpsLedger.Api.Accounts;

namespace CpsLedger.Api.Invoicing;

/// <summary>
/// ISO 11649 structured creditor references ("RF" + two check digits + up to 21 letters and digits, ISO 7064 MOD 97-10),
/// the reference a SEPA transfer carries in its structured remittance field. An invoice's reference is derived from its
/// number alone ("INV-2026-000001" is RF.. INV2026000001), so it never needs storing to be found again, and a reference
/// whose check digits fail is a typing error, never another invoice.
/// </summary>
public static partial class CreditorReferences
{
    /// <summary>The reference of an invoice number: its letters and digits, with the check digits in front.</summary>
    public static string For(string invoiceNumber)
    {
        var body = Regex.Replace(invoiceNumber.ToUpperInvariant(), "[^A-Z0-9]", "");
        if (body.Length is 0 or > 21)
            throw new ArgumentException($"\"{invoiceNumber}\" cannot be a creditor reference (1 to 21 letters and digits).", nameof(invoiceNumber));
        var check = 98 - VatIds.Iso7064Mod97(body + "RF00");
        return $"RF{check:D2}{body}";
    }

    /// <summary>Printed in groups of four, as banks show it ("RF94 INV2 0260 0000 1").</summary>
    public static string Grouped(string reference) => string.Join(' ', reference.Chunk(4).Select(c => new string(c)));

    /// <summary>Spaces removed, upper case.</summary>
    public static string Normalize(string text) => Regex.Replace(text.ToUpperInvariant(), @"\s", "");

    /// <summary>Looks like a creditor reference (whatever its check digits say).</summary>
    public static bool LooksLikeOne(string text) => Shape().IsMatch(Normalize(text));

    /// <summary>A well-formed reference with correct check digits.</summary>
    public static bool IsValid(string text)
    {
        var reference = Normalize(text);
        return Shape().IsMatch(reference) && VatIds.Iso7064Mod97(reference[4..] + reference[..4]) == 1;
    }

    /// <summary>The invoice number a valid reference was derived from, or null (a valid reference that is not one of ours).</summary>
    public static string? InvoiceNumberOf(string reference)
    {
        var normalized = Normalize(reference);
        if (!IsValid(normalized))
            return null;
        var match = InvoiceBody().Match(normalized[4..]);
        return match.Success ? InvoiceNumbers.Format(int.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value)) : null;
    }

    /// <summary>
    /// Creditor references written in a transfer's free text, in groups of four or not ("RF94 INV2 0260 0000 1 thanks"): for each
    /// "RF" and two digits, the longest run of following groups that is a valid reference, else the printed-style run (groups of at
    /// most four) as the candidate whose check digits fail.
    /// </summary>
    public static IReadOnlyList<string> FindIn(string? text)
    {
        if (text is null)
            return [];
        var found = new List<string>();
        foreach (Match match in InText().Matches(text.ToUpperInvariant()))
        {
            var tokens = match.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var candidates = Enumerable.Range(1, tokens.Length).Select(n => string.Concat(tokens.Take(n))).Where(c => c.Length <= 25).ToList();
            var valid = candidates.LastOrDefault(IsValid);
            var grouped = string.Concat(tokens.Take(1).Concat(tokens.Skip(1).TakeWhile(t => t.Length <= 4)));
            found.Add(valid ?? (grouped.Length <= 25 ? grouped : candidates.Last()));
        }

        return found;
    }

    [GeneratedRegex(@"^RF\d{2}[A-Z0-9]{1,21}$")]
    private static partial Regex Shape();

    [GeneratedRegex(@"^INV(\d{4})(\d{6})$")]
    private static partial Regex InvoiceBody();

    [GeneratedRegex(@"\bRF\d{2}[A-Z0-9]*(?: [A-Z0-9]+)*")]
    private static partial Regex InText();
}

/// <summary>Which invoice a bank transfer pays, from what finance read on the statement.</summary>
public static class BankPaymentMatching
{
    /// <summary>
    /// The invoice number given, else the one a (valid) creditor reference was derived from, else a valid creditor reference in
    /// the free text, else an invoice number in the free text. A creditor reference naming another invoice than the number given
    /// is a 400: the two disagree and neither is trusted. So is free text naming more than one invoice (by number or creditor
    /// reference): how much of the transfer pays which is finance's to say, by recording it on each with its invoice number.
    /// (Check digits are the validator's.)
    /// </summary>
    public static (string? InvoiceNumber, Microsoft.AspNetCore.Mvc.ProblemDetails? Problem) InvoiceNumberOf(RecordBankPayment command)
    {
        var given = string.IsNullOrWhiteSpace(command.InvoiceNumber) ? null : command.InvoiceNumber.Trim().ToUpperInvariant();
        if (!string.IsNullOrWhiteSpace(command.CreditorReference))
        {
            var referenced = CreditorReferences.InvoiceNumberOf(command.CreditorReference);
            if (given is not null && referenced != given)
                return (null, Platform.Problems.Invalid("creditorReference",
                    $"{command.CreditorReference} is the reference of {referenced ?? "no invoice of ours"}, not of {given}."));
            return (given ?? referenced, null);
        }

        if (given is not null)
            return (given, null);
        var named = CreditorReferences.FindIn(command.Reference).Select(CreditorReferences.InvoiceNumberOf).OfType<string>()
            .Concat(InvoiceNumbers.AllIn(command.Reference)).Distinct().ToList();
        return named.Count > 1
            ? (null, Platform.Problems.Invalid("reference",
                $"The reference names {named.Count} invoices ({string.Join(", ", named)}): record the transfer on each of them with its " +
                "invoiceNumber and the part of the amount that pays it."))
            : (named.FirstOrDefault(), null);
    }
}

/// <summary>International bank account numbers (ISO 13616) and bank identifier codes (ISO 9362).</summary>
public static partial class BankAccounts
{
    /// <summary>Spaces removed, upper case.</summary>
    public static string NormalizeIban(string iban) => Regex.Replace(iban.ToUpperInvariant(), @"\s", "");

    /// <summary>Country code, two check digits and up to 30 letters and digits whose MOD 97-10 (country and check moved to the end) is 1.</summary>
    public static bool IsValidIban(string? iban)
    {
        if (iban is null)
            return false;
        var normalized = NormalizeIban(iban);
        return IbanShape().IsMatch(normalized) && VatIds.Iso7064Mod97(normalized[4..] + normalized[..4]) == 1;
    }

    /// <summary>4 letters (bank), 2 (country), 2 letters or digits (location), optionally 3 (branch).</summary>
    public static bool IsValidBic(string? bic) => bic is not null && BicShape().IsMatch(bic.Trim());

    /// <summary>Printed in groups of four.</summary>
    public static string GroupedIban(string iban) => string.Join(' ', NormalizeIban(iban).Chunk(4).Select(c => new string(c)));

    [GeneratedRegex(@"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")]
    private static partial Regex IbanShape();

    [GeneratedRegex(@"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")]
    private static partial Regex BicShape();
}
