using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Wolverine.Http;

namespace CpsLedger.Api.Invoicing;

/// <summary>
/// The invoice as an EN 16931 e-invoice in UBL 2.1 syntax, Peppol BIS Billing 3.0 profile: the figures the invoice recorded
/// (the same as the PDF's), the seller, buyer and payee it was issued with. Elements are written in the order the UBL 2.1
/// schemas require; the business terms (BT-n) are noted where they are written.
/// </summary>
public static class EInvoice
{
    public const string CustomizationId = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0";
    public const string ProfileId = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";

    public static readonly XNamespace InvoiceNs = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
    public static readonly XNamespace CreditNoteNs = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
    public static readonly XNamespace Cac = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
    public static readonly XNamespace Cbc = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";

    /// <summary>Invoices issued before seller details were recorded cannot be e-invoices: EN 16931 needs the seller's address and VAT ID.</summary>
    public static bool IsAvailableFor(Invoice invoice) => invoice.Seller is not null && invoice.Buyer is not null && invoice.VatTreatment is not null;

    /// <summary>The UBL Invoice (type 380), UTF-8.</summary>
    public static byte[] Invoice(Invoice invoice, PayeeAccount payee)
    {
        if (!IsAvailableFor(invoice))
            throw new InvalidOperationException($"Invoice {invoice.InvoiceNumber} was issued before e-invoices (no seller details recorded).");
        var vat = invoice.VatTreatment!;
        var root = new XElement(InvoiceNs + "Invoice",
            new XAttribute(XNamespace.Xmlns + "cac", Cac), new XAttribute(XNamespace.Xmlns + "cbc", Cbc),
            Cbc_("CustomizationID", CustomizationId),
            Cbc_("ProfileID", ProfileId),
            Cbc_("ID", invoice.InvoiceNumber), // BT-1
            Cbc_("IssueDate", Day(invoice.IssuedOn)), // BT-2
            Cbc_("DueDate", Day(invoice.DueOn)), // BT-9
            Cbc_("InvoiceTypeCode", "380"), // BT-3: commercial invoice
            vat.Mention is null ? null : Cbc_("Note", vat.Mention), // BT-22
            Cbc_("DocumentCurrencyCode", invoice.Currency), // BT-5
            Cbc_("BuyerReference", invoice.MembershipNumber), // BT-10
            Period(invoice.PeriodStart, invoice.PeriodEnd), // BG-14
            invoice.Replaces is { } replaced
                ? new XElement(Cac + "BillingReference", new XElement(Cac + "InvoiceDocumentReference",
                    Cbc_("ID", replaced.InvoiceNumber), Cbc_("IssueDate", Day(replaced.IssuedOn)))) // BG-3: BT-25, BT-26, the invoice replaced
                : null,
            Supplier(invoice.Seller!, vat),
            Customer(invoice.Buyer!, vat),
            PaymentMeans(invoice, payee),
            new XElement(Cac + "PaymentTerms", Cbc_("Note", invoice.PaymentMethod == PaymentMethod.Card
                ? $"Charged to the card on file on {Day(invoice.DueOn)}."
                : $"Payment by {Day(invoice.DueOn)}, quoting {invoice.CreditorReference}.")), // BT-20
            TaxTotal(invoice.Currency, invoice.Subtotal, invoice.Vat, vat),
            MonetaryTotal(invoice.Currency, invoice.Subtotal, invoice.Total),
            invoice.Lines.Select((line, i) => Line("InvoiceLine", "InvoicedQuantity", i + 1, line, invoice.Currency, vat)));
        return Write(root);
    }

