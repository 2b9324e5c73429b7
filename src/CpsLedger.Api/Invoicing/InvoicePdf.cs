using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using Microsoft.Extensions.Logging;
using PdfSharp;
using PdfSharp.Drawing;
using PdfSharp.Fonts;
using PdfSharp.Pdf;

namespace CpsLedger.Api.Invoicing;

/// <summary>
/// The invoice (and its credit note) as an A4 PDF document: PDFsharp 6.2.4 (MIT), with the font embedded in the assembly, so
/// it renders the same in every environment.
/// </summary>
public static class InvoicePdf
{
    // The words a wrapped line keeps together (Draw's Unbroken): an amount as InvoiceWording.Money writes it, a currency code, a date.
    private static readonly System.Text.RegularExpressions.Regex AmountWord = new(@"^-?\d{1,3}(,\d{3})*\.\d{2}$");
    private static readonly System.Text.RegularExpressions.Regex CurrencyWord = new(@"^[A-Z]{3}[.,;:)]?$");
    private static readonly System.Text.RegularExpressions.Regex DateWord = new(@"^\d{4}-\d{2}-\d{2}[.,;:)]?$");

    private const string Font = EmbeddedFonts.Family;

    // PDFsharp's font resolver is process-wide and must always be the same instance.
    static InvoicePdf() => GlobalFontSettings.FontResolver = EmbeddedFonts.Instance;

    /// <summary>Makes sure the embedded fonts are PDFsharp's resolver (this class's static constructor) before a font is made.</summary>
    internal static void UseEmbeddedFonts()
    {
    }

    /// <summary>The invoice as issued; <paramref name="payee"/> is the invoice's own (older invoices: the one configured now).</summary>
    /// <param name="logger">Told, as a warning naming the invoice, of characters printed as their code point (no embedded font has them).</param>
    public static byte[] Render(Invoice invoice, PayeeAccount payee, ILogger? logger = null)
    {
        var meta = new List<(string, string)>
        {
            ("Invoice number", invoice.InvoiceNumber),
            ("Issue date", Day(invoice.IssuedOn)),
            ("Due date", Day(invoice.DueOn)),
            ("Membership number", invoice.MembershipNumber),
        };
        if (invoice.PeriodStart is { } start && invoice.PeriodEnd is { } end)
            meta.Add(("Period", $"{Day(start)} to {Day(end)}"));
        meta.Add(("Payment", invoice.PaymentMethod == PaymentMethod.Card ? "Card, charged on the due date" : "Bank transfer"));
        return Draw(new Sheet("INVOICE", $"Invoice {invoice.InvoiceNumber}", $"invoice {invoice.Id:D}", invoice, meta, invoice.Seller,
            invoice.IssuedAt, [.. InvoiceWording.PaymentInstructions(invoice, payee)], "Payment", payee), logger);
    }

    /// <summary>The credit note that cancelled <paramref name="invoice"/>: the invoice's lines and VAT, credited in full.</summary>
    public static byte[] RenderCreditNote(Invoice invoice, CreditNoteIssued note, PayeeAccount payee, ILogger? logger = null)
    {
        var meta = new List<(string, string)>
        {
            ("Credit note number", note.CreditNoteNumber),
            ("Issue date", Day(note.IssuedOn)),
            ("Credits invoice", note.InvoiceNumber),
            ("Invoice date", Day(note.InvoiceIssuedOn)),
            ("Membership number", invoice.MembershipNumber),
        };
        return Draw(new Sheet("CREDIT NOTE", $"Credit note {note.CreditNoteNumber}", $"credit note {note.CreditNoteNumber} of invoice {invoice.Id:D}",
            invoice, meta, note.Seller, note.IssuedAt, [.. InvoiceWording.CreditNoteSettlement(invoice, note), $"Reason: {note.Reason}"], "Settlement",
            payee), logger);
    }

