using System.Globalization;
using System.Text;
using PdfSharp.Drawing;
using PdfSharp.Fonts;

namespace CpsLedger.Api.Invoicing;

/// <summary>The code points a face maps to a glyph (not glyph 0, the "missing" box), as PDFsharp reads the face's cmap
/// (<see cref="GlyphHelper"/>): the table it draws with.</summary>
public sealed class FontCoverage
{
    private readonly XFont _face;

    private FontCoverage(XFont face) => _face = face;

    public bool Has(int codePoint) => codePoint is >= 0 and <= 0x10FFFF && GlyphHelper.GlyphIndexFromCodePoint(codePoint, _face) != 0;

    /// <summary>The face the embedded fonts resolve <paramref name="family"/> to, bold or regular.</summary>
    public static FontCoverage Of(string family, bool bold)
    {
        InvoicePdf.UseEmbeddedFonts();
        return new FontCoverage(new XFont(family, 10, bold ? XFontStyleEx.Bold : XFontStyleEx.Regular));
    }
}

/// <summary>
/// What the invoice PDF can print, and how: each string is split into runs by the first embedded face that has a glyph for the
/// character (DejaVu Sans first, Droid Sans Fallback for Chinese, Japanese and Korean next), drawn one after another. A character
/// no face has (emoji, unassigned code points, private use) and a control character print as its code point, "&lt;U+1F600&gt;",
/// never as an empty box; requests that would put one on an invoice are refused (<see cref="Platform.PrintableRules"/>).
/// </summary>
public static class PrintableText
{
    public const string Latin = "DejaVu Sans";
    public const string Fallback = "Droid Sans Fallback";

    /// <summary>DejaVu Sans's regular face under its own family name, for the few characters its bold face lacks (drawn with
    /// simulated bold).</summary>
    public const string LatinBook = "DejaVu Sans Book";

    private static readonly Lazy<(FontCoverage Regular, FontCoverage Bold, FontCoverage Fallback)> Coverage = new(() => (
        FontCoverage.Of(Latin, bold: false), FontCoverage.Of(Latin, bold: true), FontCoverage.Of(Fallback, bold: false)));

    /// <summary>A piece of a string drawn in one family.</summary>
    public readonly record struct Run(string Text, string Family);

    /// <summary>Whether some embedded face prints the code point (control characters, surrogates and private use never).</summary>
    public static bool IsPrintable(int codePoint)
    {
        if (codePoint > 0x10FFFF || (codePoint >= 0xD800 && codePoint <= 0xDFFF))
            return false;
        var category = CharUnicodeInfo.GetUnicodeCategory(codePoint);
        if (category is UnicodeCategory.Control or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate or UnicodeCategory.OtherNotAssigned)
            return false;
        var (regular, bold, fallback) = Coverage.Value;
        return regular.Has(codePoint) || bold.Has(codePoint) || fallback.Has(codePoint);
    }

    /// <summary>The code points of <paramref name="value"/> no face prints, once each in order, as "U+1F600" (line breaks are
    /// allowed where <paramref name="lineBreaks"/>: the PDF breaks the line there).</summary>
    public static IReadOnlyList<string> Unprintable(string? value, bool lineBreaks = false)
    {
        var found = new List<string>();
        if (value is null)
            return found;
        foreach (var codePoint in CodePoints(value))
        {
            if (lineBreaks && codePoint is '\n' or '\r')
                continue;
            if (!IsPrintable(codePoint) && Name(codePoint) is var name && !found.Contains(name))
                found.Add(name);
        }

        return found;
    }

    /// <summary>"U+1F600".</summary>
    public static string Name(int codePoint) => $"U+{codePoint:X4}";

    /// <summary>The string as the PDF prints it: every character no face has as "&lt;U+1F600&gt;" (line breaks are left to the
    /// caller, which breaks lines there). Each one replaced is added to <paramref name="unprintable"/> when given, by the same reading
    /// of the string: the PDF names in its warning what it printed as a code point, and reads each character once for both.</summary>
    public static string AsPrinted(string value, ISet<string>? unprintable = null)
    {
        // Built only from the first character replaced: a string that prints as it is is returned as it is.
        StringBuilder? printed = null;
        var at = 0;
        foreach (var codePoint in CodePoints(value))
        {
            var length = codePoint > 0xFFFF ? 2 : 1;
            if (codePoint is '\n' or '\r' || IsPrintable(codePoint))
            {
                printed?.Append(value, at, length);
            }
            else
            {
                var name = Name(codePoint);
                unprintable?.Add(name);
                printed ??= new StringBuilder(value.Length + 16).Append(value, 0, at);
                printed.Append('<').Append(name).Append('>');
            }

            at += length;
        }

        return printed?.ToString() ?? value;
    }

    /// <summary>
    /// <paramref name="value"/> (already <see cref="AsPrinted"/>) split into runs by the first family that has each character:
    /// DejaVu Sans, then Droid Sans Fallback; for bold, DejaVu Sans Bold, then Droid Sans Fallback and DejaVu Sans's regular face
    /// (both with simulated bold). A space stays in the run it is in, so a Japanese name with spaces is one run.
    /// </summary>
    public static IReadOnlyList<Run> Runs(string value, bool bold)
    {
        var (regular, boldFace, fallback) = Coverage.Value;
        var runs = new List<Run>();
        var current = new StringBuilder();
        string? family = null;
        foreach (var codePoint in CodePoints(value))
        {
            string next;
            if (family is not null && codePoint == ' ')
                next = family;
            else if (bold ? boldFace.Has(codePoint) : regular.Has(codePoint))
                next = Latin;
            else if (fallback.Has(codePoint))
                next = Fallback;
            else if (bold && regular.Has(codePoint))
                next = LatinBook;
            else
                next = Latin; // not printable: AsPrinted replaced it; left as it is, it is PDFsharp's box
            if (family is not null && next != family)
            {
                runs.Add(new Run(current.ToString(), family));
                current.Clear();
            }

            family = next;
            current.Append(char.ConvertFromUtf32(codePoint));
        }

        if (family is not null)
            runs.Add(new Run(current.ToString(), family));
        return runs;
    }

    /// <summary>The string's code points; a lone surrogate is itself (and not printable).</summary>
    private static IEnumerable<int> CodePoints(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                yield return char.ConvertToUtf32(value[i], value[i + 1]);
                i++;
            }
            else
                yield return value[i];
        }
    }
}
