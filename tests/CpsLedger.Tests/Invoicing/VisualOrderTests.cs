using CpsLedger.Api.Invoicing;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// A line of text in the order the invoice PDF draws it, left to right (Invoicing/VisualOrder.cs): Hebrew and Arabic right to left,
/// numbers and Latin inside them left to right, brackets mirrored, Arabic letters in their joined forms. The expected strings are
/// what must be drawn from the left margin, written with escapes where the forms would be hard to tell apart.
/// </summary>
public sealed class VisualOrderTests
{
    [Fact]
    public void a_hebrew_word_is_drawn_from_its_last_letter()
    {
        Assert.Equal("םולש", VisualOrder.Of("שלום"));
        Assert.Equal("מ״עב תרנכ תרבח", VisualOrder.Of("חברת כנרת בע״מ"));
    }

    [Fact]
    public void digits_in_hebrew_stay_left_to_right()
    {
        Assert.Equal("123 רפסמ", VisualOrder.Of("מספר 123"));
        Assert.Equal("12 לצרה בוחר", VisualOrder.Of("רחוב הרצל 12"));
        // A decimal comma and a sign belong to the number (W4, W5).
        Assert.Equal("₪1,250.50 ריחמ", VisualOrder.Of("מחיר ₪1,250.50"));
    }

    [Fact]
    public void latin_inside_hebrew_and_hebrew_inside_latin_each_read_in_their_own_direction()
    {
        Assert.Equal("לארשי Canon תרבח", VisualOrder.Of("חברת Canon ישראל"));
        Assert.Equal("Reason: םלוע םולש (CPS-1)", VisualOrder.Of("Reason: שלום עולם (CPS-1)"));
    }

    [Fact]
    public void brackets_in_right_to_left_text_are_mirrored()
    {
        Assert.Equal("(לארשי) הרבח", VisualOrder.Of("חברה (ישראל)"));
        Assert.Equal("«םולש» [2]", VisualOrder.Of("[2] «שלום»"));
    }

    [Fact]
    public void hebrew_points_stay_after_the_letter_they_mark()
    {
        // Shin with qamats and shin dot, lamed, vav with holam, final mem: drawn from the mem, each mark after its letter.
        Assert.Equal("\u05DD\u05D5\u05B9\u05DC\u05E9\u05B8\u05C1", VisualOrder.Of("\u05E9\u05B8\u05C1\u05DC\u05D5\u05B9\u05DD"));
    }

    [Fact]
    public void arabic_letters_take_their_initial_medial_final_and_isolated_forms()
    {
        // بيت: beh initial, yeh medial, teh final; drawn from the teh.
        Assert.Equal("\uFE96\uFEF4\uFE91", VisualOrder.Of("بيت"));
        Assert.Equal("\uFE8F", VisualOrder.Of("ب"));
        // دار: dal, alef and reh join only the letter before them, so none of them joins here.
        Assert.Equal("\uFEAD\uFE8D\uFEA9", VisualOrder.Of("دار"));
        // شارع ١٥: sheen initial, alef final, reh and ain isolated; the Arabic-Indic number left to right.
        Assert.Equal("١٥ \uFEC9\uFEAD\uFE8E\uFEB7", VisualOrder.Of("شارع ١٥"));
    }

    [Fact]
    public void lam_followed_by_alef_is_drawn_as_their_ligature()
    {
        Assert.Equal("\uFEFB", VisualOrder.Of("لا"));
        // سلام: seen initial, lam-alef final (joined to the seen), meem isolated (the ligature does not join after it).
        Assert.Equal("\uFEE1\uFEFC\uFEB3", VisualOrder.Of("سلام"));
        // With hamza above the alef, and with a shadda on the lam: the mark follows the ligature.
        Assert.Equal("\uFEF7", VisualOrder.Of("لأ"));
        Assert.Equal("\uFEFB\u0651", VisualOrder.Of("ل\u0651ا"));
    }

    [Fact]
    public void a_haraka_between_two_letters_does_not_part_them_and_stays_after_its_letter()
    {
        // Beh with fatha, then teh: beh initial, teh final; the fatha is drawn after the beh it marks.
        Assert.Equal("\uFE96\uFE91\u064E", VisualOrder.Of("ب\u064Eت"));
    }

    [Fact]
    public void a_tatweel_joins_the_letters_on_both_sides_of_it()
    {
        Assert.Equal("\uFE90\u0640\uFE91", VisualOrder.Of("بـب"));
        // A zero-width non-joiner parts them: both isolated.
        Assert.Equal("\uFE8F\u200C\uFE8F", VisualOrder.Of("ب\u200Cب"));
    }

    [Fact]
    public void a_form_the_fonts_lack_is_drawn_as_its_letter()
    {
        Assert.Equal("تيب", VisualOrder.Of("بيت", hasGlyph: _ => false));
        // Without the ligature: lam initial, alef final.
        Assert.Equal("\uFE8E\uFEDF", VisualOrder.Of("لا", hasGlyph: c => c != 0xFEFB));
    }

