using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace CpsLedger.Tests.WebConsole;

/// <summary>Every page of the console passes axe-core's WCAG 2.1 A and AA rules (labels, contrast, roles) and works from the keyboard.</summary>
public sealed class ConsoleAccessibilityTests(ConsoleApp app, Chromium chromium) : ConsoleTest(app, chromium)
{
    private async Task NoViolations(string page)
    {
        var result = await Page.RunAxe(new AxeRunOptions
        {
            RunOnly = new RunOnlyOptions { Type = "tag", Values = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
        });
        var violations = result.Violations.Select(v =>
            $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Target?.ToString()))}");
        Assert.True(result.Violations.Length == 0, $"{page}:\n{string.Join("\n", violations)}");
    }

    [Fact]
    public async Task Every_page_passes_the_wcag_2_1_aa_rules()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("studio@example.ee");
        // One product with points: one invitation review.
        await App.TrackedUntilHandled<ReviewInvitation>(1, async () =>
        {
            await App.Member(account).Register(account, Products.Products.Complete("R5-0001"));
            await App.Member(account).Register(account, Products.Products.WithoutDealer("R5-0002"));
        });

        await Page.GotoAsync("/console/");
        await Expect(Page.GetByLabel("Development token")).ToBeVisibleAsync();
        await NoViolations("sign-in");

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync("/console/#/search?q=valgus");
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Valgus Studio OÜ" })).ToBeVisibleAsync();
        await NoViolations("search");

        await Page.GotoAsync("/console/#/search?q=x");
        await Expect(Page.GetByRole(AriaRole.Alert).GetByRole(AriaRole.Listitem)).ToContainTextAsync("q: ");
        await NoViolations("search refused, with the field's sentence");

        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Expect(Page.GetByTestId("tiers-table")).ToBeVisibleAsync();
        await NoViolations("account");

        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        await Page.GetByRole(AriaRole.Button, new() { Name = "As of this event" }).Last.ClickAsync();
        await Expect(Page.GetByTestId("as-of")).ToBeVisibleAsync();
        await NoViolations("history with time travel");

        await Page.GotoAsync($"/console/#/accounts/{account}/audit");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Run verification" }).ClickAsync();
        await Expect(Page.GetByTestId("verification")).ToContainTextAsync("Verified");
        await NoViolations("audit");

        await Page.GotoAsync($"/console/#/accounts/{account}/support");
        await Expect(await Page.ReviewAdjustment("10", "Accessibility check", "CPS-SUP-1")).ToBeVisibleAsync();
        await NoViolations("support action preview");
    }

    [Fact]
    public async Task Finances_invoice_list_passes_the_wcag_2_1_aa_rules()
    {
        await App.InvoicesOfTwoAccounts();

        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Expect(Page.GetByTestId("invoice-list")).ToBeVisibleAsync();
        await NoViolations("finance's open invoices");

        await Page.GetByRole(AriaRole.Link, new() { Name = "Alpha Studio" }).First.ClickAsync();
        await Expect(Page.GetByTestId("tiers-table")).ToBeVisibleAsync();
        await NoViolations("an account's overview, as finance reads it");
    }

    [Fact]
    public async Task Finances_transfer_and_credit_note_under_review_pass_the_wcag_2_1_aa_rules()
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        await SignInAs(LedgerRoles.Finance, "fredrik");

        await Page.GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" }).ClickAsync();
        var transfer = Page.GetByRole(AriaRole.Dialog, new() { Name = "Record a transfer received" });
        await transfer.GetByLabel("Amount").FillAsync((invoice.Total + 10m).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture));
        await transfer.GetByLabel("Value date").FillAsync(App.ValueDate());
        await transfer.GetByLabel("Bank reference").FillAsync("LHV-1");
        await transfer.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(transfer.GetByRole(AriaRole.Region, new() { Name = "What will be written" })).ToContainTextAsync("overpayment");
        await NoViolations("finance's transfer under review, an overpayment");
        await transfer.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();

        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Page.GetByRole(AriaRole.Button, new() { Name = $"Cancel by credit note, {invoice.InvoiceNumber}" }).ClickAsync();
        var cancel = Page.GetByRole(AriaRole.Dialog, new() { Name = "Cancel an invoice by credit note" });
        await cancel.GetByLabel("Reason").FillAsync("No");
        await cancel.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(cancel.GetByLabel("Reason")).ToHaveAttributeAsync("aria-invalid", "true");
        await NoViolations("a credit note refused, its field's sentence beside it");
    }

    [Fact]
    public async Task The_operations_page_with_a_dead_letter_its_message_and_a_review_passes_the_wcag_2_1_aa_rules()
    {
        // The e-mail of an invoice that does not exist: a dead letter at its first attempt.
        using (var scope = App.Services.CreateScope())
            await scope.ServiceProvider.GetRequiredService<Wolverine.IMessageBus>().PublishAsync(new CpsLedger.Api.Invoicing.SendInvoiceEmail(Guid.NewGuid()));
        await FaultWaits.Until(async () => (await App.Services.GetRequiredService<Wolverine.Runtime.IWolverineRuntime>().Storage.Admin
            .FetchCountsAsync()).DeadLetter == 1, "the message dead-lettered");
        await SignInAs(LedgerRoles.Support, "anna");

        await Page.GotoAsync("/console/#/operations");
        var letters = Page.GetByTestId("dead-letters");
        await letters.GetByText("Show the message").ClickAsync();
        await letters.Locator("tbody tr[data-id]").GetByRole(AriaRole.Checkbox).CheckAsync();
        await letters.GetByRole(AriaRole.Button, new() { Name = "Discard selected" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Region, new() { Name = "What will happen" })).ToBeVisibleAsync();
        await NoViolations("operations, with a dead letter's message and a discard under review");
    }

    [Fact]
    public async Task Support_reaches_an_account_and_its_tiers_with_the_keyboard_alone()
    {
        await App.OpenAccount("studio@example.ee");
        await SignInAs(LedgerRoles.Support, "anna");

        // The search box has the focus; Enter searches.
        await Page.Keyboard.TypeAsync("valgus");
        await Page.Keyboard.PressAsync("Enter");
        var link = Page.GetByRole(AriaRole.Link, new() { Name = "Valgus Studio OÜ" });
        await Expect(link).ToBeVisibleAsync();

        // Tab until the result's link has the focus, then Enter opens the account.
        for (var i = 0; i < 20 && !await link.EvaluateAsync<bool>("e => e === document.activeElement"); i++)
            await Page.Keyboard.PressAsync("Tab");
        await Page.Keyboard.PressAsync("Enter");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Valgus Studio OÜ", Level = 1 })).ToBeFocusedAsync();

        // The tier switch is a radio group: arrow keys move between standard and enterprise.
        var standard = Page.GetByRole(AriaRole.Radio, new() { Name = "Standard" });
        await standard.FocusAsync();
        await Page.Keyboard.PressAsync("ArrowRight");
        await Expect(Page.GetByRole(AriaRole.Radio, new() { Name = "Enterprise" })).ToBeCheckedAsync();
        await Expect(Page.GetByTestId("tiers-table").Locator("caption")).ToContainTextAsync("Enterprise tiers");
    }
}