    /// <summary>The UBL CreditNote (type 381) that cancels <paramref name="invoice"/>, referring to it (BG-3).</summary>
    public static byte[] CreditNote(Invoice invoice, CreditNoteIssued note, PayeeAccount payee)
    {
        // An older invoice recorded no VAT decision: its credit note credits the standard rate it charged.
        var vat = note.Vat ?? new VatTreatment(VatCategory.Standard, note.VatRate, note.Buyer.Country, null, null);
        var root = new XElement(CreditNoteNs + "CreditNote",
            new XAttribute(XNamespace.Xmlns + "cac", Cac), new XAttribute(XNamespace.Xmlns + "cbc", Cbc),
            Cbc_("CustomizationID", CustomizationId),
            Cbc_("ProfileID", ProfileId),
            Cbc_("ID", note.CreditNoteNumber), // BT-1
            Cbc_("IssueDate", Day(note.IssuedOn)), // BT-2
            Cbc_("CreditNoteTypeCode", "381"), // BT-3: credit note
            Cbc_("Note", $"Cancels invoice {note.InvoiceNumber}: {note.Reason}"), // BT-22
            vat.Mention is null ? null : Cbc_("Note", vat.Mention),
            Cbc_("DocumentCurrencyCode", note.Currency), // BT-5
            Cbc_("BuyerReference", invoice.MembershipNumber), // BT-10
            Period(invoice.PeriodStart, invoice.PeriodEnd),
            new XElement(Cac + "BillingReference", new XElement(Cac + "InvoiceDocumentReference",
                Cbc_("ID", note.InvoiceNumber), Cbc_("IssueDate", Day(note.InvoiceIssuedOn)))), // BG-3: the invoice credited
            Supplier(note.Seller, vat),
            Customer(note.Buyer, vat),
            new XElement(Cac + "PaymentTerms", Cbc_("Note", note.RefundDue > 0
                ? $"{Amount(note.RefundDue)} {note.Currency} received on invoice {note.InvoiceNumber} is refunded."
                : $"Invoice {note.InvoiceNumber} is cancelled in full: nothing is to be paid on it.")),
            TaxTotal(note.Currency, note.Subtotal, note.VatAmount, vat),
            MonetaryTotal(note.Currency, note.Subtotal, note.Total),
            note.Lines.Select((line, i) => Line("CreditNoteLine", "CreditedQuantity", i + 1, line, note.Currency, vat)));
        return Write(root);
    }

    private static XElement Cbc_(string name, string value) => new(Cbc + name, value);

    private static XElement Money(string name, decimal amount, string currency) =>
        new(Cbc + name, new XAttribute("currencyID", currency), Amount(amount));

    private static string Amount(decimal amount) => amount.ToString("0.00", CultureInfo.InvariantCulture);

    private static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static XElement? Period(DateOnly? start, DateOnly? end) => start is { } s && end is { } e
        ? new XElement(Cac + "InvoicePeriod", Cbc_("StartDate", Day(s)), Cbc_("EndDate", Day(e)))
        : null;

    private static XElement Address(PostalAddress? address, string country) => new(Cac + "PostalAddress",
        address is null ? null : Cbc_("StreetName", address.Street),
        address?.AdditionalStreet is { } additional ? Cbc_("AdditionalStreetName", additional) : null,
        address is null ? null : Cbc_("CityName", address.City),
        address is null ? null : Cbc_("PostalZone", address.PostalCode),
        new XElement(Cac + "Country", Cbc_("IdentificationCode", address?.Country ?? country)));

    // Not subject to VAT (O): neither party's VAT ID may be given (BR-O-02, BR-O-03); the seller is identified by its registration.
    private static XElement? TaxScheme(string? vatId, VatTreatment vat) => vatId is null || vat.Category == VatCategory.OutsideScope
        ? null
        : new XElement(Cac + "PartyTaxScheme", Cbc_("CompanyID", vatId), new XElement(Cac + "TaxScheme", Cbc_("ID", "VAT")));

    private static XElement Supplier(InvoiceSeller seller, VatTreatment vat) => new(Cac + "AccountingSupplierParty", new XElement(Cac + "Party",
        new XElement(Cbc + "EndpointID", new XAttribute("schemeID", "EM"), seller.Email), // BT-34
        new XElement(Cac + "PartyName", Cbc_("Name", seller.TradingName)), // BT-28
        Address(seller.Address, seller.Address.Country), // BG-5
        TaxScheme(seller.VatId, vat), // BT-31
        new XElement(Cac + "PartyLegalEntity",
            Cbc_("RegistrationName", seller.LegalName), // BT-27
            Cbc_("CompanyID", seller.CompanyRegistrationNumber), // BT-30
            seller.RegistrationNote is null ? null : Cbc_("CompanyLegalForm", seller.RegistrationNote)), // BT-33
        new XElement(Cac + "Contact", Cbc_("ElectronicMail", seller.Email))));

    private static XElement Customer(InvoiceBuyer buyer, VatTreatment vat) => new(Cac + "AccountingCustomerParty", new XElement(Cac + "Party",
        string.IsNullOrEmpty(buyer.ContactEmail) ? null : new XElement(Cbc + "EndpointID", new XAttribute("schemeID", "EM"), buyer.ContactEmail), // BT-49
        new XElement(Cac + "PartyName", Cbc_("Name", buyer.Name)),
        Address(buyer.Address, buyer.Country), // BG-8
        TaxScheme(buyer.VatId, vat), // BT-48
        new XElement(Cac + "PartyLegalEntity", Cbc_("RegistrationName", buyer.Name)))); // BT-44

