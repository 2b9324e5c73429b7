using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace CpsLedger.Api.Invoicing;

/// <summary>The code points a TrueType font maps to a glyph (not glyph 0, the "missing" box), read from its Windows Unicode cmap
/// subtable: format 12 (every plane) where the font has one, else format 4 (the Basic Multilingual Plane).</summary>
public sealed class FontCoverage
{
    private readonly HashSet<int> _codePoints = [];

    private FontCoverage()
    {
    }

    public bool Has(int codePoint) => _codePoints.Contains(codePoint);

    public int Count => _codePoints.Count;

    public static FontCoverage Of(byte[] font)
    {
        var data = font.AsSpan();
        var coverage = new FontCoverage();
        var tables = BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
        var cmap = -1;
        for (var i = 0; i < tables; i++)
        {
            var record = data[(12 + 16 * i)..];
            if (Encoding.ASCII.GetString(record[..4]) == "cmap")
                cmap = (int)BinaryPrimitives.ReadUInt32BigEndian(record[8..]);
        }

        if (cmap < 0)
            throw new InvalidDataException("The font has no cmap table.");
        int format4 = -1, format12 = -1;
        var subtables = BinaryPrimitives.ReadUInt16BigEndian(data[(cmap + 2)..]);
        for (var i = 0; i < subtables; i++)
        {
            var record = data[(cmap + 4 + 8 * i)..];
            var (platform, encoding) = (BinaryPrimitives.ReadUInt16BigEndian(record), BinaryPrimitives.ReadUInt16BigEndian(record[2..]));
            var at = cmap + (int)BinaryPrimitives.ReadUInt32BigEndian(record[4..]);
            var format = BinaryPrimitives.ReadUInt16BigEndian(data[at..]);
            if (platform == 3 && encoding == 10 && format == 12)
                format12 = at;
            else if (platform == 3 && encoding == 1 && format == 4)
                format4 = at;
        }

        if (format12 >= 0)
        {
            var groups = BinaryPrimitives.ReadUInt32BigEndian(data[(format12 + 12)..]);
            for (var i = 0; i < groups; i++)
            {
                var group = data[(format12 + 16 + 12 * i)..];
                var (start, end, glyph) = (BinaryPrimitives.ReadUInt32BigEndian(group), BinaryPrimitives.ReadUInt32BigEndian(group[4..]),
                    BinaryPrimitives.ReadUInt32BigEndian(group[8..]));
                for (var c = start; c <= end; c++)
                    if (glyph + (c - start) != 0)
                        coverage._codePoints.Add((int)c);
            }
        }
        else if (format4 >= 0)
        {
            var segments = BinaryPrimitives.ReadUInt16BigEndian(data[(format4 + 6)..]) / 2;
            var ends = format4 + 14;
            var starts = ends + 2 * segments + 2;
            var deltas = starts + 2 * segments;
            var offsets = deltas + 2 * segments;
            for (var s = 0; s < segments; s++)
            {
                var end = BinaryPrimitives.ReadUInt16BigEndian(data[(ends + 2 * s)..]);
                var start = BinaryPrimitives.ReadUInt16BigEndian(data[(starts + 2 * s)..]);
                var delta = BinaryPrimitives.ReadInt16BigEndian(data[(deltas + 2 * s)..]);
                var offset = BinaryPrimitives.ReadUInt16BigEndian(data[(offsets + 2 * s)..]);
                for (int c = start; c <= end && c != 0xFFFF; c++)
                {
                    int glyph;
                    if (offset == 0)
                        glyph = (c + delta) & 0xFFFF;
                    else
                    {
                        glyph = BinaryPrimitives.ReadUInt16BigEndian(data[(offsets + 2 * s + offset + 2 * (c - start))..]);
                        if (glyph != 0)
                            glyph = (glyph + delta) & 0xFFFF;
                    }

                    if (glyph != 0)
                        coverage._codePoints.Add(c);
                }
            }
        }
        else
            throw new InvalidDataException("The font has no Windows Unicode cmap subtable (format 4 or 12).");

        return coverage;
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
        FontCoverage.Of(EmbeddedFonts.Instance.GetFont(EmbeddedFonts.RegularFace)!),
        FontCoverage.Of(EmbeddedFonts.Instance.GetFont(EmbeddedFonts.BoldFace)!),
        FontCoverage.Of(EmbeddedFonts.Instance.GetFont(EmbeddedFonts.FallbackFace)!)));

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
    /// caller, which breaks lines there).</summary>
    public static string AsPrinted(string value)
    {
        if (Unprintable(value, lineBreaks: true).Count == 0)
            return value;
        var printed = new StringBuilder(value.Length + 16);
        foreach (var codePoint in CodePoints(value))
        {
            if (codePoint is '\n' or '\r' || IsPrintable(codePoint))
                printed.Append(char.ConvertFromUtf32(codePoint));
            else
                printed.Append('<').Append(Name(codePoint)).Append('>');
        }

        return printed.ToString();
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
