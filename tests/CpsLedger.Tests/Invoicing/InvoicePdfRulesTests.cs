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
}
