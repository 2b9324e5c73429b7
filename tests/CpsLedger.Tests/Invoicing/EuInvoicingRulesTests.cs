using System.Xml.Linq;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Tests.Harness;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CpsLedger.Tests.Invoicing;

public sealed class EuInvoicingRulesTests
{
    // Published numbers of real companies (SAP, Ferrari, Google Ireland, Amazon EU, Nokia, Spotify, …) and ones made with the
    // published algorithms, so a wrong check-digit implementation fails here rather than refusing a real buyer.
    [Theory]
    [InlineData("DE143454214", "DE")]
    [InlineData("de 143 454 214", "DE")]
    [InlineData("IT00159560366", "IT")]
    [InlineData("IE6388047V", "IE")]
    [InlineData("IE9700053D", "IE")]
    [InlineData("LU26375245", "LU")]
    [InlineData("FI01120389", "FI")]
    [InlineData("SE556703748501", "SE")]
    [InlineData("FR40303265045", "FR")]
    [InlineData("BE0202239951", "BE")]
    [InlineData("ATU13585627", "AT")]
    [InlineData("DK13585628", "DK")]
    [InlineData("NL004495445B01", "NL")]
    [InlineData("NL123456782B01", "NL")]
    [InlineData("EE100931558", "EE")]
    [InlineData("EL094259216", "GR")]
    [InlineData("CZ12345678", "CZ")]
    public void A_well_formed_vat_id_with_a_correct_check_digit_is_valid_and_names_its_member_state(string vatId, string country)
    {
        var check = VatIds.Check(vatId);
        Assert.True(check.Valid, check.Problem);
        Assert.Equal(country, check.Country);
        Assert.Equal(VatIds.Normalize(vatId), check.VatId);
    }

    [Theory]
    [InlineData("DE143454215", "check digit")]
    [InlineData("IT00159560367", "check digit")]
    [InlineData("IE6388047W", "check digit")]
    [InlineData("LU26375246", "check digit")]
    [InlineData("NL123456783B01", "check digit")]
    [InlineData("EE100931559", "check digit")]
    [InlineData("ATU13585628", "check digit")]
    [InlineData("DE14345421", "format")]
    [InlineData("GR094259216", "EL")]
    [InlineData("US123456789", "not the VAT prefix")]
    [InlineData("GB123456789", "not the VAT prefix")]
    [InlineData("123456789", "starts with its country")]
    public void A_mistyped_or_foreign_vat_id_is_refused_saying_why(string vatId, string because)
    {
        var check = VatIds.Check(vatId);
        Assert.False(check.Valid);
        Assert.Contains(because, check.Problem);
    }

    [Fact]
    public void The_creditor_reference_of_an_invoice_is_rf_with_mod_97_check_digits_and_leads_back_to_the_invoice()
    {
        var reference = CreditorReferences.For("INV-2026-000001");
        Assert.Equal("RF94INV2026000001", reference);
        Assert.Equal("RF94 INV2 0260 0000 1", CreditorReferences.Grouped(reference));
        Assert.True(CreditorReferences.IsValid("rf94 inv2 0260 0000 1"));
        Assert.Equal("INV-2026-000001", CreditorReferences.InvoiceNumberOf("RF94 INV2 0260 0000 1"));
        // ISO 11649's own example.
        Assert.True(CreditorReferences.IsValid("RF18 5390 0754 7034"));
        Assert.Null(CreditorReferences.InvoiceNumberOf("RF18539007547034")); // valid, but not one of ours

        // Every mistyped digit (or letter for a letter) and every swap of neighbouring digits is caught by the check digits
        // (MOD 97-10 guarantees it: the error changes the number by a non-multiple of 97).
        var body = reference;
        for (var i = 2; i < body.Length; i++)
        {
            var alphabet = char.IsAsciiDigit(body[i]) ? "0123456789" : "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
            foreach (var c in alphabet.Where(c => c != body[i]))
                Assert.False(CreditorReferences.IsValid(body[..i] + c + body[(i + 1)..]), $"{body} with {c} at {i}");
            if (i + 1 < body.Length && body[i] != body[i + 1] && char.IsAsciiDigit(body[i]) && char.IsAsciiDigit(body[i + 1]))
                Assert.False(CreditorReferences.IsValid(body[..i] + body[i + 1] + body[i] + body[(i + 2)..]), $"swap at {i}");
        }

        Assert.Equal(["RF94INV2026000001"], CreditorReferences.FindIn("Membership fee rf94 inv2 0260 0000 1 thanks"));
    }

