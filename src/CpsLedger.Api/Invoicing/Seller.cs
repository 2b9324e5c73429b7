using CpsLedger.Api.Accounts;
using Microsoft.Extensions.Options;

namespace CpsLedger.Api.Invoicing;

/// <summary>The bank account that payments go to (EN 16931 BG-17: BT-84 IBAN, BT-85 account name, BT-86 BIC).</summary>
/// <param name="AccountName">The account holder's name (BT-85).</param>
/// <param name="Iban">The IBAN to pay into (BT-84), without spaces.</param>
/// <param name="Bic">The bank's BIC (BT-86).</param>
public sealed record PayeeAccount(string AccountName, string Iban, string Bic);

/// <summary>
/// The seller as an invoice records it when issued: an invoice keeps the details it was issued with, whatever the
/// configuration says later.
/// </summary>
/// <param name="LegalName">The seller's registered legal name (BT-27).</param>
/// <param name="TradingName">The name the seller trades under, the invoice's heading (BT-28).</param>
/// <param name="Address">The seller's postal address (BG-5).</param>
/// <param name="VatId">The seller's VAT ID (BT-31).</param>
/// <param name="CompanyRegistrationNumber">The seller's company registration number (BT-30).</param>
/// <param name="RegistrationNote">Further legal information printed on the invoice (BT-33); null when none.</param>
/// <param name="Email">The seller's e-mail address for invoice questions (BT-43).</param>
public sealed record InvoiceSeller(
    string LegalName,
    string TradingName,
    PostalAddress Address,
    string VatId,
    string CompanyRegistrationNumber,
    string? RegistrationNote,
    string Email);

/// <summary>
/// The seller and the account payments go to, from configuration (section "Seller"). Required: an invoice without them
/// cannot be sent in the EU. Validated at start-up, each problem naming its setting.
/// </summary>
public sealed class SellerOptions
{
    public const string Section = "Seller";

    // The longest each setting may be, in characters, decided from the invoice PDF's layout: in DejaVu Sans a line of the heading
    // (15 pt bold, 268 pt) holds about 30 letters of ordinary words, 25 in capitals; a line of the seller's column (8 pt, 268 pt)
    // about 60 and 53; the footer's (8 pt, 495 pt) about 115 and 100. At these limits the heading takes two lines, in capitals too.
    public const int MaxTradingNameLength = 40;
    public const int MaxLegalNameLength = 80;
    public const int MaxStreetLength = 60;
    public const int MaxPostalCodeLength = 12;
    public const int MaxCityLength = 40;
    public const int MaxCompanyRegistrationNumberLength = 30;
    public const int MaxRegistrationNoteLength = 120;
    public const int MaxEmailLength = 60;
    public const int MaxAccountNameLength = 70;

    /// <summary>The seller's registered legal name (BT-27).</summary>
    public string LegalName { get; set; } = "";

    /// <summary>The name the seller trades under, printed as the invoice's heading (BT-28); defaults to the legal name.</summary>
    public string? TradingName { get; set; }

    public AddressOptions Address { get; set; } = new();

    /// <summary>The seller's VAT ID with its country prefix (BT-31), e.g. NL123456782B01.</summary>
    public string VatId { get; set; } = "";

    /// <summary>The company registration number (BT-30), e.g. the Chamber of Commerce number.</summary>
    public string CompanyRegistrationNumber { get; set; } = "";

    /// <summary>Other legal information printed in the footer (BT-33), e.g. "Registered with the Chamber of Commerce, Amsterdam".</summary>
    public string? RegistrationNote { get; set; }

    /// <summary>Where buyers write about invoices (printed; the e-invoice's electronic address, scheme EM).</summary>
    public string Email { get; set; } = "";

    public PayeeOptions Payee { get; set; } = new();

    public sealed class AddressOptions
    {
        public string Street { get; set; } = "";
        public string? AdditionalStreet { get; set; }
        public string PostalCode { get; set; } = "";
        public string City { get; set; } = "";

        /// <summary>ISO 3166-1 alpha-2 code of an EU member state: the VAT rules are the EU's, decided from here.</summary>
        public string Country { get; set; } = "";
    }

    public sealed class PayeeOptions
    {
        /// <summary>The account holder's name; defaults to the seller's legal name.</summary>
        public string? AccountName { get; set; }

        /// <summary>ISO 13616 IBAN, spaces allowed.</summary>
        public string Iban { get; set; } = "";

        /// <summary>ISO 9362 BIC of the payee's bank (8 or 11 characters).</summary>
        public string Bic { get; set; } = "";
    }

    public InvoiceSeller ToInvoiceSeller() => new(LegalName.Trim(), string.IsNullOrWhiteSpace(TradingName) ? LegalName.Trim() : TradingName.Trim(),
        new PostalAddress(Address.Street.Trim(), string.IsNullOrWhiteSpace(Address.AdditionalStreet) ? null : Address.AdditionalStreet.Trim(),
            Address.PostalCode.Trim(), Address.City.Trim(), Address.Country.Trim()),
        VatIds.Normalize(VatId), CompanyRegistrationNumber.Trim(), string.IsNullOrWhiteSpace(RegistrationNote) ? null : RegistrationNote.Trim(),
        Email.Trim());

    public PayeeAccount ToPayeeAccount() => new(string.IsNullOrWhiteSpace(Payee.AccountName) ? LegalName.Trim() : Payee.AccountName.Trim(),
        BankAccounts.NormalizeIban(Payee.Iban), Payee.Bic.Trim());
}

