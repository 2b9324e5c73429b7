using System.Globalization;
using System.Text;

namespace CpsLedger.Api.Invoicing;

/// <summary>
/// One line of text as the invoice PDF must draw it, left to right. PDFsharp 6.2.4 draws characters in the order they come, with
/// no bidirectional reordering and no Arabic shaping: a Hebrew name printed reversed, an Arabic one reversed and in unjoined letters.
/// So a line is shaped (<see cref="ArabicForms"/>) and put in visual order here first, by a simplified Unicode Bidirectional
/// Algorithm (UAX #9) for one paragraph with no explicit embeddings, overrides or isolates (the API refuses those controls):
/// <list type="bullet">
/// <item>P2/P3: the paragraph's direction is that of its first strong character (left to right when it has none);</item>
/// <item>W1–W7 (marks, European and Arabic numbers, their separators and terminators), N1–N2 (neutrals take the direction of the
/// strong text around them, else the paragraph's), I1–I2 (implicit levels), L1 (trailing spaces at the paragraph's level), L2
/// (reversal from the highest level down), L3 (a combining mark stays after its base, where the fonts draw it over the base) and
/// L4 (mirrored brackets in right-to-left text).</item>
/// </list>
/// Left out: explicit embeddings and isolates (X1–X10), bracket pairs (N0: a bracket takes its direction from its neighbours by
/// N1–N2, not from its partner), and the exact Unicode bidirectional classes: they are read from the ranges and the general
/// categories below, which is exact for the scripts the fonts print. Strong right-to-left: Hebrew (U+0590–U+05FF), NKo
/// (U+07C0–U+07FF) and the Hebrew presentation forms (U+FB1D–U+FB4F); Arabic letters (AL): Arabic and its supplements and
/// extensions (U+0600–U+06FF, U+0750–U+077F, U+0870–U+08FF), Syriac (U+0700–U+074F, U+0860–U+086F), Thaana (U+0780–U+07BF) and the
/// Arabic presentation forms (U+FB50–U+FDFF, U+FE70–U+FEFE).
/// </summary>
public static class VisualOrder
{
    private enum BidiClass
    {
        L, R, AL, EN, ES, ET, AN, CS, NSM, BN, B, S, WS, ON,
    }

    private const int LeftToRightMark = 0x200E, RightToLeftMark = 0x200F, ArabicLetterMark = 0x061C;

    /// <summary>
    /// <paramref name="line"/> (logical order, one line) as drawn left to right: shaped where the embedded fonts have the Arabic form,
    /// reordered, brackets mirrored, and the invisible direction marks (U+200E, U+200F, U+061C) left out. A line without a
    /// right-to-left character is returned as it is (the same instance).
    /// </summary>
    public static string Of(string line) => Of(line, PrintableText.IsPrintable);

    /// <param name="hasGlyph">Whether the fonts draw a code point: an Arabic form they lack is left as its base letter.</param>
    public static string Of(string line, Func<int, bool> hasGlyph)
    {
        if (!HasRightToLeft(line))
            return line;
        var codePoints = ArabicForms.Shape(CodePoints(line), hasGlyph);
        var levels = Levels(codePoints, out var original);

        // L3: a base and the marks after it move as one, so a mark stays after its base however the line is reversed.
        var units = new List<(int Start, int Length, int Level)>();
        for (var i = 0; i < codePoints.Length; i++)
        {
            if (original[i] == BidiClass.NSM && units.Count > 0 && units[^1].Start + units[^1].Length == i && units[^1].Level == levels[i])
                units[^1] = units[^1] with { Length = units[^1].Length + 1 };
            else
                units.Add((i, 1, levels[i]));
        }

        // L2: from the highest level to the lowest odd one, every run at that level or higher is reversed.
        var highest = units.Max(u => u.Level);
        var lowestOdd = units.Min(u => u.Level) | 1;
        for (var level = highest; level >= lowestOdd; level--)
        {
            for (var i = 0; i < units.Count; i++)
            {
                if (units[i].Level < level)
                    continue;
                var end = i;
                while (end + 1 < units.Count && units[end + 1].Level >= level)
                    end++;
                units.Reverse(i, end - i + 1);
                i = end;
            }
        }

        var drawn = new StringBuilder(line.Length);
        foreach (var (start, length, level) in units)
        {
            for (var i = start; i < start + length; i++)
            {
                var codePoint = codePoints[i];
                if (codePoint is LeftToRightMark or RightToLeftMark or ArabicLetterMark)
                    continue;
                // L4: in right-to-left text "(" is drawn as ")" so that it still opens what follows in reading order.
                if (level % 2 == 1 && Mirrored.TryGetValue(codePoint, out var mirror))
                    codePoint = mirror;
                if (codePoint > 0xFFFF)
                    drawn.Append(char.ConvertFromUtf32(codePoint));
                else
                    drawn.Append((char)codePoint); // a lone surrogate too, as it came

            }
        }

        return drawn.ToString();
    }