    /// <param name="Identity">Which document this is, the same at every rendering and unique to it: the file identifier is drawn from it.</param>
    /// <param name="IssuedAt">When the document was issued: its PDF's creation and modification date.</param>
    private sealed record Sheet(string Title, string DocumentTitle, string Identity, Invoice Invoice, IReadOnlyList<(string Label, string Value)> Meta,
        InvoiceSeller? Seller, DateTimeOffset IssuedAt, IReadOnlyList<string> PaymentLines, string PaymentHeading, PayeeAccount Payee);

    private static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static byte[] Draw(Sheet sheet, ILogger? logger)
    {
        var invoice = sheet.Invoice;
        using var document = new PdfDocument();
        document.Info.Title = sheet.DocumentTitle;
        document.Info.Author = sheet.Seller?.TradingName ?? "Canon Professional Services";
        // The document's own date, not the moment of rendering, so the e-mail's copy and a later download state the same (UTC: the
        // bytes do not depend on the server's time zone either).
        document.Info.CreationDate = sheet.IssuedAt.UtcDateTime;
        document.Info.ModificationDate = sheet.IssuedAt.UtcDateTime;

        var unprintable = new SortedSet<string>(StringComparer.Ordinal);
        // A page's graphics stay open to the end: its footer (and its number, when there are more pages) is drawn when the count is known.
        var pages = new List<XGraphics>();
        XGraphics g = null!;
        void AddPage()
        {
            var page = document.AddPage();
            page.Size = PageSize.A4;
            g = XGraphics.FromPdfPage(page);
            pages.Add(g);
        }

        AddPage();
        try
        {
            var heading = new XFont(Font, 15, XFontStyleEx.Bold);
            var title = new XFont(Font, 20, XFontStyleEx.Bold);
            var bold = new XFont(Font, 9.5, XFontStyleEx.Bold);
            var text = new XFont(Font, 9.5, XFontStyleEx.Regular);
            var small = new XFont(Font, 8, XFontStyleEx.Regular);
            var smallBold = new XFont(Font, 8, XFontStyleEx.Bold);
            var grey = new XSolidBrush(XColor.FromArgb(90, 90, 90));
            var accent = new XSolidBrush(XColor.FromArgb(160, 0, 20));
            var shade = new XSolidBrush(XColor.FromArgb(242, 242, 242));
            var rule = new XPen(XColor.FromArgb(190, 190, 190), 0.6);
            const double left = 50, right = 545, metaLabel = 330;

            // Every string is drawn as runs, each in the first family that has its characters (PrintableText): DejaVu Sans, then
            // Droid Sans Fallback for Chinese, Japanese and Korean; a character none has is drawn as its code point ("<U+1F600>")
            // and named in a warning. Widths are the runs' widths added up, so wrapping and right alignment hold for mixed text. A line
            // is drawn and measured in visual order (VisualOrder: Hebrew and Arabic right to left, Arabic letters joined); it is wrapped
            // in logical order.
            var families = new Dictionary<(string, double, bool), XFont>();
            XFont In(string family, XFont font) => family == Font ? font
                : families.TryGetValue((family, font.Size, font.Bold), out var found) ? found
                : families[(family, font.Size, font.Bold)] = new XFont(family, font.Size, font.Bold ? XFontStyleEx.Bold : XFontStyleEx.Regular);
            string Printed(string value) => PrintableText.AsPrinted(value, unprintable);

            string Drawn(string value) => VisualOrder.Of(Printed(value));

            double Width(string value, XFont font) =>
                PrintableText.Runs(Drawn(value), font.Bold).Sum(run => g.MeasureString(run.Text, In(run.Family, font)).Width);

            void DrawText(string value, XFont font, XBrush brush, double x, double y)
            {
                foreach (var run in PrintableText.Runs(Drawn(value), font.Bold))
                {
                    var face = In(run.Family, font);
                    g.DrawString(run.Text, face, brush, x, y);
                    x += g.MeasureString(run.Text, face).Width;
                }
            }

            void Right(string value, XFont font, XBrush brush, double x, double y) => DrawText(value, font, brush, x - Width(value, font), y);

            // Text longer than the room it has, broken at spaces into lines that fit; a word wider than the room (a Chinese or Japanese
            // name has no spaces) is broken between characters. Drawn as one string, the outside-EU VAT mention and finance's reasons
            // (up to 300 characters) ran off the page, where neither the reader nor a text extraction sees them.
            List<string> Wrap(string value, XFont font, double width)
            {
                var lines = new List<string>();
                foreach (var paragraph in Printed(value).ReplaceLineEndings("\n").Split('\n'))
                {
                    var line = "";
                    foreach (var word in Unbroken(paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries)).SelectMany(w => Pieces(w, font, width)))
                    {
                        var longer = line.Length == 0 ? word : $"{line} {word}";
                        // A point of slack: the replacement notice ends on the right margin to a fraction of a point, and stays one line.
                        if (line.Length > 0 && Width(longer, font) > width + 1)
                        {
                            lines.Add(VisualOrder.LineOf(paragraph, line));
                            line = word;
                        }
                        else
                            line = longer;
                    }

                    lines.Add(VisualOrder.LineOf(paragraph, line));
                }

                return lines;
            }

            // The words a line does not break between, as one: an amount and its currency ("244.00 EUR"), a date and the word before it
            // ("by 2026-12-25"). Broken there, a line ended "… 244.00 EUR by" and the next began with the date.
            IEnumerable<string> Unbroken(string[] words)
            {
                for (var i = 0; i < words.Length; i++)
                {
                    if (i + 1 < words.Length && (AmountWord.IsMatch(words[i]) && CurrencyWord.IsMatch(words[i + 1])
                                                 || words[i] is "by" or "on" or "before" or "from" or "to" && DateWord.IsMatch(words[i + 1])))
                    {
                        yield return $"{words[i]} {words[++i]}";
                        continue;
                    }

                    yield return words[i];
                }
            }

            // A word that fits, or its pieces that do, broken between characters (never inside one: a base and its accents stay together).
            IEnumerable<string> Pieces(string word, XFont font, double width)
            {
                if (Width(word, font) <= width + 1)
                {
                    yield return word;
                    yield break;
                }

                var piece = "";
                var elements = StringInfo.GetTextElementEnumerator(word);
                while (elements.MoveNext())
                {
                    var element = elements.GetTextElement();
                    if (piece.Length > 0 && Width(piece + element, font) > width + 1)
                    {
                        yield return piece;
                        piece = element;
                    }
                    else
                        piece += element;
                }

                if (piece.Length > 0)
                    yield return piece;
            }

            // The legal mentions of the footer, wrapped to the page's width, the footer raised by the lines that adds so that it ends where
            // it did: drawn as one line, a long payee account name (or legal name) ran off the page, and the IBAN and BIC after it with it.
            // Known before the body is drawn: the body ends above the footer's rule, or goes on on the next page.
            var seller = sheet.Seller;
            var legal = seller is null
                ? ["Canon Professional Services"]
                : new List<string>
                {
                    $"{seller.LegalName} · {string.Join(", ", seller.Address.Lines())}",
                    $"VAT ID {seller.VatId} · Company reg. no. {seller.CompanyRegistrationNumber}" +
                    (seller.RegistrationNote is null ? "" : $" · {seller.RegistrationNote}"),
                };
            legal.Add($"Payments: {sheet.Payee.AccountName} · IBAN {BankAccounts.GroupedIban(sheet.Payee.Iban)} · BIC {sheet.Payee.Bic}");
            legal.Add("Amounts are rounded to cents per line and on VAT (half away from zero).");
            var footerLines = legal.SelectMany(line => Wrap(line, small, right - left)).ToList();
            var footerTop = 778.0 - 10 * (footerLines.Count - legal.Count);
            // The lowest the body reaches (a descender, the payment box's edge): 8 points above the footer's rule.
            var bottom = footerTop - 12 - 8;

            // Before each block, room for it down to its lowest point (depth below y); without it, the body goes on on a new page under
            // the document's name. Never on a page where nothing is drawn yet: a block taller than a page is drawn as it is.
            var y = 62.0;
            var pageTop = y;
            void Room(double depth)
            {
                if (y + depth <= bottom || y <= pageTop)
                    return;
                AddPage();
                y = 62.0;
                DrawText($"{sheet.DocumentTitle} (continued)", bold, grey, left, y);
                y += 24;
                pageTop = y;
            }

            // Seller (left) and document title (right), the trading name wrapped to the seller's column: drawn as one line, a long one
            // ran under the title and off the page.
            foreach (var line in Wrap(seller?.TradingName ?? "Canon Professional Services", heading, metaLabel - 12 - left))
            {
                DrawText(line, heading, accent, left, y);
                y += 18;
            }

            Right(sheet.Title, title, XBrushes.Black, right, 62.0);
            y -= 2;
            if (seller is not null)
            {
                // Each wrapped to its column: drawn as it was, a long address line ran into the invoice's facts on the right.
                foreach (var line in new[] { seller.LegalName }.Concat(seller.Address.Lines())
                             .Append($"VAT ID {seller.VatId}").Append($"Company reg. no. {seller.CompanyRegistrationNumber}").Append(seller.Email)
                             .SelectMany(line => Wrap(line, small, metaLabel - 12 - left)))
                {
                    Room(3);
                    DrawText(line, small, grey, left, y);
                    y += 10.5;
                }
            }
            else
            {
                DrawText("Issued before seller details were recorded on invoices.", small, grey, left, y);
                y += 10.5;
            }

            // Document facts (right column).
            var metaY = 96.0;
            foreach (var (label, value) in sheet.Meta)
            {
                DrawText(label, text, grey, metaLabel, metaY);
                Right(value, label.EndsWith("number", StringComparison.Ordinal) ? bold : text, XBrushes.Black, right, metaY);
                metaY += 14;
            }

            // Buyer ("Bill to" stays with the name's first line).
            y = Math.Max(y, metaY) + 18;
            Room(13 + 3);
            DrawText("Bill to", smallBold, grey, left, y);
            y += 13;
            foreach (var line in Wrap(invoice.Buyer?.Name ?? invoice.CompanyName, bold, right - left))
            {
                Room(3);
                DrawText(line, bold, XBrushes.Black, left, y);
                y += 12.5;
            }

            var buyerLines = invoice.Buyer?.Address?.Lines() ?? [Platform.CountryCodes.NameOf(invoice.Country)];
            foreach (var line in buyerLines.SelectMany(l => Wrap(l, text, right - left)))
            {
                Room(3);
                DrawText(line, text, XBrushes.Black, left, y);
                y += 12.5;
            }

            if (invoice.Buyer?.VatId is { } buyerVat)
            {
                Room(3);
                DrawText($"VAT ID {buyerVat}", text, XBrushes.Black, left, y);
                y += 12.5;
            }

            // A corrected invoice names the one it replaces, above its lines.
            if (sheet.Title == "INVOICE" && InvoiceWording.Replacement(invoice) is { } replacement)
            {
                foreach (var line in Wrap(replacement, bold, right - left))
                {
                    Room(14 + 3);
                    y += 14;
                    DrawText(line, bold, accent, left, y);
                }

                y += 6;
            }

            // Lines, under their column headings (again on a page they go on to; the headings never alone at a page's foot).
            var vatRate = InvoiceWording.Percent(invoice.VatTreatment?.Rate ?? invoice.VatRate);
            var descriptionWidth = right - 120 - 50 - (left + 6);
            void Headings()
            {
                y += 16;
                g.DrawRectangle(shade, left, y - 11, right - left, 16);
                DrawText("Description", bold, XBrushes.Black, left + 6, y);
                Right("VAT", bold, XBrushes.Black, right - 120, y);
                Right($"Amount ({invoice.Currency})", bold, XBrushes.Black, right - 6, y);
                y += 20;
            }

            Room(16 + 20 + 12 * Wrap(invoice.Lines.FirstOrDefault()?.Description ?? "", text, descriptionWidth).Count);
            Headings();
            foreach (var line in invoice.Lines)
            {
                var description = Wrap(line.Description, text, descriptionWidth);
                if (y + 12 * description.Count > bottom && y > pageTop)
                {
                    Room(12 * description.Count);
                    Headings();
                }

                Right(vatRate, text, XBrushes.Black, right - 120, y);
                Right(InvoiceWording.Money(line.Amount), text, XBrushes.Black, right - 6, y);
                foreach (var part in description)
                {
                    DrawText(part, text, XBrushes.Black, left + 6, y);
                    y += 12;
                }

                y += 4;
            }

            g.DrawLine(rule, left, y - 8, right, y - 8);

            // Totals, together.
            Room(8 + 32 + 3);
            y += 8;
            void Total(string label, decimal amount, XFont font)
            {
                DrawText(label, font, XBrushes.Black, metaLabel, y);
                Right(InvoiceWording.Money(amount), font, XBrushes.Black, right - 6, y);
                y += 15;
            }

            Total("Subtotal", invoice.Subtotal, text);
            Total(InvoiceWording.VatLabel(invoice), invoice.Vat, text);
            g.DrawLine(new XPen(XColors.Black, 0.8), metaLabel, y - 10, right, y - 10);
            y += 2;
            Total(sheet.Title == "INVOICE" ? $"Total {invoice.Currency}" : $"Total credited {invoice.Currency}", invoice.Total, bold);

            // VAT breakdown (EN 16931 BG-23): one category per invoice; together, with its mention.
            var mentionLines = InvoiceWording.VatMention(invoice) is { } vatMention ? Wrap(vatMention, smallBold, right - left) : [];
            Room(mentionLines.Count == 0 ? 37 + 3 : 51 + 10 * (mentionLines.Count - 1) + 3);
            y += 14;
            DrawText("VAT breakdown", smallBold, grey, left, y);
            y += 12;
            var treatment = invoice.VatTreatment;
            var category = treatment?.Category switch
            {
                VatCategory.ReverseCharge => "Reverse charge (AE)",
                VatCategory.OutsideScope => "Not subject to EU VAT (O)",
                VatCategory.Standard => $"Standard rate, {treatment.Country} (S)",
                _ => "VAT",
            };
            double[] columns = [left, left + 200, left + 290, left + 400];
            string[] headings = ["Category", "Rate", "Taxable amount", "VAT amount"];
            for (var i = 0; i < headings.Length; i++)
                DrawText(headings[i], small, grey, columns[i], y);
            y += 11;
            DrawText(category, small, XBrushes.Black, columns[0], y);
            DrawText(vatRate, small, XBrushes.Black, columns[1], y);
            DrawText($"{InvoiceWording.Money(invoice.Subtotal)} {invoice.Currency}", small, XBrushes.Black, columns[2], y);
            DrawText($"{InvoiceWording.Money(invoice.Vat)} {invoice.Currency}", small, XBrushes.Black, columns[3], y);
            y += 14;
            if (mentionLines.Count > 0)
            {
                foreach (var line in mentionLines)
                {
                    DrawText(line, smallBold, XBrushes.Black, left, y);
                    y += 10;
                }

                y += 2;
            }

            // Payment (or settlement) instructions, boxed (and the box on one page).
            // "IBAN: …" and the like as a label and its value, the values aligned; sentences as they are. Each wrapped to the box by its
            // measured width (the wording gives one sentence to an element, not lines broken by hand to fit).
            var rows = new List<(string? Label, string Value, XFont Font, double X)>();
            foreach (var line in sheet.PaymentLines)
            {
                var pair = System.Text.RegularExpressions.Regex.Match(line, "^(Account holder|IBAN|BIC|Reference): (.*)$");
                if (pair.Success)
                {
                    var font = pair.Groups[1].Value is "IBAN" or "Reference" ? bold : text;
                    var values = Wrap(pair.Groups[2].Value, font, right - 10 - (left + 120));
                    for (var i = 0; i < values.Count; i++)
                        rows.Add((i == 0 ? pair.Groups[1].Value : null, values[i], font, left + 120));
                }
                else
                    rows.AddRange(Wrap(line, text, right - 10 - (left + 10)).Select(part => ((string?)null, part, text, left + 10)));
            }

            var boxHeight = 22 + 13.0 * rows.Count;
            Room(boxHeight);
            y += 14;
            g.DrawRectangle(rule, shade, left, y - 14, right - left, boxHeight);
            DrawText(sheet.PaymentHeading, bold, XBrushes.Black, left + 10, y + 2);
            y += 17;
            foreach (var (label, value, font, x) in rows)
            {
                if (label is not null)
                    DrawText(label, text, grey, left + 22, y);
                DrawText(value, font, XBrushes.Black, x, y);
                y += 13;
            }

            // The legal mentions on every page; its number beside the last line when there are more.
            for (var number = 1; number <= pages.Count; number++)
            {
                g = pages[number - 1];
                var footer = footerTop;
                g.DrawLine(rule, left, footer - 12, right, footer - 12);
                foreach (var line in footerLines)
                {
                    DrawText(line, small, grey, left, footer);
                    footer += 10;
                }

                if (pages.Count > 1)
                    Right($"Page {number} of {pages.Count}", small, grey, right, footer - 10);
            }
        }
        finally
        {
            foreach (var each in pages)
                each.Dispose();
        }