/// <summary>Every problem of the seller's settings, each naming the setting to fix.</summary>
public sealed class SellerOptionsValidation : IValidateOptions<SellerOptions>
{
    public ValidateOptionsResult Validate(string? name, SellerOptions o)
    {
        var problems = new List<string>();
        void Required(string? value, string setting, string what)
        {
            if (string.IsNullOrWhiteSpace(value))
                problems.Add($"{SellerOptions.Section}:{setting} is missing: {what}.");
        }

        Required(o.LegalName, "LegalName", "the seller's registered legal name, printed on every invoice");
        Required(o.Address.Street, "Address:Street", "the street of the seller's address");
        Required(o.Address.PostalCode, "Address:PostalCode", "the postal code of the seller's address");
        Required(o.Address.City, "Address:City", "the city of the seller's address");
        Required(o.Address.Country, "Address:Country", "the seller's country (ISO 3166-1 alpha-2, an EU member state)");
        Required(o.VatId, "VatId", "the seller's VAT ID with its country prefix");
        Required(o.CompanyRegistrationNumber, "CompanyRegistrationNumber", "the seller's company registration number");
        Required(o.Email, "Email", "the e-mail address buyers write to about invoices");
        Required(o.Payee.Iban, "Payee:Iban", "the IBAN of the account payments go to");
        Required(o.Payee.Bic, "Payee:Bic", "the BIC of the payee's bank");

        // The longest each may be for the invoice PDF to keep its shape (InvoicePdf wraps what is longer, and goes on on a new page):
        // without limits a long heading took four lines.
        void AtMost(string? value, string setting, int max, string where)
        {
            var length = value?.Trim().Length ?? 0;
            if (length > max)
                problems.Add($"{SellerOptions.Section}:{setting} is {length} characters long, at most {max}: {where}.");
        }

        AtMost(o.TradingName, "TradingName", SellerOptions.MaxTradingNameLength, "the invoice's heading, in two lines at most");
        // Without a trading name the legal name is the heading (one message for a legal name too long for both).
        var legal = (o.LegalName ?? "").Trim().Length;
        if (string.IsNullOrWhiteSpace(o.TradingName) && legal is > SellerOptions.MaxTradingNameLength and <= SellerOptions.MaxLegalNameLength)
            problems.Add($"{SellerOptions.Section}:LegalName is {legal} characters long, and is the invoice's heading while " +
                         $"{SellerOptions.Section}:TradingName is not set: set {SellerOptions.Section}:TradingName, at most " +
                         $"{SellerOptions.MaxTradingNameLength} characters (the heading, in two lines at most).");
        AtMost(o.LegalName, "LegalName", SellerOptions.MaxLegalNameLength, "the seller's column and the footer of the invoice");
        AtMost(o.Address.Street, "Address:Street", SellerOptions.MaxStreetLength, "a line of the seller's column on the invoice");
        AtMost(o.Address.AdditionalStreet, "Address:AdditionalStreet", SellerOptions.MaxStreetLength, "a line of the seller's column on the invoice");
        AtMost(o.Address.PostalCode, "Address:PostalCode", SellerOptions.MaxPostalCodeLength, "one line of the seller's column with the city");
        AtMost(o.Address.City, "Address:City", SellerOptions.MaxCityLength, "one line of the seller's column with the postal code");
        AtMost(o.CompanyRegistrationNumber, "CompanyRegistrationNumber", SellerOptions.MaxCompanyRegistrationNumberLength,
            "a line of the seller's column on the invoice");
        AtMost(o.RegistrationNote, "RegistrationNote", SellerOptions.MaxRegistrationNoteLength, "the legal mentions in the invoice's footer");
        AtMost(o.Email, "Email", SellerOptions.MaxEmailLength, "a line of the seller's column on the invoice");
        AtMost(o.Payee.AccountName, "Payee:AccountName", SellerOptions.MaxAccountNameLength,
            "the invoice's payment box and footer");

        if (!string.IsNullOrWhiteSpace(o.Address.Country) && !EuMemberStates.Contains(o.Address.Country.Trim()))
            problems.Add($"{SellerOptions.Section}:Address:Country must be an EU member state's ISO code in upper case, e.g. NL (the VAT rules applied are the EU's).");
        if (!string.IsNullOrWhiteSpace(o.VatId))
        {
            var check = VatIds.Check(o.VatId);
            if (!check.Valid)
                problems.Add($"{SellerOptions.Section}:VatId is not a valid VAT ID: {check.Problem}");
            else if (check.Country != o.Address.Country.Trim())
                problems.Add($"{SellerOptions.Section}:VatId is from {check.Country}, but {SellerOptions.Section}:Address:Country is {o.Address.Country}.");
        }

        if (!string.IsNullOrWhiteSpace(o.Email) && !EmailAddresses.IsValid(o.Email))
            problems.Add($"{SellerOptions.Section}:Email must be an e-mail address.");
        if (!string.IsNullOrWhiteSpace(o.Payee.Iban) && !BankAccounts.IsValidIban(o.Payee.Iban))
            problems.Add($"{SellerOptions.Section}:Payee:Iban is not a valid IBAN (ISO 13616: country, check digits, account; the check digits must hold).");
        if (!string.IsNullOrWhiteSpace(o.Payee.Bic) && !BankAccounts.IsValidBic(o.Payee.Bic))
            problems.Add($"{SellerOptions.Section}:Payee:Bic is not a valid BIC (8 or 11 letters and digits, e.g. ABNANL2A).");

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

public static class SellerRegistration
{
    /// <summary>The seller's settings, checked when the service starts (a missing one stops it, naming the setting).</summary>
    public static void AddSeller(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SellerOptions>().Bind(configuration.GetSection(SellerOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SellerOptions>, SellerOptionsValidation>();
    }
}