    /// <summary>
    /// A line wrapping cut from <paramref name="paragraph"/>, led by a right-to-left mark (drawn as nothing) where the paragraph reads
    /// right to left and the line alone would not (it starts with a Latin word, or has no letter): a line is ordered in its
    /// paragraph's direction.
    /// </summary>
    public static string LineOf(string paragraph, string line) =>
        IsRightToLeft(paragraph) && !IsRightToLeft(line) ? $"\u200F{line}" : line;

    /// <summary>Whether <paramref name="paragraph"/> reads right to left: its first strong character is (P2, P3).</summary>
    public static bool IsRightToLeft(string paragraph)
    {
        foreach (var codePoint in CodePoints(paragraph))
        {
            var type = ClassOf(codePoint);
            if (type is BidiClass.L)
                return false;
            if (type is BidiClass.R or BidiClass.AL)
                return true;
        }

        return false;
    }

    /// <summary>The string's code points; a lone surrogate is itself.</summary>
    private static int[] CodePoints(string value)
    {
        var codePoints = new List<int>(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                codePoints.Add(char.ConvertToUtf32(value[i], value[++i]));
            else
                codePoints.Add(value[i]);
        }

        return [.. codePoints];
    }

    private static bool HasRightToLeft(string line)
    {
        foreach (var c in line)
        {
            // Every right-to-left class is at U+0590 or above (and in the Basic Multilingual Plane).
            if (c >= '\u0590' && ClassOf(c) is BidiClass.R or BidiClass.AL)
                return true;
        }

        return false;
    }

    /// <summary>The embedding level of each code point (W1–W7, N1–N2, I1–I2, L1); <paramref name="original"/>: their classes as read.</summary>
    private static int[] Levels(int[] codePoints, out BidiClass[] original)
    {
        var n = codePoints.Length;
        original = [.. codePoints.Select(ClassOf)];
        var types = original.ToArray();
        var paragraph = types.FirstOrDefault(t => t is BidiClass.L or BidiClass.R or BidiClass.AL) is BidiClass.R or BidiClass.AL ? 1 : 0;
        // With no explicit embeddings the line is one run: what comes before its start and after its end is the paragraph's direction.
        var edge = paragraph == 1 ? BidiClass.R : BidiClass.L;

        // W1: a mark takes the class of what it marks. (Boundary neutrals, such as the zero-width joiners, are kept, not removed as
        // X9 says, and treated the same way: they sit inside words.)
        for (var i = 0; i < n; i++)
        {
            if (types[i] is BidiClass.NSM or BidiClass.BN)
                types[i] = i == 0 ? edge : types[i - 1];
        }

        // W2: a European number after Arabic letters is an Arabic number. W3: Arabic letters are right to left.
        var lastStrong = edge;
        for (var i = 0; i < n; i++)
        {
            if (types[i] is BidiClass.L or BidiClass.R or BidiClass.AL)
                lastStrong = types[i];
            else if (types[i] == BidiClass.EN && lastStrong == BidiClass.AL)
                types[i] = BidiClass.AN;
        }

        for (var i = 0; i < n; i++)
        {
            if (types[i] == BidiClass.AL)
                types[i] = BidiClass.R;
        }

        // W4: one separator between two numbers of the same kind belongs to them ("1,5", "1+2"; a plus or minus only between European ones).
        for (var i = 1; i < n - 1; i++)
        {
            if (types[i] == BidiClass.ES && types[i - 1] == BidiClass.EN && types[i + 1] == BidiClass.EN)
                types[i] = BidiClass.EN;
            else if (types[i] == BidiClass.CS && types[i - 1] is BidiClass.EN or BidiClass.AN && types[i + 1] == types[i - 1])
                types[i] = types[i - 1];
        }

        // W5: terminators next to a European number belong to it ("€12", "12 %" does not: the space is in between).
        for (var i = 0; i < n; i++)
        {
            if (types[i] != BidiClass.ET)
                continue;
            var end = i;
            while (end + 1 < n && types[end + 1] == BidiClass.ET)
                end++;
            if ((i > 0 && types[i - 1] == BidiClass.EN) || (end + 1 < n && types[end + 1] == BidiClass.EN))
                Array.Fill(types, BidiClass.EN, i, end - i + 1);
            i = end;
        }

        // W6: the other separators and terminators are neutral. W7: a European number in left-to-right text is left to right.
        lastStrong = edge;
        for (var i = 0; i < n; i++)
        {
            if (types[i] is BidiClass.ES or BidiClass.ET or BidiClass.CS)
                types[i] = BidiClass.ON;
            if (types[i] is BidiClass.L or BidiClass.R)
                lastStrong = types[i];
            else if (types[i] == BidiClass.EN && lastStrong == BidiClass.L)
                types[i] = BidiClass.L;
        }

        // N1: neutrals between text of one direction take it (numbers count as right to left); N2: the others take the paragraph's.
        for (var i = 0; i < n; i++)
        {
            if (!IsNeutral(types[i]))
                continue;
            var end = i;
            while (end + 1 < n && IsNeutral(types[end + 1]))
                end++;
            var before = i == 0 ? edge : StrongForNeutrals(types[i - 1]);
            var after = end + 1 == n ? edge : StrongForNeutrals(types[end + 1]);
            Array.Fill(types, before == after ? before : edge, i, end - i + 1);
            i = end;
        }

        // I1, I2: implicit levels.
        var levels = new int[n];
        for (var i = 0; i < n; i++)
        {
            levels[i] = (paragraph, types[i]) switch
            {
                (0, BidiClass.R) => 1,
                (0, BidiClass.AN or BidiClass.EN) => 2,
                (1, BidiClass.L or BidiClass.AN or BidiClass.EN) => 2,
                _ => paragraph,
            };
        }

        // L1: spaces at the end of the line are at the paragraph's level.
        for (var i = n - 1; i >= 0 && original[i] is BidiClass.WS or BidiClass.S or BidiClass.BN; i--)
            levels[i] = paragraph;
        return levels;
    }

