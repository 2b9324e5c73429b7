using System.Net;
using System.Text.RegularExpressions;
using CpsLedger.Api.Migration;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using Marten;
using MimeKit;

namespace CpsLedger.Tests.Migration;

/// <summary>Proving an old CPS e-mail the way a member does: ask for the code, read it from the e-mail, enter it.</summary>
public static partial class OldEmails
{
    public static string CodesUrl(Guid accountId) => $"/api/accounts/{accountId}/old-cps-emails/verification-codes";

    public static string VerifyUrl(Guid accountId) => $"/api/accounts/{accountId}/old-cps-emails/verification";

    /// <summary>Asks for a code as <paramref name="client"/>; returns once the code's e-mail has been written.</summary>
    public static Task<OldEmailCodeSent> RequestCode(this LedgerApp app, HttpClient client, Guid accountId, string email) =>
        app.Tracked(() => client.PostJson(CodesUrl(accountId), new { email }).ReadAs<OldEmailCodeSent>(HttpStatusCode.Accepted));

    public static Task<HttpResponseMessage> EnterCode(this HttpClient client, Guid accountId, string email, string code) =>
        client.PostJson(VerifyUrl(accountId), new { email, code });

    /// <summary>The e-mail that carries the account's latest code for the address (<see cref="RequestCode"/> waited for its delivery).</summary>
    public static async Task<MimeMessage> CodeEmail(this LedgerApp app, Guid accountId, string email)
    {
        await using var session = app.Store.QuerySession();
        var verifications = await session.Events.AggregateStreamAsync<OldCpsEmailVerifications>(accountId);
        var pending = verifications?.Find(email)?.Pending ?? throw new InvalidOperationException($"No code is waiting for {email}.");
        var file = Path.Combine(app.MailFolder, $"old-cps-email-code-{pending.ChallengeId:N}_cpsledger.eml");
        Assert.True(File.Exists(file), $"No code e-mail was written for {email} ({file}).");
        return await MimeMessage.LoadAsync(file);
    }

    /// <summary>The code as the e-mail shows it ("1234 5678").</summary>
    public static async Task<string> CodeSentTo(this LedgerApp app, Guid accountId, string email)
    {
        var message = await app.CodeEmail(accountId, email);
        Assert.Equal(email, message.To.Mailboxes.Single().Address);
        return ShownCode().Match(message.MemberText() ?? "").Value;
    }

    /// <summary>Requests a code as the account's member, reads it from the e-mail and enters it.</summary>
    public static async Task VerifyOldEmail(this LedgerApp app, Guid accountId, string email)
    {
        var member = app.Member(accountId);
        await app.RequestCode(member, accountId, email);
        var code = await app.CodeSentTo(accountId, email);
        await (await member.EnterCode(accountId, email, code)).ShouldBe(HttpStatusCode.OK);
    }

    [GeneratedRegex(@"\b[0-9]{4} [0-9]{4}\b")]
    private static partial Regex ShownCode();
}
