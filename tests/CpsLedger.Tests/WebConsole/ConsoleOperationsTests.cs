using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Operations;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Operations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Npgsql;
using Wolverine;
using Wolverine.Runtime;
using Wolverine.Runtime.Recurring;
using static Microsoft.Playwright.Assertions;

namespace CpsLedger.Tests.WebConsole;

/// <summary>The Operations page: dead letters, the reconciliation and waiting mail, as support reads and acts on them.</summary>
public sealed class ConsoleOperationsTests(ConsoleApp app, Chromium chromium) : ConsoleTest(app, chromium)
{
    private static readonly string InvoiceEmail = typeof(SendInvoiceEmail).FullName!;

    private async Task<long> DeadLetterCount() =>
        (await App.Services.GetRequiredService<IWolverineRuntime>().Storage.Admin.FetchCountsAsync()).DeadLetter;

    /// <summary>The e-mails of invoices that do not exist: permanent errors, each a dead letter; their ids by invoice.</summary>
    private async Task<Dictionary<Guid, Guid>> DeadLettersOfMissingInvoices(params Guid[] invoiceIds)
    {
        await PublishEmailsOfMissingInvoices(invoiceIds);
        var letters = (await App.ClientAs(LedgerRoles.Support).GetAsync("/api/operations/dead-letters").ReadAs<DeadLetterPage>()).DeadLetters;
        return invoiceIds.ToDictionary(i => i,
            i => letters.Single(l => l.Message!.Value.GetRawText().Contains(i.ToString(), StringComparison.Ordinal)).Id);
    }

    private async Task PublishEmailsOfMissingInvoices(IReadOnlyCollection<Guid> invoiceIds)
    {
        using (var scope = App.Services.CreateScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            foreach (var invoiceId in invoiceIds)
                await bus.PublishAsync(new SendInvoiceEmail(invoiceId));
        }

        await FaultWaits.Until(async () => await DeadLetterCount() == invoiceIds.Count, "every message dead-lettered");
    }

    private async Task Execute(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", App.SchemaName), connection);
        await command.ExecuteNonQueryAsync();
    }

    private ILocator DeadLetterRow(Guid id) => Page.GetByTestId("dead-letters").Locator($"tbody tr[data-id='{id}']");

    private ILocator WhatWillHappen => Page.GetByRole(AriaRole.Region, new() { Name = "What will happen" });