    [Theory]
    [InlineData("NL91 ABNA 0417 1643 00", true)]
    [InlineData("DE89370400440532013000", true)]
    [InlineData("EE382200221020145685", true)]
    [InlineData("NL92 ABNA 0417 1643 00", false)]
    [InlineData("NL91 ABNA 0417 1643 01", false)]
    [InlineData("NL91", false)]
    public void Ibans_are_checked_with_iso_13616_mod_97(string iban, bool valid) => Assert.Equal(valid, BankAccounts.IsValidIban(iban));

    [Theory]
    [InlineData("ABNANL2A", true)]
    [InlineData("DEUTDEFF500", true)]
    [InlineData("ABNANL2", false)]
    [InlineData("abnanl2a", false)]
    [InlineData("ABNA1L2A", false)]
    public void Bics_have_eight_or_eleven_characters_bank_country_location_branch(string bic, bool valid) =>
        Assert.Equal(valid, BankAccounts.IsValidBic(bic));

    private static readonly VatRateTable Table = TestInvoices.VatTable();
    private static readonly DateOnly Day = new(2026, 11, 25);

    [Fact]
    public void A_business_buyer_with_a_vat_id_in_another_member_state_is_reverse_charged_at_zero_with_the_article_196_mention()
    {
        var vat = VatRules.Decide("NL", "DE", "DE", Table, Day);
        Assert.Equal((VatCategory.ReverseCharge, 0m, "DE", "VATEX-EU-AE"), (vat.Category, vat.Rate, vat.Country, vat.ExemptionReasonCode));
        Assert.Equal("Reverse charge: VAT to be accounted for by the recipient, Article 196 of Directive 2006/112/EC", vat.Mention);
    }

    [Fact]
    public void A_buyer_with_a_vat_id_in_the_seller_s_member_state_pays_that_country_s_rate()
    {
        var vat = VatRules.Decide("NL", "NL", "NL", Table, Day);
        Assert.Equal((VatCategory.Standard, 0.21m, "NL", null), (vat.Category, vat.Rate, vat.Country, vat.Mention));
    }

    [Theory]
    [InlineData("EE", 0.24)]
    [InlineData("IT", 0.22)]
    [InlineData("FI", 0.255)]
    [InlineData("NL", 0.21)]
    [InlineData("HU", 0.27)]
    public void A_buyer_in_the_eu_without_a_vat_id_pays_its_country_s_rate(string country, decimal rate)
    {
        var vat = VatRules.Decide("NL", country, null, Table, Day);
        Assert.Equal((VatCategory.Standard, rate, country), (vat.Category, vat.Rate, vat.Country));
        Assert.Null(vat.Mention);
    }

    [Theory]
    [InlineData("US")]
    [InlineData("CH")]
    [InlineData("GB")]
    [InlineData("NO")]
    public void A_buyer_outside_the_eu_is_not_subject_to_eu_vat_at_zero_with_a_mention(string country)
    {
        var vat = VatRules.Decide("NL", country, null, Table, Day);
        Assert.Equal((VatCategory.OutsideScope, 0m, "VATEX-EU-O"), (vat.Category, vat.Rate, vat.ExemptionReasonCode));
        Assert.Equal(VatRules.OutsideScopeMention, vat.Mention);
    }

    [Fact]
    public void The_rate_is_the_one_in_force_on_the_tax_point_date()
    {
        Assert.Equal(0.22m, VatRules.Decide("NL", "EE", null, Table, new DateOnly(2025, 6, 30)).Rate);
        Assert.Equal(0.24m, VatRules.Decide("NL", "EE", null, Table, new DateOnly(2025, 7, 1)).Rate);
        Assert.Equal(0.24m, VatRules.Decide("NL", "FI", null, Table, new DateOnly(2024, 8, 31)).Rate);
        Assert.Equal(0.255m, VatRules.Decide("NL", "FI", null, Table, new DateOnly(2024, 9, 1)).Rate);
        Assert.Throws<InvalidOperationException>(() => VatRules.Decide("NL", "EE", null, Table, new DateOnly(2023, 12, 31)));
    }

    [Fact]
    public void The_default_table_covers_every_member_state()
    {
        foreach (var country in EuMemberStates.Names.Keys)
            Assert.NotNull(Table.RateOn(country, Day));
    }

