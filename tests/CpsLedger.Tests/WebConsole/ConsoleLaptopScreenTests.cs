using System.Globalization;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace CpsLedger.Tests.WebConsole;

/// <summary>The console on the screens its users have (1366×768, 1280×720, a phone's 390 px), with the keyboard as well as the mouse.</summary>
public sealed class ConsoleLaptopScreenTests(ConsoleApp app, Chromium chromium) : ConsoleTest(app, chromium)
{
    private static string Euros(decimal amount) => amount.ToString("0.00", CultureInfo.InvariantCulture);

    private static ILocator Review(ILocator dialog) => dialog.GetByRole(AriaRole.Region, new() { Name = "What will be written" });

    // The lines an element's text takes on the screen (its text's boxes, by their tops).
    private static Task<int> LinesOf(ILocator element) => element.EvaluateAsync<int>("""
        e => { const r = document.createRange(); r.selectNodeContents(e); return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }
        """);

    [Theory]
    [InlineData(390, 844, 2, 2, 4)]
    [InlineData(1280, 720, 1, 2, 2)]
    public async Task On_a_phone_an_expected_value_and_an_upgrade_between_long_tier_names_wrap_at_their_phrases_not_a_word_a_line(int width,
        int height, int expectedLines, int tierLines, int upgradeLines)
    {
        // Tier names as long as finance writes them (up to 80 characters).
        await Billing.PublishTierTable(App, new
        {
            invitationThreshold = 500,
            enterpriseAbovePoints = 2500,
            reason = "Tiers named in full",
            tiers = new object[]
            {
                new { code = "silver", name = "Silver Professional Imaging Partner", kind = "standard", pointsRequired = 500, annualFee = 100.00m, currency = "EUR" },
                new { code = "gold", name = "Gold Professional Imaging and Cinema Production Partner", kind = "standard", pointsRequired = 1000, annualFee = 200.00m, currency = "EUR" },
                new { code = "platinum", name = "Platinum Professional Imaging, Cinema and Broadcast Partner Plus", kind = "standard", pointsRequired = 1600, annualFee = 350.00m, currency = "EUR" },
            },
        });
        await Billing.ListThousandPointModel(App.Store);
        await App.ListModel(points: 235);
        // By bank transfer, its invoices open: the owed card names them, two columns wide where two fit.
        var account = await Billing.JoinedAccount(App, "EE", "bank_transfer");
        var member = App.Member(account);
        await App.Tracked(() => member.Register(account, Products.Products.Complete("S-SECOND", Billing.Thousand)));
        await App.Tracked(() => member.Register(account, Products.Products.WithoutDealer("R5-0002")));
        await App.Tracked(async () => await (await member.PostJson($"/api/accounts/{account}/membership/upgrade", new { tier = "platinum" }))
            .ShouldBe(System.Net.HttpStatusCode.OK));
        await App.FastForward(Billing.IssueDelay);
        await Page.SetViewportSizeAsync(width, height);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        // "235 expected on completion" under the points: whole, or broken between its halves; at 390 px it stood a word a line.
        var expected = Page.GetByTestId("products").Locator(".expected");
        await Expect(expected).ToHaveTextAsync("235 expected on completion");
        Assert.InRange(await LinesOf(expected), 1, expectedLines);

        // The upgrade's row: its tier's name and how it came (the tier it was upgraded from, the amount, the days) in a few lines.
        var upgraded = Page.GetByTestId("tier-history").Locator("tbody tr").Filter(new() { HasText = "upgraded from" });
        var tier = upgraded.Locator("td").Nth(1);
        var how = upgraded.Locator("td").Nth(3);
        await Expect(tier).ToContainTextAsync("Platinum Professional Imaging, Cinema and Broadcast Partner Plus");
        await Expect(how).ToContainTextAsync("upgraded from Gold Professional Imaging and Cinema Production Partner: 150.00 EUR for");
        Assert.InRange(await LinesOf(tier), 1, tierLines);
        Assert.InRange(await LinesOf(how), 1, upgradeLines);
        // A date or an amount is never broken (the term's start stood "2026-" above "12-07" at 1280 px).
        foreach (var whole in new[] { upgraded.Locator("td").Nth(0), upgraded.Locator("td").Nth(2) })
            Assert.Equal(1, await LinesOf(whole.Locator(".nowrap")));
        await Screenshot($"tier-history-{width}");

        // Nothing read out character by character is broken over two lines, the account's, its history's or a replay's (at 390 px
        // "S-SECON" stood above "D" in the serials, "2027-11-" above "07" in the renewal): a table wider than a phone scrolls
        // sideways in its own box, and the page not at all.
        string[] codes = ["S-SECOND", "R5-0002", Products.Products.R5, Billing.Thousand, "S-studio-example.ee"];
        await Expect(Page.GetByTestId("renewal")).ToContainTextAsync("offer on");
        await Expect(Page.GetByTestId("owed").Locator("li")).ToHaveCountAsync(2);
        await NothingBrokenOrWiderThanTheScreen("the account", codes);
        await Page.GetByRole(AriaRole.Navigation, new() { Name = "Account" }).GetByRole(AriaRole.Link, new() { Name = "History & time travel" }).ClickAsync();
        var timeline = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" });
        await Expect(timeline.Locator("li[data-type='cps_joined']")).ToContainTextAsync("membership number");
        await NothingBrokenOrWiderThanTheScreen("the history", codes);
        await timeline.GetByRole(AriaRole.Button, new() { Name = "As of this event" }).Last.ClickAsync();
        await Expect(Page.GetByTestId("as-of").GetByTestId("products").Locator("tbody tr")).ToHaveCountAsync(3);
        await NothingBrokenOrWiderThanTheScreen("the replay", codes);
    }