    private static XElement PaymentMeans(Invoice invoice, PayeeAccount payee) => invoice.PaymentMethod == PaymentMethod.Card
        ? new XElement(Cac + "PaymentMeans",
            new XElement(Cbc + "PaymentMeansCode", new XAttribute("name", "Credit card"), "54"), // BT-81
            Cbc_("PaymentID", invoice.CreditorReference)) // BT-83
        : new XElement(Cac + "PaymentMeans",
            invoice.Currency == "EUR"
                ? new XElement(Cbc + "PaymentMeansCode", new XAttribute("name", "SEPA credit transfer"), "58")
                : new XElement(Cbc + "PaymentMeansCode", new XAttribute("name", "Credit transfer"), "30"),
            Cbc_("PaymentID", invoice.CreditorReference), // BT-83: the ISO 11649 creditor reference
            new XElement(Cac + "PayeeFinancialAccount",
                Cbc_("ID", payee.Iban), // BT-84
                Cbc_("Name", payee.AccountName), // BT-85
                new XElement(Cac + "FinancialInstitutionBranch", Cbc_("ID", payee.Bic)))); // BT-86

    private static XElement Category(string name, VatTreatment vat, bool withExemption) => new(Cac + name,
        Cbc_("ID", VatRules.Code(vat.Category)), // BT-118 / BT-151
        vat.Category == VatCategory.OutsideScope ? null : Cbc_("Percent", (vat.Rate * 100).ToString("0.##", CultureInfo.InvariantCulture)),
        withExemption && vat.ExemptionReasonCode is { } code ? Cbc_("TaxExemptionReasonCode", code) : null, // BT-121
        withExemption && vat.Mention is { } mention ? Cbc_("TaxExemptionReason", mention) : null, // BT-120
        new XElement(Cac + "TaxScheme", Cbc_("ID", "VAT")));

    private static XElement TaxTotal(string currency, decimal taxable, decimal tax, VatTreatment vat) => new(Cac + "TaxTotal",
        Money("TaxAmount", tax, currency), // BT-110
        new XElement(Cac + "TaxSubtotal", // BG-23
            Money("TaxableAmount", taxable, currency), // BT-116
            Money("TaxAmount", tax, currency), // BT-117
            Category("TaxCategory", vat, withExemption: true)));

    private static XElement MonetaryTotal(string currency, decimal net, decimal total) => new(Cac + "LegalMonetaryTotal",
        Money("LineExtensionAmount", net, currency), // BT-106
        Money("TaxExclusiveAmount", net, currency), // BT-109
        Money("TaxInclusiveAmount", total, currency), // BT-112
        Money("PayableAmount", total, currency)); // BT-115

    private static XElement Line(string element, string quantity, int number, InvoiceLine line, string currency, VatTreatment vat) =>
        new(Cac + element,
            Cbc_("ID", number.ToString(CultureInfo.InvariantCulture)), // BT-126
            new XElement(Cbc + quantity, new XAttribute("unitCode", "C62"), "1"), // BT-129, BT-130: one unit
            Money("LineExtensionAmount", line.Amount, currency), // BT-131
            new XElement(Cac + "Item",
                Cbc_("Name", line.Description), // BT-153
                Category("ClassifiedTaxCategory", vat, withExemption: false)), // BG-30
            new XElement(Cac + "Price", Money("PriceAmount", line.Amount, currency))); // BT-146

    private static byte[] Write(XElement root)
    {
        using var output = new MemoryStream();
        using (var writer = XmlWriter.Create(output, new XmlWriterSettings { Encoding = new UTF8Encoding(false), Indent = true }))
            new XDocument(new XDeclaration("1.0", "UTF-8", null), root).Save(writer);
        return output.ToArray();
    }
}

public static class GetInvoiceUblEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/invoices/{invoiceNumber}/ubl", OperationId = "GetInvoiceUbl")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("One invoice as an EN 16931 e-invoice: UBL 2.1 Invoice, Peppol BIS Billing 3.0 (the same figures as the PDF)")]
    [ProducesResponseType<string>(StatusCodes.Status200OK, "application/xml")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<IResult> Get(Guid accountId, string invoiceNumber, IQuerySession session, IOptions<SellerOptions> seller,
        CancellationToken ct)
    {
        if (await InvoiceQueries.ByNumber(session, accountId, invoiceNumber, ct) is not { } invoice)
            return Results.Problem(InvoiceQueries.InvoiceNotFound);
        if (!EInvoice.IsAvailableFor(invoice))
            return Results.Problem(Problems.Conflict("No e-invoice for this invoice",
                $"Invoice {invoice.InvoiceNumber} was issued before seller and buyer details were recorded on invoices, so it cannot be an " +
                "EN 16931 e-invoice. Its PDF is available."));
        return Results.Bytes(EInvoice.Invoice(invoice, invoice.PaysInto(seller.Value)), "application/xml",
            $"{invoice.InvoiceNumber}.xml");
    }
}
