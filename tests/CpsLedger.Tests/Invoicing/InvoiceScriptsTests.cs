using System.Net;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Serilog.Events;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// Names and addresses in the scripts the invoice fonts print (Chinese, Japanese, Korean besides Latin, Greek and Cyrillic) print
/// as the ledger holds them; a character no font has is refused where it would reach an invoice, and one recorded before that rule
/// prints as its code point. Found by the last stop: a buyer named "株式会社キヤノン" printed as a row of empty boxes.
/// </summary>
public sealed class InvoiceScriptsTests(LedgerApp app) : LedgerTest(app)
{
    private const string Company = "株式会社キヤノン 佳能（中国）有限公司 캐논코리아 주식회사";
    private const string Street = "下丸子3丁目30番2号";
    private const string AdditionalStreet = "서울특별시 강남구 테헤란로 152";
    private const string City = "東京都大田区";

    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    // pdftotext may put spaces between glyphs drawn apart; what is compared is the characters in their order.
    private static string Squeezed(string text) => Regex.Replace(text, @"\s+", "");

    /// <summary>Where CPSLEDGER_KEEP_PDFS names a folder, the test's PDFs are written there to be looked at (pdftoppm -png -r 80).</summary>
    private static async Task Keep(string name, byte[] pdf)
    {
        if (Environment.GetEnvironmentVariable("CPSLEDGER_KEEP_PDFS") is { Length: > 0 } folder)
            await File.WriteAllBytesAsync(Path.Combine(folder, name), pdf);
    }

