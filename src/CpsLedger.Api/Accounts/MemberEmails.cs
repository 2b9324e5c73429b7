using System.Globalization;
using MimeKit;

namespace CpsLedger.Api.Accounts;

/// <summary>The shell of every e-mail to an account's contact: its Message-Id (MailDelivery sends each once), subject and body.</summary>
public static class MemberEmails
{
    public static MimeMessage To(AccountView account, string messageId, string subject, MimeEntity body)
    {
        var email = new MimeMessage { MessageId = messageId, Subject = subject, Body = body };
        email.To.Add(new MailboxAddress(account.CompanyName, account.ContactEmail));
        return email;
    }

    public static MimeMessage Plain(AccountView account, string messageId, string subject, string text) =>
        To(account, messageId, subject, Text(text));

    /// <summary>The longest line of an e-mail's text as sent, its line break not counted (RFC 5322 2.1.1: no more than 78).</summary>
    public const int LineLength = 78;

    /// <summary>
    /// An e-mail's text as RFC 3676 format=flowed, no line longer than <see cref="LineLength"/>: each paragraph is written as one line
    /// and broken here, so a mail reader that knows the format joins it again to the width of its window (a phone's too), and one that
    /// does not shows lines of at most 78 characters. A line of a table or a list (starting with spaces) is kept as written; it must
    /// fit. Hand-broken lines wrapped at about 110 characters read ragged in both (seen rendering every e-mail, 2026-12-07).
    /// </summary>
    public static TextPart Text(string text)
    {
        var part = new TextPart("plain") { Text = new MimeKit.Text.TextToFlowed().Convert(text) };
        // MimeKit's converter adds a space at each soft break, which delsp=yes tells the reader to take out again.
        part.ContentType.Format = "flowed";
        part.ContentType.Parameters["delsp"] = "yes";
        return part;
    }

    /// <summary>A text (<see cref="Text"/>) with a PDF attached as <paramref name="fileName"/>.</summary>
    public static Multipart WithPdf(string text, string fileName, byte[] pdf) => new("mixed")
    {
        Text(text),
        new MimePart("application", "pdf")
        {
            Content = new MimeContent(new MemoryStream(pdf)),
            ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
            ContentTransferEncoding = ContentEncoding.Base64,
            FileName = fileName,
        },
    };

    /// <summary>
    /// Writes an e-mail's texts in the invariant culture until disposed (<c>using var _ = MemberEmails.InvariantCulture();</c> first
    /// in the method that composes it): the e-mails are English with ISO dates and amounts written 248.00, whatever locale the
    /// machine has (the process's culture follows LANG: et_EE wrote "248,00 EUR", th_TH the year 2569).
    /// </summary>
    public static IDisposable InvariantCulture()
    {
        var before = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        return new Restore(before);
    }

    private sealed class Restore(CultureInfo before) : IDisposable
    {
        public void Dispose() => CultureInfo.CurrentCulture = before;
    }
}