    [Fact]
    public void The_invoice_records_the_vat_decision_the_table_version_the_seller_the_buyer_the_payee_and_the_reference()
    {
        var invoice = TestInvoices.Issued(buyer: TestInvoices.Buyer("DE", "DE143454214"));
        Assert.Equal((VatCategory.ReverseCharge, 0m, 200.00m, 200.00m), (invoice.VatTreatment!.Category, invoice.Vat, invoice.Subtotal, invoice.Total));
        Assert.Equal(1, invoice.VatTableVersion);
        Assert.Equal(("NL123456782B01", "DE143454214", "NL91ABNA0417164300"), (invoice.Seller!.VatId, invoice.Buyer!.VatId, invoice.Payee!.Iban));
        Assert.Equal("RF94INV2026000001", invoice.CreditorReference);
        Assert.Equal((new DateOnly(2026, 11, 25), new DateOnly(2027, 11, 24)), (invoice.PeriodStart!.Value, invoice.PeriodEnd!.Value));
    }

    [Fact]
    public void The_seller_settings_are_each_named_when_missing_or_wrong()
    {
        var empty = new SellerOptionsValidation().Validate(null, new SellerOptions());
        Assert.True(empty.Failed);
        foreach (var setting in new[] { "Seller:LegalName", "Seller:Address:Street", "Seller:Address:PostalCode", "Seller:Address:City",
                     "Seller:Address:Country", "Seller:VatId", "Seller:CompanyRegistrationNumber", "Seller:Email", "Seller:Payee:Iban", "Seller:Payee:Bic" })
            Assert.Contains(empty.Failures!, f => f.StartsWith(setting + " is missing", StringComparison.Ordinal));

        var wrong = TestInvoices.SellerOptions();
        wrong.Payee.Iban = "NL92 ABNA 0417 1643 00";
        wrong.Payee.Bic = "ABNA";
        wrong.VatId = "DE143454214";
        var result = new SellerOptionsValidation().Validate(null, wrong);
        Assert.Contains(result.Failures!, f => f.StartsWith("Seller:Payee:Iban is not a valid IBAN", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Seller:Payee:Bic is not a valid BIC", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.StartsWith("Seller:VatId is from DE, but Seller:Address:Country is NL", StringComparison.Ordinal));
        Assert.True(new SellerOptionsValidation().Validate(null, TestInvoices.SellerOptions()).Succeeded);
    }

    [Fact]
    public void A_seller_setting_longer_than_the_invoice_layout_carries_is_named_with_its_limit()
    {
        // The limits decided from the PDF's layout (a 99-character heading took four lines): at the limit each is accepted.
        var limits = new (string Setting, int Max, Action<SellerOptions, string> Set)[]
        {
            ("TradingName", 40, (o, v) => o.TradingName = v),
            ("LegalName", 80, (o, v) => o.LegalName = v),
            ("Address:Street", 60, (o, v) => o.Address.Street = v),
            ("Address:AdditionalStreet", 60, (o, v) => o.Address.AdditionalStreet = v),
            ("Address:PostalCode", 12, (o, v) => o.Address.PostalCode = v),
            ("Address:City", 40, (o, v) => o.Address.City = v),
            ("CompanyRegistrationNumber", 30, (o, v) => o.CompanyRegistrationNumber = v),
            ("RegistrationNote", 120, (o, v) => o.RegistrationNote = v),
            ("Email", 60, (o, v) => o.Email = "a" + new string('b', v.Trim().Length - 19) + "@cpsledger.example"),
            ("Payee:AccountName", 70, (o, v) => o.Payee.AccountName = v),
        };
        var atLimits = TestInvoices.SellerOptions();
        foreach (var (_, max, set) in limits)
            set(atLimits, "  " + new string('x', max) + " "); // counted trimmed, as printed
        Assert.True(new SellerOptionsValidation().Validate(null, atLimits).Succeeded,
            string.Join("; ", new SellerOptionsValidation().Validate(null, atLimits).Failures ?? []));

        foreach (var (setting, max, set) in limits)
        {
            var options = TestInvoices.SellerOptions();
            set(options, new string('x', max + 1));
            var failure = Assert.Single(new SellerOptionsValidation().Validate(null, options).Failures!);
            Assert.StartsWith($"Seller:{setting} is {max + 1} characters long, at most {max}: ", failure);
        }

        // Without a trading name the legal name is the heading: it is held to the heading's limit, and says which setting to set.
        var untraded = TestInvoices.SellerOptions();
        untraded.TradingName = null;
        untraded.LegalName = new string('x', 40);
        Assert.True(new SellerOptionsValidation().Validate(null, untraded).Succeeded);
        untraded.LegalName = new string('x', 41);
        Assert.StartsWith("Seller:LegalName is 41 characters long, and is the invoice's heading while Seller:TradingName is not set: set Seller:TradingName",
            Assert.Single(new SellerOptionsValidation().Validate(null, untraded).Failures!));
    }

    [Fact]
    public void Without_seller_settings_the_production_configuration_fails_at_start_naming_the_first_missing_setting()
    {
        // The service's base configuration (what Production runs with, Development's file not added).
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."));
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(root, "src", "CpsLedger.Api", "appsettings.json"), optional: false)
            .Build();
        var services = new ServiceCollection();
        services.AddSeller(configuration);
        using var provider = services.BuildServiceProvider();
        var failure = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("Seller:LegalName is missing", failure.Message);
        Assert.Contains("Seller:Payee:Iban is missing", failure.Message);

        var development = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(root, "src", "CpsLedger.Api", "appsettings.json"), optional: false)
            .AddJsonFile(Path.Combine(root, "src", "CpsLedger.Api", "appsettings.Development.json"), optional: false)
            .Build();
        var devServices = new ServiceCollection();
        devServices.AddSeller(development);
        using var devProvider = devServices.BuildServiceProvider();
        devProvider.GetRequiredService<IStartupValidator>().Validate();
        Assert.Equal(TestInvoices.Seller, devProvider.GetRequiredService<IOptions<SellerOptions>>().Value.ToInvoiceSeller());
    }

