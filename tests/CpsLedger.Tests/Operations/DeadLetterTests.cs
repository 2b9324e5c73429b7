using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Operations;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.Runtime;

namespace CpsLedger.Tests.Operations;

/// <summary>A dead letter is an operator event: logged, counted, Degraded in /health/ready, listed and replayable.</summary>
public sealed class DeadLetterTests(LedgerApp app) : LedgerTest(app)
{
    private async Task<long> DeadLetterCount() =>
        (await App.Services.GetRequiredService<IWolverineRuntime>().Storage.Admin.FetchCountsAsync()).DeadLetter;

    [Fact]
    public async Task A_message_that_fails_for_good_is_counted_shown_as_degraded_listed_and_replayed_once_its_cause_is_fixed()
    {
        var counted = new ConcurrentBag<string?>();
        using var listener = new MeterListener();
        // This host's counter only: the listener hears every meter in the process, and the API tests run on two hosts, whose dead
        // letters would otherwise satisfy the check below. Each host's meter is its own, scoped by its meter factory.
        var meters = App.Services.GetRequiredService<IMeterFactory>();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == DeadLetterAlarm.MeterName && ReferenceEquals(instrument.Meter.Scope, meters))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
            counted.Add(tags.ToArray().FirstOrDefault(t => t.Key == "message_type").Value as string));
        listener.Start();

        // The e-mail of an invoice that does not exist (yet): a permanent error, dead-lettered at the first attempt.
        var account = await App.OpenAccount();
        var invoiceId = Guid.NewGuid();
        using (var scope = App.Services.CreateScope())
            await scope.ServiceProvider.GetRequiredService<IMessageBus>().PublishAsync(new SendInvoiceEmail(invoiceId));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        // Stored as a dead letter, and (right after) reported.
        while (await DeadLetterCount() == 0 || !counted.Contains(nameof(SendInvoiceEmail)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the message was dead-lettered and counted");
            await Task.Delay(50);
        }

        var ready = await App.Anonymous().GetAsync("/health/ready").ReadAs<HealthReport>();
        Assert.Equal(("Degraded", "Degraded"), (ready.Status, ready.Checks["dead-letters"].Status));

        var support = App.ClientAs(LedgerRoles.Support);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(account).GetAsync("/api/operations/dead-letters")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Auditor).PostJson("/api/operations/dead-letters/replay",
            new { ids = new[] { Guid.NewGuid() } })).StatusCode);
        var page = await support.GetAsync("/api/operations/dead-letters").ReadAs<DeadLetterPage>();
        Assert.Equal(1, page.Total);
        var letter = Assert.Single(page.DeadLetters);
        Assert.EndsWith(nameof(SendInvoiceEmail), letter.MessageType);
        Assert.Equal(typeof(InvalidOperationException).FullName, letter.ExceptionType);
        Assert.Contains(invoiceId.ToString(), letter.Message?.GetRawText());
        await support.PostJson("/api/operations/dead-letters/replay", new { }).ReadProblem(HttpStatusCode.BadRequest);

        // The command line lists it too.
        var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "dead-letters", "list");
        Assert.True(exit == 0, output);
        Assert.Contains("1 dead letter(s)", output);
        Assert.Contains(nameof(SendInvoiceEmail), output);

        // The cause is fixed (the invoice exists now); replayed, the e-mail goes out once and the dead letter is gone.
        await IssueInvoiceWithId(App, invoiceId, account);
        // Replayed messages go back to their queue through the inbox: waited for until the e-mail's handler has run.
        DeadLetterAction? replay = null;
        await App.TrackedUntilHandled<SendInvoiceEmail>(1, async () => replay = await support
            .PostJson("/api/operations/dead-letters/replay", new { ids = new[] { letter.Id } }).ReadAs<DeadLetterAction>(HttpStatusCode.Accepted));
        Assert.Equal(1, replay!.Selected);

        Assert.Equal(0, await DeadLetterCount());
        Assert.Single(Directory.GetFiles(App.MailFolder, "invoice-*.eml"));
        Assert.Equal("Healthy", (await App.Anonymous().GetAsync("/health/ready").ReadAs<HealthReport>()).Status);
    }

    [Fact]
    public async Task Ids_and_a_message_type_together_are_refused_not_read_as_the_ids_alone()
    {
        // Both were taken as the ids alone, the message type dropped without a word: a discard "of these, of that type"
        // deleted the ids whatever their type.
        var support = App.ClientAs(LedgerRoles.Support);
        foreach (var action in new[] { "replay", "discard" })
        {
            var problem = await support.PostJson($"/api/operations/dead-letters/{action}",
                new { ids = new[] { Guid.NewGuid() }, messageType = typeof(SendInvoiceEmail).FullName }).ReadProblem(HttpStatusCode.BadRequest);
            Assert.Equal(["messageType"], problem.Errors.Keys);
            Assert.Equal("Give ids or messageType, not both.", Assert.Single(problem.Errors["messageType"]));
        }

        var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "dead-letters", "discard", "--id", Guid.NewGuid().ToString(),
            "--message-type", typeof(SendInvoiceEmail).FullName!);
        Assert.True(exit == 1, output);
        Assert.Contains("Give --id or --message-type, not both.", output);
    }

    [Fact]
    public async Task A_dead_letter_discarded_by_id_on_the_command_line_or_by_type_through_the_api_is_gone_and_never_runs()
    {
        // Two e-mails of invoices that will never exist: permanent errors, both dead-lettered.
        var doomed = new[] { Guid.NewGuid(), Guid.NewGuid() };
        using (var scope = App.Services.CreateScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            foreach (var invoiceId in doomed)
                await bus.PublishAsync(new SendInvoiceEmail(invoiceId));
        }

        await FaultWaits.Until(async () => await DeadLetterCount() == 2, "both messages dead-lettered");
        var support = App.ClientAs(LedgerRoles.Support);
        var letters = (await support.GetAsync("/api/operations/dead-letters").ReadAs<DeadLetterPage>()).DeadLetters;
        var first = letters.Single(l => l.Message!.Value.GetRawText().Contains(doomed[0].ToString(), StringComparison.Ordinal));

        // A mistyped message type replays nothing, and says so (it once answered "Marked for replay" and exit code 0).
        var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "dead-letters", "replay", "--message-type",
            typeof(SendInvoiceEmail).FullName + "s");
        Assert.True(exit == 1, output);
        Assert.Contains($"No dead letter matches message type {typeof(SendInvoiceEmail).FullName}s: nothing to replay", output);

        (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "dead-letters", "discard", "--id", first.Id.ToString());
        Assert.True(exit == 0, output);
        Assert.Contains("1 dead letter(s) discarded.", output);
        Assert.Equal(1, await DeadLetterCount());

        await support.PostJson("/api/operations/dead-letters/discard", new { }).ReadProblem(HttpStatusCode.BadRequest);
        var discarded = await support.PostJson("/api/operations/dead-letters/discard", new { messageType = typeof(SendInvoiceEmail).FullName })
            .ReadAs<DeadLetterAction>(HttpStatusCode.Accepted);

        Assert.Equal(("discard", 1), (discarded.Action, discarded.Selected));
        Assert.Equal(0, await DeadLetterCount());
        Assert.Empty((await support.GetAsync("/api/operations/dead-letters").ReadAs<DeadLetterPage>()).DeadLetters);
        Assert.Equal("Healthy", (await App.Anonymous().GetAsync("/health/ready").ReadAs<HealthReport>()).Status);
        Assert.Empty(Directory.Exists(App.MailFolder) ? Directory.GetFiles(App.MailFolder, "invoice-*.eml") : []);
    }

    [Fact]
    public async Task A_page_size_splits_the_dead_letters_across_pages_with_links_and_out_of_its_bounds_is_a_400_naming_it()
    {
        // Until 2026-12-07 the list was 50 a page, whatever was asked (pageSize was refused as not a parameter of it).
        var support = App.ClientAs(LedgerRoles.Support);
        foreach (var size in new[] { "0", "-1", "201", "2147483648", "abc" })
        {
            var problem = await support.GetAsync($"/api/operations/dead-letters?pageSize={size}").ReadProblem(HttpStatusCode.BadRequest);
            Assert.Equal(["pageSize"], problem.Errors.Keys);
            Assert.Equal($"Must be a whole number from 1 to {DeadLetterEndpoints.MaxPageSize}.", Assert.Single(problem.Errors["pageSize"]));
        }

        var doomed = new[] { Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid() };
        using (var scope = App.Services.CreateScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            foreach (var invoiceId in doomed)
                await bus.PublishAsync(new SendInvoiceEmail(invoiceId));
        }

        await FaultWaits.Until(async () => await DeadLetterCount() == 3, "the three messages dead-lettered");
        const string Path = "/api/operations/dead-letters";
        var type = Uri.EscapeDataString(typeof(SendInvoiceEmail).FullName!);

        var firstResponse = await support.GetAsync($"{Path}?messageType={type}&pageSize=2");
        var first = await firstResponse.ReadAs<DeadLetterPage>();
        Assert.Equal((3, 1, 2, 2), (first.Total, first.Page, first.PageSize, first.DeadLetters.Count));
        Assert.Equal($"<{Path}?messageType={type}&pageSize=2&page=1>; rel=\"first\", <{Path}?messageType={type}&pageSize=2&page=2>; rel=\"next\", " +
                     $"<{Path}?messageType={type}&pageSize=2&page=2>; rel=\"last\"", Assert.Single(firstResponse.Headers.GetValues("Link")));

        var secondResponse = await support.GetAsync($"{Path}?messageType={type}&pageSize=2&page=2");
        var second = await secondResponse.ReadAs<DeadLetterPage>();
        Assert.Equal((3, 2, 2, 1), (second.Total, second.Page, second.PageSize, second.DeadLetters.Count));
        Assert.Equal($"<{Path}?messageType={type}&pageSize=2&page=1>; rel=\"first\", <{Path}?messageType={type}&pageSize=2&page=1>; rel=\"prev\", " +
                     $"<{Path}?messageType={type}&pageSize=2&page=2>; rel=\"last\"", Assert.Single(secondResponse.Headers.GetValues("Link")));

        // Each dead letter on one page only.
        var listed = first.DeadLetters.Concat(second.DeadLetters).ToList();
        Assert.Equal(3, listed.Select(l => l.Id).Distinct().Count());
        Assert.All(doomed, invoiceId => Assert.Single(listed, l => l.Message!.Value.GetRawText().Contains(invoiceId.ToString(), StringComparison.Ordinal)));

        // Without pageSize, as before: 50 a page, said.
        var whole = await support.GetAsync(Path).ReadAs<DeadLetterPage>();
        Assert.Equal((3, 1, DeadLetterEndpoints.DefaultPageSize, 3), (whole.Total, whole.Page, whole.PageSize, whole.DeadLetters.Count));
        var largest = await support.GetAsync($"{Path}?pageSize={DeadLetterEndpoints.MaxPageSize}").ReadAs<DeadLetterPage>();
        Assert.Equal((DeadLetterEndpoints.MaxPageSize, 3), (largest.PageSize, largest.DeadLetters.Count));
    }

    [Fact]
    public async Task Dead_letters_come_newest_first_by_when_they_failed_ties_by_id_and_each_on_one_page_only()
    {
        // Until 2026-12-08 the list was in Wolverine's order (by scheduled time, null for almost every dead letter): whatever
        // PostgreSQL returned, so a page could repeat a dead letter the previous one showed and never show another.
        var doomed = new[] { Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid() };
        using (var scope = App.Services.CreateScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            foreach (var invoiceId in doomed)
                await bus.PublishAsync(new SendInvoiceEmail(invoiceId));
        }

        await FaultWaits.Until(async () => await DeadLetterCount() == doomed.Length, "the four messages dead-lettered");
        var support = App.ClientAs(LedgerRoles.Support);
        var stored = (await support.GetAsync("/api/operations/dead-letters").ReadAs<DeadLetterPage>()).DeadLetters;
        var ids = doomed.Select(invoiceId => stored.Single(l => l.Message!.Value.GetRawText().Contains(invoiceId.ToString(), StringComparison.Ordinal)).Id)
            .ToArray();

        // When each failed, set apart: the oldest three hours ago, two in the same instant an hour ago, and one whose failure
        // time is not recorded (read by when it was sent, two hours ago).
        var now = DateTimeOffset.UtcNow;
        await using (var connection = new Npgsql.NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var times = new Npgsql.NpgsqlBatch(connection);
            foreach (var (id, failedAt, sentAt) in new[]
                     {
                         (ids[0], (DateTimeOffset?)now.AddHours(-3), now.AddHours(-3)), (ids[1], now.AddHours(-1), now.AddHours(-4)),
                         (ids[2], now.AddHours(-1), now.AddHours(-5)), (ids[3], null, now.AddHours(-2)),
                     })
                times.BatchCommands.Add(new Npgsql.NpgsqlBatchCommand(
                    $"update {App.SchemaName}.wolverine_dead_letters set failed_at = $2, sent_at = $3 where id = $1")
                {
                    Parameters = { new() { Value = id }, new() { Value = failedAt is { } at ? at : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz },
                        new() { Value = sentAt } },
                });
            await times.ExecuteNonQueryAsync();
        }

        Guid[] newestFirst = [.. new[] { ids[1], ids[2] }.OrderByDescending(id => id.ToString(), StringComparer.Ordinal), ids[3], ids[0]];
        var whole = await support.GetAsync("/api/operations/dead-letters").ReadAs<DeadLetterPage>();
        Assert.Equal(newestFirst, whole.DeadLetters.Select(l => l.Id));
        Assert.Null(whole.DeadLetters[2].FailedAt);

        // A page at a time: each dead letter once, in the same order, and every page (one past the last too) says the total.
        var type = Uri.EscapeDataString(typeof(SendInvoiceEmail).FullName!);
        var paged = new List<Guid>();
        for (var number = 1; number <= newestFirst.Length + 1; number++)
        {
            var page = await support.GetAsync($"/api/operations/dead-letters?messageType={type}&pageSize=1&page={number}").ReadAs<DeadLetterPage>();
            Assert.Equal((newestFirst.Length, number, 1), (page.Total, page.Page, page.PageSize));
            Assert.Equal(number <= newestFirst.Length ? 1 : 0, page.DeadLetters.Count);
            paged.AddRange(page.DeadLetters.Select(l => l.Id));
        }

        Assert.Equal(newestFirst, paged);

        // The command line lists them in the same order.
        var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "dead-letters", "list");
        Assert.True(exit == 0, output);
        Assert.Equal(newestFirst, newestFirst.OrderBy(id => output.IndexOf(id.ToString(), StringComparison.Ordinal)));
    }

    /// <summary>Issues an invoice under a given id: what fixes the cause of a dead-lettered e-mail of that invoice.</summary>
    internal static async Task IssueInvoiceWithId(LedgerApp app, Guid invoiceId, Guid accountId)
    {
        await using var session = app.Store.LightweightSession();
        var account = (await session.LoadAsync<AccountView>(accountId))!;
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var term = new MembershipTerm(Guid.NewGuid(), "CPS-TEST-1", "gold", "Gold", Api.Tiers.TierKind.Standard, 200m, "EUR",
            PaymentMethod.BankTransfer, today, today.AddYears(1).AddDays(-1), 1);
        var issued = IssueInvoiceDecision.Decide(invoiceId, "INV-2099-000001", accountId, account, term,
            app.Services.GetRequiredService<IOptions<InvoicingOptions>>().Value, TestInvoices.Seller, TestInvoices.Payee,
            TestInvoices.VatTable(), DateTimeOffset.UtcNow);
        session.Events.StartStream<Invoice>(invoiceId, issued);
        await session.SaveChangesAsync();
    }

    private sealed record HealthReport(string Status, Dictionary<string, HealthCheck> Checks);

    private sealed record HealthCheck(string Status);
}
