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
        To(account, messageId, subject, new TextPart("plain") { Text = text });

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
