using System.Text;
using CpsLedger.Api.Invoicing;
using PdfSharp.Pdf;
using PdfSharp.Pdf.IO;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// The invoice's and the credit note's PDF as documents (Invoicing/InvoicePdf.cs): the same document renders to the same bytes,
/// dated by its issue and identified by the document it is, never by the moment or the process that drew it.
/// </summary>
public sealed class InvoicePdfRulesTests
{
    private static readonly DateTimeOffset IssuedAt = TestInvoices.Now;

    private static CreditNoteIssued CreditNote(Invoice invoice, DateTimeOffset at) =>
        (CreditNoteIssued)CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Issued to the wrong company"), "CN-2026-000001",
            TestInvoices.Seller, TestInvoices.Buyer(), at)[1];

    private static PdfDocument Read(byte[] pdf) => PdfReader.Open(new MemoryStream(pdf), PdfDocumentOpenMode.Import);

    // The name of every embedded font as written, subset tag included ("ABCDEF+DejaVu#20Sans").
    private static string[] FontNames(byte[] pdf) =>
        [.. System.Text.RegularExpressions.Regex.Matches(Encoding.Latin1.GetString(pdf), "/BaseFont/([^/>]+)").Select(m => m.Groups[1].Value)];

    [Fact]
    public async Task the_same_invoice_renders_to_the_same_bytes_each_time()
    {
        var invoice = TestInvoices.Issued();

        var first = InvoicePdf.Render(invoice, TestInvoices.Payee);
        await Task.Delay(TimeSpan.FromSeconds(1.1)); // a second later: a clock read while drawing would show
        var again = InvoicePdf.Render(invoice, TestInvoices.Payee);

        Assert.Equal(FontNames(first), FontNames(again));
        Assert.True(first.AsSpan().SequenceEqual(again), "Two renderings of one invoice differ.");
    }

    [Fact]
    public async Task the_same_credit_note_renders_to_the_same_bytes_each_time()
    {
        var invoice = TestInvoices.Issued();
        var note = CreditNote(invoice, IssuedAt.AddDays(3));

        var first = InvoicePdf.RenderCreditNote(invoice, note, TestInvoices.Payee);
        await Task.Delay(TimeSpan.FromSeconds(1.1));
        var again = InvoicePdf.RenderCreditNote(invoice, note, TestInvoices.Payee);

        Assert.True(first.AsSpan().SequenceEqual(again), "Two renderings of one credit note differ.");
    }

    [Fact]
    public void a_pdf_is_created_and_last_modified_when_its_document_was_issued()
    {
        var invoice = TestInvoices.Issued(now: IssuedAt);
        var noteAt = IssuedAt.AddDays(3).AddHours(2);
        var note = CreditNote(invoice, noteAt);

        foreach (var (pdf, issued) in new[]
                 {
                     (InvoicePdf.Render(invoice, TestInvoices.Payee), IssuedAt),
                     (InvoicePdf.RenderCreditNote(invoice, note, TestInvoices.Payee), noteAt),
                 })
        {
            using var document = Read(pdf);
            Assert.Equal(issued.UtcDateTime, document.Info.CreationDate.ToUniversalTime());
            Assert.Equal(issued.UtcDateTime, document.Info.ModificationDate.ToUniversalTime());
            // The XMP metadata says the same instants, in UTC.
            var text = Encoding.Latin1.GetString(pdf);
            Assert.Contains($"<xmp:CreateDate>{issued.UtcDateTime:yyyy-MM-ddTHH:mm:ss}Z</xmp:CreateDate>", text);
            Assert.Contains($"<xmp:ModifyDate>{issued.UtcDateTime:yyyy-MM-ddTHH:mm:ss}Z</xmp:ModifyDate>", text);
        }
    }

    [Fact]
    public void a_pdf_s_file_identifier_names_its_document_one_per_invoice_and_another_for_its_credit_note()
    {
        var invoice = TestInvoices.Issued();
        var other = TestInvoices.Issued(number: "INV-2026-000002");
        var note = CreditNote(invoice, IssuedAt.AddDays(3));

        string[] Ids(byte[] pdf)
        {
            using var document = Read(pdf);
            return [document.Internals.FirstDocumentID, document.Internals.SecondDocumentID];
        }

        var invoiceIds = Ids(InvoicePdf.Render(invoice, TestInvoices.Payee));
        // 16 bytes, the same in both halves (a document drawn once, never updated), from the invoice's id: drawn with another payee
        // (an older invoice takes the one configured now), it is still that invoice's file.
        Assert.Equal(16, invoiceIds[0].Length);
        Assert.Equal(invoiceIds[0], invoiceIds[1]);
        Assert.Equal(invoiceIds, Ids(InvoicePdf.Render(invoice, new PayeeAccount("Someone else", "EE382200221020145685", "HABAEE2X"))));
        Assert.NotEqual(invoiceIds, Ids(InvoicePdf.Render(other, TestInvoices.Payee)));
        Assert.NotEqual(invoiceIds, Ids(InvoicePdf.RenderCreditNote(invoice, note, TestInvoices.Payee)));
    }

    private static string DocsImages => Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "docs", "images"));

    // As long as a name may be: the seller's settings' limits (SellerOptions), the request validators' maximum for the buyer's
    // (company name 200, street 200 and 200, postal code 20, city 100).
    private static string Words(string start, int length)
    {
        var text = new StringBuilder(start);
        for (var i = 0; text.Length < length; i++)
            text.Append(' ').Append(new[] { "Professional", "Services", "Europe", "Holding", "Membership", "Imaging" }[i % 6]);
        return text.ToString()[..length].TrimEnd();
    }

    private static (Invoice Invoice, PayeeAccount Payee) LongestNames(CpsLedger.Api.Membership.PaymentMethod method, string country, string? vatId)
    {
        var options = TestInvoices.SellerOptions();
        options.LegalName = Words("Canon", SellerOptions.MaxLegalNameLength);
        options.TradingName = Words("Canon Trading", SellerOptions.MaxTradingNameLength);
        options.RegistrationNote = Words("Registered with the Dutch Chamber of Commerce", SellerOptions.MaxRegistrationNoteLength);
        options.Address.Street = Words("Voorbeeldstraat 1", SellerOptions.MaxStreetLength);
        options.Address.AdditionalStreet = Words("Building C", SellerOptions.MaxStreetLength);
        options.Address.PostalCode = Words("1011 AA", SellerOptions.MaxPostalCodeLength);
        options.Address.City = Words("Amsterdam", SellerOptions.MaxCityLength);
        options.CompanyRegistrationNumber = Words("12345678", SellerOptions.MaxCompanyRegistrationNumberLength);
        options.Email = "invoices." + new string('x', SellerOptions.MaxEmailLength - 27) + "@cpsledger.example";
        options.Payee.AccountName = Words("Canon Client Money Account", SellerOptions.MaxAccountNameLength);
        Assert.True(new SellerOptionsValidation().Validate(null, options).Succeeded);
        var buyer = TestInvoices.Buyer(country, vatId);
        buyer.CompanyName = Words("Valgus Studio", 200);
        buyer.BillingAddress = new CpsLedger.Api.Accounts.PostalAddress(Words("Telliskivi 60a", 200), Words("Floor 7", 200), Words("10412", 20),
            Words("Tallinn", 100), country);
        var invoice = TestInvoices.Issued(method, buyer);
        // A corrected invoice says so above its lines: two lines more.
        return (invoice with { Seller = options.ToInvoiceSeller(), Replaces = new(Guid.NewGuid(), "INV-2026-000000", new(2026, 11, 1), "CN-2026-000000") },
            options.ToPayeeAccount());
    }

    [Theory]
    [InlineData(CpsLedger.Api.Membership.PaymentMethod.BankTransfer, "IT", null, false)] // a surcharge line
    [InlineData(CpsLedger.Api.Membership.PaymentMethod.Card, "DE", "DE143454214", false)] // the card's sentences, the reverse charge's mention
    [InlineData(CpsLedger.Api.Membership.PaymentMethod.BankTransfer, "DE", "DE143454214", true)] // a reason of 300 characters
    public async Task with_the_longest_names_the_body_of_a_pdf_ends_above_its_footer_on_every_page(CpsLedger.Api.Membership.PaymentMethod method,
        string country, string? vatId, bool creditNote)
    {
        // The footer is raised by the lines it wraps into; drawn on one page, the payment box and the last lines ran into it.
        var (invoice, payee) = LongestNames(method, country, vatId);
        var pdf = creditNote
            ? InvoicePdf.RenderCreditNote(invoice, (CreditNoteIssued)CancelInvoiceDecision.Decide(invoice,
                new CancelInvoice(Words("Issued to the wrong company", CpsLedger.Api.Support.SupportReason.MaxPrintedReasonLength)),
                "CN-2026-000001", invoice.Seller!, TestInvoices.Buyer(), IssuedAt)[1], payee)
            : InvoicePdf.Render(invoice, payee);
        var words = await Harness.PdfPictures.Words(pdf);

        foreach (var page in words.GroupBy(word => word.Page))
        {
            // The page's lines, top to bottom; its footer the lines at its foot 10 points apart (its wrapped legal mentions).
            var lines = page.GroupBy(word => Math.Round(word.YMax)).OrderBy(line => line.Key).Select(line => line.OrderBy(w => w.XMin).ToList()).ToList();
            var first = lines.Count - 1;
            while (first > 0 && Math.Abs(lines[first][0].YMax - lines[first - 1][0].YMax - 10) < 0.6)
                first--;
            var footer = string.Join(" ", lines.Skip(first).SelectMany(line => line).Select(word => word.Text));
            Assert.StartsWith($"{invoice.Seller!.LegalName} ·", footer);
            Assert.Contains("Amounts are rounded to cents per line and on VAT (half away from zero).", footer);

            // The payment box's edge is 4 points below its last line's baseline and the footer's rule 12 above its first: at least
            // 8 points between them.
            var body = lines.Take(first).SelectMany(line => line).ToList();
            Assert.NotEmpty(body);
            var gap = lines[first].Min(word => word.YMin) - body.Max(word => word.YMax);
            Assert.True(gap >= 16, $"Page {page.Key}: the body ends {gap:0.0} points above the footer (at least 16 wanted).");

            // And no word drawn over another (a long trading name ran under the title "INVOICE").
            var all = page.ToList();
            foreach (var (a, i) in all.Select((word, i) => (word, i)))
                foreach (var b in all.Skip(i + 1))
                    Assert.False(a.XMin < b.XMax - 0.5 && b.XMin < a.XMax - 0.5 && a.YMin < b.YMax - 0.5 && b.YMin < a.YMax - 0.5,
                        $"Page {page.Key}: \"{a.Text}\" and \"{b.Text}\" overlap.");
        }

        // Each page is numbered when there are more than one.
        var count = words.Max(word => word.Page);
        if (count > 1)
            Assert.Equal(Enumerable.Range(1, count).Select(n => $"Page {n} of {count}"),
                words.GroupBy(word => word.Page).Select(page => string.Join(" ", page.OrderBy(w => Math.Round(w.YMax)).ThenBy(w => w.XMin).TakeLast(4).Select(w => w.Text))));

        // The card's invoice goes on to a second page (its payment box): the pictures of docs/invoicing.md, refreshed with
        // CPSLEDGER_WRITE_DOC_PICTURES=1 dotnet test --filter ...with_the_longest_names...
        if (method == CpsLedger.Api.Membership.PaymentMethod.Card && !creditNote)
        {
            Assert.Equal(2, count);
            if (Environment.GetEnvironmentVariable("CPSLEDGER_WRITE_DOC_PICTURES") == "1")
                foreach (var page in new[] { 1, 2 })
                    await File.WriteAllBytesAsync(Path.Combine(DocsImages, $"invoice-longest-names-{page}.png"), await Harness.PdfPictures.PageAsPng(pdf, page));
        }
    }
}
