using System.Net;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace CpsLedger.Tests.WebConsole;

/// <summary>The console with the data a demanding support agent meets: markup in a name, a 200-character name, right-to-left text.</summary>
public sealed class ConsoleHostileDataTests(ConsoleApp app, Chromium chromium) : ConsoleTest(app, chromium)
{
    // 200 characters, markup and CJK in it, and one long unbroken word (a company's domain, as some write it).
    private static readonly string LongName =
        ("<script>alert(1)</script> <b>x</b> 北京光影摄影工作室 Valgus-Fotograafia-ja-Videotootmise-Osauhingu-Tallinna-Filiaal.example.ee "
         + string.Concat(Enumerable.Repeat("Studio Lumen ", 20)))[..200];

    /// <summary>
    /// How many of an element's words are broken over two lines: words end at a space or after a hyphen, where a line may break;
    /// Chinese, which breaks between characters, is left out.
    /// </summary>
    private const string SplitWords = """
        element => {
          const text = element.firstChild;
          let split = 0, at = 0;
          for (const part of text.data.split(/(?<=[ -])/)) {
            const word = part.replace(/[ -]$/, '');
            const range = document.createRange();
            range.setStart(text, at);
            range.setEnd(text, at + word.length);
            if (!/[\u3000-\u9fff]/.test(word) && new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1) split++;
            at += part.length;
          }
          return split;
        }
        """;

    private static int Occurrences(string? text, string part) => (text ?? "").Split(part).Length - 1;

    /// <summary>The direction an element holding exactly this text, and nothing else, is laid out in.</summary>
    private static Task<string> DirectionOf(ILocator scope, string text) =>
        scope.GetByText(text, new() { Exact = true }).EvaluateAsync<string>("e => getComputedStyle(e).direction");

    /// <summary>How many lines an element's text takes.</summary>
    private const string LinesOfText = """
        element => {
          const range = document.createRange();
          range.selectNodeContents(element);
          return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        }
        """;

    private Task<bool> PageOverflows() =>
        Page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth > document.documentElement.clientWidth");

    [Fact]
    public async Task A_long_name_with_markup_is_shown_as_text_and_the_page_does_not_overflow()
    {
        var opened = await App.ClientAs(LedgerRoles.Portal)
            .PostJson("/api/accounts", Accounts.Accounts.Opening("hostile@example.ee", company: LongName))
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created);
        await SignInAs(LedgerRoles.Support, "anna");

        await Page.GetByLabel("Find an account").FillAsync("Lumen");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        var found = Page.GetByRole(AriaRole.Link, new() { Name = LongName });
        await Expect(found).ToBeVisibleAsync();
        // The name wraps between its words: "Studio L" / "umen" was read as two words.
        Assert.Equal(0, await found.EvaluateAsync<int>(SplitWords));
        // Said once: the row's Company is the name it matched on.
        var result = Page.GetByRole(AriaRole.Row).Filter(new() { Has = found });
        Assert.Equal(1, Occurrences(await result.TextContentAsync(), LongName));
        await Expect(result.Locator("td").Nth(3)).ToHaveTextAsync("company name");
        await Screenshot("hostile-search");
        Assert.False(await PageOverflows(), "the search result overflows the page");

        await Page.GotoAsync($"/console/#/accounts/{opened.AccountId}");
        var heading = Page.GetByRole(AriaRole.Heading, new() { Level = 1 });
        await Expect(heading).ToHaveTextAsync(LongName);
        await Expect(heading.Locator("b, script")).ToHaveCountAsync(0);
        await Screenshot("hostile-account");
        Assert.False(await PageOverflows(), "the account page overflows");

        // A support reason of 300 characters, with markup and right-to-left text and digits in it.
        await Page.GetByRole(AriaRole.Link, new() { Name = "Support actions" }).ClickAsync();
        var reason = ("<b>x</b> <script>alert(1)</script> Lost registration, member wrote: \"שלום, מספר 4711\" (ticket 42). "
            + string.Concat(Enumerable.Repeat("Confirmed by the dealer on the phone. ", 10)))[..300];
        var preview = await Page.ReviewAdjustment("50", reason, "CPS-SUP-1234");
        await Expect(preview).ToContainTextAsync("<b>x</b>");
        await Screenshot("hostile-adjustment-preview");
        Assert.False(await PageOverflows(), "the preview overflows");
        await preview.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Written: manual adjustment of +50 points").First).ToBeVisibleAsync();

