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
}
