using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using System.Xml.XPath;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// The checks we can make of a UBL 2.1 document without its schema (no UBL 2.1 XSD could be had offline here: NuGet, npm and
/// Debian were searched): the element order of the UBL 2.1 sequences for the elements we write, the EN 16931 / Peppol BIS 3.0
/// mandatory business terms, and the business rules on totals (BR-CO-10, -13, -15, -16, -17) and VAT categories.
/// </summary>
public static class UblRules
{
    private static readonly XmlNamespaceManager Ns = Namespaces();

    private static XmlNamespaceManager Namespaces()
    {
        var ns = new XmlNamespaceManager(new NameTable());
        ns.AddNamespace("cac", "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2");
        ns.AddNamespace("cbc", "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2");
        return ns;
    }

    /// <summary>A value below the root, by an XPath relative to it ("cac:LegalMonetaryTotal/cbc:PayableAmount"); null when absent.</summary>
    public static string? Value(XDocument document, string path) => document.Root!.XPathSelectElement(path, Ns)?.Value;

    private static decimal Amount(XDocument document, string path) =>
        decimal.Parse(Value(document, path) ?? throw new InvalidOperationException($"{path} is missing."), CultureInfo.InvariantCulture);

    // UBL 2.1 sequences (the schema's order) of the aggregates we write, listing the elements in between that we do not.
    private static readonly Dictionary<string, string[]> Sequences = new()
    {
        ["Invoice"] = ["UBLExtensions", "UBLVersionID", "CustomizationID", "ProfileID", "ProfileExecutionID", "ID", "CopyIndicator", "UUID", "IssueDate",
            "IssueTime", "DueDate", "InvoiceTypeCode", "Note", "TaxPointDate", "DocumentCurrencyCode", "TaxCurrencyCode", "PricingCurrencyCode",
            "PaymentCurrencyCode", "PaymentAlternativeCurrencyCode", "AccountingCostCode", "AccountingCost", "LineCountNumeric", "BuyerReference",
            "InvoicePeriod", "OrderReference", "BillingReference", "DespatchDocumentReference", "ReceiptDocumentReference",
            "StatementDocumentReference", "OriginatorDocumentReference", "ContractDocumentReference", "AdditionalDocumentReference",
            "ProjectReference", "Signature", "AccountingSupplierParty", "AccountingCustomerParty", "PayeeParty", "BuyerCustomerParty",
            "SellerSupplierParty", "TaxRepresentativeParty", "Delivery", "DeliveryTerms", "PaymentMeans", "PaymentTerms", "PrepaidPayment",
            "AllowanceCharge", "TaxExchangeRate", "PricingExchangeRate", "PaymentExchangeRate", "PaymentAlternativeExchangeRate", "TaxTotal",
            "WithholdingTaxTotal", "LegalMonetaryTotal", "InvoiceLine"],
        ["CreditNote"] = ["UBLExtensions", "UBLVersionID", "CustomizationID", "ProfileID", "ProfileExecutionID", "ID", "CopyIndicator", "UUID",
            "IssueDate", "IssueTime", "TaxPointDate", "CreditNoteTypeCode", "Note", "DocumentCurrencyCode", "TaxCurrencyCode", "PricingCurrencyCode",
            "PaymentCurrencyCode", "PaymentAlternativeCurrencyCode", "AccountingCostCode", "AccountingCost", "LineCountNumeric", "BuyerReference",
            "InvoicePeriod", "DiscrepancyResponse", "OrderReference", "BillingReference", "DespatchDocumentReference", "ReceiptDocumentReference",
            "ContractDocumentReference", "AdditionalDocumentReference", "StatementDocumentReference", "OriginatorDocumentReference",
            "Signature", "AccountingSupplierParty", "AccountingCustomerParty", "PayeeParty", "BuyerCustomerParty", "SellerSupplierParty",
            "TaxRepresentativeParty", "Delivery", "DeliveryTerms", "PaymentMeans", "PaymentTerms", "TaxExchangeRate", "PricingExchangeRate",
            "PaymentExchangeRate", "PaymentAlternativeExchangeRate", "AllowanceCharge", "TaxTotal", "LegalMonetaryTotal", "CreditNoteLine"],
        ["Party"] = ["MarkCareIndicator", "MarkAttentionIndicator", "WebsiteURI", "LogoReferenceID", "EndpointID", "IndustryClassificationCode",
            "PartyIdentification", "PartyName", "Language", "PostalAddress", "PhysicalLocation", "PartyTaxScheme", "PartyLegalEntity", "Contact"],
        ["PostalAddress"] = ["ID", "AddressTypeCode", "AddressFormatCode", "Postbox", "Floor", "Room", "StreetName", "AdditionalStreetName",
            "BlockName", "BuildingName", "BuildingNumber", "InhouseMail", "Department", "MarkAttention", "MarkCare", "PlotIdentification",
            "CitySubdivisionName", "CityName", "PostalZone", "CountrySubentity", "CountrySubentityCode", "Region", "District", "TimezoneOffset",
            "AddressLine", "Country"],
        ["PartyTaxScheme"] = ["RegistrationName", "CompanyID", "TaxLevelCode", "ExemptionReasonCode", "ExemptionReason", "RegistrationAddress", "TaxScheme"],
        ["PartyLegalEntity"] = ["RegistrationName", "CompanyID", "RegistrationDate", "RegistrationExpirationDate", "CompanyLegalFormCode", "CompanyLegalForm"],
        ["PaymentMeans"] = ["ID", "PaymentMeansCode", "PaymentDueDate", "PaymentChannelCode", "InstructionID", "InstructionNote", "PaymentID",
            "CardAccount", "PayerFinancialAccount", "PayeeFinancialAccount"],
        ["PayeeFinancialAccount"] = ["ID", "Name", "AliasName", "AccountTypeCode", "AccountFormatCode", "CurrencyCode", "FinancialInstitutionBranch"],
        ["TaxTotal"] = ["TaxAmount", "RoundingAmount", "TaxEvidenceIndicator", "TaxIncludedIndicator", "TaxSubtotal"],
        ["TaxSubtotal"] = ["TaxableAmount", "TaxAmount", "CalculationSequenceNumeric", "TransactionCurrencyTaxAmount", "Percent", "BaseUnitMeasure",
            "PerUnitAmount", "TierRange", "TierRatePercent", "TaxCategory"],
        ["TaxCategory"] = ["ID", "Name", "Percent", "BaseUnitMeasure", "PerUnitAmount", "TaxExemptionReasonCode", "TaxExemptionReason", "TierRange",
            "TierRatePercent", "TaxScheme"],
        ["ClassifiedTaxCategory"] = ["ID", "Name", "Percent", "BaseUnitMeasure", "PerUnitAmount", "TaxExemptionReasonCode", "TaxExemptionReason",
            "TierRange", "TierRatePercent", "TaxScheme"],
        ["LegalMonetaryTotal"] = ["LineExtensionAmount", "TaxExclusiveAmount", "TaxInclusiveAmount", "AllowanceTotalAmount", "ChargeTotalAmount",
            "PrepaidAmount", "PayableRoundingAmount", "PayableAmount"],
        ["InvoiceLine"] = ["ID", "UUID", "Note", "InvoicedQuantity", "LineExtensionAmount", "TaxPointDate", "AccountingCostCode", "AccountingCost",
            "PaymentPurposeCode", "FreeOfChargeIndicator", "InvoicePeriod", "OrderLineReference", "DespatchLineReference", "ReceiptLineReference",
            "BillingReference", "DocumentReference", "PricingReference", "OriginatorParty", "Delivery", "PaymentTerms", "AllowanceCharge", "TaxTotal",
            "WithholdingTaxTotal", "Item", "Price"],
        ["Item"] = ["Description", "PackQuantity", "PackSizeNumeric", "CatalogueIndicator", "Name", "HazardousRiskIndicator", "AdditionalInformation",
            "Keyword", "BrandName", "ModelName", "BuyersItemIdentification", "SellersItemIdentification", "ManufacturersItemIdentification",
            "StandardItemIdentification", "CatalogueItemIdentification", "AdditionalItemIdentification", "CatalogueDocumentReference",
            "ItemSpecificationDocumentReference", "OriginCountry", "CommodityClassification", "TransactionConditions", "HazardousItem",
            "ClassifiedTaxCategory"],
        ["Period"] = ["StartDate", "StartTime", "EndDate", "EndTime"],
    };

