using System.Net;
using System.Net.Http.Headers;
using CpsLedger.Api.Operations;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using Microsoft.Extensions.DependencyInjection;
using Wolverine.Persistence.Durability.ScheduledMessageManagement;
using Wolverine.Runtime;
using static CpsLedger.Tests.Harness.FaultWaits;

namespace CpsLedger.Tests.Operations;

/// <summary>After a mail outage, support sends the e-mails waiting for a retry at once, each still once.</summary>
[Collection(SecondLedgerCollection.Name)]
public sealed class WaitingMailTests(LedgerApp app) : LedgerTest(app)
{
    private const string SendNow = "/api/operations/mail/send-now";

    [Fact]
    public async Task After_a_mail_outage_support_sends_the_waiting_emails_at_once_instead_of_after_their_back_off_and_each_once()
    {
        // Support only; with nothing waiting, nothing is moved.
        await (await App.ClientAs(LedgerRoles.Auditor).PostJson(SendNow, new { })).ShouldBe(HttpStatusCode.Forbidden);
        Assert.Equal(0, (await App.ClientAs(LedgerRoles.Support).PostJson(SendNow, new { }).ReadAs<WaitingMailSent>()).Rescheduled);

        await using var service = SmtpHost.Start(App, "sendnow", refusing: true);
        var (_, retry) = await InvitationEmailWaitingForItsRetry(service, "sendnow@example.ee");
        Assert.Equal("CpsLedger.Api.Membership.SendInvitationEmail", retry.MessageType);
        Assert.Empty(service.Smtp.Received);

        // The mail server is back; support does not wait for the back-off.
        service.Smtp.Refusing = false;
        var support = service.CreateClient();
        support.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", App.TokenFor(LedgerRoles.Support));
        Assert.Equal(1, (await support.PostJson(SendNow, new { }).ReadAs<WaitingMailSent>()).Rescheduled);
        await Until(() => Task.FromResult(!service.Smtp.Received.IsEmpty), () => "the invitation e-mail sent", TimeSpan.FromSeconds(10));
        Assert.True(DateTimeOffset.UtcNow < retry.ScheduledTime, $"sent before its retry was due ({retry.ScheduledTime:O})");

        await service.Services.UntilDurableStorageIsQuiet(TimeSpan.FromSeconds(30));
        var copies = service.Smtp.CopiesByMessageId();
        Assert.Equal(1, Assert.Single(copies).Value);
        Assert.StartsWith("invitation-", copies.Keys.Single(), StringComparison.Ordinal);
        Assert.Equal(0, (await support.PostJson(SendNow, new { }).ReadAs<WaitingMailSent>()).Rescheduled);
    }

    [Fact]
    public async Task The_mail_send_now_command_makes_the_waiting_emails_due_as_the_endpoint_does_and_says_how_many()
    {
        await using var service = SmtpHost.Start(App, "sendnowcli", refusing: true);
        var (scheduled, retry) = await InvitationEmailWaitingForItsRetry(service, "sendnowcli@example.ee");
        // A later step of the back-off (15 min), so that only the command can bring it forward while the test runs.
        await scheduled.RescheduleAsync(retry.Id, DateTimeOffset.UtcNow.AddMinutes(15), CancellationToken.None);

        service.Smtp.Refusing = false;
        var (exit, output) = await ServiceProcess.RunCommandAsync(App, service.Schema, "mail-send-now");
        Assert.True(exit == 0, output);
        Assert.Contains("1 e-mail message(s) waiting for a retry made due now", output);
        await Until(() => Task.FromResult(!service.Smtp.Received.IsEmpty), () => "the invitation e-mail sent", TimeSpan.FromSeconds(30));
        await service.Services.UntilDurableStorageIsQuiet(TimeSpan.FromSeconds(30));
        Assert.Equal(1, Assert.Single(service.Smtp.CopiesByMessageId()).Value);

        (exit, output) = await ServiceProcess.RunCommandAsync(App, service.Schema, "mail-send-now");
        Assert.True(exit == 0, output);
        Assert.Contains("0 e-mail message(s) waiting for a retry made due now", output);
    }

    /// <summary>
    /// An account invited while the mail server refuses: its invitation e-mail failed its retries in place and waits in the inbox
    /// for its first scheduled retry (15 s on).
    /// </summary>
    private async Task<(IScheduledMessages Scheduled, ScheduledMessageSummary Retry)> InvitationEmailWaitingForItsRetry(SmtpHost service,
        string email)
    {
        await Billing.ListThousandPointModel(service.Services.GetRequiredService<Marten.IDocumentStore>());
        await InvitedAccount(App, service.CreateClient(), email);
        var scheduled = service.Services.GetRequiredService<IWolverineRuntime>().Storage.ScheduledMessages;
        ScheduledMessageSummary? retry = null;
        await Until(async () => (retry = (await scheduled.QueryAsync(new ScheduledMessageQuery { PageSize = 100 }, CancellationToken.None))
            .Messages.SingleOrDefault(m => m.Attempts > 0)) is not null, () => "the e-mail waiting for its retry", TimeSpan.FromSeconds(30));
        return (scheduled, retry!);
    }

    [Fact]
    public void The_mail_messages_are_those_whose_handlers_send_an_email()
    {
        Assert.Contains("CpsLedger.Api.Invoicing.SendInvoiceEmail", WaitingMailEndpoint.MailMessageTypes);
        Assert.Contains("CpsLedger.Api.Membership.SendInvitationEmail", WaitingMailEndpoint.MailMessageTypes);
        Assert.Contains("CpsLedger.Api.Migration.SendOldEmailCode", WaitingMailEndpoint.MailMessageTypes);
        Assert.DoesNotContain("CpsLedger.Api.Invoicing.IssueInvoice", WaitingMailEndpoint.MailMessageTypes);
    }
}