    [Fact]
    public void text_without_a_right_to_left_letter_is_returned_as_it_is()
    {
        foreach (var text in new[] { "Valgus Studio OÜ (Tallinn)", "株式会社キヤノン 佳能（中国）", "Invoice INV-2026-000001: 1,250.00 €", "" })
            Assert.Same(text, VisualOrder.Of(text));
    }

    [Fact]
    public void a_line_led_by_a_right_to_left_mark_reads_right_to_left_and_the_mark_is_not_drawn()
    {
        // How the PDF keeps a wrapped line of a Hebrew paragraph right to left when it starts with a Latin word or a number.
        Assert.Equal("34 12", VisualOrder.Of("\u200F12 34"));
        Assert.Equal(".Canon Israel", VisualOrder.Of("\u200FCanon Israel.")); // the full stop ends the line on the left
        Assert.Same("Canon Israel.", VisualOrder.Of("Canon Israel."));
        Assert.Equal("\u200FCanon Israel.", VisualOrder.LineOf("חברת Canon Israel.", "Canon Israel."));
        Assert.Equal("34 12", VisualOrder.Of(VisualOrder.LineOf("מספר 12 34", "12 34")));
        Assert.Same("שלום", VisualOrder.LineOf("Canon שלום", "שלום"));
        Assert.Same("Canon", VisualOrder.LineOf("Canon Israel", "Canon"));
        Assert.True(VisualOrder.IsRightToLeft("123 שלום Canon"));
        Assert.False(VisualOrder.IsRightToLeft("Canon שלום"));
        Assert.False(VisualOrder.IsRightToLeft("123"));
    }

    [Fact]
    public void any_mix_of_scripts_is_drawn_as_the_same_characters_in_another_order()
    {
        // Letters, digits, marks, separators, brackets, joiners and direction marks of the scripts the invoice prints, mixed at random.
        var alphabet = "abc DE 12 ٣٤ ۵ שלום ךם ְּ بيتلا ـ َّ ًء ()[]«»<> ,.:/-+%€$ \u200C\u200D\u200E\u200F\u00A0 株式会社 😀 ﻻﺑ".EnumerateRunes()
            .Select(r => r.ToString()).ToArray();
        var random = new Random(20261207);
        for (var sample = 0; sample < 3000; sample++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(0, 24)).Select(_ => alphabet[random.Next(alphabet.Length)]));
            // With no presentation forms to draw, nothing is shaped: the same characters, brackets counted as their pair, marks left out.
            static string Counted(string value) => string.Concat(value.EnumerateRunes().Select(r => r.ToString())
                .Where(c => c is not ("\u200E" or "\u200F"))
                .Select(c => c switch { ")" => "(", "]" => "[", "»" => "«", ">" => "<", _ => c })
                .Order(StringComparer.Ordinal));
            var drawn = VisualOrder.Of(text, hasGlyph: _ => false);
            Assert.True(Counted(text) == Counted(drawn), $"\"{text}\" drawn as \"{drawn}\"");
            Assert.NotNull(VisualOrder.Of(text));
        }
    }

    [Fact]
    public void the_forms_read_from_the_unicode_data_are_the_presentation_forms()
    {
        Assert.Equal(new ArabicForms.Forms(0xFE8F, 0xFE90, 0xFE91, 0xFE92), ArabicForms.Of(0x0628)); // beh
        Assert.Equal(new ArabicForms.Forms(0xFE8D, 0xFE8E, 0, 0), ArabicForms.Of(0x0627)); // alef: right-joining
        Assert.Equal(new ArabicForms.Forms(0xFE81, 0xFE82, 0, 0), ArabicForms.Of(0x0622)); // alef with madda (NFKD splits it)
        Assert.Equal(new ArabicForms.Forms(0xFEE9, 0xFEEA, 0xFEEB, 0xFEEC), ArabicForms.Of(0x0647)); // heh
        Assert.Equal(new ArabicForms.Forms(0xFEEF, 0xFEF0, 0xFBE8, 0xFBE9), ArabicForms.Of(0x0649)); // alef maksura
        Assert.Equal(new ArabicForms.Forms(0xFB56, 0xFB57, 0xFB58, 0xFB59), ArabicForms.Of(0x067E)); // peh (Persian)
        Assert.Equal(new ArabicForms.Forms(0xFEFB, 0xFEFC, 0, 0), ArabicForms.Of(0x0627, afterLam: true));
        Assert.Equal(new ArabicForms.Forms(0xFEF5, 0xFEF6, 0, 0), ArabicForms.Of(0x0622, afterLam: true));
        Assert.Null(ArabicForms.Of(0x0621)); // hamza has only one form, and joins nothing
        Assert.Equal(ArabicForms.Joining.Causing, ArabicForms.JoiningOf(0x0640));
        Assert.Equal(ArabicForms.Joining.Transparent, ArabicForms.JoiningOf(0x064E));
        Assert.Equal(ArabicForms.Joining.None, ArabicForms.JoiningOf('A'));
    }
}