    // Every date, amount, membership and invoice number, and each of the codes, on the page, whose text takes more than one line; then
    // whatever runs past the screen or the page's column, and a table's caption not whole in view.
    private async Task NothingBrokenOrWiderThanTheScreen(string page, string[] codes)
    {
        var broken = await Page.EvaluateAsync<string[]>("""
            codes => {
              const escaped = codes.map(c => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
              const whole = new RegExp([String.raw`\d{4}-\d{2}-\d{2}`, String.raw`\d+\.\d{2} [A-Z]{3}`, 'CPS-\\d{3}-\\d{3}-\\d{3}',
                'INV-\\d{4}-\\d{6}', ...escaped].join('|'), 'g');
              const found = [];
              const texts = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
              for (let node; (node = texts.nextNode());) {
                for (const m of node.data.matchAll(whole)) {
                  const range = document.createRange();
                  range.setStart(node, m.index);
                  range.setEnd(node, m.index + m[0].length);
                  const lines = new Set([...range.getClientRects()].filter(b => b.width > 0).map(b => Math.round(b.top)));
                  if (lines.size > 1) found.push(`${m[0]} (${node.parentElement.closest('[data-testid], li, td, p')?.textContent.slice(0, 60)})`);
                }
              }
              return found;
            }
            """, codes);
        Assert.True(broken.Length == 0, $"broken over two lines on {page}: {string.Join("; ", broken)}");
        Assert.True(await Page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"),
            $"{page} scrolls sideways");
        // No element runs past the screen's edge, nor what is on the page past its column into the margin, though the page does not
        // scroll for that (at 390 px the cards' grid took a second column for the wide owed card, past the column's edge): only
        // what a box of its own scrolls sideways (a wide table) may be wider.
        var wider = await Page.EvaluateAsync<string[]>("""
            () => {
              const main = document.querySelector('main');
              const column = main.getBoundingClientRect().right - parseFloat(getComputedStyle(main).paddingRight);
              return [...document.body.querySelectorAll('*')]
                .filter(e => { const r = e.getBoundingClientRect();
                               return r.width > 0 && r.right > (e !== main && main.contains(e) ? column : window.innerWidth) + 0.5; })
                .filter(e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
                                 if (getComputedStyle(a).overflowX !== 'visible') return false;
                               return true; })
                .map(e => `${e.tagName.toLowerCase()}${e.className ? '.' + String(e.className).replaceAll(' ', '.') : ''}` +
                          ` (${e.getAttribute('data-testid') ?? e.textContent.trim().slice(0, 30)}) to ${Math.round(e.getBoundingClientRect().right)} px` +
                          ` of ${Math.round(e !== main && main.contains(e) ? column : window.innerWidth)}`);
            }
            """);
        Assert.True(wider.Length == 0, $"wider than the screen or the page's column on {page}: {string.Join("; ", wider)}");
        // A table's visible caption stands whole in view, before and after its table is scrolled sideways: in the table's scroll box
        // it scrolled with the table, cut at the box's edge until scrolled (and its start gone once scrolled).
        var cut = await Page.EvaluateAsync<string[]>("""
            () => {
              const cut = [];
              const inside = (r, box) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5;
              const check = when => {
                for (const table of document.querySelectorAll('main table')) {
                  const names = [...table.querySelectorAll(':scope > caption'),
                    ...(table.getAttribute('aria-labelledby') ?? '').split(' ').filter(Boolean).map(id => document.getElementById(id))]
                    .filter(n => n && !n.classList.contains('visually-hidden'));
                  for (const name of names) {
                    const clips = [{ left: 0, right: window.innerWidth }];
                    for (let a = name.parentElement; a; a = a.parentElement)
                      if (getComputedStyle(a).overflowX !== 'visible') clips.push(a.getBoundingClientRect());
                    const range = document.createRange();
                    range.selectNodeContents(name);
                    if ([...range.getClientRects()].some(r => r.width > 0 && clips.some(c => !inside(r, c))))
                      cut.push(`${name.textContent.slice(0, 60)} (${when})`);
                  }
                }
              };
              const boxes = [...document.querySelectorAll('main .table-scroll, main .as-of')];
              check('as drawn');
              boxes.forEach(b => b.scrollLeft = b.scrollWidth);
              check('scrolled to its end');
              boxes.forEach(b => b.scrollLeft = 0);
              return cut;
            }
            """);
        Assert.True(cut.Length == 0, $"a table's caption cut on {page}: {string.Join("; ", cut)}");
    }