    private static bool IsNeutral(BidiClass type) => type is BidiClass.B or BidiClass.S or BidiClass.WS or BidiClass.ON;

    private static BidiClass StrongForNeutrals(BidiClass type) => type is BidiClass.L ? BidiClass.L : BidiClass.R;

    /// <summary>A code point's bidirectional class, from the ranges above and its general category.</summary>
    private static BidiClass ClassOf(int c)
    {
        switch (c)
        {
            case LeftToRightMark:
                return BidiClass.L;
            case RightToLeftMark:
                return BidiClass.R;
            case ArabicLetterMark:
                return BidiClass.AL;
            case '\t' or 0x0B or 0x1F:
                return BidiClass.S;
            case '\n' or '\r' or >= 0x1C and <= 0x1E or 0x85 or 0x2029:
                return BidiClass.B;
            case 0x0C or ' ' or 0x1680 or >= 0x2000 and <= 0x200A or 0x2028 or 0x205F or 0x3000:
                return BidiClass.WS;
            case >= '0' and <= '9' or 0xB2 or 0xB3 or 0xB9 or >= 0x06F0 and <= 0x06F9 or 0x2070 or >= 0x2074 and <= 0x2079
                or >= 0x2080 and <= 0x2089 or >= 0xFF10 and <= 0xFF19:
                return BidiClass.EN;
            case >= 0x0660 and <= 0x0669 or 0x066B or 0x066C or >= 0x0600 and <= 0x0605 or 0x06DD or 0x08E2:
                return BidiClass.AN;
            case '+' or '-' or 0x207A or 0x207B or 0x208A or 0x208B or 0x2212 or 0xFB29 or 0xFE62 or 0xFE63 or 0xFF0B or 0xFF0D:
                return BidiClass.ES;
            case '#' or '$' or '%' or 0xB0 or 0xB1 or 0x0609 or 0x060A or 0x066A or >= 0x2030 and <= 0x2034 or 0x2213 or 0xFE5F
                or 0xFE69 or 0xFE6A or >= 0xFF03 and <= 0xFF05:
                return BidiClass.ET;
            case ',' or '.' or '/' or ':' or 0xA0 or 0x060C or 0x202F or 0x2044 or 0xFE50 or 0xFE52 or 0xFE55 or 0xFF0C or 0xFF0E
                or 0xFF0F or 0xFF1A:
                return BidiClass.CS;
        }

        var category = CharUnicodeInfo.GetUnicodeCategory(c);
        if (category == UnicodeCategory.CurrencySymbol)
            return BidiClass.ET;
        if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark)
            return BidiClass.NSM;
        if (category is UnicodeCategory.Control or UnicodeCategory.Format)
            return BidiClass.BN;
        if (c is >= 0x0590 and <= 0x05FF or >= 0x07C0 and <= 0x07FF or >= 0xFB1D and <= 0xFB4F)
            return BidiClass.R;
        if (c is >= 0x0600 and <= 0x08FF and not (>= 0x07C0 and <= 0x07FF) or >= 0xFB50 and <= 0xFDFF or >= 0xFE70 and <= 0xFEFE)
            return BidiClass.AL;
        return category is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber
            ? BidiClass.L
            : BidiClass.ON;
    }

    /// <summary>The brackets and signs whose glyph is mirrored in right-to-left text (Bidi_Mirrored: the pairs the fonts print).</summary>
    private static readonly Dictionary<int, int> Mirrored = Pairs(
        "()", "[]", "{}", "<>", "«»", "‹›", "⁅⁆", "⁽⁾", "₍₎", "≤≥", "≦≧", "≪≫", "⊂⊃", "⊆⊇", "∈∋", "⟨⟩", "⟦⟧", "⟮⟯",
        "〈〉", "《》", "「」", "『』", "【】", "〔〕", "〖〗", "〘〙", "〚〛", "（）", "［］", "｛｝", "＜＞", "｢｣", "﹙﹚", "﹛﹜", "﹝﹞", "﹤﹥");

    private static Dictionary<int, int> Pairs(params string[] pairs)
    {
        var mirrored = new Dictionary<int, int>();
        foreach (var pair in pairs)
        {
            mirrored[pair[0]] = pair[1];
            mirrored[pair[1]] = pair[0];
        }

        return mirrored;
    }
}

