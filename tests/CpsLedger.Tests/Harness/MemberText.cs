using MimeKit;
using MimeKit.Text;

namespace CpsLedger.Tests.Harness;

public static class MemberTexts
{
    /// <summary>
    /// An e-mail's text as its reader shows it: format=flowed (RFC 3676, as the ledger sends every e-mail) joined again into its
    /// paragraphs, so that a test finds a sentence whatever column the sending wrapped it at.
    /// </summary>
    public static string? MemberText(this MimeMessage message)
    {
        if (message.BodyParts.OfType<TextPart>().FirstOrDefault(p => p.IsPlain && !p.IsAttachment) is not { } part)
            return null;
        if (!string.Equals(part.ContentType.Format, "flowed", StringComparison.OrdinalIgnoreCase))
            return part.Text;
        var deleteSpace = part.ContentType.Parameters.TryGetValue("delsp", out string? delsp) && delsp!.Equals("yes", StringComparison.OrdinalIgnoreCase);
        return new FlowedToText { DeleteSpace = deleteSpace }.Convert(part.Text);
    }
}
