using System.Globalization;
using CpsLedger.Api.Membership;
using PdfSharp;
using PdfSharp.Drawing;
using PdfSharp.Fonts;
using PdfSharp.Pdf;

namespace CpsLedger.Api.Invoicing;

/// <summary>The invoice as an A4 PDF document (PDFsharp), with the font embedded in the assembly.</summary>
public static class InvoicePdf
{
    private const string Font = EmbeddedFonts.Family;

    // PDFsharp's font resolver is process-wide and must always be the same instance.
    static InvoicePdf() => GlobalFontSettings.FontResolver = EmbeddedFonts.Instance;

    /// <summary>
    /// PDFsharp 6.5 is dual-licensed (AGPL-3.0 or commercial) and refuses to render until a licence is chosen:
    /// <see cref="InvoicingOptions.PdfSharpLicense"/> is "AGPL" or a commercial licence key. Without one there is no PDF.
    /// </summary>
    public static bool EnsureLicense(string? license)
    {
        lock (LicenseLock)
        {
            if (_licensed)
                return true;
            if (string.Equals(license, "AGPL", StringComparison.OrdinalIgnoreCase))
                PdfSharpLicense.SetAgplLicense();
            else if (!string.IsNullOrWhiteSpace(license))
                PdfSharpLicense.LoadLicense(license);
            else
                return false;
            return _licensed = true;
        }
    }

    private static readonly object LicenseLock = new();
    private static bool _licensed;

    /// <summary>The PDF, or null when no PDFsharp licence is configured.</summary>
    public static byte[]? TryRender(Invoice invoice, string? license) => EnsureLicense(license) ? Render(invoice) : null;

    public static byte[] Render(Invoice invoice)
    {
        var culture = CultureInfo.InvariantCulture;
        using var document = new PdfDocument();
        document.Info.Title = $"Invoice {invoice.InvoiceNumber}";
        document.Info.Author = "Canon Professional Services";
        // A fixed creation date makes the same invoice render to the same bytes (the e-mail and the download agree).
        document.Info.CreationDate = invoice.IssuedAt.UtcDateTime;

        var page = document.AddPage();
        page.Size = PageSize.A4;
        using (var g = XGraphics.FromPdfPage(page))
        {
            var title = new XFont(Font, 20, XFontStyleEx.Bold);
            var bold = new XFont(Font, 10, XFontStyleEx.Bold);
            var text = new XFont(Font, 10, XFontStyleEx.Regular);
            var small = new XFont(Font, 8, XFontStyleEx.Regular);
            const double left = 56, right = 539;
            var y = 64.0;

            g.DrawString("Canon Professional Services", bold, XBrushes.Black, left, y);
            g.DrawString("INVOICE", title, XBrushes.Black, new XRect(left, y - 20, right - left, 24), XStringFormats.TopRight);
            y += 48;

            void Pair(string label, string value, ref double at)
            {
                g.DrawString(label, text, XBrushes.DimGray, left + 280, at);
                g.DrawString(value, text, XBrushes.Black, new XRect(left, at - 10, right - left, 12), XStringFormats.TopRight);
                at += 15;
            }

            g.DrawString("Bill to", bold, XBrushes.Black, left, y);
            g.DrawString(invoice.CompanyName, text, XBrushes.Black, left, y + 15);
            g.DrawString($"Country: {invoice.Country}", text, XBrushes.Black, left, y + 30);
            g.DrawString($"CPS membership {invoice.MembershipNumber}", text, XBrushes.Black, left, y + 45);
            var meta = y;
            Pair("Invoice number", invoice.InvoiceNumber, ref meta);
            Pair("Issue date", invoice.IssuedOn.ToString("yyyy-MM-dd", culture), ref meta);
            Pair("Due date", invoice.DueOn.ToString("yyyy-MM-dd", culture), ref meta);
            Pair("Payment", invoice.PaymentMethod == PaymentMethod.Card ? "Card, charged on the due date" : "Bank transfer", ref meta);
            y = Math.Max(y + 60, meta) + 30;

            g.DrawLine(XPens.Black, left, y, right, y);
            y += 15;
            g.DrawString("Description", bold, XBrushes.Black, left, y);
            g.DrawString($"Amount ({invoice.Currency})", bold, XBrushes.Black, new XRect(left, y - 10, right - left, 12), XStringFormats.TopRight);
            y += 8;
            g.DrawLine(XPens.LightGray, left, y, right, y);
            y += 16;
            foreach (var line in invoice.Lines)
            {
                g.DrawString(line.Description, text, XBrushes.Black, left, y);
                g.DrawString(Money(line.Amount), text, XBrushes.Black, new XRect(left, y - 10, right - left, 12), XStringFormats.TopRight);
                y += 16;
            }

            g.DrawLine(XPens.LightGray, left, y - 6, right, y - 6);
            y += 10;
            void Total(string label, decimal amount, XFont font, ref double at)
            {
                g.DrawString(label, font, XBrushes.Black, left + 280, at);
                g.DrawString(Money(amount), font, XBrushes.Black, new XRect(left, at - 10, right - left, 12), XStringFormats.TopRight);
                at += 16;
            }

            Total("Subtotal", invoice.Subtotal, text, ref y);
            Total($"VAT {(invoice.VatRate * 100).ToString("0.##", culture)} %", invoice.Vat, text, ref y);
            Total($"Total {invoice.Currency}", invoice.Total, bold, ref y);
            y += 24;

            var instruction = invoice.PaymentMethod == PaymentMethod.Card
                ? $"Your card on file is charged {Money(invoice.Total)} {invoice.Currency} on {invoice.DueOn:yyyy-MM-dd}. Nothing to do."
                : $"Please transfer {Money(invoice.Total)} {invoice.Currency} by {invoice.DueOn:yyyy-MM-dd}, quoting {invoice.InvoiceNumber}.";
            g.DrawString(instruction, text, XBrushes.Black, left, y);
            g.DrawString("Amounts are rounded to cents per line and on VAT (half away from zero).", small, XBrushes.DimGray, left, 800);
        }

        using var output = new MemoryStream();
        document.Save(output, closeStream: false);
        return output.ToArray();
    }

    private static string Money(decimal amount) => amount.ToString("#,##0.00", CultureInfo.InvariantCulture);
}

/// <summary>DejaVu Sans (regular and bold; free licence in Fonts/LICENSE.txt), read from the assembly's resources.</summary>
public sealed class EmbeddedFonts : IFontResolver
{
    public const string Family = "DejaVu Sans";
    public static readonly EmbeddedFonts Instance = new();

    private EmbeddedFonts()
    {
    }

    public FontResolverInfo? ResolveTypeface(string familyName, bool bold, bool italic) =>
        // Every family resolves to the embedded one; italic is simulated.
        new(bold ? "DejaVuSans-Bold" : "DejaVuSans", false, italic);

    public byte[]? GetFont(string faceName)
    {
        using var stream = typeof(EmbeddedFonts).Assembly.GetManifestResourceStream($"CpsLedger.Api.Invoicing.Fonts.{faceName}.ttf")
                           ?? throw new InvalidOperationException($"The font {faceName} is not embedded in the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