    [Fact]
    public async Task Support_reads_dead_letters_replays_one_whose_cause_is_fixed_and_discards_the_others_only_once_confirmed()
    {
        var account = await App.OpenAccount();
        Guid fixedLater = Guid.NewGuid(), doomed = Guid.NewGuid(), alsoDoomed = Guid.NewGuid();
        var ids = await DeadLettersOfMissingInvoices(fixedLater, doomed, alsoDoomed);
        await SignInAs(LedgerRoles.Support, "anna");

        await Page.GetByRole(AriaRole.Navigation, new() { Name = "Console" }).GetByRole(AriaRole.Link, new() { Name = "Operations" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Operations", Level = 1 })).ToBeVisibleAsync();
        var letters = Page.GetByTestId("dead-letters");
        await Expect(letters.Locator("caption")).ToContainTextAsync("3 dead letters");
        await Expect(letters.Locator("tbody tr[data-id]")).ToHaveCountAsync(3);
        var row = DeadLetterRow(ids[fixedLater]);
        await Expect(row).ToContainTextAsync("SendInvoiceEmail");
        await Expect(row).ToContainTextAsync("InvalidOperationException");
        await Expect(row.Locator("td[data-column=replays]")).ToHaveTextAsync("0");
        // The message itself, on demand.
        var message = row.Locator("pre");
        await Expect(message).Not.ToBeVisibleAsync();
        await row.GetByText("Show the message").ClickAsync();
        await Expect(message).ToBeVisibleAsync();
        await Expect(message).ToContainTextAsync($"\"invoiceId\": \"{fixedLater}\"");

        // Discarding one: the page says what will be deleted for good, and deletes nothing until "Write it".
        await DeadLetterRow(ids[doomed]).GetByRole(AriaRole.Checkbox).CheckAsync();
        await letters.GetByRole(AriaRole.Button, new() { Name = "Discard selected" }).ClickAsync();
        await Expect(WhatWillHappen).ToContainTextAsync("Deletes 1 dead letter for good");
        await Expect(WhatWillHappen).ToContainTextAsync(ids[doomed].ToString());
        Assert.Equal(3, await DeadLetterCount());
        await WhatWillHappen.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Discarded 1 dead letter for good.").First).ToBeVisibleAsync();
        // "Write it" went with the review: what was done has the focus, not the page's body.
        await Expect(letters.Locator(".notice.ok")).ToBeFocusedAsync();
        Assert.Equal(2, await DeadLetterCount());
        await Expect(letters.Locator("tbody tr[data-id]")).ToHaveCountAsync(2);
        await Expect(DeadLetterRow(ids[doomed])).ToHaveCountAsync(0);

        // Its cause fixed (the invoice exists now), the first is replayed: its e-mail goes out once and the dead letter is gone.
        await DeadLetterTests.IssueInvoiceWithId(App, fixedLater, account);
        await DeadLetterRow(ids[fixedLater]).GetByRole(AriaRole.Checkbox).CheckAsync();
        await letters.GetByRole(AriaRole.Button, new() { Name = "Replay selected" }).ClickAsync();
        await Expect(WhatWillHappen).ToContainTextAsync("Runs 1 dead letter again");
        await App.TrackedUntilHandled<SendInvoiceEmail>(1, () => WhatWillHappen.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync());
        await Expect(Page.GetByText("Marked 1 dead letter for replay").First).ToBeVisibleAsync();
        Assert.Equal(1, await DeadLetterCount());
        Assert.Single(Directory.GetFiles(App.MailFolder, "invoice-*.eml"));
        await letters.GetByRole(AriaRole.Button, new() { Name = "Refresh" }).ClickAsync();
        await Expect(letters.Locator("tbody tr[data-id]")).ToHaveCountAsync(1);

        // Every dead letter of a message type: the filter, then the same review before anything is deleted.
        await letters.GetByLabel("Message type").FillAsync(InvoiceEmail);
        await letters.GetByRole(AriaRole.Button, new() { Name = "Show", Exact = true }).ClickAsync();
        await Expect(letters.Locator("caption")).ToContainTextAsync($"1 dead letter of {InvoiceEmail}");
        await letters.GetByRole(AriaRole.Button, new() { Name = "Discard all of this type" }).ClickAsync();
        await Expect(WhatWillHappen).ToContainTextAsync($"Deletes every dead letter of {InvoiceEmail} for good: 1 now");
        Assert.Equal(1, await DeadLetterCount());
        await WhatWillHappen.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Discarded 1 dead letter for good.").First).ToBeVisibleAsync();
        Assert.Equal(0, await DeadLetterCount());
        await Expect(letters).ToContainTextAsync("No dead letters");
        Assert.Single(Directory.GetFiles(App.MailFolder, "invoice-*.eml"));
    }

    /// <summary>Presses Tab (or Shift+Tab) until <paramref name="target"/> has the focus, as a keyboard user moves to it.</summary>
    private async Task TabTo(ILocator target, bool backwards = false)
    {
        for (var n = 0; n < 40; n++)
        {
            if (await target.EvaluateAsync<bool>("e => e === document.activeElement"))
                return;
            await Page.Keyboard.PressAsync(backwards ? "Shift+Tab" : "Tab");
        }
        await Expect(target).ToBeFocusedAsync();
    }

    [Fact]
    public async Task The_dead_letters_page_count_follows_the_page_size_the_api_answers_with()
    {
        // Until 2026-12-08 the console counted pages by a fixed 50: with any other page size its count and "Next page" were wrong.
        var ids = await DeadLettersOfMissingInvoices(Guid.NewGuid(), Guid.NewGuid());
        // The older one failed an hour ago: the list is newest first.
        var (newer, older) = (ids.Values.First(), ids.Values.Last());
        await Execute($"update {{schema}}.wolverine_dead_letters set failed_at = now() - interval '1 hour' where id = '{older}'");
        // The API asked for one a page, as it would answer a page size other than its default.
        await Page.RouteAsync(url => new Uri(url).AbsolutePath == "/api/operations/dead-letters", route =>
            route.ContinueAsync(new() { Url = route.Request.Url + (route.Request.Url.Contains('?') ? "&" : "?") + "pageSize=1" }));
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync("/console/#/operations");

        var letters = Page.GetByTestId("dead-letters");
        await Expect(letters.Locator("caption")).ToHaveTextAsync("2 dead letters, newest first; page 1 of 2");
        await Expect(letters.Locator("tbody tr[data-id]")).ToHaveAttributeAsync("data-id", newer.ToString());
        await letters.GetByRole(AriaRole.Button, new() { Name = "Next page" }).ClickAsync();
        await Expect(letters.Locator("caption")).ToHaveTextAsync("2 dead letters, newest first; page 2 of 2");
        await Expect(letters.Locator("tbody tr[data-id]")).ToHaveAttributeAsync("data-id", older.ToString());
        await Expect(letters.GetByRole(AriaRole.Button, new() { Name = "Next page" })).ToBeDisabledAsync();
    }

    [Fact]
    public async Task Cancel_with_the_keyboard_gives_the_focus_to_the_dead_letters_heading_when_the_button_that_asked_is_gone_or_disabled()
    {
        var ids = await DeadLettersOfMissingInvoices(Guid.NewGuid(), Guid.NewGuid());
        var (first, second) = (ids.Values.First(), ids.Values.Last());
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync("/console/#/operations");
        var letters = Page.GetByTestId("dead-letters");
        var heading = letters.GetByRole(AriaRole.Heading, new() { Name = "Dead letters", Level = 2 });
        var discardSelected = letters.GetByRole(AriaRole.Button, new() { Name = "Discard selected" });
        var cancel = WhatWillHappen.GetByRole(AriaRole.Button, new() { Name = "Cancel" });
        await Expect(letters.Locator("tbody tr[data-id]")).ToHaveCountAsync(2);

        // The selection changed under the review: the button that asked is still there, but disabled, and cannot take the focus.
        var box = DeadLetterRow(first).GetByRole(AriaRole.Checkbox);
        await box.FocusAsync();
        await Page.Keyboard.PressAsync("Space");
        await TabTo(discardSelected);
        await Page.Keyboard.PressAsync("Enter");
        await Expect(WhatWillHappen).ToContainTextAsync("Deletes 1 dead letter for good");
        await Expect(WhatWillHappen.GetByRole(AriaRole.Button, new() { Name = "Write it" })).ToBeFocusedAsync();
        await TabTo(box, backwards: true);
        await Page.Keyboard.PressAsync("Space");
        await Expect(discardSelected).ToBeDisabledAsync();
        await TabTo(cancel);
        await Page.Keyboard.PressAsync("Enter");
        await Expect(WhatWillHappen).ToHaveCountAsync(0);
        await Expect(heading).ToBeFocusedAsync();
        // Moved there by a key press: the outline shows where the focus went.
        Assert.True(await heading.EvaluateAsync<bool>("e => e.matches(':focus-visible')"), "the heading shows the focus outline");

        // The list read again under the review (a filter by type): the button that asked is gone.
        await DeadLetterRow(second).GetByRole(AriaRole.Checkbox).FocusAsync();
        await Page.Keyboard.PressAsync("Space");
        await TabTo(discardSelected);
        await Page.Keyboard.PressAsync("Enter");
        await Expect(WhatWillHappen).ToContainTextAsync(second.ToString());
        var type = letters.GetByLabel("Message type");
        await TabTo(type, backwards: true);
        await Page.Keyboard.TypeAsync(InvoiceEmail);
        await Page.Keyboard.PressAsync("Enter");
        await Expect(letters.Locator("caption")).ToContainTextAsync($"2 dead letters of {InvoiceEmail}");
        await TabTo(cancel);
        await Page.Keyboard.PressAsync("Enter");
        await Expect(WhatWillHappen).ToHaveCountAsync(0);
        await Expect(heading).ToBeFocusedAsync();
        Assert.True(await heading.EvaluateAsync<bool>("e => e.matches(':focus-visible')"), "the heading shows the focus outline");

        // Nothing written: both dead letters are still there.
        Assert.Equal(2, await DeadLetterCount());
        await Expect(letters.Locator("tbody tr[data-id]")).ToHaveCountAsync(2);
    }

    [Fact]
    public async Task A_review_that_is_cancelled_deletes_nothing_and_an_empty_selection_is_not_offered()
    {
        var ids = await DeadLettersOfMissingInvoices(Guid.NewGuid());
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync("/console/#/operations");

        var letters = Page.GetByTestId("dead-letters");
        await Expect(letters.GetByRole(AriaRole.Button, new() { Name = "Discard selected" })).ToBeDisabledAsync();
        await DeadLetterRow(ids.Values.Single()).GetByRole(AriaRole.Checkbox).CheckAsync();
        await letters.GetByRole(AriaRole.Button, new() { Name = "Discard selected" }).ClickAsync();
        await WhatWillHappen.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Expect(WhatWillHappen).ToHaveCountAsync(0);
        // The keyboard is back on the button that asked for the review.
        await Expect(letters.GetByRole(AriaRole.Button, new() { Name = "Discard selected" })).ToBeFocusedAsync();
        Assert.Equal(1, await DeadLetterCount());
        await Expect(letters.Locator("tbody tr[data-id]")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task Fifty_a_page_a_selection_kept_across_pages_and_a_discard_made_first_elsewhere_is_said_as_nothing_discarded()
    {
        await PublishEmailsOfMissingInvoices([.. Enumerable.Range(0, 51).Select(_ => Guid.NewGuid())]);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync("/console/#/operations");

        var letters = Page.GetByTestId("dead-letters");
        var rows = letters.Locator("tbody tr[data-id]");
        await Expect(letters.Locator("caption")).ToContainTextAsync("51 dead letters, newest first; page 1 of 2");
        await Expect(rows).ToHaveCountAsync(50);
        await Expect(letters.GetByRole(AriaRole.Button, new() { Name = "Previous page" })).ToBeDisabledAsync();
        await rows.First.GetByRole(AriaRole.Checkbox).CheckAsync();
        await letters.GetByRole(AriaRole.Button, new() { Name = "Next page" }).ClickAsync();
        await Expect(letters.Locator("caption")).ToContainTextAsync("page 2 of 2");
        await Expect(rows).ToHaveCountAsync(1);
        await rows.First.GetByRole(AriaRole.Checkbox).CheckAsync();
        await letters.GetByRole(AriaRole.Button, new() { Name = "Previous page" }).ClickAsync();
        await Expect(rows.First.GetByRole(AriaRole.Checkbox)).ToBeCheckedAsync();
        await Expect(letters).ToContainTextAsync("2 selected");

        await letters.GetByRole(AriaRole.Button, new() { Name = "Discard selected" }).ClickAsync();
        await Expect(WhatWillHappen).ToContainTextAsync("Deletes 2 dead letters for good");
        // Another agent discards every one of them first (through the API, as a second console would).
        await App.ClientAs(LedgerRoles.Support).PostJson("/api/operations/dead-letters/discard", new { messageType = InvoiceEmail })
            .ReadAs<DeadLetterAction>(System.Net.HttpStatusCode.Accepted);
        await WhatWillHappen.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Nothing discarded: the dead letters reviewed are no longer stored").First).ToBeVisibleAsync();
        await Expect(letters).ToContainTextAsync("No dead letters");
    }

    [Fact]
    public async Task Support_runs_the_reconciliation_and_reads_what_it_found_in_words_beside_the_dead_letters_and_the_mail()
    {
        // A member whose scheduled invoice was lost (a fault), past the reconciliation's grace; and a dead-lettered e-mail.
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer", email: "studio@example.ee");
        await Execute("delete from {schema}.wolverine_incoming_envelopes where message_type like '%IssueInvoice'");
        App.Clock.Advance(TimeSpan.FromMinutes(16));
        await DeadLettersOfMissingInvoices(Guid.NewGuid());
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync("/console/#/operations");

        var reconciliation = Page.GetByTestId("reconciliation");
        // This host runs it on no schedule (as the tests' hosts do): the page does not let support wait for a run that never comes.
        await Expect(reconciliation).ToContainTextAsync(
            "Not run yet, and this service runs it on no schedule (Reconciliation:Enabled is off): it runs only when support presses “Run now”.");
        await App.TrackedUntilHandled<IssueInvoice>(1, () => reconciliation.GetByRole(AriaRole.Button, new() { Name = "Run now" }).ClickAsync());
        var ran = await App.ClientAs(LedgerRoles.Auditor).GetAsync("/api/operations/reconciliation").ReadAs<ReconciliationReport>();
        await Expect(reconciliation).ToContainTextAsync($"Last run {ran.LastRunAt:yyyy-MM-dd HH:mm:ss} UTC · no schedule: runs on “Run now” only");
        await Expect(reconciliation).ToContainTextAsync("1 broken promise found");
        var finding = reconciliation.Locator("tbody tr");
        await Expect(finding).ToHaveCountAsync(1);
        await Expect(finding).ToContainTextAsync("A membership is invoiced");
        await Expect(finding).ToContainTextAsync("has no invoice and none is scheduled");
        await Expect(finding).ToContainTextAsync("Repair: IssueInvoice sent");
        await Expect(finding.GetByRole(AriaRole.Link, new() { Name = "Valgus Studio OÜ" })).ToHaveAttributeAsync("href", $"#/accounts/{account}");

        // The dead-lettered e-mail is owed and never tried: the mail panel says so, as /health/ready's mail check does.
        var mail = Page.GetByTestId("mail");
        await Expect(mail).ToContainTextAsync("1 e-mail owed and never tried (1 of them a dead letter)");
        await Page.GetByTestId("dead-letters").GetByText("Show the message").ClickAsync();
        await Screenshot("operations");

        await mail.GetByRole(AriaRole.Button, new() { Name = "Send waiting e-mails now" }).ClickAsync();
        await Expect(mail).ToContainTextAsync("No e-mail was waiting for a retry");
    }

    [Fact]
    public async Task An_auditor_reads_the_reconciliation_only_and_others_see_no_operations_link_and_are_refused()
    {
        await DeadLettersOfMissingInvoices(Guid.NewGuid());
        await SignInAs(LedgerRoles.Auditor, "ines");

        await Page.GetByRole(AriaRole.Navigation, new() { Name = "Console" }).GetByRole(AriaRole.Link, new() { Name = "Operations" }).ClickAsync();
        await Expect(Page.GetByTestId("reconciliation")).ToContainTextAsync("Not run yet");
        await Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Run now" })).ToHaveCountAsync(0);
        await Expect(Page.GetByTestId("dead-letters")).ToHaveCountAsync(0);
        await Expect(Page.GetByTestId("mail")).ToHaveCountAsync(0);
        await Expect(Page.GetByText("Dead letters and waiting e-mail are for support staff")).ToBeVisibleAsync();

        // Calling the API from the page anyway: refused, nothing deleted.
        var status = await Page.EvaluateAsync<int>(
            """
            async type => (await fetch('/api/operations/dead-letters/discard', {
              method: 'POST',
              headers: { 'Content-Type': 'application/json', 'X-CpsLedger-Console': '1',
                         Authorization: `Bearer ${sessionStorage.getItem('cpsledger.console.token')}` },
              body: JSON.stringify({ messageType: type }),
            })).status
            """, InvoiceEmail);
        Assert.Equal(403, status);
        Assert.Equal(1, await DeadLetterCount());

        // Finance has its invoice list and the account search: no Operations link, and the page is not offered (the invoice list is
        // shown instead).
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Page.GetByLabel("Development token").FillAsync(App.TokenFor(LedgerRoles.Finance, subject: "fred"));
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Open invoices" })).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Operations" })).ToHaveCountAsync(0);
        await Page.GotoAsync("/console/#/operations");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Open invoices" })).ToBeVisibleAsync();
        await Expect(Page.GetByTestId("dead-letters")).ToHaveCountAsync(0);
        await Expect(Page.GetByTestId("reconciliation")).ToHaveCountAsync(0);
    }
}

/// <summary>The reconciliation on its schedule: the Operations page says when it runs, before its first run too.</summary>
[Collection(ScheduledConsoleCollection.Name)]
public sealed class ConsoleScheduledReconciliationTests(ScheduledConsoleApp app, Chromium chromium) : ConsoleTest<ScheduledConsoleApp>(app, chromium)
{
    [Fact]
    public async Task Before_its_first_run_the_reconciliation_says_when_the_schedule_runs_it_and_after_a_run_when_it_runs_next()
    {
        // The next midnight of a New Year, UTC: the schedule's next occurrence, worked out here from the cron expression's meaning.
        var now = App.Clock.GetUtcNow();
        var next = new DateTimeOffset(now.Year + 1, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var report = await App.ClientAs(LedgerRoles.Auditor).GetAsync("/api/operations/reconciliation").ReadAs<ReconciliationReport>();
        Assert.Null(report.LastRunAt);
        Assert.Equal(next, report.NextRunAt);

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync("/console/#/operations");
        var reconciliation = Page.GetByTestId("reconciliation");
        await Expect(reconciliation).ToContainTextAsync($"Not run yet: the schedule runs it first at {next:yyyy-MM-dd HH:mm:ss} UTC.");

        await reconciliation.GetByRole(AriaRole.Button, new() { Name = "Run now" }).ClickAsync();
        await Expect(reconciliation).ToContainTextAsync($"next run {next:yyyy-MM-dd HH:mm:ss} UTC");
        await Expect(reconciliation).Not.ToContainTextAsync("Not run yet");
    }

    [Fact]
    public async Task A_paused_schedule_is_said_paused_with_no_next_run_until_it_is_resumed()
    {
        // An operator pauses the schedule with Wolverine's own control (a maintenance window): the report must not promise a run the
        // schedule will not make.
        var control = App.Services.GetRequiredService<IRecurringScheduleControl>();
        await control.PauseAsync(ReconciliationRegistration.ScheduleName);
        try
        {
            var report = await App.ClientAs(LedgerRoles.Auditor).GetAsync("/api/operations/reconciliation").ReadAs<ReconciliationReport>();
            Assert.Null(report.NextRunAt);
            Assert.NotNull(report.SchedulePausedAt);

            await SignInAs(LedgerRoles.Support, "anna");
            await Page.GotoAsync("/console/#/operations");
            var reconciliation = Page.GetByTestId("reconciliation");
            await Expect(reconciliation).ToContainTextAsync($"the schedule is paused (since {report.SchedulePausedAt:yyyy-MM-dd HH:mm:ss} UTC)");
        }
        finally
        {
            await control.ResumeAsync(ReconciliationRegistration.ScheduleName);
        }

        var resumed = await App.ClientAs(LedgerRoles.Auditor).GetAsync("/api/operations/reconciliation").ReadAs<ReconciliationReport>();
        Assert.Null(resumed.SchedulePausedAt);
        Assert.NotNull(resumed.NextRunAt);
    }
}