/// <summary>
/// Arabic letters in the form their place in a word asks for (isolated, final, initial, medial), as the presentation forms
/// (U+FB50–U+FBFF, U+FE70–U+FEFF) the fonts map: PDFsharp draws a code point's default glyph, which for an Arabic letter is its
/// isolated form. The forms are read at start-up from the runtime's Unicode data: in those ranges, consecutive code points whose
/// compatibility form (NFKC) is the same letter are its isolated, final, initial and medial forms, in that order (the one exception,
/// alef maksura's initial and medial forms apart from the others, is added by hand). Letters of Syriac and NKo, which also join, have
/// no presentation forms and print unjoined.
/// </summary>
public static class ArabicForms
{
    /// <summary>How a character joins its neighbours (Unicode's Joining_Type, ArabicShaping.txt): dual, right (to the letter before it
    /// only), join-causing (tatweel, zero-width joiner), transparent (marks) or not at all.</summary>
    public enum Joining
    {
        None, Dual, Right, Causing, Transparent,
    }

    /// <summary>A letter's presentation forms; 0 where it has none.</summary>
    public readonly record struct Forms(int Isolated, int Final, int Initial, int Medial);

    private const int Lam = 0x0644;

    private static readonly (Dictionary<int, Forms> Letters, Dictionary<int, Forms> LamAlef) Table = Read();

    /// <summary>The presentation forms of <paramref name="letter"/>, or of lam followed by it (isolated and final only) when
    /// <paramref name="afterLam"/>.</summary>
    public static Forms? Of(int letter, bool afterLam = false) =>
        (afterLam ? Table.LamAlef : Table.Letters).TryGetValue(letter, out var forms) ? forms : null;

