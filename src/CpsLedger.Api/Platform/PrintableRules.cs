using CpsLedger.Api.Invoicing;
using FluentValidation;

namespace CpsLedger.Api.Platform;

/// <summary>The request rule for text an invoice or credit note prints: every character printable by the embedded fonts.</summary>
public static class PrintableRules
{
    /// <param name="lineBreaks">Whether line breaks are allowed (a reason: the PDF breaks the line there).</param>
    public static IRuleBuilderOptions<T, TText> PrintableOnInvoices<T, TText>(this IRuleBuilder<T, TText> rule, bool lineBreaks = false)
        where TText : class? =>
        rule.Must(value => PrintableText.Unprintable(value as string, lineBreaks).Count == 0)
            .WithMessage((_, value) => Message(PrintableText.Unprintable(value as string, lineBreaks)));

    public static string Message(IReadOnlyList<string> unprintable) =>
        $"Invoices print this, and their fonts have no glyph for {string.Join(", ", unprintable)} (emoji, symbols outside the fonts, " +
        "control characters and unassigned or private-use code points). Invoices print the Latin, Greek, Cyrillic, Hebrew and " +
        "Arabic scripts and Chinese, Japanese and Korean; leave the character out or write it in one of these.";
}