        // Text recorded before the request rules refused it (events are immutable): printed as code points, and said once per drawing.
        // A credit note's warning names its invoice too; an invoice's names it once.
        if (unprintable.Count > 0 && sheet.Title == "INVOICE")
            logger?.LogWarning("The PDF of invoice {InvoiceNumber} prints {CodePoints} as code points: no embedded font has a glyph for them",
                sheet.Invoice.InvoiceNumber, string.Join(", ", unprintable));
        else if (unprintable.Count > 0)
            logger?.LogWarning("The PDF of {Document} (invoice {InvoiceNumber}) prints {CodePoints} as code points: no embedded font has a glyph for them",
                sheet.DocumentTitle, sheet.Invoice.InvoiceNumber, string.Join(", ", unprintable));

        var identity = DocumentIdentity.Of(sheet.Identity);
        DocumentIdentity.Apply(document, sheet.Identity, identity);
        using var output = new MemoryStream();
        document.Save(output, closeStream: false);
        var pdf = output.ToArray();
        DocumentIdentity.StampMetadata(pdf, identity);
        return pdf;
    }

    /// <summary>
    /// What PDFsharp draws afresh at every rendering, drawn from the document's identity instead, so that the same invoice renders
    /// to the same bytes (its ETag then stays the same while the invoice does, and two renderings compare byte for byte): the file
    /// identifier (the trailer's <c>/ID</c>, a new GUID per <see cref="PdfDocument"/>), the embedded fonts' subset tags
    /// ("ABCDEF+", from a new GUID) and the XMP metadata's document and instance ids (new GUIDs while saving, with no setting).
    /// </summary>
    private static class DocumentIdentity
    {
        private static readonly System.Text.RegularExpressions.Regex SubsetTag = new("^[A-Z]{6}\\+(.+)$");

        /// <summary>16 bytes (an MD5's length, as PDF readers expect) of the SHA-256 of the identity.</summary>
        public static byte[] Of(string identity) => SHA256.HashData(Encoding.UTF8.GetBytes($"CpsLedger PDF\n{identity}"))[..16];

        public static void Apply(PdfDocument document, string identity, byte[] id)
        {
            // One identifier in both halves, as PDFsharp writes for a new document: drawn once, never updated in place.
            var raw = Encoding.Latin1.GetString(id);
            document.Internals.FirstDocumentID = raw;
            document.Internals.SecondDocumentID = raw;

            // The tag tells one subset of a font from another (ISO 32000-1, 9.6.4): the same face in the same document, the same tag.
            foreach (var dictionary in document.Internals.GetAllObjects().OfType<PdfDictionary>())
            {
                foreach (var key in new[] { "/BaseFont", "/FontName" })
                {
                    if (dictionary.Elements.GetName(key) is not ['/', .. var name] || SubsetTag.Match(name) is not { Success: true } tagged)
                        continue;
                    var face = tagged.Groups[1].Value;
                    var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{identity}\n{face}"));
                    dictionary.Elements.SetName(key, $"/{string.Concat(hash[..6].Select(b => (char)('A' + b % 26)))}+{face}");
                }
            }
        }

        /// <summary>
        /// The XMP packet's <c>xmpMM:DocumentID</c> and <c>xmpMM:InstanceID</c>, written in place (same length, so every offset holds):
        /// the identifier as a UUID. The packet is not compressed; a PDFsharp that writes it otherwise leaves it as it is (and the
        /// test of two renderings fails).
        /// </summary>
        public static void StampMetadata(byte[] pdf, byte[] id)
        {
            var uuid = id.ToArray();
            uuid[6] = (byte)(uuid[6] & 0x0F | 0x80); // version 8: a UUID of our own making (RFC 9562, 5.8)
            uuid[8] = (byte)(uuid[8] & 0x3F | 0x80);
            var value = Encoding.ASCII.GetBytes(new Guid(uuid, bigEndian: true).ToString("D"));
            foreach (var element in new[] { "DocumentID", "InstanceID" })
            {
                var start = Encoding.ASCII.GetBytes($"<xmpMM:{element}>uuid:");
                var at = pdf.AsSpan().IndexOf(start);
                if (at < 0 || at + start.Length + value.Length > pdf.Length
                           || !pdf.AsSpan(at + start.Length + value.Length).StartsWith(Encoding.ASCII.GetBytes($"</xmpMM:{element}>")))
                    continue;
                value.CopyTo(pdf.AsSpan(at + start.Length));
            }
        }
    }
}