    public static Joining JoiningOf(int c)
    {
        if (c is 0x0640 or 0x07FA or 0x200D)
            return Joining.Causing;
        if (c == 0x200C)
            return Joining.None;
        var category = CharUnicodeInfo.GetUnicodeCategory(c);
        if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format)
            return Joining.Transparent;
        if (c is < 0x0620 or > 0x06FF || category != UnicodeCategory.OtherLetter || c is 0x0621 or 0x0674)
            return Joining.None;
        return c is >= 0x0622 and <= 0x0625 or 0x0627 or 0x0629 or >= 0x062F and <= 0x0632 or 0x0648 or >= 0x0671 and <= 0x0673
            or >= 0x0675 and <= 0x0677 or >= 0x0688 and <= 0x0699 or 0x06C0 or >= 0x06C3 and <= 0x06CB or 0x06CD or 0x06CF or 0x06D2
            or 0x06D3 or 0x06D5 or 0x06EE or 0x06EF
            ? Joining.Right
            : Joining.Dual;
    }

    /// <summary>
    /// The code points (logical order) with each Arabic letter in its form, and lam followed by alef (marks between them allowed) as
    /// their ligature, where <paramref name="hasGlyph"/> says the fonts draw that form; otherwise the letter is left as it is.
    /// </summary>
    public static int[] Shape(int[] codePoints, Func<int, bool> hasGlyph)
    {
        var shaped = new List<int>(codePoints.Length);
        for (var i = 0; i < codePoints.Length; i++)
        {
            var letter = codePoints[i];
            var joining = JoiningOf(letter);
            if (joining is not (Joining.Dual or Joining.Right))
            {
                shaped.Add(letter);
                continue;
            }

            var before = Neighbour(codePoints, i, -1);
            var after = Neighbour(codePoints, i, +1);
            var joinsBefore = before >= 0 && JoiningOf(codePoints[before]) is Joining.Dual or Joining.Causing;
            if (letter == Lam && after >= 0 && Of(codePoints[after], afterLam: true) is { } ligature
                && (joinsBefore ? ligature.Final : ligature.Isolated) is var drawn && drawn != 0 && hasGlyph(drawn))
            {
                // The alef is drawn with the lam: the lam's marks follow the ligature, and the alef's follow them.
                shaped.Add(drawn);
                shaped.AddRange(codePoints[(i + 1)..after]);
                i = after;
                continue;
            }

            var joinsAfter = joining == Joining.Dual && after >= 0
                                                     && JoiningOf(codePoints[after]) is Joining.Dual or Joining.Right or Joining.Causing;
            var form = Of(letter) is not { } forms ? 0
                : joinsBefore && joinsAfter ? forms.Medial
                : joinsBefore ? forms.Final
                : joinsAfter ? forms.Initial
                : forms.Isolated;
            shaped.Add(form != 0 && hasGlyph(form) ? form : letter);
        }

        return [.. shaped];
    }

    /// <summary>The index of the nearest character in <paramref name="direction"/> that is not a mark (-1 at the line's end).</summary>
    private static int Neighbour(int[] codePoints, int at, int direction)
    {
        for (var i = at + direction; i >= 0 && i < codePoints.Length; i += direction)
        {
            if (JoiningOf(codePoints[i]) != Joining.Transparent)
                return i;
        }

        return -1;
    }

    private static (Dictionary<int, Forms>, Dictionary<int, Forms>) Read()
    {
        var letters = new Dictionary<int, Forms>();
        var lamAlef = new Dictionary<int, Forms>();
        // U+FE70–U+FEFF first: where a letter also has forms in U+FB50–U+FBFF (alef maksura), the first block's are the ones.
        var codePoints = Enumerable.Range(0xFE70, 0x90).Concat(Enumerable.Range(0xFB50, 0xB0)).ToArray();
        for (var i = 0; i < codePoints.Length;)
        {
            var compatible = Compatible(codePoints[i]);
            var end = i;
            while (end + 1 < codePoints.Length && codePoints[end + 1] == codePoints[end] + 1 && Compatible(codePoints[end + 1]) == compatible)
                end++;
            var group = codePoints[i..(end + 1)];
            int At(int index) => index < group.Length ? group[index] : 0;
            var forms = new Forms(At(0), At(1), At(2), At(3));
            if (compatible.Length == 1 && JoiningOf(compatible[0]) is Joining.Dual or Joining.Right)
                letters.TryAdd(compatible[0], forms);
            else if (compatible.Length == 2 && compatible[0] == Lam && JoiningOf(compatible[1]) == Joining.Right)
                lamAlef.TryAdd(compatible[1], forms);
            i = end + 1;
        }

        // Alef maksura's initial and medial forms (U+FBE8, U+FBE9) stand apart from its isolated and final ones (U+FEEF, U+FEF0).
        if (letters.TryGetValue(0x0649, out var maksura))
            letters[0x0649] = maksura with { Initial = 0xFBE8, Medial = 0xFBE9 };
        return (letters, lamAlef);
    }

    /// <summary>The character's compatibility form (a presentation form's letters, all in the Basic Multilingual Plane), or "" where
    /// it has no other (an unassigned code point).</summary>
    private static string Compatible(int codePoint)
    {
        var text = char.ConvertFromUtf32(codePoint);
        var compatible = text.Normalize(NormalizationForm.FormKC);
        return compatible == text ? "" : compatible;
    }
}