    public static IReadOnlyList<string> Check(XDocument document)
    {
        var problems = new List<string>();
        var root = document.Root!;
        var kind = root.Name.LocalName;
        Sequences["CreditNoteLine"] = [.. Sequences["InvoiceLine"].Select(n => n == "InvoicedQuantity" ? "CreditedQuantity" : n)];
        Sequences["InvoicePeriod"] = Sequences["Period"];

        // The schema's element order, everywhere we know the sequence.
        foreach (var element in root.DescendantsAndSelf())
        {
            if (!Sequences.TryGetValue(element.Name.LocalName, out var sequence))
                continue;
            var positions = element.Elements().Select(e => (e.Name.LocalName, Index: Array.IndexOf(sequence, e.Name.LocalName))).ToList();
            foreach (var (name, index) in positions.Where(p => p.Index < 0))
                problems.Add($"{element.Name.LocalName} has {name}, which its UBL 2.1 sequence does not have.");
            for (var i = 1; i < positions.Count; i++)
                if (positions[i].Index >= 0 && positions[i].Index < positions[i - 1].Index)
                    problems.Add($"In {element.Name.LocalName}, {positions[i].LocalName} comes after {positions[i - 1].LocalName}: out of the schema's order.");
        }

        void Required(string path, string term)
        {
            if (string.IsNullOrWhiteSpace(Value(document, path)))
                problems.Add($"{term} ({path}) is missing.");
        }

        Required("cbc:CustomizationID", "BT-24 specification identifier");
        Required("cbc:ProfileID", "BT-23 business process");
        Required("cbc:ID", "BT-1 number");
        Required("cbc:IssueDate", "BT-2 issue date");
        Required(kind == "Invoice" ? "cbc:InvoiceTypeCode" : "cbc:CreditNoteTypeCode", "BT-3 type code");
        Required("cbc:DocumentCurrencyCode", "BT-5 currency");
        Required("cbc:BuyerReference", "BT-10 buyer reference (PEPPOL-EN16931-R003)");
        Required("cac:AccountingSupplierParty/cac:Party/cbc:EndpointID", "BT-34 seller electronic address");
        Required("cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName", "BT-27 seller name");
        Required("cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "BT-40 seller country");
        Required("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", "BT-49 buyer electronic address");
        Required("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName", "BT-44 buyer name");
        Required("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "BT-55 buyer country");
        if (kind == "CreditNote")
            Required("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", "BT-25 preceding invoice");

        // Totals (BR-CO-10, -13, -15, -16) and the VAT breakdown (BR-CO-14, -17).
        var lines = root.Elements().Where(e => e.Name.LocalName is "InvoiceLine" or "CreditNoteLine").ToList();
        if (lines.Count == 0)
            problems.Add("BG-25: no invoice line.");
        var lineSum = lines.Sum(l => decimal.Parse(l.XPathSelectElement("cbc:LineExtensionAmount", Ns)!.Value, CultureInfo.InvariantCulture));
        var net = Amount(document, "cac:LegalMonetaryTotal/cbc:LineExtensionAmount");
        var exclusive = Amount(document, "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount");
        var inclusive = Amount(document, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount");
        var payable = Amount(document, "cac:LegalMonetaryTotal/cbc:PayableAmount");
        var tax = Amount(document, "cac:TaxTotal/cbc:TaxAmount");
        if (lineSum != net)
            problems.Add($"BR-CO-10: lines add up to {lineSum}, BT-106 says {net}.");
        if (exclusive != net)
            problems.Add($"BR-CO-13: BT-109 {exclusive} is not BT-106 {net} (no allowances or charges).");
        if (inclusive != exclusive + tax)
            problems.Add($"BR-CO-15: BT-112 {inclusive} is not BT-109 {exclusive} + BT-110 {tax}.");
        if (payable != inclusive)
            problems.Add($"BR-CO-16: BT-115 {payable} is not BT-112 {inclusive} (nothing prepaid).");
        var subtotals = root.XPathSelectElements("cac:TaxTotal/cac:TaxSubtotal", Ns).ToList();
        if (subtotals.Sum(s => decimal.Parse(s.XPathSelectElement("cbc:TaxAmount", Ns)!.Value, CultureInfo.InvariantCulture)) != tax)
            problems.Add("BR-CO-14: the VAT breakdown does not add up to BT-110.");
        foreach (var subtotal in subtotals)
        {
            var taxable = decimal.Parse(subtotal.XPathSelectElement("cbc:TaxableAmount", Ns)!.Value, CultureInfo.InvariantCulture);
            var amount = decimal.Parse(subtotal.XPathSelectElement("cbc:TaxAmount", Ns)!.Value, CultureInfo.InvariantCulture);
            var category = subtotal.XPathSelectElement("cac:TaxCategory/cbc:ID", Ns)!.Value;
            var percent = subtotal.XPathSelectElement("cac:TaxCategory/cbc:Percent", Ns)?.Value;
            var reason = subtotal.XPathSelectElement("cac:TaxCategory/cbc:TaxExemptionReasonCode", Ns)?.Value
                         ?? subtotal.XPathSelectElement("cac:TaxCategory/cbc:TaxExemptionReason", Ns)?.Value;
            if (taxable != lineSum)
                problems.Add($"BR-{category}-08: taxable amount {taxable} is not the sum of the lines {lineSum}.");
            var rate = percent is null ? 0 : decimal.Parse(percent, CultureInfo.InvariantCulture);
            if (amount != Math.Round(taxable * rate / 100, 2, MidpointRounding.AwayFromZero))
                problems.Add($"BR-CO-17: VAT {amount} is not {taxable} x {rate} %.");
            var sellerVat = Value(document, "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID");
            var buyerVat = Value(document, "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID");
            switch (category)
            {
                case "S" when rate <= 0:
                    problems.Add("BR-S-05: a standard-rated category needs a rate above zero.");
                    break;
                case "S" when sellerVat is null:
                    problems.Add("BR-S-02: standard rate without the seller's VAT ID.");
                    break;
                case "AE" when rate != 0 || amount != 0 || reason is null || sellerVat is null || buyerVat is null:
                    problems.Add("BR-AE-02/05/06/10: reverse charge needs 0 %, no VAT, an exemption reason and both VAT IDs.");
                    break;
                case "O" when percent is not null || amount != 0 || reason is null || sellerVat is not null || buyerVat is not null:
                    problems.Add("BR-O-02/03/05/10: not subject to VAT needs no rate, no VAT, an exemption reason and no VAT IDs.");
                    break;
            }
        }

        var means = Value(document, "cac:PaymentMeans/cbc:PaymentMeansCode");
        if (means is "30" or "58" && string.IsNullOrWhiteSpace(Value(document, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID")))
            problems.Add("BR-61: a credit transfer needs the payee's account (BT-84).");
        if (kind == "Invoice" && payable > 0 && Value(document, "cbc:DueDate") is null && Value(document, "cac:PaymentTerms/cbc:Note") is null)
            problems.Add("BR-CO-25: an amount due needs a due date or payment terms.");
        return problems;
    }
}
