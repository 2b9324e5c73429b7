using System.Collections.Concurrent;
using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using static CpsLedger.Tests.Harness.FaultWaits;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Serilog.Events;
using Wolverine.Runtime;
using Wolverine.Util;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// Ordinary faults, made to happen: PostgreSQL crashing mid-burst, the mail server refusing, two nodes on one database. What
/// a commit promises (an invitation, an invoice, an e-mail) happens exactly once all the same. Waits are on conditions.
/// </summary>
public sealed class FaultTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task A_database_crash_during_bursts_of_registrations_and_joins_loses_no_invitation_and_no_invoice_and_doubles_none()
    {
        await Billing.ListThousandPointModel(App.Store);
        const int count = 10;
        var accounts = new List<Guid>();
        for (var i = 0; i < count; i++)
            accounts.Add(await App.OpenAccount($"burst{i}@example.ee"));
        var answers = new ConcurrentBag<HttpStatusCode>();
        var logMark = App.Logs.Mark();

        // Each registration allocates 1000 points: a ReviewInvitation, then the invitation and its e-mail. PostgreSQL crashes
        // (restart -m immediate) while they are being answered and handled.
        await WithCrashDuring(accounts.Select(account => UntilAnswered(() =>
            App.Member(account).PostJson(Products.Products.ProductsUrl(account), Products.Products.Complete($"S-{account:N}", Billing.Thousand),
                $"register-{account}"), answers)));
        await Until(async () => (await Count("invitation_issued")) == count, () => $"every account invited ({State()})",
            meanwhile: Inbox);
        // And every invitation announced before the accounts join: an invitation used before its e-mail went out (one failed in
        // the crash waits for its re-scheduled retry) is, by design, not announced any more.
        await Until(() => Task.FromResult(MailFiles("invitation-*.eml").Length == count),
            () => $"every invitation e-mailed ({State()})", meanwhile: async () =>
            {
                await App.MakeScheduledMessagesDue(App.Services, TimeSpan.Zero, accounts);
                await Inbox();
            });

        await WithCrashDuring(accounts.Select(account => UntilAnswered(() =>
            App.Member(account).PostJson($"/api/accounts/{account}/membership", new { tier = "gold", paymentMethod = "bank_transfer" },
                $"join-{account}"), answers)));
        await App.Services.UntilDurableStorageIsQuiet();
        await App.MakeScheduledMessagesDue(App.Services, Billing.IssueDelay, accounts);
        await Until(async () => (await Count("invoice_issued")) == count, () => $"every member invoiced ({State()})", meanwhile: Inbox);
        // An e-mail that failed during a crash waits for its re-scheduled retry: make those due now.
        await Until(() => Task.FromResult(Directory.GetFiles(App.MailFolder, "*.eml").Length >= 3 * count),
            () => $"every e-mail written ({State()})", meanwhile: async () =>
            {
                await App.MakeScheduledMessagesDue(App.Services, TimeSpan.Zero, accounts);
                await Inbox();
            });
        await App.Services.UntilDurableStorageIsQuiet();

        Assert.All(answers, status => Assert.Contains(status, new[] { HttpStatusCode.Created, HttpStatusCode.ServiceUnavailable }));
        // The request log tells the outage as it was: a 503 warning, never a 500 error.
        var outageLines = App.Logs.RequestsSince(logMark).Where(e => e.Properties["StatusCode"] is ScalarValue { Value: 503 or 500 }).ToList();
        Assert.All(outageLines, e => Assert.Equal((LogEventLevel.Warning, 503),
            (e.Level, (int)((ScalarValue)e.Properties["StatusCode"]).Value!)));
        Assert.True(outageLines.Count >= answers.Count(a => a == HttpStatusCode.ServiceUnavailable), "every 503 answer has its request line");
        Assert.Equal(count, await Count("cps_joined"));
        Assert.Equal(count, await Count("invitation_issued"));
        Assert.Equal(count, await Count("invoice_issued"));
        foreach (var account in accounts)
            Assert.Single(await App.Member(account).Invoices(account));
        // Every e-mail once: an invitation, a welcome and an invoice per account, no second copy of any.
        var mail = Directory.GetFiles(App.MailFolder, "*.eml").Select(Path.GetFileName).Order().ToList();
        Assert.True(mail.Count == 3 * count, string.Join(", ", mail));
        Assert.DoesNotContain(mail, f => f!.EndsWith(".2.eml", StringComparison.Ordinal));
        Assert.True((await App.Services.GetRequiredService<IWolverineRuntime>().Storage.Admin.FetchCountsAsync()).DeadLetter == 0,
            App.Logs.DeadLetters());
    }

    [Fact]
    public async Task While_the_mail_server_refuses_members_still_get_invoices_scheduled_and_afterwards_every_email_arrives_once()
    {
        await using var service = SmtpHost.Start(App, "smtp", refusing: true);
        await Billing.ListThousandPointModel(service.Services.GetRequiredService<Marten.IDocumentStore>());
        // Three accounts join (their invitations used before their e-mails could go out, so only the welcome and the invoice
        // are owed), two are only invited (their invitation e-mails are owed).
        const int count = 3, invitedOnly = 2;
        var accounts = new List<Guid>();
        for (var i = 0; i < count + invitedOnly; i++)
            accounts.Add(await FaultWaits.InvitedAccount(App, service.CreateClient(), $"smtp{i}@example.ee", joinPaying: i < count ? "bank_transfer" : null));

        // The mail server has refused every e-mail so far (invitations, welcomes), and every invoice is scheduled anyway.
        // Each joining schedules its invoice, its renewal offer and its term end.
        await Until(async () => await service.Services.ScheduledMessageCount() == 3 * count, "every invoice scheduled");
        Assert.True(service.Smtp.Refused > 0);
        Assert.Empty(service.Smtp.Received);

        service.Smtp.Refusing = false;
        await App.MakeScheduledMessagesDue(service.Services, Billing.IssueDelay, accounts);
        await Until(() => Task.FromResult(service.Smtp.Received.Count >= 2 * count + invitedOnly),
            () => $"every e-mail delivered (received: {string.Join(", ", service.Smtp.CopiesByMessageId().Keys)})", TimeSpan.FromSeconds(60),
            () => App.MakeScheduledMessagesDue(service.Services, TimeSpan.Zero, accounts));
        await service.Services.UntilDurableStorageIsQuiet(TimeSpan.FromSeconds(30));

        var copies = service.Smtp.CopiesByMessageId();
        Assert.Equal(2 * count + invitedOnly, copies.Count);
        Assert.All(copies, c => Assert.Equal(1, c.Value));
        Assert.Equal(count, copies.Keys.Count(id => id.StartsWith("invoice-", StringComparison.Ordinal)));
        Assert.Equal(count, copies.Keys.Count(id => id.StartsWith("welcome-", StringComparison.Ordinal)));
        Assert.Equal(invitedOnly, copies.Keys.Count(id => id.StartsWith("invitation-", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Two_nodes_on_one_database_issue_each_scheduled_invoice_and_send_each_email_exactly_once()
    {
        await WithTwoNodes("nodes", async (first, second, schema, mailFolder) =>
        {
            const int count = 6;
            var accounts = new List<Guid>();
            for (var i = 0; i < count; i++)
            {
                var node = i % 2 == 0 ? first : second;
                accounts.Add(await Billing.JoinedAccount(App, node.CreateClient(), node.Services, "EE", i % 3 == 0 ? "card" : "bank_transfer",
                    Api.Invoicing.SandboxPaymentGateway.Approve, $"node{i}@example.ee"));
            }

            await App.MakeScheduledMessagesDue(first.Services, Billing.IssueDelay, accounts);
            await Until(async () => await Count("invoice_issued", schema) == count, "every member invoiced");
            await Until(() => Task.FromResult(Directory.GetFiles(mailFolder, "invoice-*.eml").Length >= count), "every invoice e-mailed");
            await first.Services.UntilDurableStorageIsQuiet(TimeSpan.FromSeconds(30));

            Assert.Equal(count, await Count("invoice_issued", schema));
            var mail = Directory.GetFiles(mailFolder, "*.eml").Select(Path.GetFileName).ToList();
            Assert.Equal(3 * count, mail.Count);
            Assert.DoesNotContain(mail, f => f!.EndsWith(".2.eml", StringComparison.Ordinal));
        });
    }

    /// <summary>
    /// Two service nodes (Wolverine's balanced mode) on one fresh schema with one pickup folder and the 1000-point model
    /// listed; the schema and the folder go afterwards.
    /// </summary>
    private async Task WithTwoNodes(string name, Func<WebApplicationFactory<Program>, WebApplicationFactory<Program>, string, string, Task> test)
    {
        var schema = $"cpsledger_{name}_{Guid.NewGuid():N}"[..30];
        var mailFolder = Path.Combine(Path.GetTempPath(), $"cpsledger-tests-{name}-{Guid.NewGuid():N}");
        WebApplicationFactory<Program> Node() => App.WithWebHostBuilder(b =>
        {
            b.UseSetting("Ledger:SchemaName", schema);
            b.UseSetting("Wolverine:Balanced", "true");
            b.UseSetting("Mail:PickupDirectory", mailFolder);
        });
        try
        {
            // The first node creates the schema before the second starts (two hosts racing the same DDL fail).
            await using var first = Node();
            await Billing.ListThousandPointModel(first.Services.GetRequiredService<Marten.IDocumentStore>());
            await using var second = Node();
            _ = second.Server;
            await test(first, second, schema, mailFolder);
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
            if (Directory.Exists(mailFolder))
                Directory.Delete(mailFolder, recursive: true);
        }
    }

    /// <summary>Runs the requests, restarting PostgreSQL once the first of them has been answered.</summary>
    private async Task WithCrashDuring(IEnumerable<Task> requests)
    {
        var all = requests.ToList();
        await Task.WhenAny(all);
        await App.Cluster.RestartAsync();
        // The test's own queries share a connection pool whose connections the crash cut (the service has pools of its own,
        // which it must recover by itself).
        NpgsqlConnection.ClearPool(new NpgsqlConnection(App.ConnectionString));
        await Task.WhenAll(all);
    }

    /// <summary>A client that retries a 503 (as the Retry-After tells it to, only sooner) with the same Idempotency-Key.</summary>
    private static async Task UntilAnswered(Func<Task<HttpResponseMessage>> send, ConcurrentBag<HttpStatusCode> answers)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var response = await send();
            answers.Add(response.StatusCode);
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
            {
                await response.ShouldBe(HttpStatusCode.Created);
                return;
            }

            Assert.True(response.Headers.RetryAfter is not null, "a 503 says when to retry");
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("The service kept answering 503.");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Two_nodes_on_one_database_offer_renew_and_lapse_each_membership_once_and_email_each_step_once()
    {
        await WithTwoNodes("year", async (first, second, schema, mailFolder) =>
        {
            const int count = 4; // two by card (renewed), two by bank transfer left unpaid (lapsed)
            var accounts = new List<Guid>();
            for (var i = 0; i < count; i++)
            {
                var node = i % 2 == 0 ? first : second;
                accounts.Add(await Billing.JoinedAccount(App, node.CreateClient(), node.Services, "EE", i < 2 ? "card" : "bank_transfer",
                    Api.Invoicing.SandboxPaymentGateway.Approve, $"year{i}@example.ee"));
            }

            var terms = new Dictionary<Guid, Api.Membership.MembershipTerm>();
            await using (var session = first.Services.GetRequiredService<Marten.IDocumentStore>().QuerySession())
                foreach (var a in accounts)
                    terms[a] = (await session.LoadAsync<Api.Membership.AccountMembership>(Api.Membership.MembershipStream.For(a)))!.Membership!;
            var term = terms[accounts[0]];
            Guid MembershipOf(Guid account) => terms[account].MembershipId;

            // Each step is due on both nodes: the scheduled message runs on one, and both are also asked at once.
            async Task Step(Func<Guid, object> message, TimeSpan by)
            {
                await App.MakeScheduledMessagesDue(first.Services, by, accounts);
                await Task.WhenAll(accounts.SelectMany(a => new[] { first, second }.Select(async node =>
                {
                    using var scope = node.Services.CreateScope();
                    await scope.ServiceProvider.GetRequiredService<Wolverine.IMessageBus>().InvokeAsync(message(a));
                })));
            }

            await Step(a => new Api.Membership.OfferRenewal(a, MembershipOf(a)), Api.Membership.RenewalDecision.EndAt(term) - TimeSpan.FromDays(30)
                - App.Clock.GetUtcNow() + TimeSpan.FromMinutes(1));
            await Until(() => Task.FromResult(Directory.GetFiles(mailFolder, "renewal-offer-*.eml").Length >= count), "every offer e-mailed");
            // Every joining invoiced, and the two bank transfers' renewals invoiced with their offers.
            await Until(async () => await Count("invoice_issued", schema) == count + 2, "every renewal invoice issued");
            await Step(a => new Api.Membership.EndTerm(a, MembershipOf(a)), Api.Membership.RenewalDecision.EndAt(term) - App.Clock.GetUtcNow()
                + TimeSpan.FromMinutes(1));
            await Until(() => Task.FromResult(Directory.GetFiles(mailFolder, "renewed-*.eml").Length >= 2
                                              && Directory.GetFiles(mailFolder, "membership-ended-*.eml").Length >= 2), "every term end e-mailed");
            await first.Services.UntilDurableStorageIsQuiet(TimeSpan.FromSeconds(30));

            Assert.Equal((count, 2L, 2L), (await Count("renewal_offered", schema), await Count("membership_renewed", schema),
                await Count("membership_lapsed", schema)));
            Assert.Equal(2, await Count("invoice_cancelled", schema)); // the two unpaid bank renewals
            var mail = Directory.GetFiles(mailFolder, "*.eml").Select(Path.GetFileName).ToList();
            Assert.DoesNotContain(mail, f => f!.EndsWith(".2.eml", StringComparison.Ordinal));
            Assert.Equal(count, mail.Count(f => f!.StartsWith("renewal-offer-", StringComparison.Ordinal)));
        });
    }

    [Fact]
    public async Task A_database_restart_while_the_start_up_renewal_offer_check_runs_offers_each_term_once_and_dead_letters_nothing()
    {
        // Four terms 40 days before their end wait for offers scheduled under the 30-day window; the service restarts with a
        // 45-day window, and PostgreSQL restarts while the start-up check is in flight: it has read the inbox and the memberships
        // and is about to commit the offers it sends (held there by the test).
        var schema = $"cpsledger_check_{Guid.NewGuid():N}"[..30];
        var mailFolder = Path.Combine(Path.GetTempPath(), $"cpsledger-tests-check-{Guid.NewGuid():N}");
        try
        {
            const int count = 4; // two by card, two by bank transfer (whose offers come with a renewal invoice)
            var accounts = new List<Guid>();
            Api.Membership.MembershipTerm term;
            await using (var before = App.WithWebHostBuilder(b =>
                         {
                             b.UseSetting("Ledger:SchemaName", schema);
                             b.UseSetting("Mail:PickupDirectory", mailFolder);
                         }))
            {
                await Billing.ListThousandPointModel(before.Services.GetRequiredService<Marten.IDocumentStore>());
                for (var i = 0; i < count; i++)
                    accounts.Add(await Billing.JoinedAccount(App, before.CreateClient(), before.Services, "EE", i < 2 ? "card" : "bank_transfer",
                        Api.Invoicing.SandboxPaymentGateway.Approve, $"check{i}@example.ee"));
                await Billing.FastForward(App, before.Services, Billing.IssueDelay);
                var finance = before.Client(App, LedgerRoles.Finance);
                foreach (var account in accounts.Skip(2))
                {
                    var invoice = await before.Client(App, LedgerRoles.Member, account).SingleInvoice(account);
                    await before.Services.Tracked(async () => await (await finance.PostJson("/api/payments/bank-transfers",
                        App.BankPayment(invoice.InvoiceNumber, invoice.Total, $"TR-{account:N}"))).ShouldBe(HttpStatusCode.Created));
                }

                await Billing.FastForward(App, before.Services, TimeSpan.FromDays(31));
                await using (var session = before.Services.GetRequiredService<Marten.IDocumentStore>().QuerySession())
                    term = (await session.LoadAsync<Api.Membership.AccountMembership>(Api.Membership.MembershipStream.For(accounts[0])))!.Membership!;
                await Billing.FastForward(App, before.Services, Api.Membership.RenewalDecision.EndAt(term) - TimeSpan.FromDays(40) - App.Clock.GetUtcNow());
                Assert.Equal(0, await Count("renewal_offered", schema));
            }

            var invoicesBefore = await Count("invoice_issued", schema);
            var hold = new HoldTheFirstCommitOf<Api.Membership.OfferRenewal>();
            await using var after = App.WithWebHostBuilder(b =>
            {
                b.UseSetting("Ledger:SchemaName", schema);
                b.UseSetting("Mail:PickupDirectory", mailFolder);
                b.UseSetting("Membership:RenewalOfferBefore", "45.00:00:00");
                b.ConfigureServices(s => Marten.MartenServiceCollectionExtensions.ConfigureMarten(s, o => o.Listeners.Add(hold)));
            });
            var mark = App.Logs.Mark();
            var starting = Task.Run(() => _ = after.Server);
            await hold.Reached.Task.WaitAsync(TimeSpan.FromSeconds(60));
            // The check's own inbox row, locked: its commit (the offers stored, the check marked handled) waits for it, its
            // transaction open, when PostgreSQL restarts. Unpooled: the restart cuts it, and a pooled one would be reset as it closes.
            await using (var holder = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(App.ConnectionString) { Pooling = false }.ConnectionString))
            {
                await holder.OpenAsync();
                var transaction = await holder.BeginTransactionAsync();
                await using (var lockCheck = new NpgsqlCommand(
                                 $"select id from {schema}.wolverine_incoming_envelopes where message_type = $1 for update", holder, transaction))
                {
                    lockCheck.Parameters.Add(new NpgsqlParameter { Value = typeof(Api.Membership.CheckRenewalOfferSchedules).ToMessageTypeName() });
                    await lockCheck.ExecuteNonQueryAsync();
                }

                hold.Release.SetResult();
                await Until(() => WaitsForLockOf(holder.ProcessID), "the start-up check's commit waiting", TimeSpan.FromSeconds(30));
                await App.Cluster.RestartAsync();
                NpgsqlConnection.ClearPool(new NpgsqlConnection(App.ConnectionString));
            }

            await starting;

            await Until(async () => await Count("renewal_offered", schema) == count, () => $"every term offered ({Offers(mailFolder)})");
            await Until(async () => await Count("invoice_issued", schema) == invoicesBefore + 2, "both bank renewals invoiced");
            await Until(() => Task.FromResult(MailFiles(mailFolder, "renewal-offer-*.eml").Length >= count), () => $"every offer e-mailed ({Offers(mailFolder)})");
            await after.Services.UntilDurableStorageIsQuiet(TimeSpan.FromSeconds(30));

            // The offers scheduled under the 30-day window come due and find each term offered.
            await Billing.FastForwardToWhatIsDue(App, after.Services, TimeSpan.FromDays(10) + TimeSpan.FromMinutes(1));
            await after.Services.UntilDurableStorageIsQuiet(TimeSpan.FromSeconds(30));

            Assert.Equal(count, await Count("renewal_offered", schema));
            Assert.Equal(invoicesBefore + 2, await Count("invoice_issued", schema));
            var offers = MailFiles(mailFolder, "renewal-offer-*.eml").Select(Path.GetFileName).ToList();
            Assert.Equal(count, offers.Count);
            Assert.DoesNotContain(MailFiles(mailFolder, "*.eml"), f => f.EndsWith(".2.eml", StringComparison.Ordinal));
            Assert.True((await after.Services.GetRequiredService<IWolverineRuntime>().Storage.Admin.FetchCountsAsync()).DeadLetter == 0,
                App.Logs.DeadLetters());
            // The restart did cut the check's commit (it ran again), and the check has run to its end.
            Assert.Contains(App.Logs.Since(mark), e => e.Exception is not null && e.RenderMessage().Contains(nameof(Api.Membership.CheckRenewalOfferSchedules)));
            Assert.Equal(0, await Pending(schema, typeof(Api.Membership.CheckRenewalOfferSchedules).ToMessageTypeName()));
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
            if (Directory.Exists(mailFolder))
                Directory.Delete(mailFolder, recursive: true);
        }
    }

    /// <summary>
    /// Holds the first commit that stores a <typeparamref name="T"/> (the start-up check's, which sends the offers) until released,
    /// so that a fault can be made while that handler is in flight: its reads done, its transaction not yet committed.
    /// </summary>
    private sealed class HoldTheFirstCommitOf<T> : Marten.DocumentSessionListenerBase
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task BeforeSaveChangesAsync(Marten.IDocumentSession session, CancellationToken token)
        {
            // Wolverine queues each message a handler sends to a durable local queue as an inbox row on the handler's session.
            if (Reached.Task.IsCompleted || !session.PendingChanges.Operations().Any(o =>
                    o.GetType().GetProperty("Envelope")?.GetValue(o) is Wolverine.Envelope { Message: T }))
                return;
            Reached.TrySetResult();
            await Release.Task;
        }
    }

    // The messages of a type in the inbox not handled yet (to run, running, scheduled).
    private async Task<long> Pending(string schema, string messageType)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var pending = new NpgsqlCommand(
            $"select count(*) from {schema}.wolverine_incoming_envelopes where message_type = $1 and status <> 'Handled'", connection)
        {
            Parameters = { new NpgsqlParameter { Value = messageType } },
        };
        return (long)(await pending.ExecuteScalarAsync())!;
    }

    // Whether some backend waits for a lock the backend holds.
    private async Task<bool> WaitsForLockOf(int holder)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var waiting = new NpgsqlCommand("select count(*) from pg_stat_activity where $1 = any(pg_blocking_pids(pid))", connection)
        {
            Parameters = { new NpgsqlParameter { Value = holder } },
        };
        return (long)(await waiting.ExecuteScalarAsync())! > 0;
    }

    private static string[] MailFiles(string folder, string pattern) => Directory.Exists(folder) ? Directory.GetFiles(folder, pattern) : [];

    private static string Offers(string folder) => string.Join(", ", MailFiles(folder, "*.eml").Select(Path.GetFileName).Order());

    private Task<long> Count(string eventType) => Count(eventType, App.SchemaName);

    private string _inbox = "";

    // What the inbox holds while a test waits (shown when the wait fails).
    // What a timed-out wait of the crash test reports: the e-mails written, the dead letters, and the inbox.
    private string State() =>
        $"e-mails: {string.Join(", ", MailFiles("*.eml").Select(Path.GetFileName).Order())}; " +
        $"dead letters: {App.Logs.DeadLetters()}; inbox: {_inbox}";

    private string[] MailFiles(string pattern) => Directory.Exists(App.MailFolder) ? Directory.GetFiles(App.MailFolder, pattern) : [];

    private async Task Inbox()
    {
        var schema = App.SchemaName;
        // The inbox's unhandled messages; and for an e-mail owed and not written, its delivery row (claimed and never marked sent)
        // and the welcome's MembershipJoined rows, handled ones too: which step it stopped at (a failure seen once, 2026-12-06).
        string[] reads =
        [
            "select format('%s %s owner %s attempts %s at %s', message_type, status, owner_id, attempts, execution_time) " +
            $"from {schema}.wolverine_incoming_envelopes where status <> 'Handled'",
            "select format('delivery %s attempts %s claimed %s sent %s failed for good %s', message_id, attempts, claimed_at, sent_at, " +
            $"failed_for_good) from {schema}.{EmailDeliveries.TableName} where sent_at is null or failed_for_good",
            "select format('MembershipJoined %s owner %s attempts %s received by %s', status, owner_id, attempts, received_at) " +
            $"from {schema}.wolverine_incoming_envelopes where message_type like '%MembershipJoined'",
        ];
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        var rows = new List<string>();
        foreach (var sql in reads)
        {
            await using var read = new NpgsqlCommand(sql, connection);
            await using var reader = await read.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                rows.Add(reader.GetString(0));
        }
        _inbox = string.Join("; ", rows);
    }

    private async Task<long> Count(string eventType, string schema)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand($"select count(*) from {schema}.mt_events where type = $1", connection)
        {
            Parameters = { new NpgsqlParameter { Value = eventType } },
        };
        return (long)(await count.ExecuteScalarAsync())!;
    }
}