    [Theory]
    [InlineData(1366, 768, 10, 1)]
    [InlineData(1280, 720, 6, 2)]
    public async Task On_a_laptop_screen_finance_sees_many_invoice_lines_at_once_each_lines_buttons_on_one_row(int width, int height, int linesInView,
        int linesTall)
    {
        var (_, numbers) = await App.OpenInvoicesOfOneAccount(14);
        await Page.SetViewportSizeAsync(width, height);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        var rows = Page.GetByTestId("invoice-list").Locator("tbody tr");
        await Expect(rows).ToHaveCountAsync(14);

        // Enough lines to match a statement against without scrolling for each one (each line two lines tall, six at 1366; with each
        // line's buttons stacked, two).
        var inView = 0;
        for (var n = 0; n < 14; n++)
        {
            var box = await rows.Nth(n).BoundingBoxAsync();
            if (box!.Y + box.Height <= height)
                inView++;
        }
        Assert.True(inView >= linesInView, $"{inView} invoice lines in view at {width}x{height}, expected at least {linesInView}");

        // A line one line tall where the width allows (1366), wrapped inside its cells where it does not (1280), never wider than the screen.
        for (var n = 0; n < 14; n++)
        {
            var tall = await rows.Nth(n).LinesTall();
            Assert.True(tall < linesTall + 0.5, $"line {n + 1} is {tall:0.0} lines tall at {width}x{height}, expected {linesTall}");
        }
        Assert.True(await Page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "no scrolling sideways");

        // Each line's buttons side by side, each saying which invoice it acts on.
        var number = numbers[0];
        var row = rows.Filter(new() { HasText = number });
        string[] names = [$"Invoice PDF, {number}", $"Record transfer, {number}", $"Cancel by credit note, {number}"];
        var tops = new List<float>();
        foreach (var name in names)
            tops.Add((await row.GetByRole(AriaRole.Button, new() { Name = name, Exact = true }).BoundingBoxAsync())!.Y);
        Assert.All(tops, y => Assert.Equal(tops[0], y, 1.0));

        // With the keyboard: from the line's company, its buttons in reading order, then the next line.
        await row.GetByRole(AriaRole.Link, new() { Name = "Gamma Studio" }).FocusAsync();
        foreach (var name in names)
        {
            await Page.Keyboard.PressAsync("Tab");
            await Expect(row.GetByRole(AriaRole.Button, new() { Name = name, Exact = true })).ToBeFocusedAsync();
        }
        await Page.Keyboard.PressAsync("Tab");
        await Expect(rows.Filter(new() { HasText = numbers[1] }).GetByRole(AriaRole.Link, new() { Name = "Gamma Studio" })).ToBeFocusedAsync();
    }