    /// <summary>A buyer of this name and billing address that joined paying by transfer, and the invoice issued to it.</summary>
    private async Task<(Guid Account, HttpClient Member, Invoice Invoice)> InvoicedBuyer(string country, string company, object address,
        string email = "studio@example.ee")
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount(country, "bank_transfer", email: email, company: company,
            billingDetails: new { address, vatId = (string?)null });
        await App.FastForward(Billing.IssueDelay);
        var member = App.Member(account);
        var invoice = await member.SingleInvoice(account);
        Assert.Equal(company, invoice.Buyer!.Name);
        return (account, member, invoice);
    }

    private static async Task<byte[]> Bytes(HttpClient client, string url) => await (await client.GetAsync(url)).Content.ReadAsByteArrayAsync();

    private static string DocsImages => Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "docs", "images"));

    [Fact]
    public async Task A_buyer_named_and_addressed_in_chinese_japanese_and_korean_reads_them_on_the_invoice_and_its_credit_note()
    {
        var (account, member, invoice) = await InvoicedBuyer("JP", Company,
            new { street = Street, additionalStreet = AdditionalStreet, postalCode = "146-8501", city = City, country = "JP" });

        var logs = App.Logs.Mark();
        var pdf = await Bytes(member, $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/pdf");
        await Keep("invoice-cjk.pdf", pdf);
        var text = Squeezed(await PdfPictures.Text(pdf));
        foreach (var expected in new[] { Company, Street, AdditionalStreet, $"146-8501 {City}", "Japan" })
            Assert.Contains(Squeezed(expected), text);
        // The layout around them is as for any buyer: the total on its line, the payment box.
        Assert.Contains(Squeezed($"Total {invoice.Currency} {InvoiceWording.Money(invoice.Total)}"), text);
        Assert.Contains("IBAN", text);
        Assert.DoesNotContain(App.Logs.Since(logs), e => e.Level >= LogEventLevel.Warning && e.RenderMessage().Contains("code point"));
        var png = await PdfPictures.FirstPageAsPng(pdf);
        Assert.True(PdfPictures.Ink(PdfPictures.DecodeGreyscale(png)) > 0.01);
        if (Environment.GetEnvironmentVariable("CPSLEDGER_WRITE_DOC_PICTURES") == "1")
            await File.WriteAllBytesAsync(Path.Combine(DocsImages, "invoice-cjk.png"), png);

        // The e-invoice is XML in UTF-8: the name as recorded.
        var ubl = XDocument.Parse(System.Text.Encoding.UTF8.GetString(
            await Bytes(member, $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/ubl")));
        Assert.Equal(Company, UblRules.Value(ubl, "cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"));

        // The credit note prints finance's reason, which may be written in the buyer's language; an emoji in it is refused.
        var url = $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation";
        var refused = await Finance.PostJson(url, new { reason = "Wrong address on the invoice 🦄, the member asked for the head office" })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("U+1F984", refused.Errors["reason"][0]);
        const string reason = "請求先住所の訂正のため (address corrected at the member's request, CPS-SUP-9913)";
        var cancelled = await Finance.PostJson(url, new { reason }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created);
        var notePdf = await Bytes(member, $"/api/accounts/{account}/credit-notes/{cancelled.CreditNoteNumber}/pdf");
        await Keep("credit-note-cjk.pdf", notePdf);
        var noteText = Squeezed(await PdfPictures.Text(notePdf));
        foreach (var expected in new[] { Company, Street, AdditionalStreet, $"Reason: {reason}" })
            Assert.Contains(Squeezed(expected), noteText);
    }

    // Poppler reads a right-to-left word's letters back in reading order and puts U+202B ... U+202C around it; in its reading layout
    // (-layout) consecutive right-to-left words come in reading order too, and the raw text (-raw) keeps the words in the order they
    // stand on the page, left to right. Drawn in logical order, as before, a Hebrew name came out with every word reversed.
    private static string WithoutEmbeddings(string text) => Regex.Replace(text, "[\u202A-\u202E]", "");

    [Fact]
    public async Task A_buyer_named_and_addressed_in_hebrew_reads_right_to_left_on_the_invoice_and_its_credit_note()
    {
        const string company = "חברת כנרת 2024 בע״מ";
        var (account, member, invoice) = await InvoicedBuyer("IL", company,
            new { street = "רחוב הרצל 12", postalCode = "6100000", city = "תל אביב-יפו", country = "IL" }, "hebrew@example.co.il");

        var pdf = await Bytes(member, $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/pdf");
        await Keep("invoice-hebrew.pdf", pdf);
        var text = WithoutEmbeddings(await PdfPictures.Text(pdf));
        foreach (var expected in new[] { "חברת כנרת", "בע״מ", "רחוב הרצל", "תל אביב" })
            Assert.Contains(expected, text);
        // On the page, left to right: the number a Hebrew line ends with is at its left end, and reads left to right.
        var drawn = WithoutEmbeddings(await PdfPictures.Text(pdf, raw: true));
        Assert.Contains("בע״מ 2024 כנרת חברת", drawn);
        Assert.Contains("12 הרצל רחוב", drawn);
        Assert.Contains(Squeezed($"Total {invoice.Currency} {InvoiceWording.Money(invoice.Total)}"), Squeezed(text));

        // A Hebrew reason in the credit note's Latin sentence: "Reason:" first, the Hebrew right to left, the ticket after it.
        const string reason = "תיקון כתובת לבקשת הלקוח (CPS-SUP-9913)";
        var cancelled = await Finance.PostJson($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation", new { reason })
            .ReadAs<InvoiceCancellation>(HttpStatusCode.Created);
        var notePdf = await Bytes(member, $"/api/accounts/{account}/credit-notes/{cancelled.CreditNoteNumber}/pdf");
        await Keep("credit-note-hebrew.pdf", notePdf);
        Assert.Contains("Reason: הלקוח לבקשת כתובת תיקון (CPS-SUP-9913)", WithoutEmbeddings(await PdfPictures.Text(notePdf, raw: true)));
        Assert.Contains("חברת כנרת", WithoutEmbeddings(await PdfPictures.Text(notePdf)));
    }

    [Fact]
    public async Task A_buyer_named_and_addressed_in_arabic_reads_right_to_left_in_joined_letters_on_the_invoice()
    {
        const string company = "شركة السلام للتجارة";
        var (account, member, invoice) = await InvoicedBuyer("EG", company,
            new { street = "شارع التحرير ١٥", postalCode = "11511", city = "القاهرة", country = "EG" }, "arabic@example.com.eg");

        var pdf = await Bytes(member, $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/pdf");
        await Keep("invoice-arabic.pdf", pdf);
        var text = WithoutEmbeddings(await PdfPictures.Text(pdf));
        // The letters are drawn in their joined forms (poppler gives the presentation forms back): alef, lam initial, seen medial,
        // lam-alef final, meem isolated...
        Assert.Contains("\uFE8D\uFEDF\uFEB4\uFEFC\uFEE1", text);
        // ...which are the name's letters, in reading order.
        var letters = text.Normalize(System.Text.NormalizationForm.FormKC);
        foreach (var expected in new[] { company, "شارع التحرير", "القاهرة" })
            Assert.Contains(expected, letters);
        Assert.Contains("١٥ التحرير شارع", WithoutEmbeddings(await PdfPictures.Text(pdf, raw: true)).Normalize(System.Text.NormalizationForm.FormKC));
        Assert.Contains(Squeezed($"Total {invoice.Currency} {InvoiceWording.Money(invoice.Total)}"), Squeezed(text));
        var png = await PdfPictures.FirstPageAsPng(pdf);
        if (Environment.GetEnvironmentVariable("CPSLEDGER_WRITE_DOC_PICTURES") == "1")
            await File.WriteAllBytesAsync(Path.Combine(DocsImages, "invoice-rtl.png"), png);
    }

    [Fact]
    public async Task A_name_or_address_with_a_character_no_invoice_font_prints_is_a_400_naming_the_field_and_the_character()
    {
        var portal = App.ClientAs(LedgerRoles.Portal);
        var opening = await portal.PostJson("/api/accounts", Accounts.Accounts.Opening("emoji@example.ee", "Studio Tamm 🦄 OÜ"))
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("U+1F984", opening.Errors["companyName"][0]);
        // Nor are a private-use character and an unassigned one (tabs and line breaks are refused before: one line of text).
        var control = await portal.PostJson("/api/accounts", Accounts.Accounts.Opening("private@example.ee", "Studio\uE000 Tamm\u0378 OÜ"))
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("U+E000, U+0378", control.Errors["companyName"][0]);

        var account = await App.OpenAccount("scripts@example.ee");
        var member = App.Member(account);
        var url = $"/api/accounts/{account}/billing-details";
        var problem = await member.PutJson(url, new
        {
            address = new { street = "Kanalstraße 12 🏢", additionalStreet = "2. OG \uE0FF", postalCode = "20095", city = "Hamburg ⚓︎", country = "DE" },
            vatId = (string?)null,
        }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("U+1F3E2", problem.Errors["address.street"][0]);
        Assert.Contains("U+E0FF", problem.Errors["address.additionalStreet"][0]);
        Assert.DoesNotContain("address.city", problem.Errors.Keys); // ⚓ (U+2693) and its text selector are in DejaVu Sans
        Assert.Null((await member.GetAsync(url).ReadAs<BillingDetails>()).Address);

        // The scripts the fonts have are accepted: Greek, Cyrillic, Korean.
        await (await member.PutJson(url, new
        {
            address = new { street = "Οδός Ερμού 12, Тверская 7, 테헤란로 152", postalCode = "10563", city = "Αθήνα", country = "GR" },
            vatId = (string?)null,
        })).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_name_recorded_before_the_rule_prints_a_character_no_font_has_as_its_code_point_and_warns_naming_the_invoice()
    {
        var account = await App.OpenAccount("recorded@example.ee");
        // As an earlier version could record it: an emoji in the company name the invoice was issued to.
        const string number = "INV-2025-000031";
        var invoiceId = Guid.NewGuid();
        await using (var session = App.Store.LightweightSession())
        {
            session.Events.StartStream<Invoice>(invoiceId, new InvoiceIssued(invoiceId, number, account, Guid.NewGuid(), "CPS-100-200-301",
                "Valgus 🦄 Studio OÜ", "EE", PaymentMethod.BankTransfer, "EUR", [new InvoiceLine("CPS Gold membership, annual fee", 200m)], 200m,
                0.22m, 44m, 244m, new DateOnly(2025, 3, 1), new DateOnly(2025, 3, 31), new DateTimeOffset(2025, 3, 1, 10, 0, 0, TimeSpan.Zero)));
            session.Insert(new InvoiceNumberClaim { Id = number, InvoiceId = invoiceId, AccountId = account });
            await session.SaveChangesAsync();
        }

        var logs = App.Logs.Mark();
        var pdf = await Bytes(App.Member(account), $"/api/accounts/{account}/invoices/{number}/pdf");
        await Keep("invoice-code-point.pdf", pdf);
        Assert.Contains("Valgus <U+1F984> Studio OÜ", await PdfPictures.Text(pdf));
        var warning = Assert.Single(App.Logs.Since(logs), e => e.Level == LogEventLevel.Warning && e.RenderMessage().Contains("U+1F984"));
        Assert.Equal($"The PDF of invoice \"{number}\" prints \"U+1F984\" as code points: no embedded font has a glyph for them",
            warning.RenderMessage());
    }
}