        await Page.GetByRole(AriaRole.Link, new() { Name = "Overview" }).ClickAsync();
        var manual = Page.GetByTestId("explanation").Locator("tbody tr").Filter(new() { HasText = "CPS-SUP-1234" });
        await Expect(manual).ToContainTextAsync("<script>alert(1)</script>");
        await Screenshot("hostile-explanation");
        Assert.False(await PageOverflows(), "the explanation overflows");

        await Page.GetByRole(AriaRole.Link, new() { Name = "History & time travel" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" })).ToContainTextAsync("points adjusted");
        // The reason once, in full, where every entry's reason is; the sentence above it says what was done.
        var adjusted = Page.Locator("li[data-type='points_adjusted']");
        Assert.Equal(1, Occurrences(await adjusted.TextContentAsync(), reason));
        // The ticket too is said once, where every entry's ticket is.
        await Expect(adjusted.Locator(".desc")).ToHaveTextAsync("Manual adjustment +50 points");
        Assert.Equal(1, Occurrences(await adjusted.TextContentAsync(), "CPS-SUP-1234"));
        await Expect(adjusted.Locator(".meta bdi").Last).ToHaveTextAsync(reason);
        await Screenshot("hostile-history");
        Assert.False(await PageOverflows(), "the history overflows");

        await Page.GetByRole(AriaRole.Link, new() { Name = "Audit", Exact = true }).ClickAsync();
        await Page.WaitForTimeoutAsync(1500);
        await Screenshot("hostile-audit");
        Assert.False(await PageOverflows(), "the audit overflows");
    }
    [Fact]
    public async Task A_right_to_left_reason_reads_right_to_left_and_leaves_the_line_around_it_alone()
    {
        var account = await App.OpenAccount("rtl@example.ee");
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/support");
        // Hebrew, ending with a full stop: read left to right, the stop would stand at the sentence's start (its right end).
        const string reason = "החבר איבד את הרישום 2025.";
        var preview = await Page.ReviewAdjustment("50", reason, "CPS-SUP-1234");
        // The review before writing shows it as the explanation will.
        Assert.Equal("rtl", await preview.GetByText(reason, new() { Exact = true }).EvaluateAsync<string>("e => getComputedStyle(e).direction"));
        await preview.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Written: manual adjustment of +50 points").First).ToBeVisibleAsync();

        await Page.GetByRole(AriaRole.Link, new() { Name = "Overview" }).ClickAsync();
        var line = Page.GetByTestId("explanation").Locator("tbody tr").Filter(new() { HasText = "CPS-SUP-1234" });
        await Expect(line.Locator("td").Last).ToHaveTextAsync($"{reason} · ticket CPS-SUP-1234");
        Assert.Equal("rtl", await line.GetByText(reason, new() { Exact = true }).EvaluateAsync<string>("e => getComputedStyle(e).direction"));
        await Screenshot("hostile-rtl-explanation");

        await Page.GetByRole(AriaRole.Link, new() { Name = "History & time travel" }).ClickAsync();
        var meta = Page.Locator(".meta").Filter(new() { HasText = "CPS-SUP-1234" });
        Assert.Equal("rtl", await meta.GetByText(reason, new() { Exact = true }).EvaluateAsync<string>("e => getComputedStyle(e).direction"));
    }

    [Fact]
    public async Task An_account_with_many_products_stays_inside_the_page()
    {
        await App.ListModel(points: 10);
        var account = await App.OpenAccount("many@example.ee");
        var member = App.Member(account);
        for (var i = 0; i < 55; i++)
            await member.Register(account, Products.Products.Complete($"R5-MANY-{i:0000}"));
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Expect(Page.GetByTestId("explanation").Locator("tbody tr")).ToHaveCountAsync(55);
        Assert.False(await PageOverflows(), "the account page overflows");
    }

    [Fact]
    public async Task A_business_account_of_300_products_shows_the_first_of_each_list_and_the_rest_one_click_away()
    {
        // An agency's account: 300 products with points, 20 waiting for a dealer.
        await App.ListModel(points: 10);
        var account = await App.OpenAccount("agency@example.ee");
        var member = App.Member(account);
        for (var i = 0; i < 300; i++)
            await member.Register(account, Products.Products.Complete($"R5-AGENCY-{i:0000}"));
        for (var i = 0; i < 20; i++)
            await member.Register(account, Products.Products.WithoutDealer($"R5-WAITING-{i:0000}"));
        await Page.SetViewportSizeAsync(1366, 768);
        await Page.AddInitScriptAsync(RecordUnfolding);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        // Each count in its heading, whatever is shown; the first rows of each list, and what comes after them a few screens down.
        var products = Page.GetByTestId("products");
        var explanation = Page.GetByTestId("explanation");
        await Expect(products.GetByRole(AriaRole.Heading, new() { Name = "Products (320)", Exact = true })).ToBeVisibleAsync();
        await Expect(explanation.GetByRole(AriaRole.Heading, new() { Name = "Points explanation: 3000 points, 300 lines", Exact = true })).ToBeVisibleAsync();
        await Expect(products.Locator("tbody tr:visible")).ToHaveCountAsync(FirstRows);
        await Expect(explanation.Locator("tbody tr:visible")).ToHaveCountAsync(FirstRows);
        await WithFoldingOnFailure(explanation, () => Expect(explanation.Locator("li:visible")).ToHaveCountAsync(FirstRows));
        // The explanation reads oldest first, its running total building up to the total, and shows its latest lines (what changed
        // recently), the earlier ones folded above them; the chart draws those earlier lines as one bar, then the lines the table
        // shows, and the total.
        await Expect(explanation.Locator("tbody tr:visible").First).ToContainTextAsync("R5-AGENCY-0290");
        await Expect(explanation.Locator("tbody tr:visible").First.Locator("td").First).ToHaveTextAsync("291");
        await Expect(explanation.Locator("tbody tr:visible").Last.Locator("td").Nth(5)).ToHaveTextAsync("3000");
        await Expect(explanation).ToContainTextAsync("Latest 10 of 300 shown.");
        await Expect(explanation.Locator("svg g")).ToHaveCountAsync(FirstRows + 2);
        await Expect(explanation.Locator("svg g").First).ToContainTextAsync("290 earlier lines");
        var height = await Page.EvaluateAsync<int>("() => document.documentElement.scrollHeight");
        Assert.True(height < 4 * 768, $"the page is {height} px tall");
        await Screenshot("big-account");
        Assert.False(await PageOverflows(), "the account page overflows");

        // One key shows the whole list; the focus stays on the button, which says what it does now.
        var toggle = products.GetByRole(AriaRole.Button, new() { Name = "Show all 320 products" });
        await Expect(toggle).ToHaveAttributeAsync("aria-expanded", "false");
        await toggle.FocusAsync();
        await Page.Keyboard.PressAsync("Enter");
        await Expect(products.Locator("tbody tr:visible")).ToHaveCountAsync(320);
        toggle = products.GetByRole(AriaRole.Button, new() { Name = "Show fewer products" });
        await Expect(toggle).ToHaveAttributeAsync("aria-expanded", "true");
        await Expect(toggle).ToBeFocusedAsync();
        await Expect(products).ToContainTextAsync("All 320 shown.");
        // And back: the button still focused and on the screen, the page as short as before.
        await Page.Keyboard.PressAsync("Space");
        await Expect(products.Locator("tbody tr:visible")).ToHaveCountAsync(FirstRows);
        toggle = products.GetByRole(AriaRole.Button, new() { Name = "Show all 320 products" });
        await Expect(toggle).ToHaveAttributeAsync("aria-expanded", "false");
        await Expect(toggle).ToBeFocusedAsync();
        await Expect(toggle).ToBeInViewportAsync();
        Assert.Equal(height, await Page.EvaluateAsync<int>("() => document.documentElement.scrollHeight"));

        // The explanation whole for an auditor, table and chart, in one click.
        await explanation.GetByRole(AriaRole.Button, new() { Name = "Show all 300 lines" }).ClickAsync();
        await Expect(explanation.Locator("tbody tr:visible")).ToHaveCountAsync(300);
        await Expect(explanation.Locator("svg g")).ToHaveCountAsync(301);
        await explanation.GetByRole(AriaRole.Button, new() { Name = "Show all 20 products waiting for details" }).ClickAsync();
        await Expect(explanation.Locator("li:visible")).ToHaveCountAsync(20);
        Assert.False(await PageOverflows(), "the whole explanation overflows");
        // And back: the products folded again take no room (a list item shown, then folded, kept a line of height, its bullet's).
        await explanation.GetByRole(AriaRole.Button, new() { Name = "Show fewer products waiting for details" }).ClickAsync();
        await WithFoldingOnFailure(explanation, () => Expect(explanation.Locator("li:visible")).ToHaveCountAsync(FirstRows));
    }

    [Fact]
    public async Task The_browsers_find_reaches_the_rows_a_long_list_folds_and_shows_the_whole_list()
    {
        await App.ListModel(points: 10);
        var account = await App.OpenAccount("find@example.ee");
        var member = App.Member(account);
        for (var i = 0; i < 30; i++)
            await member.Register(account, Products.Products.Complete($"R5-FIND-{i:0000}"));
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        var products = Page.GetByTestId("products");
        var explanation = Page.GetByTestId("explanation");
        await Expect(explanation.Locator("tbody tr:visible")).ToHaveCountAsync(FirstRows);
        await Expect(products.Locator("tbody tr:visible")).ToHaveCountAsync(FirstRows);
        // Folded, the rows are in the page and take no room; a screen reader does not read them, as it did not read hidden ones.
        await Expect(explanation.Locator("tbody tr")).ToHaveCountAsync(30);
        await Expect(explanation.GetByRole(AriaRole.Row)).ToHaveCountAsync(FirstRows + 2); // the header and the total too

        // The browser's find reaches what hidden="until-found" hides (Chromium): each folded row's cells hold their text so, not
        // removed from rendering (display: none, which find skips), and the row takes no room.
        var oldest = explanation.Locator("tbody tr").Filter(new() { HasText = "R5-FIND-0000" });
        Assert.Equal(["until-found"], await oldest.Locator("td > .fold").EvaluateAllAsync<string[]>("cells => [...new Set(cells.map(c => c.getAttribute('hidden')))]"));
        Assert.Equal(["hidden"], await oldest.Locator("td > .fold").EvaluateAllAsync<string[]>("cells => [...new Set(cells.map(c => getComputedStyle(c).contentVisibility))]"));
        Assert.Equal(0, await oldest.EvaluateAsync<double>("r => r.getBoundingClientRect().height"));
        // Find (Ctrl-F cannot be pressed in a headless browser) fires beforematch on the text it is about to reveal: the whole
        // explanation is shown, table and chart, its button saying so; the products stay as they were.
        await oldest.Locator("td > .fold").Nth(2).DispatchEventAsync("beforematch");
        await Expect(explanation.Locator("tbody tr:visible")).ToHaveCountAsync(30);
        await Expect(explanation.GetByRole(AriaRole.Button, new() { Name = "Show fewer lines" })).ToHaveAttributeAsync("aria-expanded", "true");
        await Expect(explanation.Locator("svg g")).ToHaveCountAsync(31);
        await Expect(products.Locator("tbody tr:visible")).ToHaveCountAsync(FirstRows);
        // A product the list folds (the oldest, last in the list) likewise.
        await products.Locator("tbody tr").Filter(new() { HasText = "R5-FIND-0000" }).Locator("td > .fold").Nth(1).DispatchEventAsync("beforematch");
        await Expect(products.Locator("tbody tr:visible")).ToHaveCountAsync(30);
        await Expect(products.GetByRole(AriaRole.Button, new() { Name = "Show fewer products" })).ToHaveAttributeAsync("aria-expanded", "true");
    }

    // Once in a full CI run (2026-12-07, a loaded host) the waiting list above showed its 20 products where 10 are folded, and no run
    // since has done it again. The page's script unfolds a list on its button or on a beforematch (the browser revealing a folded row
    // to find-in-page or a link to a text): these record which, so that the next failure says what unfolded the list.
    private const string RecordUnfolding = """
        document.addEventListener('beforematch', e =>
          (window.unfoldedBy ??= []).push(`beforematch (${e.isTrusted ? 'the browser' : 'a script'}) on "${e.target.textContent.slice(0, 40)}"`), true);
        document.addEventListener('click', e =>
          (window.unfoldedBy ??= []).push(`click (${e.isTrusted ? 'trusted' : 'a script'}) on "${e.target.textContent.slice(0, 40)}"`), true);
        """;

    private static async Task WithFoldingOnFailure(ILocator section, Func<Task> assertion)
    {
        try
        {
            await assertion();
        }
        catch (PlaywrightException e)
        {
            var state = await section.EvaluateAsync<string>("""
                s => JSON.stringify({
                  hash: location.hash,
                  sections: document.querySelectorAll(`[data-testid="${s.dataset.testid}"]`).length,
                  unfoldedBy: window.unfoldedBy ?? [],
                  buttons: [...s.querySelectorAll('.list-toggle button')].map(b => `${b.textContent} (expanded ${b.getAttribute('aria-expanded')})`),
                  items: [...s.querySelectorAll('li')].map(li => `${li.getAttribute('hidden') ?? 'shown'} ${li.getBoundingClientRect().height}px`),
                })
                """);
            throw new Xunit.Sdk.XunitException($"{e.Message}\nThe section then: {state}");
        }
    }

    /// <summary>How many rows of a long list the account page shows before its "Show all" button (console.js, FIRST_ROWS).</summary>
    private const int FirstRows = 10;

    [Fact]
    public async Task A_right_to_left_name_of_who_did_it_reads_in_its_own_direction()
    {
        // A member who writes their name in Arabic, an agent who writes theirs in Hebrew: each a name of two words.
        const string member = "ليلى حداد";
        const string agent = "דנה כהן";
        await App.ListModel(points: 600);
        var account = await App.OpenAccount("names@example.ee");
        await App.TrackedUntilHandled<ReviewInvitation>(1,
            () => App.Member(account, member).Register(account, Products.Products.Complete("R5-NAMES-1")));
        await SignInAs(LedgerRoles.Support, agent);
        await Page.GotoAsync($"/console/#/accounts/{account}/support");
        Assert.Equal("rtl", await DirectionOf(Page.Locator("header"), agent));
        var preview = await Page.ReviewAdjustment("50", "Lost registration, confirmed by the dealer", "CPS-SUP-1234");
        // "Recorded as" the agent, the words after the name where they were.
        await Expect(preview).ToContainTextAsync($"{agent}, with the reason in the event's metadata");
        Assert.Equal("rtl", await DirectionOf(preview, agent));
        await preview.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Written: manual adjustment of +50 points").First).ToBeVisibleAsync();

        await Page.GetByRole(AriaRole.Link, new() { Name = "Overview" }).ClickAsync();
        var lines = Page.GetByTestId("explanation").Locator("tbody tr");
        Assert.Equal("rtl", await DirectionOf(lines.Filter(new() { HasText = "R5-NAMES-1" }), member));
        Assert.Equal("rtl", await DirectionOf(lines.Filter(new() { HasText = "CPS-SUP-1234" }), agent));
        await Screenshot("hostile-rtl-names-explanation");

        await Page.GetByRole(AriaRole.Link, new() { Name = "History & time travel" }).ClickAsync();
        var invited = Page.Locator("li[data-type='invitation_issued'] .meta");
        // The name leaves the words around it where they were: "(caused by" before it, ")" after it.
        await Expect(invited).ToContainTextAsync($"by system:invitation-policy (caused by {member}) · ");
        Assert.Equal("rtl", await DirectionOf(invited, member));
        Assert.Equal("rtl", await DirectionOf(Page.Locator("li[data-type='product_registered'] .meta"), member));
        Assert.Equal("rtl", await DirectionOf(Page.Locator("li[data-type='points_adjusted'] .meta"), agent));
        await Screenshot("hostile-rtl-names-history");
    }

    [Fact]
    public async Task A_credit_notes_and_a_replacements_reason_in_hebrew_reads_right_to_left_and_is_said_once()
    {
        var (account, _, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        // Finance cancels and replaces; support reads the history: one member of staff in both roles here.
        await SignInAs([LedgerRoles.Finance, LedgerRoles.Support], "fredrik");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        const string cancelled = "מספר מע\"מ של הקונה היה חסר.";
        await Page.GetByTestId("invoices").GetByRole(AriaRole.Button, new() { Name = $"Cancel by credit note, {invoice.InvoiceNumber}" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Cancel an invoice by credit note" });
        await dialog.GetByLabel("Reason").FillAsync(cancelled);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        var review = dialog.GetByRole(AriaRole.Region, new() { Name = "What will be written" });
        Assert.Equal("rtl", await DirectionOf(review, cancelled));
        await review.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync($"Written: {invoice.InvoiceNumber} cancelled by credit note ");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();

        const string replaced = "הונפקה מחדש עם מספר מע\"מ.";
        await Page.GetByTestId("invoices").GetByRole(AriaRole.Button, new() { Name = $"Issue replacement, {invoice.InvoiceNumber}" }).ClickAsync();
        dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Issue the replacement of a cancelled invoice" });
        await dialog.GetByLabel("Reason").FillAsync(replaced);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        review = dialog.GetByRole(AriaRole.Region, new() { Name = "What will be written" });
        Assert.Equal("rtl", await DirectionOf(review, replaced));
        await review.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync("Written: invoice ");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();

        // The history's sentence says what was done; the reason once, after it, in its own direction.
        await Page.GetByRole(AriaRole.Link, new() { Name = "History & time travel" }).ClickAsync();
        foreach (var (type, reason) in new[] { ("invoice_cancelled", cancelled), ("invoice_replaced", replaced) })
        {
            var entry = Page.Locator($"li[data-type='{type}']");
            await Expect(entry).ToContainTextAsync(reason);
            Assert.Equal(1, Occurrences(await entry.TextContentAsync(), reason));
            Assert.Equal("rtl", await DirectionOf(entry, reason));
        }
        await Screenshot("hostile-rtl-invoice-reasons-history");
    }

    [Fact]
    public async Task Invoices_of_a_long_name_and_of_a_japanese_name_stay_inside_the_page_and_wrap_between_words()
    {
        const string japanese = "株式会社キヤノンマーケティング";
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var longNamed = await App.JoinedAccount("EE", "bank_transfer", email: "long@example.ee", company: LongName);
        var japaneseNamed = await App.JoinedAccount("EE", "bank_transfer", email: "jp@example.ee", company: japanese);
        await App.FastForward(Invoicing.Billing.IssueDelay);
        await SignInAs(LedgerRoles.Finance, "fredrik");

        var rows = Page.GetByTestId("invoice-list").Locator("tbody tr");
        await Expect(rows).ToHaveCountAsync(2);
        var longLink = rows.GetByRole(AriaRole.Link, new() { Name = LongName });
        Assert.Equal(0, await longLink.EvaluateAsync<int>(SplitWords));
        // Narrower than its column, the Japanese name is one line: not broken inside a word it fits whole.
        Assert.Equal(1, await rows.GetByRole(AriaRole.Link, new() { Name = japanese }).EvaluateAsync<int>(LinesOfText));
        await Screenshot("hostile-invoice-list");
        Assert.False(await PageOverflows(), "the invoice list overflows");

        foreach (var (account, name, screenshot) in new[] { (longNamed, LongName, "hostile-invoice-account"), (japaneseNamed, japanese, "hostile-invoice-account-japanese") })
        {
            await Page.GotoAsync($"/console/#/accounts/{account}");
            await Expect(Page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync(name);
            await Expect(Page.GetByTestId("invoices").Locator("tbody tr")).ToHaveCountAsync(1);
            await Screenshot(screenshot);
            Assert.False(await PageOverflows(), $"the account page of {name[..10]}… overflows");
        }
    }
}
