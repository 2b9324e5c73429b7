using System.Buffers.Binary;
using CpsLedger.Api.Invoicing;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// The fonts the invoices embed, read as PDFsharp's subset reads them. PDFsharp 6.2.4 follows a composite glyph's components one
/// level deep (empira/PDFsharp#348): where a component is itself composite, the parts below it are left out of every PDF, and the
/// letter prints in part (DejaVu Sans' medial teh and qaf printed as their dots alone, seen on an Arabic buyer's invoice; Ё, ễ and
/// أ are built the same way). The fonts are shipped with such glyphs drawn as outlines (Fonts/flatten-nested-composites.py).
/// </summary>
public sealed class InvoiceFontTests
{
    public static TheoryData<string> Fonts() =>
        [.. typeof(EmbeddedFonts).Assembly.GetManifestResourceNames().Where(name => name.EndsWith(".ttf", StringComparison.Ordinal))];

    [Theory]
    [MemberData(nameof(Fonts))]
    public void No_glyph_is_built_of_a_glyph_built_of_others(string resource)
    {
        using var stream = typeof(EmbeddedFonts).Assembly.GetManifestResourceStream(resource)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var font = new TrueType(copy.ToArray());

        var nested = Enumerable.Range(0, font.GlyphCount)
            .Where(glyph => font.ComponentsOf(glyph).Any(component => font.ComponentsOf(component).Count > 0))
            .ToList();

        Assert.True(nested.Count == 0, $"{resource}: {nested.Count} glyphs have a composite component, e.g. glyph ids " +
                                       $"{string.Join(", ", nested.Take(10))}; run Fonts/flatten-nested-composites.py on it.");
        Assert.True(font.GlyphCount > 1000, $"{resource} read as {font.GlyphCount} glyphs");
    }

    /// <summary>What the check needs of a TrueType file: its glyph count and each glyph's components (the 'glyf' table).</summary>
    private sealed class TrueType
    {
        private readonly byte[] _data;
        private readonly int _glyf;
        private readonly int[] _offsets;

        public TrueType(byte[] data)
        {
            _data = data;
            var tables = new Dictionary<string, int>();
            for (var i = 0; i < U16(4); i++)
                tables[System.Text.Encoding.ASCII.GetString(data, 12 + 16 * i, 4)] = (int)U32(12 + 16 * i + 8);
            GlyphCount = U16(tables["maxp"] + 4);
            var longOffsets = U16(tables["head"] + 50) == 1;
            var loca = tables["loca"];
            _offsets = [.. Enumerable.Range(0, GlyphCount + 1).Select(i => longOffsets ? (int)U32(loca + 4 * i) : 2 * U16(loca + 2 * i))];
            _glyf = tables["glyf"];
        }

        public int GlyphCount { get; }

        public IReadOnlyList<int> ComponentsOf(int glyph)
        {
            var at = _glyf + _offsets[glyph];
            if (_offsets[glyph + 1] == _offsets[glyph] || (short)U16(at) >= 0)
                return [];
            var components = new List<int>();
            at += 10;
            while (true)
            {
                var flags = U16(at);
                components.Add(U16(at + 2));
                at += 4 + ((flags & 0x1) != 0 ? 4 : 2) // the arguments: words or bytes
                        + ((flags & 0x8) != 0 ? 2 : (flags & 0x40) != 0 ? 4 : (flags & 0x80) != 0 ? 8 : 0); // the scale
                if ((flags & 0x20) == 0)
                    return components;
            }
        }

        private int U16(int at) => BinaryPrimitives.ReadUInt16BigEndian(_data.AsSpan(at));

        private uint U32(int at) => BinaryPrimitives.ReadUInt32BigEndian(_data.AsSpan(at));
    }
}
