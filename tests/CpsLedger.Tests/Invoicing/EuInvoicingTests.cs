using System.Globalization;
using System.Net;
using System.Xml.Linq;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace CpsLedger.Tests.Invoicing;

public sealed class EuInvoicingTests(LedgerApp app) : LedgerTest(app)
{
    private static object Billing(string street, string postalCode, string city, string country, string? vatId) =>
        new { address = new { street, postalCode, city, country }, vatId };

    private static readonly object Hamburg = Billing("Kanalstraße 12", "20095", "Hamburg", "DE", "de 143 454 214");

    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    private async Task<int> Count(string eventType)
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == eventType).CountAsync();
    }

    private static string DocsImages => Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "docs", "images"));

    private static XDocument Xml(byte[] bytes) => XDocument.Parse(System.Text.Encoding.UTF8.GetString(bytes));

    [Fact]
    public async Task Billing_details_are_events_checked_field_by_field_and_a_vat_id_must_be_valid_and_of_the_address_s_member_state()
    {
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var url = $"/api/accounts/{account}/billing-details";

        var empty = await member.GetAsync(url).ReadAs<BillingDetails>();
        Assert.Null(empty.Address);

        var invalid = await member.PutJson(url, new { address = new { street = " ", postalCode = "", city = "Tallinn", country = "XX" } })
            .ReadProblem(HttpStatusCode.BadRequest);
        foreach (var field in new[] { "address.street", "address.postalCode", "address.country" })
            Assert.True(invalid.Errors.ContainsKey(field), $"{field}: {string.Join(", ", invalid.Errors.Keys)}");

        async Task<string> VatIdProblem(object body) => (await member.PutJson(url, body).ReadProblem(HttpStatusCode.BadRequest)).Errors["vatId"][0];
        Assert.Contains("check digit", await VatIdProblem(Billing("Kanalstraße 12", "20095", "Hamburg", "DE", "DE143454215")));
        Assert.Contains("is from Germany, but the billing address is in Estonia",
            await VatIdProblem(Billing("Telliskivi 60a", "10412", "Tallinn", "EE", "DE143454214")));
        Assert.Contains("EU member states", await VatIdProblem(Billing("Bahnhofstrasse 1", "8001", "Zürich", "CH", "DE143454214")));
        Assert.Equal(0, await Count("billing_details_changed"));

        var set = await member.PutJson(url, Hamburg).ReadAs<BillingDetails>();
        Assert.Equal(("DE143454214", "Hamburg"), (set.VatId, set.Address!.City));
        await (await member.PutJson(url, Hamburg)).ShouldBe(HttpStatusCode.OK); // the same again: no new event
        await (await member.PutJson(url, Billing("Kanalstraße 12", "20095", "Hamburg", "DE", null))).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(2, await Count("billing_details_changed"));
        Assert.Null((await member.GetAsync(url).ReadAs<BillingDetails>()).VatId);

        Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(await App.OpenAccount("other@example.ee")).PutJson(url, Hamburg)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Auditor).PutJson(url, Hamburg)).StatusCode);
        var history = await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types=billing_details_changed")
            .ReadAs<HistoryPage>();
        Assert.Equal(["Billing details set: Kanalstraße 12, 20095 Hamburg, Germany, VAT ID DE143454214",
                "Billing details set: Kanalstraße 12, 20095 Hamburg, Germany, no VAT ID"],
            history.Items.Select(i => i.Description));
    }

    [Fact]
    public async Task A_business_buyer_in_another_member_state_gets_a_reverse_charge_invoice_with_pdf_e_invoice_and_rf_reference_and_pays_by_it()
    {
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("DE", "bank_transfer", billingDetails: Hamburg);
        await App.FastForward(Invoicing.Billing.IssueDelay);
        var member = App.Member(account);
        var invoice = await member.SingleInvoice(account);
        var number = invoice.InvoiceNumber;
        var reference = CreditorReferences.For(number);

        Assert.Equal((VatCategory.ReverseCharge, 0m, 200.00m, 200.00m), (invoice.VatTreatment!.Category, invoice.Vat, invoice.Subtotal, invoice.Total));
        Assert.Equal(VatRules.ReverseChargeMention, invoice.VatTreatment.Mention);
        Assert.Equal((reference, 1L), (invoice.CreditorReference, invoice.VatTableVersion));
        Assert.Equal(("DE143454214", "NL123456782B01", "NL91ABNA0417164300"), (invoice.Buyer!.VatId, invoice.Seller!.VatId, invoice.Payee!.Iban));

        // The PDF: every block a finance team needs, and a page that is not blank.
        var pdf = await (await member.GetAsync($"/api/accounts/{account}/invoices/{number}/pdf")).Content.ReadAsByteArrayAsync();
        var text = await PdfPictures.Text(pdf);
        foreach (var expected in new[]
                 {
                     "Canon Professional Services", "CPS Demo Europe B.V.", "Voorbeeldstraat 1", "VAT ID NL123456782B01", "Company reg. no. 12345678",
                     "Bill to", "Valgus Studio OÜ", "Kanalstraße 12", "20095 Hamburg", "VAT ID DE143454214", number, "Due date",
                     "VAT 0 % (reverse charge)", "VAT breakdown", "Reverse charge (AE)", VatRules.ReverseChargeMention,
                     "NL91 ABNA 0417 1643 00", "ABNANL2A", CreditorReferences.Grouped(reference), "200.00",
                 })
            Assert.Contains(expected, text);
        var png = await PdfPictures.FirstPageAsPng(pdf);
        var picture = PdfPictures.DecodeGreyscale(png);
        Assert.True(PdfPictures.Ink(picture) > 0.01, $"Only {PdfPictures.Ink(picture):P2} of the page is ink.");
        Assert.True(PdfPictures.Ink(picture, 0.85, 1) > 0.001, "No legal mentions in the footer.");
        // Refresh the README's picture of a real invoice: CPSLEDGER_WRITE_DOC_PICTURES=1 dotnet test --filter ...reverse_charge...
        if (Environment.GetEnvironmentVariable("CPSLEDGER_WRITE_DOC_PICTURES") == "1")
            await File.WriteAllBytesAsync(Path.Combine(DocsImages, "invoice.png"), png);

        // The e-invoice: the mandatory business terms, the rules on totals, and the same figures.
        var ublResponse = await member.GetAsync($"/api/accounts/{account}/invoices/{number}/ubl");
        Assert.Equal(HttpStatusCode.OK, ublResponse.StatusCode);
        Assert.Equal("application/xml", ublResponse.Content.Headers.ContentType?.MediaType);
        var ubl = Xml(await ublResponse.Content.ReadAsByteArrayAsync());
        Assert.Empty(UblRules.Check(ubl));
        Assert.Equal(EInvoice.CustomizationId, UblRules.Value(ubl, "cbc:CustomizationID"));
        Assert.Equal(EInvoice.ProfileId, UblRules.Value(ubl, "cbc:ProfileID"));
        Assert.Equal(number, UblRules.Value(ubl, "cbc:ID"));
        Assert.Equal(invoice.IssuedOn.ToString("yyyy-MM-dd"), UblRules.Value(ubl, "cbc:IssueDate"));
        Assert.Equal(invoice.DueOn.ToString("yyyy-MM-dd"), UblRules.Value(ubl, "cbc:DueDate"));
        Assert.Equal("EUR", UblRules.Value(ubl, "cbc:DocumentCurrencyCode"));
        Assert.Equal("CPS Demo Europe B.V. (ILLUSTRATIVE)", UblRules.Value(ubl, "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"));
        Assert.Equal("Valgus Studio OÜ", UblRules.Value(ubl, "cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"));
        Assert.Equal("NL123456782B01", UblRules.Value(ubl, "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"));
        Assert.Equal("DE143454214", UblRules.Value(ubl, "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"));
        Assert.Equal("NL91ABNA0417164300", UblRules.Value(ubl, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID"));
        Assert.Equal(reference, UblRules.Value(ubl, "cac:PaymentMeans/cbc:PaymentID"));
        Assert.Equal("AE", UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID"));
        Assert.Equal("200.00", UblRules.Value(ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount"));

        // Paying by the structured reference: a mistyped one is refused by its check digits and records nothing.
        const string url = "/api/payments/bank-transfers";
        var today = App.ValueDate();
        var mistyped = reference[..^2] + reference[^1] + reference[^2];
        var refused = await Finance.PostJson(url, new
        {
            creditorReference = CreditorReferences.Grouped(mistyped),
            amount = 50m,
            currency = "EUR",
            valueDate = today,
            bankReference = "SEPA-1"
        }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("fails its check digits", refused.Errors["creditorReference"][0]);
        var inText = await Finance.PostJson(url, new
        {
            reference = $"Membership {CreditorReferences.Grouped(mistyped)} Valgus",
            amount = 50m,
            currency = "EUR",
            valueDate = today,
            bankReference = "SEPA-1"
        }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(inText.Errors.ContainsKey("reference"));
        var otherNumber = await Finance.PostJson(url, new
        {
            invoiceNumber = number.Replace("000001", "000002"),
            creditorReference = reference,
            amount = 50m,
            currency = "EUR",
            valueDate = today,
            bankReference = "SEPA-1"
        }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains($"is the reference of {number}", otherNumber.Errors["creditorReference"][0]);
        Assert.Equal(0, await Count("payment_received"));

        var partial = await Finance.PostJson(url, new
        {
            reference = $"CPS {CreditorReferences.Grouped(reference).ToLowerInvariant()} thanks",
            amount = 50m,
            currency = "EUR",
            valueDate = today,
            bankReference = "SEPA-1"
        }).ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal((number, PaymentKind.Partial), (partial.InvoiceNumber, partial.Kind));
        var rest = await Finance.PostJson(url, new
        {
            creditorReference = CreditorReferences.Grouped(reference),
            amount = 150m,
            currency = "EUR",
            valueDate = today,
            bankReference = "SEPA-2"
        }).ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal(InvoiceStatus.Paid, rest.InvoiceStatus);
    }

    [Fact]
    public async Task A_buyer_outside_the_eu_reads_the_whole_legal_mention_and_a_credit_note_the_whole_reason_on_the_pdf_page()
    {
        // The outside-EU mention and finance's reasons (up to 300 characters) are longer than the page is wide: drawn on one line,
        // their end ran off the page, and pdftotext (like a reader) shows only what is on it.
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("CH", "bank_transfer", billingDetails: Billing("Bahnhofstrasse 1", "8001", "Zürich", "CH", null));
        await App.FastForward(Invoicing.Billing.IssueDelay);
        var member = App.Member(account);
        var invoice = await member.SingleInvoice(account);
        Assert.Equal(VatCategory.OutsideScope, invoice.VatTreatment!.Category);
        static string Words(string text) => System.Text.RegularExpressions.Regex.Replace(text, @"\s+", " ");

        var pdf = await (await member.GetAsync($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/pdf")).Content.ReadAsByteArrayAsync();
        var layout = await PdfPictures.Text(pdf);
        var text = Words(layout);
        Assert.Contains(VatRules.OutsideScopeMention, text);
        Assert.Contains($"Reference {CreditorReferences.Grouped(invoice.CreditorReference)} (or quote {invoice.InvoiceNumber})", text);
        // The buyer's country by its name, as an EU buyer's is (found by a finance QA pass: a Swiss address ended in "CH").
        Assert.Contains("Bahnhofstrasse 1 8001 Zürich Switzerland", text);
        Assert.DoesNotContain(layout.Split('\n'), line => line.Trim() == "CH");
        var png = await PdfPictures.FirstPageAsPng(pdf);
        Assert.True(PdfPictures.Ink(PdfPictures.DecodeGreyscale(png)) > 0.01);
        if (Environment.GetEnvironmentVariable("CPSLEDGER_WRITE_DOC_PICTURES") == "1")
            await File.WriteAllBytesAsync(Path.Combine(DocsImages, "invoice-outside-eu.png"), png);

        var reason = "The member asked on the phone that the invoice be addressed to the head office in Basel rather than the branch in " +
                     "Zürich; agreed with the finance lead, ticket CPS-SUP-9912, see the e-mail of 2026-11-24 for the new address and contact";
        var cancelled = await Finance.PostJson($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation", new { reason })
            .ReadAs<InvoiceCancellation>(HttpStatusCode.Created);
        var notePdf = await (await member.GetAsync($"/api/accounts/{account}/credit-notes/{cancelled.CreditNoteNumber}/pdf")).Content
            .ReadAsByteArrayAsync();
        var noteText = Words(await PdfPictures.Text(notePdf));
        Assert.Contains(VatRules.OutsideScopeMention, noteText);
        Assert.Contains($"Reason: {reason}", noteText);
        Assert.Contains("8001 Zürich Switzerland", noteText);
    }

    // Found by a finance QA pass: an overpaid invoice cancelled by a credit note read the overpayment twice, as overpaid and inside
    // refundDue.
    [Fact]
    public async Task An_overpaid_invoice_cancelled_by_a_credit_note_reads_all_it_received_once_as_a_refund_due()
    {
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        await App.FastForward(Invoicing.Billing.IssueDelay);
        var member = App.Member(account);
        var number = (await member.SingleInvoice(account)).InvoiceNumber;
        foreach (var (amount, reference) in new[] { (248m, "SEPA-1"), (50m, "SEPA-2") })
            await App.Tracked(() => Finance.PostJson("/api/payments/bank-transfers", Invoicing.Billing.BankPayment(App, number, amount, reference))
                .ReadAs<BankPaymentRecorded>(HttpStatusCode.Created));
        // Read as served (the JSON, not the record, which would work out its derived amounts again).
        var paid = await member.GetAsync($"/api/accounts/{account}/invoices/{number}").ReadAs<System.Text.Json.JsonElement>();
        Assert.Equal(("paid", 298m, 0m, 50m, 0m), (paid.GetProperty("status").GetString(), paid.GetProperty("totalReceived").GetDecimal(),
            paid.GetProperty("outstanding").GetDecimal(), paid.GetProperty("overpaid").GetDecimal(), paid.GetProperty("refundDue").GetDecimal()));

        var cancelled = await App.Tracked(() => Finance.PostJson($"/api/accounts/{account}/invoices/{number}/cancellation",
            new { reason = "Issued to the wrong company" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
        Assert.Equal((248.00m, 298.00m), (cancelled.Total, cancelled.RefundDue));

        // The 298.00 received is said once: a refund due, nothing overpaid any more (one invoice and the list).
        var one = await member.GetAsync($"/api/accounts/{account}/invoices/{number}").ReadAs<System.Text.Json.JsonElement>();
        var listed = Assert.Single((await member.GetAsync($"/api/accounts/{account}/invoices").ReadAs<System.Text.Json.JsonElement>()).EnumerateArray());
        foreach (var read in new[] { one, listed })
            Assert.Equal(("cancelled", 298m, 0m, 0m, 298m), (read.GetProperty("status").GetString(), read.GetProperty("totalReceived").GetDecimal(),
                read.GetProperty("outstanding").GetDecimal(), read.GetProperty("overpaid").GetDecimal(), read.GetProperty("refundDue").GetDecimal()));
        Assert.True((await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>()).Agrees);
    }

    [Fact]
    public async Task A_credit_note_is_e_mailed_to_the_member_once_with_the_invoice_it_cancels_the_refund_due_and_its_pdf()
    {
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        await App.FastForward(Invoicing.Billing.IssueDelay);
        var member = App.Member(account);
        var invoice = await member.SingleInvoice(account);
        var number = invoice.InvoiceNumber;
        await App.Tracked(() => Finance.PostJson("/api/payments/bank-transfers", Invoicing.Billing.BankPayment(App, number, 100m, "SEPA-1"))
            .ReadAs<BankPaymentRecorded>(HttpStatusCode.Created));

        // Tracked until the e-mails the cancellation sets off have been written.
        var cancelled = await App.Tracked(() => Finance.PostJson($"/api/accounts/{account}/invoices/{number}/cancellation",
            new { reason = "Issued to the wrong company" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
        var creditNote = cancelled.CreditNoteNumber;

        // The credit note, the invoice it cancels and why, the amount credited, the refund due; its PDF attached.
        var email = Assert.Single(App.SentEmails(), e => e.MessageId == $"credit-note-{creditNote}@cpsledger");
        Assert.Equal($"Credit note {creditNote} for your CPS membership", email.Subject);
        Assert.Equal("studio@example.ee", email.To.Mailboxes.Single().Address);
        var body = email.MemberText();
        foreach (var expected in new[]
                 {
                     $"Invoice {number} of {invoice.IssuedOn:yyyy-MM-dd} is cancelled by credit note {creditNote}",
                     "Reason: Issued to the wrong company", "Total credited", "248.00 EUR",
                     $"100.00 EUR received on invoice {number} will be refunded to you.",
                 })
            Assert.Contains(expected, body);
        var attachment = Assert.Single(email.Attachments.OfType<MimePart>());
        Assert.Equal(($"{creditNote}.pdf", "application/pdf"), (attachment.FileName, attachment.ContentType.MimeType));
        using (var content = new MemoryStream())
        {
            await attachment.Content!.DecodeToAsync(content);
            var pdfText = await PdfPictures.Text(content.ToArray());
            Assert.Contains(creditNote, pdfText);
            Assert.Contains($"100.00 EUR received on invoice {number} will be refunded to you.", pdfText);
        }

        // A redelivery of the same message sends no second copy.
        await App.Tracked(() => App.Invoke(new SendCreditNoteEmail(invoice.Id)));
        Assert.Equal([$"credit-note-{creditNote}_cpsledger.eml"],
            Directory.GetFiles(App.MailFolder, "credit-note-*").Select(Path.GetFileName));
    }

    [Fact]
    public async Task The_pdf_the_e_mail_and_the_e_invoice_show_the_same_amounts_from_one_calculation()
    {
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        // Bank transfer from Italy without a VAT ID: a fee line, a surcharge line, VAT at 22 %.
        var account = await App.JoinedAccount("IT", "bank_transfer", billingDetails: Billing("Via Roma 1", "00184", "Roma", "IT", null));
        await App.FastForward(Invoicing.Billing.IssueDelay);
        var member = App.Member(account);
        var invoice = await member.SingleInvoice(account);
        var number = invoice.InvoiceNumber;
        var lines = invoice.Lines.Select(l => (l.Description, l.Amount)).ToList();
        var (subtotal, vat, total) = (invoice.Subtotal, invoice.Vat, invoice.Total);
        Assert.Equal([200.00m, 2.00m], lines.Select(l => l.Amount));
        Assert.Equal((202.00m, 44.44m, 246.44m), (subtotal, vat, total));
        string Money(decimal amount) => amount.ToString("#,##0.00", CultureInfo.InvariantCulture);

        var pdfText = await PdfPictures.Text(await (await member.GetAsync($"/api/accounts/{account}/invoices/{number}/pdf")).Content.ReadAsByteArrayAsync());
        var email = Assert.Single(App.SentEmails(), e => e.Subject?.Contains(number) == true).MemberText();
        var ubl = Xml(await (await member.GetAsync($"/api/accounts/{account}/invoices/{number}/ubl")).Content.ReadAsByteArrayAsync());
        Assert.Empty(UblRules.Check(ubl));

        foreach (var (description, amount) in lines)
        {
            Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(description)}\s+22 %\s+{Money(amount)}", pdfText);
            Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(description)}\s+{Money(amount)} EUR", email);
        }

        Assert.Equal(lines.Select(l => (l.Description, Money(l.Amount))),
            ubl.Root!.Elements(EInvoice.Cac + "InvoiceLine").Select(l => (l.Element(EInvoice.Cac + "Item")!.Element(EInvoice.Cbc + "Name")!.Value,
                l.Element(EInvoice.Cbc + "LineExtensionAmount")!.Value)));
        foreach (var (label, amount) in new[] { ("Subtotal", subtotal), (@"VAT 22 % \(IT\)", vat), ("Total( EUR)?", total) })
        {
            Assert.Matches($@"{label}\s+{Money(amount)}", pdfText);
            Assert.Matches($@"{label}\s+{Money(amount)} EUR", email);
        }

        Assert.Equal((Money(subtotal), Money(vat), Money(total), Money(total)), (UblRules.Value(ubl, "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount"),
            UblRules.Value(ubl, "cac:TaxTotal/cbc:TaxAmount"), UblRules.Value(ubl, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"),
            UblRules.Value(ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount")));
        Assert.Equal("22", UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent"));
        // The payment instructions agree too: amount, due date, IBAN and the creditor reference.
        var instruction = $"Please transfer {Money(total)} EUR by {invoice.DueOn:yyyy-MM-dd}, quoting the reference below:";
        Assert.Contains(instruction, pdfText);
        Assert.Contains(instruction, email);
        Assert.Matches($@"Reference\s+{System.Text.RegularExpressions.Regex.Escape(CreditorReferences.Grouped(CreditorReferences.For(number)))}", pdfText);
        Assert.Contains($"Reference: {CreditorReferences.Grouped(CreditorReferences.For(number))}", email);
    }

    [Fact]
    public async Task Finance_cancels_an_overdue_invoice_with_a_credit_note_of_its_own_series_which_lifts_the_suspension_and_shows_in_history()
    {
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        var member = App.Member(account);
        await App.FastForward(Invoicing.Billing.IssueDelay);
        var number = (await member.SingleInvoice(account)).InvoiceNumber;
        foreach (var days in new[] { 30, 1, 14 })
            await App.FastForward(TimeSpan.FromDays(days));
        await App.FastForward(TimeSpan.FromHours(2));
        Assert.Equal(MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);

        var url = $"/api/accounts/{account}/invoices/{number}/cancellation";
        Assert.Equal(HttpStatusCode.Forbidden, (await member.PostJson(url, new { reason = "mine" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Support).PostJson(url, new { reason = "x" })).StatusCode);
        var noReason = await Finance.PostJson(url, new { reason = " " }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(noReason.Errors.ContainsKey("reason"));
        await (await Finance.PostJson($"/api/accounts/{account}/invoices/INV-1999-000001/cancellation", new { reason = "Issued in error" }))
            .ShouldBeProblem(HttpStatusCode.NotFound);

        // Tracked until the reinstatement e-mail the cancellation sets off has been written.
        var cancelled = await App.Tracked(() => Finance.PostJson(url, new { reason = "Issued in error: the membership was a trial" })
            .ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
        var creditNote = cancelled.CreditNoteNumber;
        Assert.Matches(@"^CN-\d{4}-000001$", creditNote);
        Assert.Equal((248.00m, 0m, true), (cancelled.Total, cancelled.RefundDue, cancelled.MembershipReinstated));
        var again = await Finance.PostJson(url, new { reason = "again" }).ReadProblem(HttpStatusCode.Conflict);
        Assert.Contains(creditNote, again.Detail);

        // The membership continues, active, and nothing is owed; a transfer for the cancelled invoice is refused.
        var summary = await member.Summary(account);
        Assert.Equal((MembershipStatus.Active, 0m), (summary.MembershipStatus, summary.AmountOwed));
        var invoice = await member.SingleInvoice(account);
        Assert.Equal((InvoiceStatus.Cancelled, 0m, creditNote), (invoice.Status, invoice.Outstanding, invoice.CreditNote?.CreditNoteNumber));
        await (await Finance.PostJson("/api/payments/bank-transfers", Invoicing.Billing.BankPayment(App, number, 248m, "LATE"))).ShouldBeProblem(HttpStatusCode.Conflict);
        var reinstatedMail = Assert.Single(App.SentEmails(), e => e.Subject?.EndsWith("is active again") == true);
        Assert.Contains($"credit note {creditNote}", reinstatedMail.MemberText());

        // The credit note: JSON, PDF and UBL CreditNote referring to the invoice.
        var note = await member.GetAsync($"/api/accounts/{account}/credit-notes/{creditNote}").ReadAs<CreditNoteIssued>();
        Assert.Equal((number, 248.00m), (note.InvoiceNumber, note.Total));
        var notePdf = await (await member.GetAsync($"/api/accounts/{account}/credit-notes/{creditNote}/pdf")).Content.ReadAsByteArrayAsync();
        var pdfText = await PdfPictures.Text(notePdf);
        foreach (var expected in new[] { "CREDIT NOTE", creditNote, number, "Issued in error: the membership was a trial", "248.00" })
            Assert.Contains(expected, pdfText);
        var notePng = await PdfPictures.FirstPageAsPng(notePdf);
        Assert.True(PdfPictures.Ink(PdfPictures.DecodeGreyscale(notePng)) > 0.01);
        if (Environment.GetEnvironmentVariable("CPSLEDGER_WRITE_DOC_PICTURES") == "1")
            await File.WriteAllBytesAsync(Path.Combine(DocsImages, "credit-note.png"), notePng);
        var ubl = Xml(await (await member.GetAsync($"/api/accounts/{account}/credit-notes/{creditNote}/ubl")).Content.ReadAsByteArrayAsync());
        Assert.Equal("CreditNote", ubl.Root!.Name.LocalName);
        Assert.Empty(UblRules.Check(ubl));
        Assert.Equal((creditNote, "381", number, "248.00"), (UblRules.Value(ubl, "cbc:ID"), UblRules.Value(ubl, "cbc:CreditNoteTypeCode"),
            UblRules.Value(ubl, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"), UblRules.Value(ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount")));
        await (await App.Member(await App.OpenAccount("other@example.ee")).GetAsync($"/api/accounts/{account}/credit-notes/{creditNote}"))
            .ShouldBeProblem(HttpStatusCode.Forbidden);

        // History shows the invoice, its cancellation and the credit note, with the reason.
        var items = (await App.ClientAs(LedgerRoles.Auditor).GetAsync(
            $"/api/accounts/{account}/history?types=invoice_issued,invoice_cancelled,credit_note_issued,membership_reinstated").ReadAs<HistoryPage>()).Items;
        Assert.Equal("invoice_issued", items[0].Type);
        Assert.Equal(["credit_note_issued", "invoice_cancelled", "membership_reinstated"], items.Skip(1).Select(i => i.Type).Order());
        var cancellation = Assert.Single(items, i => i.Type == "invoice_cancelled");
        Assert.Contains($"cancelled by credit note {creditNote}", cancellation.Description);
        Assert.Equal("Issued in error: the membership was a trial", cancellation.Reason);
        Assert.Equal($"Membership reinstated: invoice {number} was cancelled by credit note {creditNote}",
            Assert.Single(items, i => i.Type == "membership_reinstated").Description);
        Assert.True((await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>()).Agrees);

        // No more overdue work for it: nothing scheduled acts on a cancelled invoice.
        await App.FastForward(TimeSpan.FromDays(30));
        Assert.Equal(MembershipStatus.Active, (await member.Summary(account)).MembershipStatus);
        Assert.Equal(1, await Count("membership_suspended"));
    }

    [Fact]
    public async Task Finance_publishes_vat_rates_as_versions_and_the_next_invoice_records_the_version_it_used()
    {
        var table = await App.ClientAs(LedgerRoles.Member, Guid.NewGuid()).GetAsync("/api/vat-rates").ReadAs<VatRateTable>();
        Assert.Equal(1, table.TableVersion);
        var rates = table.Rates;

        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Support).PutAsync("/api/vat-rates",
            System.Net.Http.Json.JsonContent.Create(new { rates, reason = "x" }))).StatusCode);
        var incomplete = await Finance.PutJson("/api/vat-rates", new { rates = rates.Where(r => r.Country != "MT"), reason = "MT left out" })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("missing: MT", incomplete.Errors["rates"][0]);
        await (await Finance.PutJson("/api/vat-rates", new { rates = rates.Append(new VatRateEntry("XX", 0.1m, new DateOnly(2024, 1, 1))), reason = "XX added" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest);

        // Estonia at 25 % from yesterday.
        var yesterday = DateOnly.FromDateTime(App.Clock.GetUtcNow().UtcDateTime).AddDays(-1);
        var published = await Finance.PutJson("/api/vat-rates",
            new { rates = rates.Append(new VatRateEntry("EE", 0.25m, yesterday)), reason = "EE rate change (test)" }).ReadAs<VatRateTable>();
        Assert.Equal(2, published.TableVersion);
        var same = await Finance.PutJson("/api/vat-rates",
            new { rates = rates.Append(new VatRateEntry("EE", 0.25m, yesterday)), reason = "again" }).ReadAs<VatRateTable>();
        Assert.Equal(2, same.TableVersion);

        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "card", SandboxPaymentGateway.Approve);
        await App.FastForward(Invoicing.Billing.IssueDelay);
        var invoice = await App.Member(account).SingleInvoice(account);
        Assert.Equal((2L, 0.25m, 250.00m), (invoice.VatTableVersion, invoice.VatRate, invoice.Total));

        // The card on file, as the portal reads it: brand, last four, expiry, never more.
        var cardResponse = await App.Member(account).GetAsync($"/api/accounts/{account}/payment-card");
        var card = await cardResponse.ReadAs<CardOnFile>();
        Assert.Equal(("Visa", "4242", 12, 2030), (card.Brand, card.Last4, card.ExpiryMonth, card.ExpiryYear));
        var cardText = await cardResponse.Content.ReadAsStringAsync();
        Assert.DoesNotContain("tok_", cardText);
        Assert.DoesNotContain("pm_", cardText);
        var noCard = await App.OpenAccount("nocard@example.ee");
        await (await App.Member(noCard).GetAsync($"/api/accounts/{noCard}/payment-card")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_vat_rate_without_its_date_is_refused_and_one_from_year_one_is_a_date_given()
    {
        var rates = (await App.ClientAs(LedgerRoles.Member, Guid.NewGuid()).GetAsync("/api/vat-rates").ReadAs<VatRateTable>()).Rates;
        var withoutDate = rates.Select(r => (object)new { country = r.Country, rate = r.Rate, effectiveFrom = r.EffectiveFrom.ToString("yyyy-MM-dd") })
            .Append(new { country = "EE", rate = 0.25m });
        var missing = await Finance.PutJson("/api/vat-rates", new { rates = withoutDate, reason = "EE without its date" })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains(missing.Errors.Keys, k => k.Contains("effectiveFrom", StringComparison.OrdinalIgnoreCase));

        // 0001-01-01 is a date the caller wrote, as a bank date's is: in force for every day until the entry after it.
        var published = await Finance.PutJson("/api/vat-rates",
            new { rates = rates.Where(r => r.Country != "EE").Append(new VatRateEntry("EE", 0.24m, DateOnly.MinValue)), reason = "EE from year one" })
            .ReadAs<VatRateTable>();
        Assert.Equal(DateOnly.MinValue, Assert.Single(published.Rates, r => r.Country == "EE").EffectiveFrom);
    }

    [Fact]
    public async Task An_invoice_issued_before_eu_invoicing_reads_as_issued_with_a_derived_reference_and_a_pdf_but_no_e_invoice()
    {
        var account = await App.OpenAccount();
        // As stored by the previous version: no seller, buyer, payee, VAT decision or reference on the event.
        const string number = "INV-2025-000007";
        var invoiceId = Guid.NewGuid();
        await using (var session = App.Store.LightweightSession())
        {
            session.Events.StartStream<Invoice>(invoiceId, new InvoiceIssued(invoiceId, number, account, Guid.NewGuid(), "CPS-100-200-300",
                "Valgus Studio OÜ", "EE", PaymentMethod.BankTransfer, "EUR", [new InvoiceLine("CPS Gold membership, annual fee", 200m)], 200m, 0.22m,
                44m, 244m, new DateOnly(2025, 3, 1), new DateOnly(2025, 3, 31), new DateTimeOffset(2025, 3, 1, 10, 0, 0, TimeSpan.Zero)));
            session.Insert(new InvoiceNumberClaim { Id = number, InvoiceId = invoiceId, AccountId = account });
            await session.SaveChangesAsync();
        }

        var member = App.Member(account);
        var invoice = await member.GetAsync($"/api/accounts/{account}/invoices/{number}").ReadAs<Invoice>();
        Assert.Equal(CreditorReferences.For(number), invoice.CreditorReference);
        Assert.Null(invoice.Seller);
        Assert.Null(invoice.VatTreatment);
        var text = await PdfPictures.Text(await (await member.GetAsync($"/api/accounts/{account}/invoices/{number}/pdf")).Content.ReadAsByteArrayAsync());
        foreach (var expected in new[] { "Issued before seller details were recorded", "VAT 22 %", "244.00", "NL91 ABNA 0417 1643 00" })
            Assert.Contains(expected, text);
        await (await member.GetAsync($"/api/accounts/{account}/invoices/{number}/ubl")).ShouldBeProblem(HttpStatusCode.Conflict);

        // Its credit note is a new document: today's seller, and the company and country the invoice was issued to.
        var cancelled = await Finance.PostJson($"/api/accounts/{account}/invoices/{number}/cancellation", new { reason = "Duplicate" })
            .ReadAs<InvoiceCancellation>(HttpStatusCode.Created);
        var creditNote = cancelled.CreditNoteNumber;
        var ubl = Xml(await (await member.GetAsync($"/api/accounts/{account}/credit-notes/{creditNote}/ubl")).Content.ReadAsByteArrayAsync());
        Assert.Empty(UblRules.Check(ubl));
        Assert.Equal(("S", "22", "44.00"), (UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID"),
            UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent"), UblRules.Value(ubl, "cac:TaxTotal/cbc:TaxAmount")));
    }
}
