using CpsLedger.Api.Accounts;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Tiers;

namespace CpsLedger.Tests.Invoicing;

/// <summary>Invoices made by the real decision functions, for tests of rules and documents that need no database.</summary>
public static class TestInvoices
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 14, 0, 0, TimeSpan.Zero);

    /// <summary>The seller of appsettings.Development.json (the tests' host uses the same).</summary>
    public static SellerOptions SellerOptions() => new()
    {
        LegalName = "CPS Demo Europe B.V. (ILLUSTRATIVE)",
        TradingName = "Canon Professional Services",
        Address = new SellerOptions.AddressOptions { Street = "Voorbeeldstraat 1", PostalCode = "1011 AA", City = "Amsterdam", Country = "NL" },
        VatId = "NL123456782B01",
        CompanyRegistrationNumber = "12345678",
        RegistrationNote = "Registered with the Dutch Chamber of Commerce (KvK)",
        Email = "invoices@cpsledger.example",
        Payee = new SellerOptions.PayeeOptions { Iban = "NL91 ABNA 0417 1643 00", Bic = "ABNANL2A" },
    };

    public static InvoiceSeller Seller => SellerOptions().ToInvoiceSeller();
    public static PayeeAccount Payee => SellerOptions().ToPayeeAccount();

    public static VatRateTable VatTable() => VatRateTableProjection.Create(VatTableStream.Defaults(Now));

    public static AccountView Buyer(string country = "EE", string? vatId = null, bool withAddress = true) => new()
    {
        Id = Guid.NewGuid(),
        CompanyName = "Valgus Studio OÜ",
        ContactEmail = "studio@example.ee",
        Country = country,
        BillingAddress = withAddress ? new PostalAddress("Telliskivi 60a", null, "10412", "Tallinn", country) : null,
        VatId = vatId,
    };

    public static Invoice Issued(PaymentMethod method = PaymentMethod.BankTransfer, AccountView? buyer = null, DateTimeOffset? now = null,
        string number = "INV-2026-000001", decimal fee = 200m) =>
        Invoice.Create(IssuedEvent(method, buyer, now, number, fee));

    /// <summary>The event of <see cref="Issued"/>, for a test that stores the invoice; the fee in <paramref name="currency"/>.</summary>
    public static InvoiceIssued IssuedEvent(PaymentMethod method = PaymentMethod.BankTransfer, AccountView? buyer = null, DateTimeOffset? now = null,
        string number = "INV-2026-000001", decimal fee = 200m, string currency = "EUR")
    {
        buyer ??= Buyer();
        var term = new MembershipTerm(Guid.NewGuid(), "CPS-482-173-905", "gold", "Gold", TierKind.Standard, fee, currency, method,
            new DateOnly(2026, 11, 25), new DateOnly(2027, 11, 24), 1);
        var options = new InvoicingOptions { BankTransferSurcharges = new(StringComparer.OrdinalIgnoreCase) { ["IT"] = new() { ["EUR"] = 2.00m } } };
        return IssueInvoiceDecision.Decide(Guid.NewGuid(), number, buyer.Id, buyer, term, options, Seller, Payee, VatTable(), now ?? Now);
    }
}