/// <summary>
/// DejaVu Sans (regular and bold; free licence in Fonts/LICENSE.txt) and Droid Sans Fallback (Chinese, Japanese, Korean; Apache-2.0
/// in Fonts/DroidSansFallback-LICENSE.txt; one face, bold simulated), read from the assembly's resources.
/// </summary>
public sealed class EmbeddedFonts : IFontResolver
{
    public const string Family = PrintableText.Latin;
    public const string RegularFace = "DejaVuSans";
    public const string BoldFace = "DejaVuSans-Bold";
    public const string FallbackFace = "DroidSansFallback";
    public static readonly EmbeddedFonts Instance = new();

    private EmbeddedFonts()
    {
    }

    public FontResolverInfo? ResolveTypeface(string familyName, bool bold, bool italic) => familyName switch
    {
        // Italic is simulated; so is the bold of the faces that have none.
        PrintableText.Fallback => new(FallbackFace, bold, italic),
        PrintableText.LatinBook => new(RegularFace, bold, italic),
        // Every other family resolves to DejaVu Sans.
        _ => new(bold ? BoldFace : RegularFace, false, italic),
    };

    public byte[]? GetFont(string faceName)
    {
        using var stream = typeof(EmbeddedFonts).Assembly.GetManifestResourceStream($"CpsLedger.Api.Invoicing.Fonts.{faceName}.ttf")
                           ?? throw new InvalidOperationException($"The font {faceName} is not embedded in the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
