#!/usr/bin/env python3
"""Draws each glyph built of a glyph that is itself built of others as plain outlines, in the font files given.

PDFsharp 6.2.4's font subset follows a composite glyph's components one level deep (empira/PDFsharp#348): a glyph whose
component is itself composite lost the parts below it in every PDF (DejaVu Sans: the body of a medial teh or qaf, the
letter under Ё, ễ, أ). The outlines are the font's own, only no longer shared; the advance widths are untouched.
Run once on a font added or replaced (Debian: python3-fonttools); InvoiceFontTests fails on a font that needs it.
"""
import sys

from fontTools.pens.recordingPen import DecomposingRecordingPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont

for path in sys.argv[1:]:
    font = TTFont(path)
    glyf, glyphs = font["glyf"], font.getGlyphSet()
    nested = [name for name in font.getGlyphOrder()
              if glyf[name].isComposite() and any(glyf[c.glyphName].isComposite() for c in glyf[name].components)]
    for name in nested:
        outlines = DecomposingRecordingPen(glyphs)
        glyphs[name].draw(outlines)
        pen = TTGlyphPen(None)
        outlines.replay(pen)
        glyf[name] = pen.glyph()
    font.save(path)
    print(f"{path}: {len(nested)} glyphs drawn as outlines")
