using CpsLedger.Api.Accounts;
using CpsLedger.Api.Invoicing;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// How the invoice PDF splits text into runs by the embedded face that has its glyphs (Invoicing/PrintableText.cs), and what it
/// cannot print. The faces' coverage is read from the fonts themselves, so a font swapped for one with fewer glyphs fails here.
/// </summary>
public sealed class PrintableTextTests
{
    private static readonly string[] Samples =
    [
        "Valgus Studio OÜ", "Kanalstraße 12, 20095 Hamburg", "Οδός Ερμού 12, Αθήνα", "Тверская улица 7, Москва", "Łódź, ul. Piotrkowska 1",
        "株式会社キヤノン", "佳能（中国）有限公司", "캐논코리아 주식회사", "Canon 株式会社 (Japan) — 東京都大田区下丸子3丁目30番2号",
        "서울특별시 강남구 테헤란로 152", "ｶﾀｶﾅ ＡＢＣ 〒146-8501", "Dvořák & Søn ApS · €1,000.00", "≤ ≥ № ™ ° ±",
    ];

    private static FontCoverage CoverageOf(string family, bool bold) => FontCoverage.Of(family, bold);

    [Fact]
    public void every_run_is_drawn_in_a_face_that_has_a_glyph_for_each_of_its_characters()
    {
        foreach (var bold in new[] { false, true })
        {
            var coverage = new[] { PrintableText.Latin, PrintableText.Fallback, PrintableText.LatinBook }.ToDictionary(f => f, f => CoverageOf(f, bold));
            foreach (var sample in Samples)
            {
                Assert.Empty(PrintableText.Unprintable(sample));
                var runs = PrintableText.Runs(PrintableText.AsPrinted(sample), bold);
                Assert.Equal(sample, string.Concat(runs.Select(r => r.Text)));
                foreach (var run in runs)
                {
                    var missing = run.Text.EnumerateRunes().Where(r => !coverage[run.Family].Has(r.Value)).Select(r => PrintableText.Name(r.Value));
                    Assert.True(!missing.Any(), $"\"{run.Text}\" in {run.Family} (bold: {bold}) has no glyph for {string.Join(", ", missing)}");
                }
            }
        }
    }

    [Fact]
    public void latin_stays_in_dejavu_and_chinese_japanese_and_korean_go_to_the_fallback_with_the_spaces_between_them()
    {
        Assert.Equal([new("Valgus Studio OÜ", PrintableText.Latin)], PrintableText.Runs("Valgus Studio OÜ", bold: false));
        Assert.Equal([new("株式会社キヤノン 東京", PrintableText.Fallback)], PrintableText.Runs("株式会社キヤノン 東京", bold: true));
        Assert.Equal(
            [new("Canon ", PrintableText.Latin), new("株式会社 캐논 ", PrintableText.Fallback), new("(Japan)", PrintableText.Latin)],
            PrintableText.Runs("Canon 株式会社 캐논 (Japan)", bold: false));
        Assert.Empty(PrintableText.Runs("", bold: false));
    }

    [Fact]
    public void the_scripts_the_fallback_adds_are_printable_hangul_syllables_kana_and_the_unified_ideographs()
    {
        foreach (var (first, last) in new[] { (0xAC00, 0xD7A3), (0x3041, 0x3094), (0x30A1, 0x30F6), (0x4E00, 0x9FA5) })
            for (var c = first; c <= last; c++)
                Assert.True(PrintableText.IsPrintable(c), $"{PrintableText.Name(c)} is not printable");
        // Not in Droid Sans Fallback, so refused like emoji: kana added in Unicode 3.2 (small ka, katakana VA), ideographs of
        // Extension A and B.
        foreach (var c in new[] { 0x3095, 0x30F7, 0x3400, 0x20BB7 })
            Assert.False(PrintableText.IsPrintable(c), $"{PrintableText.Name(c)} is printable");
    }

    [Fact]
    public void what_no_face_prints_is_named_by_its_code_point_and_printed_as_it()
    {
        Assert.Equal(["U+0009", "U+E000"], PrintableText.Unprintable("Studio\tTamm\uE000 OÜ"));
        Assert.Equal(["U+1F984"], PrintableText.Unprintable("🦄 Unicorn 🦄 Studio"));
        Assert.Equal(["U+000A"], PrintableText.Unprintable("two\nlines"));
        Assert.Empty(PrintableText.Unprintable("two\r\nlines", lineBreaks: true));
        Assert.Equal(["U+0378"], PrintableText.Unprintable("unassigned \u0378")); // between Greek letters, never assigned
        Assert.Equal(["U+D83E"], PrintableText.Unprintable("a lone surrogate \uD83E"));

        Assert.Equal("Valgus <U+1F984> Studio OÜ", PrintableText.AsPrinted("Valgus 🦄 Studio OÜ"));
        Assert.Equal("a<U+0009>b\nc", PrintableText.AsPrinted("a\tb\nc"));
        Assert.Equal("a <U+D83E>", PrintableText.AsPrinted("a \uD83E"));
        Assert.Equal("株式会社キヤノン", PrintableText.AsPrinted("株式会社キヤノン"));
        // Some emoji are in DejaVu Sans (as black-and-white glyphs), and print.
        Assert.Empty(PrintableText.Unprintable("☺ ♥ 😀"));
    }

    [Fact]
    public async Task a_name_without_spaces_wider_than_the_page_is_broken_between_characters_and_printed_whole()
    {
        // 200 characters (the longest company name) with no space: drawn as one line it ran off the page, where pdftotext (like a
        // reader) does not see it.
        var name = string.Concat(Enumerable.Repeat("株式会社キヤノン", 25));
        var buyer = new AccountView
        {
            Id = Guid.NewGuid(),
            CompanyName = name,
            ContactEmail = "canon@example.jp",
            Country = "JP",
            BillingAddress = new PostalAddress("下丸子3丁目30番2号", null, "146-8501", "東京都大田区", "JP"),
        };
        var text = await Harness.PdfPictures.Text(InvoicePdf.Render(TestInvoices.Issued(buyer: buyer), TestInvoices.Payee));
        var lines = text.Split('\n').Where(l => l.Contains("株式会社")).Select(l => l.Trim()).ToList();
        Assert.True(lines.Count >= 3, string.Join("\n", lines));
        Assert.Equal(name, string.Concat(lines).Replace(" ", ""));
    }
}