    [Fact]
    public async Task On_a_screen_wider_than_the_invoice_list_needs_it_stands_in_the_middle_as_the_other_pages_do()
    {
        await App.OpenInvoicesOfOneAccount(2);
        await Page.SetViewportSizeAsync(1920, 1080);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Expect(Page.GetByTestId("invoice-list").Locator("tbody tr")).ToHaveCountAsync(2);
        // The page's column: its margins either side of it, in the window.
        const string margins = "() => { const r = document.querySelector('main').getBoundingClientRect(); return [r.left, window.innerWidth - r.right]; }";
        var list = await Page.EvaluateAsync<double[]>(margins);
        Assert.True(list[0] > 100 && Math.Abs(list[0] - list[1]) <= 1, $"the invoice list's margins are {list[0]:0} and {list[1]:0} px");

        await Page.GetByRole(AriaRole.Link, new() { Name = "Accounts" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Accounts", Level = 1 })).ToBeVisibleAsync();
        var search = await Page.EvaluateAsync<double[]>(margins);
        Assert.True(search[0] > 100 && Math.Abs(search[0] - search[1]) <= 1, $"the account search's margins are {search[0]:0} and {search[1]:0} px");
    }

    [Theory]
    [InlineData(1920, 1080)]
    [InlineData(1366, 768)]
    public async Task The_notice_above_the_invoice_list_lines_up_with_the_list(int width, int height)
    {
        await App.OpenInvoicesOfOneAccount(2);
        await Page.SetViewportSizeAsync(width, height);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Expect(Page.GetByTestId("invoice-list").Locator("tbody tr")).ToHaveCountAsync(2);

        // The notice as the console writes it above every page (say(): "Your sign-in has expired", ...): in the status box, over
        // the invoice list, whose column is wider than the other pages' 1200 px (main.wide). It stood in a 1200 px column there.
        await Page.EvaluateAsync("""
            () => { const p = document.createElement('p'); p.className = 'notice warn'; p.textContent = 'Your sign-in has expired: sign in again.';
                    document.getElementById('status').replaceChildren(p); }
            """);
        // The page's content: main's box less its padding, where the heading and the list begin.
        var content = await Page.EvaluateAsync<double[]>("""
            () => { const m = document.querySelector('main'), r = m.getBoundingClientRect(), s = getComputedStyle(m);
                    return [r.left + parseFloat(s.paddingLeft), r.right - parseFloat(s.paddingRight)]; }
            """);
        var notice = await Page.Locator("#status .notice").BoundingBoxAsync();
        var heading = await Page.GetByRole(AriaRole.Heading, new() { Level = 1 }).BoundingBoxAsync();
        Assert.True(Math.Abs(heading!.X - content[0]) <= 1, $"the heading begins at {heading.X:0} px, the page's content at {content[0]:0} px");
        Assert.True(Math.Abs(notice!.X - content[0]) <= 1, $"the notice begins at {notice.X:0} px, the page's content at {content[0]:0} px");
        Assert.True(Math.Abs(notice.X + notice.Width - content[1]) <= 1,
            $"the notice ends at {notice.X + notice.Width:0} px, the page's content at {content[1]:0} px");
    }

    [Theory]
    [InlineData(1366, 768)]
    [InlineData(1280, 720)]
    public async Task A_field_the_api_refuses_in_a_dialog_is_said_once_at_its_field_and_the_notice_is_in_view(int width, int height)
    {
        var (account, member, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await Page.SetViewportSizeAsync(width, height);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        var row = Page.GetByTestId("invoice-list").Locator("tbody tr").Filter(new() { HasText = invoice.InvoiceNumber });
        await row.GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Record a transfer received" });
        await dialog.GetByLabel("Amount").FillAsync("100.00");
        await dialog.GetByLabel("Value date").FillAsync(invoice.IssuedOn.AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        await dialog.GetByLabel("Bank reference").FillAsync("LHV-20261205-0042");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();

        // The API's sentence once, beside its field; the notice names what was refused, whole, with the field in view.
        var sentence = $"before invoice {invoice.InvoiceNumber} was issued";
        await Expect(dialog.Locator("#transfer-valueDate-error")).ToContainTextAsync(sentence);
        await Expect(dialog.GetByText(sentence)).ToHaveCountAsync(1);
        var notice = dialog.GetByRole(AriaRole.Alert);
        await Expect(notice).ToContainTextAsync("(400)");
        await Expect(notice).ToContainTextAsync("Value date");
        await Expect(notice).ToBeInViewportAsync(new() { Ratio = 1 });
        await Expect(dialog.GetByLabel("Value date")).ToBeFocusedAsync();
        await Expect(dialog.GetByLabel("Value date")).ToBeInViewportAsync(new() { Ratio = 1 });
        Assert.Empty((await member.SingleInvoice(account)).Payments);

        // A credit note's reason too short: the same, at the reason.
        await Page.Keyboard.PressAsync("Escape");
        await row.GetByRole(AriaRole.Button, new() { Name = $"Cancel by credit note, {invoice.InvoiceNumber}" }).ClickAsync();
        dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Cancel an invoice by credit note" });
        await dialog.GetByLabel("Reason").FillAsync("No");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        const string why = "Say why, in words an auditor understands later";
        await Expect(dialog.Locator("#cancel-invoice-reason-error")).ToContainTextAsync(why);
        await Expect(dialog.GetByText(why)).ToHaveCountAsync(1);
        await Expect(dialog.GetByRole(AriaRole.Alert)).ToContainTextAsync("Reason");
        await Expect(dialog.GetByRole(AriaRole.Alert)).ToBeInViewportAsync(new() { Ratio = 1 });
    }

    [Fact]
    public async Task Finance_writes_a_credit_note_on_the_invoice_a_suspension_rests_on_and_the_account_shows_the_membership_active()
    {
        var (account, member, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await Invoicing.Billing.FastForward(App, TimeSpan.FromDays(31)); // overdue
        await Invoicing.Billing.FastForward(App, TimeSpan.FromDays(14) + TimeSpan.FromHours(1)); // past its grace period: suspended
        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        var membership = Page.GetByTestId("membership");
        await Expect(membership).ToContainTextAsync("suspended");

        await Page.GetByTestId("invoices").GetByRole(AriaRole.Button, new() { Name = $"Cancel by credit note, {invoice.InvoiceNumber}" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Cancel an invoice by credit note" });
        await dialog.GetByLabel("Reason").FillAsync("Issued to the wrong company");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        // The API's preview (membershipAfter: reinstated), said before anything is written.
        await Expect(Review(dialog)).ToContainTextAsync("Membership");
        await Expect(Review(dialog)).ToContainTextAsync("suspended for this invoice: active again (MembershipReinstated)");
        await Expect(Review(dialog)).ToContainTextAsync($"{Euros(invoice.Total)} EUR before, nothing after");
        Assert.Equal(Api.Invoicing.MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);

        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync("the membership this invoice kept suspended is active again");
        Assert.Equal(Api.Invoicing.MembershipStatus.Active, (await member.Summary(account)).MembershipStatus);

        // The account behind the dialog was read again: the membership is active.
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();
        await Expect(membership).ToContainTextAsync("· active ·");
        await Expect(membership).Not.ToContainTextAsync("suspended");
    }

    [Fact]
    public async Task An_auditor_reads_many_events_of_a_long_history_at_once_each_with_its_as_of_button_beside_its_date()
    {
        await App.ListModel(points: 10); // far below the invitation threshold: each registration is its own event and no more
        var account = await App.OpenAccount("studio@example.ee");
        var member = App.Member(account, "kadri");
        await App.TrackedUntilHandled<ReviewInvitation>(10, async () =>
        {
            for (var n = 1; n <= 10; n++)
                await member.Register(account, Products.Products.Complete($"R5-{n:0000}"));
        });
        await Page.SetViewportSizeAsync(1280, 720);
        await SignInAs(LedgerRoles.Auditor, "aino");
        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        var events = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" }).GetByRole(AriaRole.Listitem);
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "History (21 events)" })).ToBeVisibleAsync();
        var count = await events.CountAsync();

        // The timeline from its first event at the top of the screen: how many events are read whole without scrolling.
        await events.First.EvaluateAsync("li => li.scrollIntoView({ block: 'start' })");
        var inView = 0;
        for (var n = 0; n < count; n++)
        {
            var box = await events.Nth(n).BoundingBoxAsync();
            if (box!.Y >= 0 && box.Y + box.Height <= 720)
                inView++;
        }
        // With the button on a line of its own, five.
        Assert.True(inView >= 8, $"{inView} events in view at 1280x720, expected at least 8");

        // The button on the event's date line, named for its event, and reached with the keyboard.
        var second = events.Nth(1);
        var when = second.Locator(".when");
        var button = second.GetByRole(AriaRole.Button, new() { NameRegex = new System.Text.RegularExpressions.Regex("^As of this event \\(sequence \\d+, product registered, ") });
        await Expect(button).ToHaveAccessibleNameAsync(new System.Text.RegularExpressions.Regex($"{System.Text.RegularExpressions.Regex.Escape(await when.InnerTextAsync())}\\)$"));
        var (whenBox, buttonBox) = ((await when.BoundingBoxAsync())!, (await button.BoundingBoxAsync())!);
        Assert.True(buttonBox.Y < whenBox.Y + whenBox.Height && whenBox.Y < buttonBox.Y + buttonBox.Height, "the button beside the event's date");
        await events.First.GetByRole(AriaRole.Button).FocusAsync();
        await Page.Keyboard.PressAsync("Tab");
        await Expect(button).ToBeFocusedAsync();
        await Page.Keyboard.PressAsync("Enter");
        await Expect(Page.GetByTestId("as-of").GetByRole(AriaRole.Heading).First).ToBeFocusedAsync();
        await Expect(Page.GetByTestId("as-of").GetByRole(AriaRole.Heading).First).ToContainTextAsync("after product registered");
    }

    [Theory]
    [InlineData(1366, 768)]
    [InlineData(1280, 720)]
    public async Task Finance_opening_an_account_sees_its_invoices_without_scrolling(int width, int height)
    {
        var (account, _, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await Page.SetViewportSizeAsync(width, height);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        // Finance comes for the invoices: the heading and the first line on the first screen, not below products and points.
        var invoices = Page.GetByTestId("invoices");
        await Expect(invoices.GetByRole(AriaRole.Heading, new() { Name = "Invoices", Level = 2 })).ToBeInViewportAsync(new() { Ratio = 1 });
        await Expect(invoices.GetByRole(AriaRole.Row).Filter(new() { HasText = invoice.InvoiceNumber })).ToBeInViewportAsync(new() { Ratio = 1 });
        Assert.Equal(0, await Page.EvaluateAsync<double>("() => window.scrollY"));

        // Support still reads the account in its order, the products and points first (what most of its calls are about).
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Expect(invoices).ToBeVisibleAsync();
        var headings = (await Page.Locator("main h2:not(.visually-hidden)").AllInnerTextsAsync()).ToList();
        // "Products (1)": the heading says how many.
        Assert.True(headings.FindIndex(h => h.StartsWith("Products (")) < headings.IndexOf("Invoices"), string.Join(", ", headings));
    }

    [Theory]
    [InlineData(LedgerRoles.Support)]
    [InlineData(LedgerRoles.Auditor)]
    public async Task A_finance_user_with_another_role_too_sees_an_accounts_invoices_first_as_finance_does(string otherRole)
    {
        var (account, _, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await Page.SetViewportSizeAsync(1366, 768);
        await SignInAs([LedgerRoles.Finance, otherRole], "frida");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        // The finance role is what puts actions on the invoices; the other role's tabs are there too, one click away.
        var invoices = Page.GetByTestId("invoices");
        await Expect(invoices.GetByRole(AriaRole.Heading, new() { Name = "Invoices", Level = 2 })).ToBeInViewportAsync(new() { Ratio = 1 });
        await Expect(invoices.GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" })).ToBeInViewportAsync(new() { Ratio = 1 });
        var headings = (await Page.Locator("main h2:not(.visually-hidden)").AllInnerTextsAsync()).ToList();
        Assert.True(headings.IndexOf("Invoices") < headings.FindIndex(h => h.StartsWith("Products (")), string.Join(", ", headings));
        await Expect(Page.GetByRole(AriaRole.Navigation, new() { Name = "Account" }).GetByRole(AriaRole.Link, new() { Name = "History & time travel" }))
            .ToBeVisibleAsync();
    }

    [Theory]
    [InlineData(LedgerRoles.Support)]
    [InlineData(LedgerRoles.Auditor)]
    public async Task A_finance_user_with_another_role_too_starts_on_the_invoices_awaiting_payment_and_finds_a_caller_a_click_away(string otherRole)
    {
        await App.InvoicesOfTwoAccounts();
        await Page.SetViewportSizeAsync(1366, 768);
        await SignInAs([LedgerRoles.Finance, otherRole], "frida");

        // Finance's queue, as a finance-only user starts on it: what is still to be paid, the overdue first.
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Open invoices", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page.GetByTestId("invoice-list").Locator("tbody tr").First).ToContainTextAsync("INV-2026-000001");
        var sections = Page.GetByRole(AriaRole.Navigation, new() { Name = "Console" });
        await Expect(sections.GetByRole(AriaRole.Link, new() { Name = "Invoices" })).ToHaveAttributeAsync("aria-current", "page");

        // A caller rings: the search is a click away, and the account found opens with the other role's tabs beside the overview.
        await sections.GetByRole(AriaRole.Link, new() { Name = "Accounts" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Accounts", Level = 1 })).ToBeVisibleAsync();
        await Expect(sections.GetByRole(AriaRole.Link, new() { Name = "Accounts" })).ToHaveAttributeAsync("aria-current", "page");
        await Page.GetByLabel("Find an account").FillAsync("Beta Foto");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        await Page.GetByRole(AriaRole.Link, new() { Name = "Beta Foto" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Beta Foto", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Navigation, new() { Name = "Account" }).GetByRole(AriaRole.Link, new() { Name = "History & time travel" }))
            .ToBeVisibleAsync();
    }

    [Fact]
    public async Task A_heading_the_focus_goes_to_after_a_key_press_shows_the_outline_and_after_a_click_none()
    {
        var (_, _, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await Page.SetViewportSizeAsync(1366, 768);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        const string outline = "h => getComputedStyle(h).outlineStyle";
        var row = Page.GetByTestId("invoice-list").Locator("tbody tr").Filter(new() { HasText = invoice.InvoiceNumber });

        // A page opened with the keyboard (Enter on a line's company): its heading takes the focus, and the keyboard user sees it there.
        await row.GetByRole(AriaRole.Link, new() { Name = invoice.CompanyName }).FocusAsync();
        await Page.Keyboard.PressAsync("Enter");
        var heading = Page.GetByRole(AriaRole.Heading, new() { Name = invoice.CompanyName, Level = 1 });
        await Expect(heading).ToBeFocusedAsync();
        Assert.Equal("solid", await heading.EvaluateAsync<string>(outline));

        // Opened with the mouse: the focus moves the same way, and no outline is drawn where nobody clicked.
        await Page.GetByRole(AriaRole.Navigation, new() { Name = "Console" }).GetByRole(AriaRole.Link, new() { Name = "Invoices" }).ClickAsync();
        var invoices = Page.GetByRole(AriaRole.Heading, new() { Name = "Open invoices", Level = 1 });
        await Expect(invoices).ToBeFocusedAsync();
        Assert.Equal("none", await invoices.EvaluateAsync<string>(outline));

        // A transfer in full written with the keyboard: "Record transfer" is no longer offered, so the focus goes to the page's heading,
        // shown there.
        await row.GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" }).FocusAsync();
        await Page.Keyboard.PressAsync("Enter");
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Record a transfer received" });
        await dialog.GetByLabel("Amount").FillAsync(Euros(invoice.Total));
        await dialog.GetByLabel("Value date").FillAsync(Invoicing.Billing.ValueDate(App));
        await dialog.GetByLabel("Bank reference").FillAsync("LHV-20261205-0042");
        await dialog.GetByLabel("Bank reference").PressAsync("Enter");
        await Expect(Review(dialog)).ToContainTextAsync("(full)");
        await Page.Keyboard.PressAsync("Enter");
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync("Written:");
        await Expect(row).ToHaveCountAsync(0);
        await Page.Keyboard.PressAsync("Escape");
        await Expect(dialog).ToHaveCountAsync(0);
        await Expect(invoices).ToBeFocusedAsync();
        Assert.Equal("solid", await invoices.EvaluateAsync<string>(outline));
    }

    [Fact]
    public async Task Skip_to_content_moves_the_focus_to_the_page_and_stays_on_it()
    {
        var account = await App.OpenAccount("studio@example.ee");
        await Page.SetViewportSizeAsync(1366, 768);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/support");
        await Expect(Page.GetByTestId("adjust")).ToBeVisibleAsync();

        // The first Tab stop, with the keyboard: the same page, the focus at its content, not the account search its "#main" once routed to.
        await Page.GetByRole(AriaRole.Link, new() { Name = "Skip to content" }).FocusAsync();
        await Page.Keyboard.PressAsync("Enter");
        await Expect(Page.Locator("main")).ToBeFocusedAsync();
        await Expect(Page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"#/accounts/{account}/support$"));
        await Expect(Page.GetByTestId("adjust")).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Accounts", Level = 1 })).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task The_replays_heading_shows_where_the_focus_is_after_a_key_press_and_no_outline_after_a_click()
    {
        await App.ListModel(points: 10);
        var account = await App.OpenAccount("studio@example.ee");
        var member = App.Member(account, "kadri");
        await App.TrackedUntilHandled<ReviewInvitation>(1, () => member.Register(account, Products.Products.Complete("R5-0001")));
        await Page.SetViewportSizeAsync(1366, 768);
        await SignInAs(LedgerRoles.Auditor, "aino");
        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        var button = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" }).GetByRole(AriaRole.Listitem).Nth(1).GetByRole(AriaRole.Button);
        var heading = Page.GetByTestId("as-of").GetByRole(AriaRole.Heading).First;
        const string outline = "h => getComputedStyle(h).outlineStyle";

        // With the keyboard: the focus moves to the replay's heading, and the keyboard user sees it there, as on a button.
        await button.FocusAsync();
        await Page.Keyboard.PressAsync("Enter");
        await Expect(heading).ToBeFocusedAsync();
        Assert.Equal("solid", await heading.EvaluateAsync<string>(outline));

        // With the mouse: the focus moves the same way (for a screen reader), and no outline is drawn where nobody clicked.
        await Page.GetByRole(AriaRole.Button, new() { Name = "Back to now" }).ClickAsync();
        await button.ClickAsync();
        await Expect(heading).ToBeFocusedAsync();
        Assert.Equal("none", await heading.EvaluateAsync<string>(outline));

        // Enter in the time travel's box asks with the keyboard too: the outline again.
        // A moment after every event: the timeline shows whole seconds, and its event's own second can precede the account's opening.
        var when = DateTime.UtcNow.AddSeconds(2).ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
        await Page.GetByLabel("Show the account as it stood at (UTC)").FillAsync(when);
        await Page.Keyboard.PressAsync("Enter");
        await Expect(heading).ToContainTextAsync(when.Replace('T', ' '));
        await Expect(heading).ToBeFocusedAsync();
        Assert.Equal("solid", await heading.EvaluateAsync<string>(outline));
    }

    [Fact]
    public async Task Resending_an_invitation_the_account_does_not_have_says_why_and_offers_nothing_to_type()
    {
        var account = await App.OpenAccount("studio@example.ee");
        await Page.SetViewportSizeAsync(1280, 720);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/support");

        var resend = Page.GetByTestId("resend");
        await Expect(resend).ToContainTextAsync("This account has no standing invitation, so there is nothing to resend.");
        // Only that: what the action would do is no matter when it cannot be done.
        await Expect(resend).Not.ToContainTextAsync("Sends the standing invitation");
        await Expect(resend.Locator("p")).ToHaveCountAsync(1);
        // No box to type a reason in, and no disabled "Review" to wonder about.
        await Expect(resend.GetByRole(AriaRole.Textbox)).ToHaveCountAsync(0);
        await Expect(resend.GetByRole(AriaRole.Button)).ToHaveCountAsync(0);
        // The other actions are unchanged.
        await Expect(Page.GetByTestId("adjust").GetByLabel("Reason")).ToBeEditableAsync();
    }

    [Fact]
    public async Task A_page_opened_from_its_address_shows_no_focus_outline_on_its_heading_and_owed_back_is_one_line()
    {
        await App.InvoicesOfTwoAccounts();
        await Page.SetViewportSizeAsync(1280, 720);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Page.GotoAsync("/console/#/invoices?status=refund_owed");
        await Page.ReloadAsync(); // opened straight from its address
        var heading = Page.GetByRole(AriaRole.Heading, new() { Name = "Invoices owed back", Level = 1 });
        // The heading has the focus (a screen reader starts there), with no outline: nothing a sighted user can act on.
        await Expect(heading).ToBeFocusedAsync();
        Assert.Equal("none", await heading.EvaluateAsync<string>("h => getComputedStyle(h).outlineStyle"));
        // The column heading on one line, as tall as its neighbours.
        var headers = Page.GetByTestId("invoice-list").Locator("thead th");
        var owedBack = (await headers.Filter(new() { HasText = "Owed back" }).BoundingBoxAsync())!;
        var issued = (await headers.Filter(new() { HasText = "Issued" }).BoundingBoxAsync())!;
        var lineHeight = await headers.First.EvaluateAsync<double>("th => parseFloat(getComputedStyle(th).lineHeight)");
        Assert.True(owedBack.Height < issued.Height + 1 && await headers.Filter(new() { HasText = "Owed back" }).EvaluateAsync<double>(
            "th => th.getBoundingClientRect().height - parseFloat(getComputedStyle(th).paddingTop) - parseFloat(getComputedStyle(th).paddingBottom)") < lineHeight * 1.5,
            $"Owed back {owedBack.Height}px tall, Issued {issued.Height}px");
        await Screenshot("finance-owed-back");
    }

    [Fact]
    public async Task After_a_support_action_is_written_with_the_keyboard_the_focus_is_back_on_the_action()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("studio@example.ee");
        await Page.SetViewportSizeAsync(1366, 768);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/support");

        var preview = await Page.ReviewAdjustment("50", "Registration lost in the 2025 portal outage", "CPS-SUP-1234");
        var writeIt = preview.GetByRole(AriaRole.Button, new() { Name = "Write it" });
        await Expect(writeIt).ToBeFocusedAsync();
        await Page.Keyboard.PressAsync("Enter");
        await Expect(Page.GetByText("Written: manual adjustment of +50 points").First).ToBeVisibleAsync();

        // "Write it" is gone with the review: the action's first field has the focus, ready for the next, not the page's body.
        await Expect(Page.GetByTestId("adjust").GetByLabel("Points")).ToBeFocusedAsync();
        Assert.False(await Page.EvaluateAsync<bool>("() => document.activeElement === document.body"));
    }
}