    [Fact]
    public async Task The_invoice_pdf_renders_to_a_page_with_ink_in_every_block()
    {
        var pdf = InvoicePdf.Render(TestInvoices.Issued(buyer: TestInvoices.Buyer("IT", "IT00159560366")), TestInvoices.Payee);
        var picture = PdfPictures.DecodeGreyscale(await PdfPictures.FirstPageAsPng(pdf, dpi: 60));
        Assert.InRange(picture.Width, 400, 600); // A4 at 60 dpi: 496 x 702
        Assert.True(PdfPictures.Ink(picture) > 0.01, $"Only {PdfPictures.Ink(picture):P2} of the page is ink.");
        Assert.True(PdfPictures.Ink(picture, 0, 0.25) > 0.005, "The header (seller, title, invoice facts) is blank.");
        Assert.True(PdfPictures.Ink(picture, 0.25, 0.6) > 0.005, "The middle (buyer, lines, totals) is blank.");
        Assert.True(PdfPictures.Ink(picture, 0.9, 1) > 0.001, "The footer (legal mentions) is blank.");
        var blank = PdfPictures.DecodeGreyscale(await PdfPictures.FirstPageAsPng(BlankPdf(), dpi: 60));
        Assert.Equal(0, PdfPictures.Ink(blank));
    }

    private static byte[] BlankPdf()
    {
        using var document = new PdfSharp.Pdf.PdfDocument();
        document.AddPage();
        using var output = new MemoryStream();
        document.Save(output, closeStream: false);
        return output.ToArray();
    }

    [Fact]
    public void A_reverse_charge_e_invoice_carries_both_vat_ids_category_ae_at_zero_and_the_exemption_reason()
    {
        var invoice = TestInvoices.Issued(buyer: TestInvoices.Buyer("DE", "DE143454214"));
        var ubl = XDocument.Parse(System.Text.Encoding.UTF8.GetString(EInvoice.Invoice(invoice, TestInvoices.Payee)));
        var problems = UblRules.Check(ubl);
        Assert.Empty(problems);
        var category = UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID");
        Assert.Equal(("AE", "0", "VATEX-EU-AE"), (category, UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent"),
            UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode")));
        Assert.Equal("DE143454214", UblRules.Value(ubl, "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"));
        Assert.Equal(VatRules.ReverseChargeMention, UblRules.Value(ubl, "cbc:Note"));
    }

    [Fact]
    public void An_e_invoice_outside_the_eu_is_category_o_without_vat_ids_or_rate()
    {
        var invoice = TestInvoices.Issued(buyer: TestInvoices.Buyer("CH"));
        var ubl = XDocument.Parse(System.Text.Encoding.UTF8.GetString(EInvoice.Invoice(invoice, TestInvoices.Payee)));
        Assert.Empty(UblRules.Check(ubl));
        Assert.Equal("O", UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID"));
        Assert.Null(UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent"));
        Assert.Null(UblRules.Value(ubl, "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"));
    }

    [Fact]
    public void A_standard_rated_card_invoice_e_invoice_adds_up_and_says_card()
    {
        var invoice = TestInvoices.Issued(PaymentMethod.Card, TestInvoices.Buyer("IT"));
        var ubl = XDocument.Parse(System.Text.Encoding.UTF8.GetString(EInvoice.Invoice(invoice, TestInvoices.Payee)));
        Assert.Empty(UblRules.Check(ubl));
        Assert.Equal(("54", "22", "244.00"), (UblRules.Value(ubl, "cac:PaymentMeans/cbc:PaymentMeansCode"),
            UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent"), UblRules.Value(ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount")));
    }
}
