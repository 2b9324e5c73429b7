using System.Net;
using System.Xml.Linq;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MimeKit;

namespace CpsLedger.Tests.Invoicing;

/// <summary>Finance's corrected invoice: a new invoice for the same term replacing a cancelled one, exactly once.</summary>
public sealed class InvoiceReplacementTests(LedgerApp app) : LedgerTest(app)
{
    private static readonly object Hamburg =
        new { address = new { street = "Kanalstraße 12", postalCode = "20095", city = "Hamburg", country = "DE" }, vatId = "DE143454214" };

    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    private async Task<int> Count(string eventType)
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == eventType).CountAsync();
    }

    /// <summary>An Estonian account that joined paying by bank transfer, its invoice issued (24 % EE VAT: no VAT ID yet) and cancelled.</summary>
    private async Task<(Guid Account, string Number, string CreditNote)> CancelledInvoice()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        await App.FastForward(Billing.IssueDelay);
        var number = (await App.Member(account).SingleInvoice(account)).InvoiceNumber;
        var cancelled = await Finance.PostJson($"/api/accounts/{account}/invoices/{number}/cancellation",
            new { reason = "Issued without the buyer's VAT ID" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created);
        return (account, number, cancelled.CreditNoteNumber);
    }

    [Fact]
    public async Task Finance_replaces_an_invoice_cancelled_for_a_missing_vat_id_with_a_reverse_charge_invoice_that_names_the_one_it_replaces()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        await App.FastForward(Billing.IssueDelay);
        var member = App.Member(account);
        var first = await member.SingleInvoice(account);
        var number = first.InvoiceNumber;
        Assert.Equal((VatCategory.Standard, 248.00m), (first.VatTreatment!.Category, first.Total));
        var url = $"/api/accounts/{account}/invoices/{number}/replacement";

        // Not cancelled yet: nothing to replace.
        var notCancelled = await Finance.PostJson(url, new { reason = "VAT ID added" }).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Invoice not cancelled", notCancelled.Title);

        var creditNote = (await Finance.PostJson($"/api/accounts/{account}/invoices/{number}/cancellation",
            new { reason = "Issued without the buyer's VAT ID" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created)).CreditNoteNumber;
        await (await member.PutJson($"/api/accounts/{account}/billing-details", Hamburg)).ShouldBe(HttpStatusCode.OK);

        // Finance only, with a reason; an unknown number (or another account's) is a 404.
        foreach (var role in new[] { LedgerRoles.Support, LedgerRoles.Auditor, LedgerRoles.Portal })
            Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(role).PostJson(url, new { reason = "x" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await member.PostJson(url, new { reason = "mine" })).StatusCode);
        Assert.True((await Finance.PostJson(url, new { reason = " " }).ReadProblem(HttpStatusCode.BadRequest)).Errors.ContainsKey("reason"));
        await (await Finance.PostJson($"/api/accounts/{account}/invoices/INV-1999-000001/replacement", new { reason = "Reissued" }))
            .ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.Equal(1, await Count("invoice_issued"));

        // Tracked until the invoice e-mail the replacement sets off has been written.
        var response = await App.Tracked(() => Finance.PostJson(url, new { reason = "Reissued with the buyer's VAT ID: reverse charge" }));
        var replacement = await response.ReadAs<InvoiceReplacement>(HttpStatusCode.Created);
        var newNumber = replacement.InvoiceNumber;
        Assert.Equal($"/api/accounts/{account}/invoices/{newNumber}", response.Headers.Location?.OriginalString);
        Assert.Matches(@"^INV-\d{4}-000002$", newNumber);
        Assert.Equal((number, creditNote, 200.00m, "EUR"), (replacement.ReplacesInvoiceNumber, replacement.CreditNoteNumber, replacement.Total,
            replacement.Currency));

        // The new invoice: the same charge and term, reverse charge on today's billing details, due after the payment term from today.
        var invoice = await member.GetAsync($"/api/accounts/{account}/invoices/{newNumber}").ReadAs<Invoice>();
        var paymentTerm = App.Services.GetRequiredService<IOptions<InvoicingOptions>>().Value.PaymentTermDays;
        Assert.Equal((VatCategory.ReverseCharge, 0m, 200.00m, InvoiceStatus.Open), (invoice.VatTreatment!.Category, invoice.Vat, invoice.Total, invoice.Status));
        Assert.Equal(first.Lines, invoice.Lines);
        Assert.Equal((first.Kind, first.PeriodStart, first.PeriodEnd, first.MembershipNumber, first.PaymentMethod),
            (invoice.Kind, invoice.PeriodStart, invoice.PeriodEnd, invoice.MembershipNumber, invoice.PaymentMethod));
        Assert.Equal(invoice.IssuedOn.AddDays(paymentTerm), invoice.DueOn);
        Assert.Equal(("DE143454214", "DE"), (invoice.Buyer!.VatId, invoice.Buyer.Country));
        Assert.Equal(new ReplacedInvoice(first.Id, number, first.IssuedOn, creditNote), invoice.Replaces);
        var old = await member.GetAsync($"/api/accounts/{account}/invoices/{number}").ReadAs<Invoice>();
        Assert.Equal((InvoiceStatus.Cancelled, newNumber), (old.Status, old.ReplacedBy));
        Assert.Equal(200.00m, (await member.Summary(account)).AmountOwed);

        // The PDF says what it replaces; the page is drawn.
        var pdf = await (await member.GetAsync($"/api/accounts/{account}/invoices/{newNumber}/pdf")).Content.ReadAsByteArrayAsync();
        var text = await PdfPictures.Text(pdf);
        foreach (var expected in new[] { newNumber, $"Replaces invoice {number} of {first.IssuedOn:yyyy-MM-dd}, cancelled by credit note {creditNote}.",
                     "VAT 0 % (reverse charge)", VatRules.ReverseChargeMention, "VAT ID DE143454214", "200.00" })
            Assert.Contains(expected, text);
        Assert.True(PdfPictures.Ink(PdfPictures.DecodeGreyscale(await PdfPictures.FirstPageAsPng(pdf, 80))) > 0.01);

        // The e-invoice refers to the invoice it replaces (BG-3: BT-25, BT-26), in the schema's order.
        var ubl = XDocument.Parse(System.Text.Encoding.UTF8.GetString(
            await (await member.GetAsync($"/api/accounts/{account}/invoices/{newNumber}/ubl")).Content.ReadAsByteArrayAsync()));
        Assert.Empty(UblRules.Check(ubl));
        Assert.Equal((newNumber, number, first.IssuedOn.ToString("yyyy-MM-dd"), "AE", "200.00"), (UblRules.Value(ubl, "cbc:ID"),
            UblRules.Value(ubl, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"),
            UblRules.Value(ubl, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate"),
            UblRules.Value(ubl, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID"), UblRules.Value(ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount")));

        // The invoice e-mail, once, saying what it replaces.
        var email = Assert.Single(App.SentEmails(), e => e.Subject == $"Invoice {newNumber} for your CPS membership");
        Assert.Contains($"Replaces invoice {number}", email.MemberText());
        // A corrected invoice, weeks after joining perhaps: not thanked for joining again.
        Assert.Contains($"Your corrected invoice {newNumber} for your CPS membership is attached.", email.MemberText());
        Assert.DoesNotContain("Thank you for joining", email.MemberText());
        Assert.Contains(email.Attachments, a => a is MimePart { FileName: var name } && name == $"{newNumber}.pdf");

        // Exactly once: a second replacement is refused, and the replacement itself is not cancelled, so not replaceable.
        var again = await Finance.PostJson(url, new { reason = "again" }).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Invoice already replaced", again.Title);
        Assert.Contains(newNumber, again.Detail);
        await (await Finance.PostJson($"/api/accounts/{account}/invoices/{newNumber}/replacement", new { reason = "Reissued" }))
            .ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Equal(2, await Count("invoice_issued"));

        // The history: the replacement issued, and the cancelled invoice replaced, with the reason.
        var items = (await App.ClientAs(LedgerRoles.Auditor).GetAsync(
            $"/api/accounts/{account}/history?types=invoice_issued,invoice_replaced").ReadAs<HistoryPage>()).Items;
        Assert.Equal(3, items.Count);
        var replaced = Assert.Single(items, i => i.Type == "invoice_replaced");
        Assert.Equal($"Invoice {number} replaced by invoice {newNumber}: Reissued with the buyer's VAT ID: reverse charge", replaced.Description);
        Assert.Equal("Reissued with the buyer's VAT ID: reverse charge", replaced.Reason);
        Assert.Contains(items, i => i.Type == "invoice_issued" && i.Description.EndsWith($"; replaces {number} (credit note {creditNote})"));
        Assert.True((await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>()).Agrees);

        // What follows any invoice follows it: checked the day after its due date, overdue when unpaid; the cancelled one stays quiet.
        await App.FastForward(TimeSpan.FromDays(paymentTerm + 1) + TimeSpan.FromHours(1));
        Assert.Equal(InvoiceStatus.Overdue, (await member.GetAsync($"/api/accounts/{account}/invoices/{newNumber}").ReadAs<Invoice>()).Status);
        Assert.Equal(InvoiceStatus.Cancelled, (await member.GetAsync($"/api/accounts/{account}/invoices/{number}").ReadAs<Invoice>()).Status);
        Assert.Single(App.SentEmails(), e => e.Subject == $"Invoice {newNumber} is overdue");
        Assert.Single(App.SentEmails(), e => e.Subject == $"Invoice {newNumber} for your CPS membership");
    }

    [Fact]
    public async Task A_transfer_quoting_a_replaced_invoice_is_refused_naming_the_replacement_it_may_pay_not_only_as_one_to_refund()
    {
        // A member paying the invoice first received quotes its number after finance replaced it. The refusal said "nothing is owed
        // on it. Refund the transfer", while the replacement for the same charge was open and owed: finance was sent to refund money
        // the member then owed again.
        var (account, number, creditNote) = await CancelledInvoice();
        var replacement = await App.Tracked(() => Finance.PostJson($"/api/accounts/{account}/invoices/{number}/replacement",
            new { reason = "Reissued" }).ReadAs<InvoiceReplacement>(HttpStatusCode.Created));

        var refused = await Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(number, 248m, "OLD-REF"))
            .ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Invoice cancelled", refused.Title);
        Assert.Contains($"cancelled by credit note {creditNote} and replaced by invoice {replacement.InvoiceNumber}", refused.Detail);
        Assert.Contains($"record it against {replacement.InvoiceNumber}", refused.Detail);
        Assert.Equal(0, await Count("payment_received"));

        // A cancelled invoice nothing replaced (yet): refund, as before.
        await (await Finance.PostJson($"/api/accounts/{account}/invoices/{replacement.InvoiceNumber}/cancellation", new { reason = "Duplicate" }))
            .ShouldBe(HttpStatusCode.Created);
        var plain = await Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(replacement.InvoiceNumber, 248m, "OLD-REF-2"))
            .ReadProblem(HttpStatusCode.Conflict);
        Assert.EndsWith("nothing is owed on it. Refund the transfer.", plain.Detail);
    }

    [Fact]
    public async Task Two_replacements_of_one_cancelled_invoice_at_once_issue_one_invoice_and_one_is_refused()
    {
        var (account, number, _) = await CancelledInvoice();
        var url = $"/api/accounts/{account}/invoices/{number}/replacement";

        var responses = await App.Tracked(() => Task.WhenAll(Enumerable.Range(0, 2)
            .Select(i => App.ClientAs(LedgerRoles.Finance).PostJson(url, new { reason = $"Reissued ({i})" }))));

        Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Conflict], responses.Select(r => r.StatusCode).Order());
        await responses.Single(r => r.StatusCode == HttpStatusCode.Conflict).ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Equal((2, 1), (await Count("invoice_issued"), await Count("invoice_replaced")));
        var invoices = await App.Member(account).Invoices(account);
        var replacement = Assert.Single(invoices, i => i.Replaces is not null);
        Assert.Equal(replacement.InvoiceNumber, Assert.Single(invoices, i => i.InvoiceNumber == number).ReplacedBy);
        Assert.Single(App.SentEmails(), e => e.Subject?.StartsWith("Invoice INV-") == true && e.Subject.EndsWith("for your CPS membership")
                                     && e.Subject.Contains(replacement.InvoiceNumber));
    }

    // Finance's reason is its note for the audit trail, not printed for the buyer: the member's own history names the replacement
    // without it; support and auditors read it.
    [Fact]
    public async Task A_member_reads_that_an_invoice_was_replaced_but_not_finances_reason()
    {
        var (account, number, _) = await CancelledInvoice();
        const string reason = "Reissued: sales forgot the VAT ID again (internal)";
        await App.Tracked(async () => await (await Finance.PostJson($"/api/accounts/{account}/invoices/{number}/replacement", new { reason }))
            .ShouldBe(HttpStatusCode.Created));
        const string url = "history?types=invoice_replaced";

        var response = await App.Member(account).GetAsync($"/api/accounts/{account}/{url}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(reason, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var mine = Assert.Single((await App.Member(account).GetAsync($"/api/accounts/{account}/{url}").ReadAs<HistoryPage>()).Items);
        Assert.Matches($"^Invoice {number} replaced by invoice INV-[0-9-]+$", mine.Description);

        foreach (var role in new[] { LedgerRoles.Support, LedgerRoles.Auditor })
        {
            var theirs = Assert.Single((await App.ClientAs(role).GetAsync($"/api/accounts/{account}/{url}").ReadAs<HistoryPage>()).Items);
            Assert.EndsWith($": {reason}", theirs.Description);
            Assert.Contains(reason, theirs.Data.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_term_support_cancelled_is_not_invoiced_again()
    {
        var (account, number, _) = await CancelledInvoice();
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/membership/cancellation",
            new { reason = "Company closed (ticket CPS-7)", ticketReference = "CPS-SUP-4711" })).ShouldBe(HttpStatusCode.OK));

        var refused = await Finance.PostJson($"/api/accounts/{account}/invoices/{number}/replacement", new { reason = "Reissue" })
            .ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Membership cancelled", refused.Title);
        Assert.Contains("Company closed (ticket CPS-7)", refused.Detail);
        Assert.Equal((1, 0), (await Count("invoice_issued"), await Count("invoice_replaced")));
    }
}
