using CpsLedger.Api.Platform;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CpsLedger.Tests.Platform;

public sealed class MailOptionsTests
{
    private static MailOptions Read(params (string Key, string Value)[] settings) => Read("Production", settings);

    private static MailOptions Read(string environment, params (string Key, string Value)[] settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = environment });
        builder.Configuration.Sources.Clear();
        var values = new Dictionary<string, string?> { ["Mail:PickupDirectory"] = Path.GetTempPath() };
        foreach (var (key, value) in settings)
            values[key] = value;
        builder.Configuration.AddInMemoryCollection(values);
        builder.AddLedgerMail();
        using var services = builder.Services.BuildServiceProvider();
        return services.GetRequiredService<IOptions<MailOptions>>().Value;
    }

    [Theory]
    [InlineData("00:05:00", null, true)] // the default
    [InlineData("00:04:00", null, true)] // 4 × the default Mail:SmtpTimeout (30 s) + 2 minutes
    [InlineData("00:03:59", null, false)]
    [InlineData("00:00:00", null, false)] // every claim stale at once: two nodes could send the same e-mail
    [InlineData("-00:05:00", null, false)]
    [InlineData("01:00:00", null, true)]
    [InlineData("01:00:01", null, false)]
    [InlineData("00:02:40", "00:00:10", true)] // a shorter SMTP timeout allows a shorter claim
    [InlineData("00:02:39", "00:00:10", false)]
    public void The_claim_timeout_is_checked_when_the_service_starts_against_the_smtp_timeout(string claimTimeout, string? smtpTimeout,
        bool valid)
    {
        // Until 2026-12-06 any value was taken: zero or a negative one made every claim look stale at once.
        (string, string)[] settings = smtpTimeout is null
            ? [("Mail:ClaimTimeout", claimTimeout)]
            : [("Mail:ClaimTimeout", claimTimeout), ("Mail:SmtpTimeout", smtpTimeout)];
        if (valid)
        {
            Assert.Equal(TimeSpan.Parse(claimTimeout, System.Globalization.CultureInfo.InvariantCulture), Read(settings).ClaimTimeout);
            return;
        }

        var failure = Assert.Throws<OptionsValidationException>(() => Read(settings)).Message;
        Assert.Contains("Mail:ClaimTimeout must be at least 4 × Mail:SmtpTimeout + 00:02:00", failure);
        Assert.Contains("at most 01:00:00", failure);
    }

    [Theory]
    [InlineData("Mail:SmtpTimeout", "00:00:00", "Mail:SmtpTimeout must be positive")]
    [InlineData("Mail:SmtpTimeout", "-00:00:01", "Mail:SmtpTimeout must be positive")]
    // MailKit 4.18 reads port 0 as the security option's default port (25; 465 with SslOnConnect), not the service's 587.
    [InlineData("Mail:SmtpPort", "0", "Mail:SmtpPort 0 means MailKit's default port for Mail:SmtpSecurity (25, or 465 with SslOnConnect), not 587: set the server's port")]
    [InlineData("Mail:SmtpPort", "-1", "Mail:SmtpPort must be between 1 and 65535")]
    [InlineData("Mail:SmtpPort", "65536", "Mail:SmtpPort must be between 1 and 65535")]
    [InlineData("Mail:SmtpSecurity", "9", "Mail:SmtpSecurity must be Auto, StartTls, SslOnConnect or None")]
    public void The_other_smtp_settings_are_checked_when_the_service_starts(string key, string value, string failure) =>
        Assert.Contains(failure, Assert.Throws<OptionsValidationException>(() => Read((key, value))).Message);

    [Fact]
    public void The_claim_timeout_s_two_minutes_cover_the_wait_for_the_record_and_the_margin()
    {
        // The floor's 2 minutes hold the record's first waits (made whatever the claim's age) and the margin kept before its end.
        Assert.True(MailDelivery.RecordWaitedAtLeast + MailDelivery.ClaimMargin < MailOptions.ClaimTimeoutAboveSmtp,
            $"{MailDelivery.RecordWaitedAtLeast} + {MailDelivery.ClaimMargin} no longer fit in {MailOptions.ClaimTimeoutAboveSmtp}");
    }

    [Theory]
    [InlineData("support")]
    [InlineData("CPS Support <support>")]
    [InlineData("support@cpsledger")]
    public void A_reply_to_that_is_not_an_e_mail_address_refuses_the_start(string replyTo) =>
        Assert.Contains("Mail:ReplyTo must be an e-mail address, e.g. \"CPS Support <support@example.com>\", or left out",
            Assert.Throws<OptionsValidationException>(() => Read(("Mail:ReplyTo", replyTo))).Message);

    [Theory]
    [InlineData("CPS <no-reply@cpsledger.example>", true)]
    [InlineData("noreply@cpsledger.example", true)]
    [InlineData("CPS <Do_Not.Reply@cpsledger.example>", true)]
    [InlineData("CPS <noreply.billing@cpsledger.example>", true)]
    [InlineData("Canon Professional Services <cps@cpsledger.example>", false)]
    [InlineData("CPS <replies@cpsledger.example>", false)]
    public void Production_refuses_a_no_reply_sender_without_a_reply_to_and_takes_it_with_one(string from, bool noReply)
    {
        // Members reply to invoices and overdue notices: from a no-reply address, with no Reply-To, their answers were lost.
        Assert.Equal(noReply, MailOptions.IsNoReply(from));
        if (noReply)
            Assert.Contains("Mail:ReplyTo is required in Production while Mail:From is a no-reply address",
                Assert.Throws<OptionsValidationException>(() => Read(("Mail:From", from))).Message);
        else
            Assert.Null(Read(("Mail:From", from)).ReplyTo);

        Assert.Equal("CPS Support <support@cpsledger.example>",
            Read(("Mail:From", from), ("Mail:ReplyTo", "CPS Support <support@cpsledger.example>")).ReplyTo);
        // Elsewhere (Development, a test environment) a no-reply sender alone is taken: nobody replies there.
        Assert.Null(Read("Development", ("Mail:From", from)).ReplyTo);
    }
}
