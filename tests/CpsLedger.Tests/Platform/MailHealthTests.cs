using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;
using Wolverine.Runtime;
using Wolverine.Util;
using CpsLedger.Api.Membership;
using static CpsLedger.Tests.Harness.FaultWaits;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// A mail outage shows in <c>/health/ready</c> as the <c>mail</c> check Degraded, with how many e-mails wait and for how long,
/// while readiness stays 200: every node has the same mail server, so dropping them all would only add an outage.
/// </summary>
[Collection(SecondLedgerCollection.Name)]
public sealed class MailHealthTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task The_mail_check_asks_the_database_in_one_round_trip()
    {
        // Its three questions (the e-mails tried and waiting, those owed and never tried, those to run now no record names) in one
        // batch. Before, one after another.
        var check = ActivatorUtilities.CreateInstance<MailHealthCheck>(App.Services);
        using var statements = new SentStatements();
        Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult result;
        using (statements.Enter())
            result = await check.CheckHealthAsync(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext());

        Assert.True(statements.Texts.Count == 1, string.Join("\n", statements.Texts));
        Assert.Equal(0, result.Data["waiting"]);
        Assert.Equal(0, result.Data["notTried"]);
    }

    [Fact]
    public async Task While_the_mail_server_refuses_the_mail_check_is_degraded_with_the_emails_waiting_and_healthy_once_they_are_sent()
    {
        await using var service = SmtpHost.Start(App, "mailhealth", refusing: true,
            // The outage is reported once an e-mail has waited this long (a minute by default).
            ("Mail:DegradedAfter", "00:00:01"));
        var client = service.CreateClient();
        Assert.Equal("Healthy", (await Ready(client)).Checks["mail"].Status);

        // An account reaches the invitation threshold: its invitation e-mail is owed, and the mail server refuses it.
        await Billing.ListThousandPointModel(service.Services.GetRequiredService<Marten.IDocumentStore>());
        var account = await InvitedAccount(App, service.CreateClient(), "mailhealth@example.ee");
        (HttpStatusCode Status, HealthReport Report) degraded = default;
        // Degraded by the e-mail's wait. This node's failing streak (its own clock, read after the query) can pass the threshold a
        // moment before the e-mail's age (the database's clock, read in the query) on a loaded host: seen in CI on 2026-12-06, Degraded
        // with the oldest first tried "0 s ago" and every attempt failing "for 1 s".
        await Until(async () =>
        {
            degraded = await ReadyWithStatus(client);
            var check = degraded.Report.Checks["mail"];
            return check.Status == "Degraded" && check.Data!.TryGetValue("oldestWaitingSeconds", out var age) && age.GetDouble() >= 1;
        }, () => $"the mail check degraded by the e-mail's wait ({degraded.Report?.Checks["mail"].Description})", TimeSpan.FromSeconds(30));

        Assert.True(service.Smtp.Refused > 0);
        // Still ready: a load balancer keeps the node.
        Assert.Equal((HttpStatusCode.OK, "Degraded"), (degraded.Status, degraded.Report!.Status));
        var mail = degraded.Report.Checks["mail"];
        Assert.StartsWith("1 e-mail(s) not sent yet, the oldest first tried ", mail.Description);
        Assert.Equal(1, mail.Data!["waiting"].GetInt32());
        Assert.Contains("this node's last attempt failed", mail.Description);
        // Tried: not among those never tried, as its delivery record names its message (the one waiting in the inbox).
        Assert.Equal(0, mail.Data!["notTried"].GetInt32());
        await using (var connection = new Npgsql.NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var named = new Npgsql.NpgsqlCommand(
                $"select count(*) from {service.Schema}.email_deliveries d join {service.Schema}.wolverine_incoming_envelopes e on e.id = d.envelope_id", connection);
            Assert.Equal(1L, await named.ExecuteScalarAsync());
        }

        service.Smtp.Refusing = false;
        await Until(() => Task.FromResult(!service.Smtp.Received.IsEmpty), () => "the invitation e-mail sent", TimeSpan.FromSeconds(60),
            () => App.MakeScheduledMessagesDue(service.Services, TimeSpan.Zero, [account]));
        HealthReport? healthy = null;
        await Until(async () => (healthy = await Ready(client)).Checks["mail"].Status == "Healthy",
            () => $"the mail check healthy again ({healthy?.Checks["mail"].Description})", TimeSpan.FromSeconds(30));
        Assert.Equal(0, healthy!.Checks["mail"].Data!["waiting"].GetInt32());
    }

    [Fact]
    public async Task An_invitation_email_refused_and_then_no_longer_owed_as_the_account_joined_leaves_the_mail_check_once_its_message_has_run()
    {
        // Found walking the mail outage drill by hand (2026-12-05): accounts joining while their invitation e-mails were refused. The
        // retry finds the invitation used and sends nothing, as meant, but the refused attempt's record stayed "not sent yet", so the
        // check stayed Degraded (and told support to send it now) until the record aged out, some 17 hours later.
        await using var service = SmtpHost.Start(App, "mailused", refusing: true, ("Mail:DegradedAfter", "00:00:01"));
        var client = service.CreateClient();
        await Billing.ListThousandPointModel(service.Services.GetRequiredService<Marten.IDocumentStore>());
        var member = service.CreateClient();
        var account = await InvitedAccount(App, member, "mailused@example.ee");
        var invitationEmail = typeof(SendInvitationEmail).ToMessageTypeName();
        await Until(async () => await Execute(service, "select count(*) from {schema}.wolverine_incoming_envelopes where message_type = $1 and status = 'Scheduled'",
            invitationEmail) == 1, "the invitation e-mail waiting for its retry");

        // The member joins before the invitation e-mail went out; the mail server is back, and support sends the waiting e-mails now.
        await (await member.PostJson($"/api/accounts/{account}/membership", new { tier = "gold", paymentMethod = "bank_transfer" }))
            .ShouldBe(HttpStatusCode.Created);
        service.Smtp.Refusing = false;
        var support = service.CreateClient();
        support.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", App.TokenFor(LedgerRoles.Support));
        await Until(async () =>
            {
                await (await support.PostJson("/api/operations/mail/send-now", new { })).ShouldBe(HttpStatusCode.OK);
                return await Execute(service, "select count(*) from {schema}.wolverine_incoming_envelopes where message_type = $1 and status in ('Scheduled', 'Incoming')",
                    invitationEmail) == 0 && service.Smtp.CopiesByMessageId().Keys.Any(k => k.StartsWith("welcome-", StringComparison.Ordinal));
            }, "the invitation e-mail's retry run and the welcome e-mail sent", TimeSpan.FromSeconds(60));

        // Nothing is owed any more: the used invitation is not announced, and the mail check says so.
        HealthReport? healthy = null;
        await Until(async () => (healthy = await Ready(client)).Checks["mail"].Status == "Healthy",
            () => $"the mail check healthy again ({healthy?.Checks["mail"].Description})", TimeSpan.FromSeconds(30));
        Assert.Equal(0, healthy!.Checks["mail"].Data!["waiting"].GetInt32());
        Assert.DoesNotContain(service.Smtp.CopiesByMessageId().Keys, k => k.StartsWith("invitation-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_email_owed_but_never_tried_dead_lettered_or_overdue_while_no_node_runs_it_degrades_the_mail_check_apart_from_the_tried()
    {
        await using var service = SmtpHost.Start(App, "mailowed", refusing: false, ("Mail:DegradedAfter", "00:00:01"),
            // No node fires scheduled messages here (as when the durability agent stalls): a scheduled e-mail stays overdue.
            ("Wolverine:ScheduledJobFirstExecution", "01:00:00"), ("Wolverine:ScheduledJobPollingTime", "01:00:00"));
        var client = service.CreateClient();
        Assert.Equal("Healthy", (await Ready(client)).Checks["mail"].Status);

        // The e-mail of an invoice that does not exist: its handler fails for good before it reaches the mail server (a dead
        // letter, no delivery record); and one scheduled a moment from now, which no node runs.
        using (var scope = service.Services.CreateScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            await bus.PublishAsync(new SendInvoiceEmail(Guid.NewGuid()));
            await bus.ScheduleAsync(new SendInvoiceEmail(Guid.NewGuid()), DateTimeOffset.UtcNow.AddMilliseconds(200));
        }

        HealthReport? degraded = null;
        await Until(async () => (degraded = await Ready(client)).Checks["mail"].Data!.TryGetValue("notTried", out var n) && n.GetInt32() == 2
                                && degraded.Checks["mail"].Data!["oldestNotTriedSeconds"].GetDouble() > 1,
            () => $"both e-mails reported as never tried ({degraded?.Checks["mail"].Description})", TimeSpan.FromSeconds(60));
        var mail = degraded!.Checks["mail"];
        Assert.Equal("Degraded", mail.Status);
        Assert.Equal(1, mail.Data!["notTriedDeadLetters"].GetInt32());
        // Named apart from the e-mails tried and waiting for a retry: none here.
        Assert.Equal(0, mail.Data["waiting"].GetInt32());
        Assert.Contains("2 e-mail(s) owed and never tried", mail.Description);
        Assert.Contains("/api/operations/dead-letters", mail.Description);
    }

    [Fact]
    public async Task A_dead_letter_of_a_join_counts_under_mail_when_its_welcome_email_failed_and_not_when_its_invoice_scheduling_did()
    {
        // MembershipJoined has two handlers, each on its own queue: the welcome e-mail and the invoice's scheduling. The mail check
        // counted a dead letter of the message type as an e-mail owed, whichever handler had failed (a loose end noted 2026-12-05).
        await using var service = SmtpHost.Start(App, "mailjoin", refusing: false, ("Mail:DegradedAfter", "00:00:01"));
        var client = service.CreateClient();
        await Billing.ListThousandPointModel(service.Services.GetRequiredService<Marten.IDocumentStore>());
        var account = await InvitedAccount(App, service.CreateClient(), "mailjoin@example.ee");
        var joined = typeof(MembershipJoined).ToMessageTypeName();
        // Told apart by the queue each handler runs on, named after its class: the welcome e-mail's is the only one that is mail.
        Assert.Equal([$"local://{typeof(WelcomeEmailHandler).FullName!.ToLowerInvariant()}/"], Api.Operations.WaitingMailEndpoint.MailQueues);
        Assert.DoesNotContain(joined, Api.Operations.WaitingMailEndpoint.MailOnlyMessageTypes);

        // The invoice's scheduling fails for good: the database refuses the IssueInvoice it stores. The welcome handler finds no such
        // term on the account and sends nothing, so no e-mail is owed.
        await Execute(service, $$"""
            create function {schema}.refuse_issue_invoice() returns trigger language plpgsql as $f$
            begin raise exception 'Test: no invoice is scheduled'; end $f$;
            create trigger refuse_issue_invoice before insert on {schema}.wolverine_incoming_envelopes for each row
            when (new.message_type = '{{typeof(IssueInvoice).ToMessageTypeName()}}') execute function {schema}.refuse_issue_invoice();
            """, joined);
        await Publish(service, new MembershipJoined(account, Guid.NewGuid(), "CPS-000-000-001"));
        await Until(async () => await Execute(service, "select count(*) from {schema}.wolverine_dead_letters where message_type = $1", joined) == 1,
            "the invoice scheduling's message dead-lettered");
        // Its queue is not a mail handler's: the dead letter is the invoice's, reported by the dead-letters check alone.
        var invoiceOnly = await Ready(client);
        Assert.True(invoiceOnly.Checks["mail"].Status == "Healthy", await DeadLetters(service, invoiceOnly));
        Assert.Equal((0, 0), (invoiceOnly.Checks["mail"].Data!["notTried"].GetInt32(), invoiceOnly.Checks["mail"].Data!["notTriedDeadLetters"].GetInt32()));
        Assert.Equal("Degraded", invoiceOnly.Checks["dead-letters"].Status);

        // The welcome e-mail fails for good (the account does not exist) while the invoice's scheduling succeeds: that one is mail.
        await Execute(service, "drop trigger refuse_issue_invoice on {schema}.wolverine_incoming_envelopes", joined);
        await Publish(service, new MembershipJoined(Guid.NewGuid(), Guid.NewGuid(), "CPS-000-000-002"));
        await Until(async () => await Execute(service, "select count(*) from {schema}.wolverine_dead_letters where message_type = $1", joined) == 2,
            "the welcome e-mail's message dead-lettered");
        HealthReport? degraded = null;
        await Until(async () => (degraded = await Ready(client)).Checks["mail"].Status == "Degraded",
            () => $"the welcome e-mail's dead letter reported under mail ({degraded?.Checks["mail"].Description})");
        var mail = degraded!.Checks["mail"];
        Assert.Equal((1, 1), (mail.Data!["notTried"].GetInt32(), mail.Data["notTriedDeadLetters"].GetInt32()));
        Assert.Contains("1 e-mail(s) owed and never tried", mail.Description);
    }

    private static async Task Publish(SmtpHost service, object message)
    {
        using var scope = service.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<IMessageBus>().PublishAsync(message);
    }

    // What the dead letters say, for a failure's message: which queue each was received at and why it failed.
    private async Task<string> DeadLetters(SmtpHost service, HealthReport report)
    {
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            $"select string_agg(concat_ws(' | ', message_type, received_at, source, exception_type, exception_message), E'\\n') from {service.Schema}.wolverine_dead_letters",
            connection);
        return $"mail check: {report.Checks["mail"].Status}, {report.Checks["mail"].Description}; dead letters:\n{await command.ExecuteScalarAsync()}";
    }

    [Fact]
    public async Task An_email_held_by_a_dead_node_and_never_tried_is_reported_by_its_age_and_sent_once_when_the_node_s_work_is_released()
    {
        await using var service = SmtpHost.Start(App, "mailheld", refusing: true, ("Mail:DegradedAfter", "00:00:01"),
            // A dead node's inbox rows are not released by time here (30 s in production, 5 s in the other tests): found dead below.
            ("Wolverine:InboxStaleTime", "01:00:00"));
        var client = service.CreateClient();
        await Billing.ListThousandPointModel(service.Services.GetRequiredService<Marten.IDocumentStore>());
        await InvitedAccount(App, service.CreateClient(), "mailheld@example.ee");
        var invitationEmail = typeof(SendInvitationEmail).ToMessageTypeName();
        // The mail server refuses the invitation e-mail: its message waits in the inbox for a retry.
        await Until(async () => await Execute(service, "select count(*) from {schema}.wolverine_incoming_envelopes where message_type = $1 and status = 'Scheduled'",
            invitationEmail) == 1, "the invitation e-mail waiting for its retry");

        // What a node leaves that took the message to run and died before it tried it: the message to run now (Incoming, no time),
        // owned by that node, and no delivery record (this test forgets the refused attempts).
        await Execute(service, "update {schema}.wolverine_incoming_envelopes set status = 'Incoming', execution_time = null, owner_id = 4242 " +
                               "where message_type = $1 and status = 'Scheduled'", invitationEmail);
        await Execute(service, "delete from {schema}.email_deliveries", invitationEmail);
        service.Smtp.Refusing = false;

        HealthReport? degraded = null;
        await Until(async () => (degraded = await Ready(client)).Checks["mail"].Data!["notTried"].GetInt32() == 1,
            () => $"the e-mail held by the dead node reported ({degraded?.Checks["mail"].Description})", TimeSpan.FromSeconds(30));
        var mail = degraded!.Checks["mail"];
        Assert.Equal("Degraded", mail.Status);
        Assert.Equal((0, 0), (mail.Data!["waiting"].GetInt32(), mail.Data["notTriedDeadLetters"].GetInt32()));
        // Its age is the message's, from when the invitation review sent it (this test's first minutes): longer than the threshold.
        Assert.InRange(mail.Data["oldestNotTriedSeconds"].GetDouble(), 1, 300);
        Assert.Contains("1 e-mail(s) owed and never tried", mail.Description);
        Assert.Empty(service.Smtp.Received);

        // The node found dead, its work is released (as the cluster does on ejecting it) and run here: the e-mail sent once.
        await service.Services.GetRequiredService<IWolverineRuntime>().Storage.Admin.ReleaseAllOwnershipAsync(4242);
        await Until(() => Task.FromResult(!service.Smtp.Received.IsEmpty), "the invitation e-mail sent", TimeSpan.FromSeconds(30));
        HealthReport? healthy = null;
        await Until(async () => (healthy = await Ready(client)).Checks["mail"].Status == "Healthy",
            () => $"the mail check healthy again ({healthy?.Checks["mail"].Description})", TimeSpan.FromSeconds(30));
        await service.Services.UntilDurableStorageIsQuiet(TimeSpan.FromSeconds(30));
        var copies = service.Smtp.CopiesByMessageId();
        Assert.Equal(1, Assert.Single(copies, c => c.Key.StartsWith("invitation-", StringComparison.Ordinal)).Value);
        Assert.Single(copies);
    }

    private async Task<long> Execute(SmtpHost service, string sql, string messageType)
    {
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql.Replace("{schema}", service.Schema), connection);
        if (sql.Contains("$1", StringComparison.Ordinal))
            command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = messageType });
        return await command.ExecuteScalarAsync() is long count ? count : 0;
    }

    private static async Task<HealthReport> Ready(HttpClient client) => (await ReadyWithStatus(client)).Report;

    private static async Task<(HttpStatusCode Status, HealthReport Report)> ReadyWithStatus(HttpClient client)
    {
        var response = await client.GetAsync("/health/ready");
        return (response.StatusCode, (await response.Content.ReadFromJsonAsync<HealthReport>())!);
    }

    private sealed record HealthReport(string Status, Dictionary<string, HealthCheck> Checks);

    private sealed record HealthCheck(string Status, string? Description, Dictionary<string, JsonElement>? Data);
}
