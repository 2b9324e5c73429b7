using System.Globalization;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using Marten;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace CpsLedger.Tests.WebConsole;

/// <summary>The console in a real headless browser, as support staff and auditors use it.</summary>
public sealed class ConsoleBrowserTests(ConsoleApp app, Chromium chromium) : ConsoleTest(app, chromium)
{
    /// <summary>An account with two products that have their points (235 + 40) and one waiting for its dealer.</summary>
    private async Task<Guid> AccountWithProducts()
    {
        await App.ListModel(points: 235);
        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 40);
        var account = await App.OpenAccount("studio@example.ee");
        var member = App.Member(account);
        // Two products with points: two invitation reviews (275 points, no invitation).
        await App.TrackedUntilHandled<ReviewInvitation>(2, async () =>
        {
            await member.Register(account, Products.Products.Complete("R5-0001"));
            await member.Register(account, Products.Products.Complete("LENS-77", Products.Products.Lens));
            await member.Register(account, Products.Products.WithoutDealer("R5-0002"));
        });
        return account;
    }

    private ILocator Card(string testId) => Page.GetByTestId(testId);

    [Fact]
    public async Task Support_finds_an_account_reads_its_explanation_switches_tiers_and_makes_an_adjustment_it_then_sees()
    {
        var account = await AccountWithProducts();
        await SignInAs(LedgerRoles.Support, "anna");

        // Found by a serial number typed loosely, as read out on the phone.
        await Page.GetByLabel("Find an account").FillAsync("r5-0001");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Row).Filter(new() { HasText = "serial number: R5-0001" })).ToBeVisibleAsync();
        await Screenshot("search");
        await Page.GetByRole(AriaRole.Link, new() { Name = "Valgus Studio OÜ" }).ClickAsync();

        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Valgus Studio OÜ", Level = 1 })).ToBeVisibleAsync();
        await Expect(Card("points-total")).ToContainTextAsync("275");
        await Expect(Card("green-tick")).ToContainTextAsync("1 awaiting details");
        // Not a member, never invoiced: worded as the invoice list words it.
        await Expect(Page.GetByTestId("invoices").Locator("p")).ToHaveTextAsync("No invoices yet.");

        // The explanation: a line per allocation, in a table and a chart (two lines and the total).
        var explanation = Page.GetByTestId("explanation");
        await Expect(explanation.GetByRole(AriaRole.Heading, new() { Name = "Points explanation: 275 points" })).ToBeVisibleAsync();
        var lines = explanation.Locator("tbody tr");
        await Expect(lines).ToHaveCountAsync(2);
        await Expect(lines.Nth(0)).ToContainTextAsync("EOS R5 · R5-0001");
        await Expect(lines.Nth(0)).ToContainTextAsync("+235");
        await Expect(lines.Nth(1)).ToContainTextAsync("275"); // the running total
        // What each line did, in the programme's words: not the event's type name ("PointsAllocated").
        await Expect(lines.Nth(0).Locator("td").Nth(3)).ToHaveTextAsync("allocated");
        await Expect(explanation.Locator("svg g rect")).ToHaveCountAsync(3);
        await Expect(explanation.GetByText("missing dealer")).ToBeVisibleAsync();

        // The standard/enterprise switch, with the why-not of each tier.
        var tiers = Page.GetByTestId("tiers-table");
        await Expect(tiers.Locator("caption")).ToContainTextAsync("Standard tiers");
        await Expect(tiers.GetByRole(AriaRole.Row).Filter(new() { HasText = "Silver" })).ToContainTextAsync("needs 500 points, has 275");
        await Page.GetByText("Enterprise", new() { Exact = true }).ClickAsync();
        await Expect(tiers.Locator("caption")).ToContainTextAsync("Enterprise tiers");
        await Expect(tiers.GetByRole(AriaRole.Row).Filter(new() { HasText = "Enterprise A" })).ToContainTextAsync("needs more than");
        await Page.GetByText("Standard", new() { Exact = true }).ClickAsync();
        await Expect(tiers.Locator("caption")).ToContainTextAsync("Standard tiers");
        await Screenshot("account");

        // A manual adjustment: the page says what will be written before it is written.
        await Page.GetByRole(AriaRole.Link, new() { Name = "Support actions" }).ClickAsync();
        var preview = await Page.ReviewAdjustment("50", "Registration lost in the 2025 portal outage", "CPS-SUP-1234");
        await Expect(preview).ToContainTextAsync("PointsAdjusted");
        await Expect(preview).ToContainTextAsync("+50: the total goes from 275 to 325");
        await Expect(preview).ToContainTextAsync("anna");
        Assert.Equal(275, (await App.Member(account).Summary(account)).PointsTotal); // nothing written yet
        await Screenshot("support-adjustment-preview");
        await preview.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Written: manual adjustment of +50 points (ticket CPS-SUP-1234)").First).ToBeVisibleAsync();

        await Page.GetByRole(AriaRole.Link, new() { Name = "Overview" }).ClickAsync();
        await Expect(Card("points-total")).ToContainTextAsync("325");
        await Expect(lines).ToHaveCountAsync(3);
        var manual = lines.Filter(new() { HasText = "Manual adjustment (CPS-SUP-1234)" });
        await Expect(manual).ToContainTextAsync("+50");
        await Expect(manual).ToContainTextAsync("anna");
        await Expect(manual).ToContainTextAsync("Registration lost in the 2025 portal outage");
        await Expect(manual.Locator("td").Nth(3)).ToHaveTextAsync("manual adjustment");
        await Expect(explanation.Locator("svg g[data-kind='adjust']")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task A_total_below_zero_keeps_its_minus_sign_in_the_chart()
    {
        // A deduction may take the total below zero (docs/programme.md): the chart's total is the table's, sign and all.
        var account = await OneProductRegisteredByKadri();
        (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
            new { points = -300, reason = "Points granted twice by mistake", ticketReference = "CPS-SUP-8" })).EnsureSuccessStatusCode();
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        var explanation = Page.GetByTestId("explanation");
        await Expect(explanation.GetByRole(AriaRole.Heading, new() { Name = "Points explanation: -65 points" })).ToBeVisibleAsync();
        // Until 2026-12-07 the chart's total read "65", its bar drawn left of zero.
        var total = explanation.Locator("svg g[data-kind='total']");
        await Expect(total.Locator("text").Last).ToHaveTextAsync("−65");
        await Expect(total.Locator("title")).ToHaveTextAsync("Total: −65 (running total -65)");
        await Expect(explanation.Locator("svg g[data-kind='adjust'] text").Last).ToHaveTextAsync("−300");
    }

    [Fact]
    public async Task The_overview_shows_the_term_its_renewal_and_the_tier_history()
    {
        var (account, member, joined) = await JoinedAsGoldByCard();
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        // The invitation the member accepted: when, and at how many points ("when was I invited?").
        var invited = (await member.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).PastInvitations.Single();
        await Expect(Card("invitation").Locator("dd")).ToContainTextAsync("Accepted");
        await Expect(Card("invitation").Locator("small")).ToHaveTextAsync($"invited {invited.IssuedAt:yyyy-MM-dd} at 1000 points");
        var year = Page.GetByTestId("membership-year");
        await Expect(year.GetByTestId("renewal")).ToContainTextAsync($"Gold {joined.MembershipNumber}");
        await Expect(year.GetByTestId("renewal")).ToContainTextAsync($"Renews after {joined.EndsOn:yyyy-MM-dd} as Gold; offer on");
        await Expect(year.GetByTestId("tier-history").Locator("tbody tr")).ToContainTextAsync("joined");
        // Joined a moment ago, its invoice not issued yet: "where is my invoice?" is answered, not met with a bare "No invoices".
        await Expect(Page.GetByTestId("invoices")).ToContainTextAsync(
            "No invoice yet: a new membership's invoice is issued a while after joining (2 hours with the default settings)");
        await Screenshot("membership-year");

        await member.PutJson($"/api/accounts/{account}/membership/renewal", new { renew = false }).ReadAs<RenewalPlan>();
        await Page.ReloadAsync();
        await Expect(Page.GetByTestId("membership-year").GetByTestId("renewal")).ToContainTextAsync($"Renewal stopped: ends {joined.EndsOn:yyyy-MM-dd} unless a renewal tier is chosen again before then");
    }

    [Fact]
    public async Task Once_offered_the_renewal_choices_are_shown_on_the_offers_table_beside_the_table_in_force()
    {
        // Offered Gold on the defaults (Silver 100, Gold 200), then a table without Gold and with Silver at 110: support choosing for the
        // member reads the offer's tiers and fees, which the renewal choice accepts, not only the eligible tiers of the new table.
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await Invoicing.Billing.JoinedAccount(App, "EE", "card", Api.Invoicing.SandboxPaymentGateway.Approve);
        var term = (await App.ClientAs(LedgerRoles.Support).GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Membership!;
        await Invoicing.Billing.FastForwardPastTheOffer(App, term);
        await Invoicing.Billing.PublishTierTable(App, Invoicing.Billing.TierTableWithoutGold(goldPlusPoints: 1000));
        var offeredOn = (await App.ClientAs(LedgerRoles.Support).GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>())
            .Renewal!.Proposed!.TierTableVersion;
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        // An upgrade goes by the table in force: named as the tier list names it, not by its code.
        await Expect(Page.GetByTestId("membership-year").GetByTestId("renewal")).ToContainTextAsync("Upgradable now to: Gold Plus");
        var choices = Page.GetByTestId("membership-year").GetByTestId("renewal-choices");
        await Expect(choices.Locator("caption")).ToContainTextAsync($"Renewal choices: the offer’s tier table v{offeredOn} of");
        await Expect(choices.Locator("tbody tr").Nth(0)).ToContainTextAsync("Silver100.00 EUR✓ eligible");
        await Expect(choices.Locator("tbody tr").Nth(1)).ToContainTextAsync("Gold200.00 EUR✓ eligible");
        await Expect(choices.Locator("tbody tr").Filter(new() { HasText = "Gold Plus" })).ToHaveCountAsync(0);
        var inForce = Page.GetByTestId("tiers-table");
        await Expect(inForce.Locator("caption")).ToContainTextAsync($"tier table v{offeredOn + 1} in force");
        await Expect(inForce.Locator("tbody tr").Nth(0)).ToContainTextAsync("110.00 EUR");
        await Screenshot("renewal-choices");
    }

    [Fact]
    public async Task Before_the_offer_the_renewal_is_said_on_the_points_as_they_stand()
    {
        var (account, _, joined) = await JoinedAsGoldByCard();
        async Task Adjust(int points) => await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
            new { points, reason = "Registration counted twice", ticketReference = "CPS-SUP-1" })).ShouldBe(System.Net.HttpStatusCode.Created);
        await SignInAs(LedgerRoles.Support, "anna");

        // 600 points: the offer would pre-select Silver, not the Gold the account holds now.
        await Adjust(-400);
        await Page.GotoAsync($"/console/#/accounts/{account}");
        var renewal = Page.GetByTestId("membership-year").GetByTestId("renewal");
        await Expect(renewal).ToContainTextAsync($"Renews after {joined.EndsOn:yyyy-MM-dd} as Silver; offer on");

        // 400 points: no tier, which the page says instead of "as undefined".
        await Adjust(-200);
        await Page.ReloadAsync();
        await Expect(renewal).ToContainTextAsync($"No tier eligible on the points now: ends {joined.EndsOn:yyyy-MM-dd} unless points return by the offer on");
        await Expect(renewal).Not.ToContainTextAsync("undefined");
    }

    [Fact]
    public async Task Cards_keep_dates_whole_count_one_product_in_the_singular_and_times_are_typed_as_iso()
    {
        var (account, member) = await InvitedAtAThousandPoints();
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        await Expect(Card("green-tick")).ToContainTextAsync("1 of 1 product ticked");
        // A date is never split at its hyphens, however narrow the card.
        var issued = (await member.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Invitation!.IssuedAt;
        await Expect(Card("invitation").Locator(".nowrap").First).ToHaveTextAsync(issued.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));

        // The times labelled UTC are typed as ISO 8601, whatever the browser's locale.
        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        foreach (var label in new[] { "Show the account as it stood at (UTC)", "From (UTC)", "Until (UTC)" })
        {
            var input = Page.GetByLabel(label);
            await Expect(input).ToHaveAttributeAsync("type", "text");
            await Expect(input).ToHaveAttributeAsync("placeholder", "yyyy-mm-ddThh:mm:ss");
        }
    }

    [Fact]
    public async Task An_explanation_line_says_what_the_catalogue_gives_now_beside_the_value_it_was_given()
    {
        var account = await AccountWithProducts();
        await App.ChangeModelPoints(Products.Products.R5, 300);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        // The member asks why 235 when the catalogue says 300: the line keeps its 235 and says the 300 beside the value used.
        var lines = Page.GetByTestId("explanation").Locator("tbody tr");
        var r5 = lines.Filter(new() { HasText = "R5-0001" });
        await Expect(r5).ToContainTextAsync("+235");
        await Expect(r5.Locator("td").Nth(6)).ToHaveTextAsync("235 (catalogue v1)the catalogue now gives 300; points allocated do not change");
        await Expect(lines.Filter(new() { HasText = "LENS-77" })).Not.ToContainTextAsync("now gives");
        await Expect(Card("points-total")).ToContainTextAsync("275");
        await Screenshot("explanation-catalogue-now");
    }

    [Fact]
    public async Task An_explanation_line_of_a_withdrawn_model_says_it_was_withdrawn_not_what_the_catalogue_now_gives()
    {
        // A withdrawn model is on none of the catalogue's pages: "now gives 300" sent support looking for it there (the API's words
        // said "has since withdrawn").
        var account = await AccountWithProducts();
        await App.ChangeModelPoints(Products.Products.R5, 300);
        await App.WithdrawModel(Products.Products.R5);
        await App.WithdrawModel(Products.Products.Lens);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        var lines = Page.GetByTestId("explanation").Locator("tbody tr");
        await Expect(lines.Filter(new() { HasText = "R5-0001" }).Locator("td").Nth(6))
            .ToHaveTextAsync("235 (catalogue v1)the catalogue has since withdrawn the model, its last value 300; points allocated do not change");
        // Withdrawn at the value allocated: nothing differs, and the withdrawal is still said, as the API's words say it.
        await Expect(lines.Filter(new() { HasText = "LENS-77" }).Locator("td").Nth(6))
            .ToHaveTextAsync("40 (catalogue v1)the catalogue has since withdrawn the model; points allocated do not change");
        await Expect(Page.GetByTestId("explanation")).Not.ToContainTextAsync("now gives");
    }

    [Fact]
    public async Task A_product_waiting_for_details_says_what_it_would_earn_today_as_an_expectation()
    {
        var account = await AccountWithProducts();
        await App.ChangeModelPoints(Products.Products.R5, 300);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        // R5-0002 waits for its dealer: it has 0 points, and would earn the catalogue's 300 if completed today.
        await Expect(Page.GetByTestId("explanation").Locator("li", new() { HasText = "R5-0002" })).ToHaveTextAsync(
            "EOS R5 (EOS-R5), serial R5-0002: missing dealer; would earn 300 points if completed today (the catalogue's value now: " +
            "expected, not allocated)");
        var waiting = Page.GetByTestId("products").Locator("tr", new() { HasText = "R5-0002" });
        await Expect(waiting.Locator("td").Nth(3)).ToHaveTextAsync("0300 expected on completion");
        await Expect(Page.GetByTestId("products").Locator("tr", new() { HasText = "R5-0001" })).Not.ToContainTextAsync("expected");
        await Expect(Card("points-total")).ToContainTextAsync("275");
        await Screenshot("awaiting-details-expected");
    }

    [Fact]
    public async Task A_product_waiting_for_details_on_a_withdrawn_model_says_it_would_earn_the_models_last_value()
    {
        // "The catalogue's value now" of a model on none of the catalogue's pages sent support looking for it there: said as an
        // explanation line of a withdrawn model says it (the API's expectedFromWithdrawnModel).
        var account = await AccountWithProducts();
        await App.ChangeModelPoints(Products.Products.R5, 300);
        await App.WithdrawModel(Products.Products.R5);
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        await Expect(Page.GetByTestId("explanation").Locator("li", new() { HasText = "R5-0002" })).ToHaveTextAsync(
            "EOS R5 (EOS-R5), serial R5-0002: missing dealer; would earn 300 points if completed today (the catalogue has since " +
            "withdrawn the model, its last value 300: expected, not allocated)");
        var waiting = Page.GetByTestId("products").Locator("tr", new() { HasText = "R5-0002" });
        await Expect(waiting.Locator("td").Nth(3))
            .ToHaveTextAsync("0300 expected on completionthe catalogue has since withdrawn the model, its last value 300");

        // The replay's products say it too, from the catalogue as it stood then: as of a minute from now, withdrawn (the account's
        // last event is older than the withdrawal).
        await Page.GetByRole(AriaRole.Navigation, new() { Name = "Account" }).GetByRole(AriaRole.Link, new() { Name = "History & time travel" }).ClickAsync();
        await Page.GetByLabel("Show the account as it stood at (UTC)")
            .FillAsync(DateTime.UtcNow.AddMinutes(1).ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture));
        await Page.GetByRole(AriaRole.Button, new() { Name = "Travel" }).ClickAsync();
        var asOf = Page.GetByTestId("as-of");
        await Expect(asOf.GetByTestId("products").Locator("tr", new() { HasText = "R5-0002" }).Locator("td").Nth(3))
            .ToHaveTextAsync("0300 expected on completionthe catalogue has since withdrawn the model, its last value 300");
        await Expect(asOf.GetByTestId("explanation").Locator("li", new() { HasText = "R5-0002" }))
            .ToContainTextAsync("(the catalogue has since withdrawn the model, its last value 300: expected, not allocated)");
        await Expect(Page.GetByTestId("explanation").First).Not.ToContainTextAsync("the catalogue's value now");
    }

    [Fact]
    public async Task The_products_say_which_details_are_best_guesses_and_the_heading_counts_a_deregistered_product_apart()
    {
        await App.ListModel(points: 235);
        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 40);
        var account = await App.OpenAccount("studio@example.ee");
        var member = App.Member(account);
        ProductRegistrationStatus sold = null!;
        // Three points events (two allocations, one removal): three invitation reviews.
        await App.TrackedUntilHandled<ReviewInvitation>(3, async () =>
        {
            await member.Register(account, new
            {
                modelCode = Products.Products.R5,
                serialNumber = "R5-0001",
                purchaseDate = "2024-03-01",
                countryOfPurchase = "EE",
                dealer = "Photopoint",
                bestGuesses = new[] { "purchase_date", "dealer" },
            });
            sold = await member.Register(account, Products.Products.Complete("LENS-77", Products.Products.Lens));
            await (await member.PostJson($"{sold.Url}/deregistration", new { reason = "sold", note = "Sold to Foto Tamm OÜ\nreceipt 42" }))
                .ShouldBe(System.Net.HttpStatusCode.OK);
        });

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");

        // The member asks whether a guessed date counts: support sees which details were guesses (they earn points as exact ones).
        var products = Page.GetByTestId("products");
        await Expect(products.Locator("tr", new() { HasText = "R5-0001" })).ToContainTextAsync("best guess: purchase date, dealer");
        await Expect(products.Locator("tr", new() { HasText = "LENS-77" })).Not.ToContainTextAsync("best guess");
        // The summary card counts 1 product; the table lists the sold one too, and its heading says so rather than "Products (2)".
        await Expect(Card("green-tick")).ToContainTextAsync("1 of 1 product ticked");
        await Expect(products.GetByRole(AriaRole.Heading, new() { Name = "Products (2: 1 registered, 1 deregistered)", Exact = true }))
            .ToBeVisibleAsync();
        // The buyer calls about the serial: the note the seller gave is where the sold product is, its line break kept.
        var status = products.Locator("tr", new() { HasText = "LENS-77" }).Locator("td").Last;
        await Expect(status).ToContainTextAsync("(sold)");
        Assert.Equal("note: Sold to Foto Tamm OÜ\nreceipt 42", await status.Locator(".deregistration-note").InnerTextAsync());
        await Screenshot("products-sold-note");
    }

    [Fact]
    public async Task A_withdrawn_invitation_and_an_ended_membership_are_not_shown_as_never_invited_or_never_a_member()
    {
        await App.ListModel(points: 500); // one product reaches the invitation threshold
        var withdrawn = await App.OpenAccount("studio@example.ee");
        var member = App.Member(withdrawn);
        ProductRegistrationStatus lost = null!;
        await App.TrackedUntilHandled<ReviewInvitation>(1, async () => lost = await member.Register(withdrawn, Products.Products.Complete("R5-0001")));
        await App.TrackedUntilHandled<ReviewInvitation>(1, async () =>
            await (await member.PostJson($"{lost.Url}/deregistration", new { reason = "lost" })).ShouldBe(System.Net.HttpStatusCode.OK));
        Assert.NotEmpty((await member.GetAsync($"/api/accounts/{withdrawn}/membership").ReadAs<AccountMembership>()).PastInvitations);

        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var cancelled = await Invoicing.Billing.JoinedAccount(App, "EE", "bank_transfer", email: "closed@example.ee");
        var joined = (await App.Member(cancelled).GetAsync($"/api/accounts/{cancelled}/membership").ReadAs<AccountMembership>()).Membership!;
        await App.Tracked(async () => await App.ClientAs(LedgerRoles.Support, subject: "anna")
            .PostJson($"/api/accounts/{cancelled}/membership/cancellation", new { reason = "Company closed (ticket 4711)", ticketReference = "CPS-SUP-4711" })
            .ReadAs<MembershipCancellation>());

        await SignInAs(LedgerRoles.Support, "anna");
        // The member has an invitation e-mail: support must not read out "Not invited".
        await Page.GotoAsync($"/console/#/accounts/{withdrawn}");
        await Expect(Card("invitation")).ToContainTextAsync($"Withdrawn {DateTime.UtcNow:yyyy-MM-dd}");
        await Expect(Card("invitation")).ToContainTextAsync(
            "at 500 points. An account can join once invited: it needs 500 allocated points and has 0.");
        await Expect(Card("membership")).ToContainTextAsync("Not a member");
        // No "Membership numbers: None" beside it: the membership card has said it.
        await Expect(Card("membership-numbers")).ToHaveCountAsync(0);

        // Nor "Not a member" to one whose membership support ended; the card says when and why.
        await Page.GotoAsync($"/console/#/accounts/{cancelled}");
        await Expect(Card("membership")).ToContainTextAsync($"Ended {DateTime.UtcNow:yyyy-MM-dd}");
        await Expect(Card("membership")).ToContainTextAsync(
            $"Gold {joined.MembershipNumber}: cancelled by CPS support (Company closed (ticket 4711))");
        await Expect(Card("membership")).Not.ToContainTextAsync("Not a member");
        // The number of the term that ended is still one a caller may read out.
        await Expect(Card("membership-numbers")).ToContainTextAsync(joined.MembershipNumber);
    }

    [Fact]
    public async Task The_invitation_card_says_why_an_account_is_not_invited_and_does_not_blame_the_points_for_a_raised_threshold()
    {
        // "Why was I not invited?" and "my invitation was withdrawn but I lost nothing": support answers both from the card.
        await App.ListModel(points: 500);
        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 40);
        var withdrawn = await App.OpenAccount("studio@example.ee");
        await App.TrackedUntilHandled<ReviewInvitation>(1, () => App.Member(withdrawn).Register(withdrawn, Products.Products.Complete("R5-0001")));
        var never = await App.OpenAccount("lens@example.ee");
        await App.TrackedUntilHandled<ReviewInvitation>(1, () =>
            App.Member(never).Register(never, Products.Products.Complete("LENS-1", Products.Products.Lens)));
        // Finance raises the threshold to 600: the account at 500 points is no longer invited, without a point less.
        var table = await App.ClientAs(LedgerRoles.Finance).GetAsync("/api/tiers").ReadAs<Api.Tiers.TierTableView>();
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Finance).SendAsync(
            new HttpRequestMessage(HttpMethod.Put, "/api/tiers")
            {
                Content = System.Net.Http.Json.JsonContent.Create(new
                {
                    invitationThreshold = 600,
                    table.EnterpriseAbovePoints,
                    reason = "Invitation at 600 points from today",
                    tiers = table.Tiers.Select(t => new
                    {
                        t.Code,
                        t.Name,
                        kind = t.Kind == Api.Tiers.TierKind.Standard ? "standard" : "enterprise",
                        t.PointsRequired,
                        t.MaxProducts,
                        t.AnnualFee,
                        t.Currency,
                    }),
                }),
            })).ShouldBe(System.Net.HttpStatusCode.OK));
        Assert.Null((await App.Member(withdrawn).GetAsync($"/api/accounts/{withdrawn}/membership").ReadAs<AccountMembership>()).Invitation);

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{withdrawn}");
        await Expect(Card("invitation")).ToContainTextAsync($"Withdrawn {DateTime.UtcNow:yyyy-MM-dd}");
        await Expect(Card("invitation").Locator("small")).ToContainTextAsync(
            "at 500 points. An account can join once invited: it needs 600 allocated points and has 500.");
        await Expect(Card("invitation")).Not.ToContainTextAsync("the points fell");

        await Page.GotoAsync($"/console/#/accounts/{never}");
        await Expect(Card("invitation").Locator("dd")).ToContainTextAsync("Not invited");
        await Expect(Card("invitation").Locator("small")).ToHaveTextAsync(
            "An account can join once invited: it needs 600 allocated points and has 40.");
    }

    /// <summary>
    /// A bank-transfer member's joining invoice, 50.00 received on it, then the membership cancelled by support: the invoice credited in
    /// full by a credit note and the 50.00 owed back. Returns the account and the invoice as it stands after.
    /// </summary>
    // An account at 1000 points from one product, its invitation reviewed: the account and its member's client.
    private async Task<(Guid Account, HttpClient Member)> InvitedAtAThousandPoints()
    {
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await App.OpenAccount("studio@example.ee");
        var member = App.Member(account);
        await App.TrackedUntilHandled<ReviewInvitation>(1, async () =>
            await member.Register(account, Products.Products.Complete("M-0001", Invoicing.Billing.Thousand)));
        return (account, member);
    }

    // That account joined as Gold, paying by card, by its member: the membership's confirmation too.
    private async Task<(Guid Account, HttpClient Member, MembershipConfirmation Joined)> JoinedAsGoldByCard()
    {
        var (account, member) = await InvitedAtAThousandPoints();
        var joined = await member.PostJson($"/api/accounts/{account}/membership", new { tier = "gold", paymentMethod = "card" })
            .ReadAs<MembershipConfirmation>(System.Net.HttpStatusCode.Created);
        return (account, member, joined);
    }

    // An account with one product (235 points) registered by its member kadri, its invitation review handled: the history's setup.
    private async Task<Guid> OneProductRegisteredByKadri()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("studio@example.ee");
        await App.TrackedUntilHandled<ReviewInvitation>(1, () => App.Member(account, "kadri").Register(account, Products.Products.Complete("R5-0001")));
        return account;
    }

    // The history page's heading for that many events.
    private static string Heading(int n) => $"History ({n} event{(n == 1 ? "" : "s")})";

    private async Task<(Guid Account, Api.Invoicing.Invoice Cancelled)> CancelledWithFiftyReceived()
    {
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await Invoicing.Billing.JoinedAccount(App, "EE", "bank_transfer");
        await Invoicing.Billing.FastForward(App, TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1)); // the invoice is issued
        var invoice = (await Invoicing.Billing.Invoices(App.Member(account), account)).Single();
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Finance).PostJson("/api/payments/bank-transfers",
            Invoicing.Billing.BankPayment(App, invoice.InvoiceNumber, 50.00m, "LHV-1"))).ShouldBe(System.Net.HttpStatusCode.Created));
        await App.Tracked(async () => await App.ClientAs(LedgerRoles.Support, subject: "anna")
            .PostJson($"/api/accounts/{account}/membership/cancellation", new { reason = "Company closed (ticket 4711)", ticketReference = "CPS-SUP-4711" })
            .ReadAs<MembershipCancellation>());
        return (account, (await Invoicing.Billing.Invoices(App.Member(account), account)).Single());
    }

    [Fact]
    public async Task The_overview_lists_the_invoices_and_a_refund_due_is_not_shown_as_nothing_owed()
    {
        var (account, invoice) = await CancelledWithFiftyReceived();

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        var row = Page.GetByTestId("invoices").Locator("tbody tr");
        await Expect(row).ToHaveCountAsync(1);
        await Expect(row).ToContainTextAsync(invoice.InvoiceNumber);
        await Expect(row).ToContainTextAsync($"{invoice.Total:0.00} EUR");
        // The period's dates are never broken at their hyphens in the narrow column ("2026-" / "12-05").
        await Expect(row.Locator("td").Nth(1).Locator(".nowrap")).ToHaveTextAsync(
            [$"{invoice.PeriodStart:yyyy-MM-dd}", $"{invoice.PeriodEnd:yyyy-MM-dd}"]);
        await Expect(row).ToContainTextAsync("50.00 EUR");
        await Expect(row).ToContainTextAsync($"cancelled by credit note {invoice.CreditNote!.CreditNoteNumber}; refund due 50.00 EUR");
        // Nothing is owed by the member, but CPS owes the member: the card says both.
        await Expect(Card("owed")).ToContainTextAsync("Nothing owed");
        await Expect(Card("owed")).ToContainTextAsync($"refund due: 50.00 EUR on {invoice.InvoiceNumber}");

        // The documents the member received, as they received them: a plain link cannot carry the console's credentials.
        await AssertDownloadsPdf(row.GetByRole(AriaRole.Button, new() { Name = $"Invoice PDF, {invoice.InvoiceNumber}" }),
            $"{invoice.InvoiceNumber}.pdf", invoice.InvoiceNumber);
        await AssertDownloadsPdf(row.GetByRole(AriaRole.Button, new() { Name = $"Credit note PDF, {invoice.CreditNote.CreditNoteNumber}" }),
            $"{invoice.CreditNote.CreditNoteNumber}.pdf", invoice.CreditNote.CreditNoteNumber);

        // What the member reads from either document finds the account, typed loosely, and the row says in words what matched.
        var note = invoice.CreditNote.CreditNoteNumber;
        var reference = Api.Invoicing.CreditorReferences.Grouped(invoice.CreditorReference);
        await Page.GotoAsync("/console/#/");
        foreach (var (typed, said) in new[]
                 {
                     (invoice.InvoiceNumber.ToLowerInvariant().Replace("-", " "), $"invoice number: {invoice.InvoiceNumber}"),
                     (note.Replace("-", ""), $"credit note number: {note}"),
                     (reference.ToLowerInvariant().Replace(" ", ""), $"creditor reference: {reference}"),
                 })
        {
            await Page.GetByLabel("Find an account").FillAsync(typed);
            await Page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
            var found = Page.GetByRole(AriaRole.Row).Filter(new() { HasText = said });
            await Expect(found).ToBeVisibleAsync();
            await Expect(found.GetByRole(AriaRole.Link, new() { Name = "Valgus Studio OÜ" })).ToHaveAttributeAsync("href", $"#/accounts/{account}");
        }
    }

    private async Task AssertDownloadsPdf(ILocator button, string fileName, string documentNumber)
    {
        var download = await Page.RunAndWaitForDownloadAsync(() => button.ClickAsync());
        Assert.Equal(fileName, download.SuggestedFilename);
        var path = await download.PathAsync();
        var bytes = await File.ReadAllBytesAsync(path);
        Assert.StartsWith("%PDF-", System.Text.Encoding.ASCII.GetString(bytes, 0, 5));
        // The document itself, not an error page saved as .pdf: its number is in its text.
        Assert.Contains(documentNumber, await PdfPictures.Text(bytes));
    }

    [Fact]
    public async Task The_owed_card_says_what_is_owed_in_each_currency_apart_the_newest_invoices_first()
    {
        var (account, member) = await Invoicing.Billing.BankMemberOwingInEurosAndPounds(App);
        var invoices = await Invoicing.Billing.Invoices(member, account);
        var (pounds, euros) = (invoices[0], invoices[1]);
        Assert.Equal(("GBP", "EUR"), (pounds.Currency, euros.Currency));

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Expect(Card("owed")).ToContainTextAsync($"{pounds.Total:0.00} GBP and {euros.Total:0.00} EUR");
        var rows = Page.GetByTestId("invoices").Locator("tbody tr");
        await Expect(rows.Filter(new() { HasText = pounds.InvoiceNumber })).ToContainTextAsync($"{pounds.Total:0.00} GBP");
        await Expect(rows.Filter(new() { HasText = euros.InvoiceNumber })).ToContainTextAsync($"{euros.Total:0.00} EUR");

        // Support on the phone needs the number the member holds: the card names the open invoice behind each amount, in its order.
        await Expect(Card("owed").Locator("li")).ToHaveTextAsync([
            $"{pounds.InvoiceNumber}: {pounds.Outstanding:0.00} GBP outstanding, due {pounds.DueOn:yyyy-MM-dd}, not overdue",
            $"{euros.InvoiceNumber}: {euros.Outstanding:0.00} EUR outstanding, due {euros.DueOn:yyyy-MM-dd}, not overdue",
        ]);
        await Screenshot("owed-invoices");
    }

    [Fact]
    public async Task The_owed_card_says_an_open_invoice_is_overdue_and_names_no_invoice_once_it_is_paid()
    {
        var (account, member, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await Invoicing.Billing.FastForward(App, TimeSpan.FromDays(31)); // the day after its due date: overdue
        var overdue = await Invoicing.Billing.SingleInvoice(member, account);
        Assert.Equal(Api.Invoicing.InvoiceStatus.Overdue, overdue.Status);

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Expect(Card("owed").Locator("dd")).ToContainTextAsync($"{overdue.Outstanding:0.00} EUR");
        await Expect(Card("owed").Locator("li")).ToHaveTextAsync(
            [$"{invoice.InvoiceNumber}: {overdue.Outstanding:0.00} EUR outstanding, due {invoice.DueOn:yyyy-MM-dd}, overdue"]);

        // Paid in full: nothing owed, and no invoice named.
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Finance).PostJson("/api/payments/bank-transfers",
            Invoicing.Billing.BankPayment(App, invoice.InvoiceNumber, overdue.Outstanding, "LHV-9"))).ShouldBe(System.Net.HttpStatusCode.Created));
        await Page.ReloadAsync();
        await Expect(Card("owed")).ToContainTextAsync("Nothing owed");
        await Expect(Card("owed").Locator("li")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task An_invoice_lists_each_transfer_received_and_each_card_attempt_with_why_it_failed()
    {
        var (account, member) = await Invoicing.Billing.MemberWithItsJoiningInvoice(App, "EE", "card", Api.Invoicing.SandboxPaymentGateway.Decline);
        await Invoicing.Billing.FastForward(App, TimeSpan.FromDays(30)); // the card is declined on the due date
        var invoice = await Invoicing.Billing.SingleInvoice(member, account);
        var attempt = Assert.Single(invoice.ChargeAttempts);
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Finance).PostJson("/api/payments/bank-transfers",
            Invoicing.Billing.BankPayment(App, invoice.InvoiceNumber, 50.00m, "LHV-20261205-0042"))).ShouldBe(System.Net.HttpStatusCode.Created));

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        var row = Page.GetByTestId("invoices").Locator("tbody tr");
        // "Did my transfer arrive?" and "why was my card refused?": the invoice answers both, not only with a total received.
        await Expect(row).ToContainTextAsync(
            $"50.00 EUR by bank transfer, value date {Invoicing.Billing.ValueDate(App)}, bank reference LHV-20261205-0042 (partial)");
        await Expect(row).ToContainTextAsync(
            $"card attempt 1, {attempt.Card!.Brand} ending {attempt.Card.Last4}, " +
            $"{attempt.AttemptedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC: declined " +
            $"(card declined (insufficient funds)); next attempt {attempt.NextAttemptOn:yyyy-MM-dd}");
    }

    [Fact]
    public async Task A_refund_finance_paid_shows_as_refunded_and_only_the_rest_as_due()
    {
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await Invoicing.Billing.JoinedAccount(App, "EE", "bank_transfer");
        await Invoicing.Billing.FastForward(App, TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1)); // the invoice is issued
        var invoice = (await Invoicing.Billing.Invoices(App.Member(account), account)).Single();
        var finance = App.ClientAs(LedgerRoles.Finance);
        await App.Tracked(async () => await (await finance.PostJson("/api/payments/bank-transfers",
            Invoicing.Billing.BankPayment(App, invoice.InvoiceNumber, invoice.Total + 50.00m, "LHV-1"))).ShouldBe(System.Net.HttpStatusCode.Created));
        var refunds = $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/refunds";
        await (await finance.PostJson(refunds, new { amount = 20.00m, currency = "EUR", paidOn = Invoicing.Billing.ValueDate(App), reference = "LHV-OUT-1" }))
            .ShouldBe(System.Net.HttpStatusCode.Created);

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        var row = Page.GetByTestId("invoices").Locator("tbody tr");
        await Expect(row).ToContainTextAsync("paid; overpaid 30.00 EUR; refunded 20.00 EUR");
        await Expect(Card("owed")).ToContainTextAsync($"refund due: 30.00 EUR on {invoice.InvoiceNumber}");

        // Refunded in full: the invoice says so, and the card no longer says a refund is due.
        await (await finance.PostJson(refunds, new { amount = 30.00m, currency = "EUR", paidOn = Invoicing.Billing.ValueDate(App), reference = "LHV-OUT-2" }))
            .ShouldBe(System.Net.HttpStatusCode.Created);
        await Page.ReloadAsync();
        await Expect(row).ToContainTextAsync("paid; refunded 50.00 EUR");
        await Expect(row).Not.ToContainTextAsync("overpaid");
        await Expect(Card("owed")).ToContainTextAsync("Nothing owed");
        await Expect(Card("owed")).Not.ToContainTextAsync("refund due");
    }

    [Fact]
    public async Task The_audit_page_names_an_invoices_card_charge_chain_instead_of_a_bare_id()
    {
        await Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await Invoicing.Billing.JoinedAccount(App, "EE", "card", Api.Invoicing.SandboxPaymentGateway.Approve);
        await Invoicing.Billing.FastForward(App, TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1)); // the invoice is issued
        await Invoicing.Billing.FastForward(App, TimeSpan.FromDays(30)); // and its card charged on the due date
        var invoice = (await Invoicing.Billing.Invoices(App.Member(account), account)).Single();
        Assert.Single(invoice.ChargeAttempts);

        await SignInAs(LedgerRoles.Auditor, "ines");
        // The hash-chain status names the chain itself: the page no longer fetches the account's invoices to name it.
        var asked = new System.Collections.Concurrent.ConcurrentQueue<string>();
        Page.Request += (_, request) => asked.Enqueue(new Uri(request.Url).AbsolutePath);
        await Page.GotoAsync($"/console/#/accounts/{account}/audit");
        var rows = Page.GetByTestId("hash-chain").Locator("tbody tr");
        await Expect(rows).ToHaveCountAsync(2);
        await Expect(rows.Nth(0)).ToContainTextAsync("The account");
        // The attempts name no account, so they are chained on the invoice's stream: the row says whose they are.
        await Expect(rows.Nth(1)).ToContainTextAsync($"Card charges of invoice {invoice.InvoiceNumber}");
        await Expect(rows.Nth(1)).ToContainTextAsync(invoice.Id.ToString());
        Assert.Contains($"/api/accounts/{account}/hash-chain", asked);
        Assert.DoesNotContain($"/api/accounts/{account}/invoices", asked);

        // A chain with no link left (its links deleted) has no row: the break notice names it from the status too.
        await ChangeOneRow($"delete from {App.SchemaName}.account_chain where chain_id = @invoice", "invoice", invoice.Id);
        await Page.ReloadAsync();
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(Page.GetByTestId("hash-chain").Locator(".notice.error"))
            .ToContainTextAsync($"Chain of card charges of invoice {invoice.InvoiceNumber} ({invoice.Id}): event ");
        Assert.DoesNotContain($"/api/accounts/{account}/invoices", asked);
    }

    [Fact]
    public async Task A_rejected_adjustment_shows_the_field_error_and_writes_nothing()
    {
        var account = await AccountWithProducts();
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/support");

        await (await Page.ReviewAdjustment("0", "Test", "CPS-SUP-1")).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();

        await Expect(Page.GetByTestId("adjust").GetByLabel("Points")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(Page.GetByRole(AriaRole.Alert)).ToContainTextAsync("400");
        // "Write it" is gone: the refused field has the focus, not the page's body.
        await Expect(Page.GetByTestId("adjust").GetByLabel("Points")).ToBeFocusedAsync();
        Assert.Equal(275, (await App.Member(account).Summary(account)).PointsTotal);
    }

    [Fact]
    public async Task A_second_adjustment_on_the_same_page_previews_the_total_the_first_one_left()
    {
        var account = await AccountWithProducts();
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/support");

        var first = await Page.ReviewAdjustment("50", "Registration lost in the 2025 portal outage", "CPS-SUP-1234");
        await Expect(first).ToContainTextAsync("+50: the total goes from 275 to 325");
        await first.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Written: manual adjustment of +50 points (ticket CPS-SUP-1234)").First).ToBeVisibleAsync();

        // Without leaving the page: the preview starts from 325, the total the account now has.
        var second = await Page.ReviewAdjustment("-30", "Goodwill credit given twice", "CPS-SUP-1235");
        await Expect(second).ToContainTextAsync("−30: the total goes from 325 to 295");
        await Expect(Page.GetByTestId("current-total")).ToHaveTextAsync("325");
        await second.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Written: manual adjustment of −30 points (ticket CPS-SUP-1235)").First).ToBeVisibleAsync();
        await Expect(Page.GetByTestId("current-total")).ToHaveTextAsync("295");
        Assert.Equal(295, (await App.Member(account).Summary(account)).PointsTotal);
    }

    [Fact]
    public async Task A_refused_request_shows_the_api_sentence_for_each_field_as_text()
    {
        await SignInAs(LedgerRoles.Support, "anna");

        // One character passes no search: the API's sentence says what to type, not just "validation errors".
        await Page.GotoAsync("/console/#/search?q=x");
        var alert = Page.GetByRole(AriaRole.Alert);
        await Expect(alert).ToContainTextAsync("(400)");
        await Expect(alert.GetByRole(AriaRole.Listitem)).ToHaveTextAsync(
            "q: Type 2 to 200 characters: a company name, an e-mail, a serial number, a membership number, an invoice or credit note number or a payment reference.");

        await Page.GotoAsync("/console/#/accounts/not-a-uuid/history");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Could not load this page" })).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Alert).GetByRole(AriaRole.Listitem)).ToContainTextAsync("accountId: ");

        // A sentence is text, never markup, whatever it holds.
        await Page.RouteAsync("**/api/accounts?q=*", route => route.FulfillAsync(new()
        {
            Status = 400,
            ContentType = "application/problem+json",
            Body = """{"title":"One or more validation errors occurred.","status":400,"errors":{"<b>q</b>":["<img src=x onerror=\"document.title='owned'\">"]}}""",
        }));
        await Page.GotoAsync("/console/#/search?q=valgus");
        await Expect(Page.GetByRole(AriaRole.Alert).GetByRole(AriaRole.Listitem))
            .ToHaveTextAsync("<b>q</b>: <img src=x onerror=\"document.title='owned'\">");
        await Expect(Page.GetByRole(AriaRole.Alert).Locator("img, b")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Line_breaks_in_reasons_and_notes_stay_visible_in_the_explanation_and_the_history()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("studio@example.ee");
        var member = App.Member(account);
        var support = App.ClientAs(LedgerRoles.Support, subject: "anna");
        ProductRegistrationStatus sold = null!;
        await App.TrackedUntilHandled<ReviewInvitation>(2, async () =>
        {
            await member.Register(account, Products.Products.Complete("R5-0001"));
            sold = await member.Register(account, Products.Products.Complete("R5-0002"));
        });
        await App.TrackedUntilHandled<ReviewInvitation>(1, async () =>
            await (await support.PostJson($"/api/accounts/{account}/points-adjustments",
                new { points = -30, reason = "Duplicate goodwill credit reversed\nsee ticket", ticketReference = "CPS-SUP-2001" }))
                .ShouldBe(System.Net.HttpStatusCode.Created));
        await App.TrackedUntilHandled<ReviewInvitation>(1, async () =>
            await (await member.PostJson($"{sold.Url}/deregistration", new { reason = "sold", note = "To a colleague\nsame studio" }))
                .ShouldBe(System.Net.HttpStatusCode.OK));

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        // innerText is the text as laid out: a line break the page collapses reads as a space there.
        var manual = Page.GetByTestId("explanation").Locator("tbody tr").Filter(new() { HasText = "CPS-SUP-2001" });
        Assert.Contains("reversed\nsee ticket", await manual.Locator("td").Last.InnerTextAsync());

        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        var timeline = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" });
        Assert.Contains("reason: Duplicate goodwill credit reversed\nsee ticket",
            await timeline.Locator("li[data-type='points_adjusted'] .meta").InnerTextAsync());
        Assert.Contains("To a colleague\nsame studio", await timeline.Locator("li[data-type='product_deregistered'] .desc").InnerTextAsync());
    }

    [Fact]
    public async Task History_is_a_filterable_timeline_and_time_travel_shows_the_account_as_it_stood()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("studio@example.ee");
        var member = App.Member(account, "kadri");
        var between = DateTimeOffset.MinValue;
        // Until both registrations' invitation reviews are handled (470 points: they decide nothing, but run no later than this test).
        await App.TrackedUntilHandled<ReviewInvitation>(2, async () =>
        {
            await member.Register(account, Products.Products.Complete("R5-0001"));
            // A second between the two registrations, as the page shows times: the wait is for the clock itself, past the whole second
            // (time travel to a second typed replays all of it).
            between = DateTimeOffset.UtcNow.AddSeconds(1);
            between = new DateTimeOffset(between.Year, between.Month, between.Day, between.Hour, between.Minute, between.Second, TimeSpan.Zero);
            while (DateTimeOffset.UtcNow < between.AddMilliseconds(1300))
                await Task.Delay(50);
            await member.Register(account, Products.Products.Complete("R5-0002"));
        });

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "History (5 events)" })).ToBeVisibleAsync();
        var timeline = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" });
        await Expect(timeline.GetByRole(AriaRole.Listitem)).ToHaveCountAsync(5);
        await Expect(timeline.GetByRole(AriaRole.Listitem).Nth(1)).ToContainTextAsync("by kadri");
        // Each event's type in words, as the type filter lists them, not as the API spells it.
        await Expect(timeline.GetByRole(AriaRole.Listitem).First.Locator(".type")).ToHaveTextAsync("business account opened");

        await Page.GetByLabel("Event type").SelectOptionAsync("product_registered");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "History (2 events)" })).ToBeVisibleAsync();
        await Expect(timeline.GetByRole(AriaRole.Listitem)).ToHaveCountAsync(2);

        // Travel to the moment between the registrations: one product, 235 points (470 now).
        await Page.GetByLabel("Show the account as it stood at (UTC)").FillAsync(between.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture));
        await Page.GetByRole(AriaRole.Button, new() { Name = "Travel" }).ClickAsync();
        var asOf = Page.GetByTestId("as-of");
        await Expect(asOf.GetByTestId("points-total")).ToContainTextAsync("235");
        await Expect(asOf.GetByTestId("explanation").Locator("tbody tr")).ToHaveCountAsync(1);
        await Expect(asOf.GetByTestId("products").Locator("tbody tr")).ToHaveCountAsync(1);
        await Screenshot("history-time-travel");

        // And to the account's first event: nothing registered yet.
        await Page.GetByRole(AriaRole.Link, new() { Name = "Clear filters" }).ClickAsync();
        await Expect(timeline.GetByRole(AriaRole.Listitem)).ToHaveCountAsync(5);
        var opened = timeline.GetByRole(AriaRole.Listitem).First;
        var openedAt = await opened.Locator(".when").InnerTextAsync();
        await opened.GetByRole(AriaRole.Button, new() { Name = "As of this event" }).ClickAsync();
        await Expect(asOf.GetByTestId("points-total")).ToContainTextAsync("0");
        // The replay says the moment and the event it stops at, not a bare sequence number, and takes the focus: the button pressed
        // may be far down the timeline, below the replay.
        var replayed = asOf.GetByRole(AriaRole.Heading).First;
        await Expect(replayed).ToContainTextAsync($"The account as of {openedAt}, after business account opened (sequence ");
        await Expect(replayed).ToBeFocusedAsync();
        await Expect(asOf.GetByTestId("green-tick")).ToContainTextAsync("No products yet");
        await Expect(asOf.GetByTestId("products")).ToContainTextAsync("No products registered.");

        await Page.GetByRole(AriaRole.Link, new() { Name = "Overview" }).ClickAsync();
        await Expect(Card("points-total")).ToContainTextAsync("470");
    }

    [Theory]
    [InlineData(1366, 900, "history-time-travel-products")]
    [InlineData(390, 844, "history-time-travel-products-phone")]
    public async Task Time_travel_lists_each_product_as_it_stood_then_waiting_or_registered_though_changed_since(int width, int height, string picture)
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("studio@example.ee");
        var member = App.Member(account, "kadri");
        var waiting = await member.Register(account, Products.Products.WithoutDealer("R5-0001"));
        var sold = await App.Tracked(() => member.Register(account, Products.Products.Complete("R5-0002")));
        await App.Tracked(async () => await (await member.PostJson($"{sold.Url}/deregistration", new { reason = "sold" }))
            .ShouldBe(System.Net.HttpStatusCode.OK));
        // Later than the moment replayed below: the waiting product completed.
        await App.Tracked(async () => await (await member.PatchJson(waiting.Url, new { dealer = "Photopoint" })).ShouldBe(System.Net.HttpStatusCode.OK));

        await Page.SetViewportSizeAsync(width, height);
        await SignInAs(LedgerRoles.Auditor, "ines");
        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        var timeline = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" });
        await timeline.Locator("li[data-type='product_deregistered']").GetByRole(AriaRole.Button, new() { Name = "As of this event" }).ClickAsync();

        // As of the sale: the first product still waiting for its dealer (completed since), the second deregistered.
        var products = Page.GetByTestId("as-of").GetByTestId("products");
        await Expect(products.GetByRole(AriaRole.Heading, new() { Name = "Products then (2: 1 registered, 1 deregistered)", Exact = true }))
            .ToBeVisibleAsync();
        var first = products.Locator("tbody tr", new() { HasText = "R5-0001" });
        await Expect(first).ToContainTextAsync("235 expected on completion");
        await Expect(first.Locator("td").Nth(5)).ToHaveTextAsync("dealer");
        await Expect(first.Locator("td").Last).ToHaveTextAsync("Registered");
        await Expect(products.Locator("tbody tr", new() { HasText = "R5-0002" }).Locator("td").Last).ToContainTextAsync("(sold)");
        await Screenshot(picture);
    }

    [Fact]
    public async Task The_history_lists_the_events_up_to_and_including_a_moment_or_before_it_and_never_asks_for_both()
    {
        var account = await OneProductRegisteredByKadri();
        // The registration's moment to the microsecond, as the history gives it (its time on the page is to the second): through it the
        // registration is listed, before it not.
        var events = (await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history").ReadAs<Api.Audit.HistoryPage>()).Items;
        var moment = events.Single(e => e.Type == "product_registered").At;
        var (through, before) = (events.Count(e => e.At <= moment), events.Count(e => e.At < moment));
        Assert.True(through > before);
        var typed = moment.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffff", CultureInfo.InvariantCulture);
        var asked = new List<string>();
        Page.Request += (_, request) =>
        {
            if (request.Url.Contains("/history", StringComparison.Ordinal))
                asked.Add(request.Url);
        };

        await SignInAs(LedgerRoles.Auditor, "aino");
        // A bookmarked "up to and including": the filter shows it as chosen.
        await Page.GotoAsync($"/console/#/accounts/{account}/history?through={typed}");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = Heading(through) })).ToBeVisibleAsync();
        await Expect(Page.GetByLabel("Until (UTC)")).ToHaveValueAsync(typed);
        await Expect(Page.GetByLabel("Until: before the moment, or up to and including it")).ToHaveValueAsync("through");

        // The same moment, not included: the address says to, and nothing else.
        await Page.GetByLabel("Until: before the moment, or up to and including it").SelectOptionAsync("to");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Expect(Page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"#/accounts/{account}/history\\?to={System.Text.RegularExpressions.Regex.Escape(Uri.EscapeDataString(typed))}$"));
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = Heading(before) })).ToBeVisibleAsync();

        // And back: the list up to and including it again, the choice with it.
        await Page.GoBackAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = Heading(through) })).ToBeVisibleAsync();
        await Expect(Page.GetByLabel("Until: before the moment, or up to and including it")).ToHaveValueAsync("through");

        // Whichever was chosen, the API was asked with one of them only (to and through together are its 400).
        Assert.Contains(asked, u => u.Contains("through=", StringComparison.Ordinal));
        Assert.Contains(asked, u => System.Text.RegularExpressions.Regex.IsMatch(u, "[?&]to="));
        Assert.DoesNotContain(asked, u => u.Contains("through=", StringComparison.Ordinal) && System.Text.RegularExpressions.Regex.IsMatch(u, "[?&]to="));
    }

    [Fact]
    public async Task A_second_or_a_minute_typed_as_the_page_shows_it_is_included_whole_up_to_and_including_it_and_in_time_travel()
    {
        var account = await OneProductRegisteredByKadri();
        var events = (await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history").ReadAs<Api.Audit.HistoryPage>()).Items;
        var registered = events.Single(e => e.Type == "product_registered");
        // The page shows the registration to the second; it was stored to the microsecond, within that second.
        var second = new DateTimeOffset(registered.At.UtcDateTime.Ticks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var minute = new DateTimeOffset(second.Year, second.Month, second.Day, second.Hour, second.Minute, 0, TimeSpan.Zero);
        Assert.True(registered.At > second, "the registration was stored within its second, not on it (one time in a million)");

        await SignInAs(LedgerRoles.Auditor, "aino");
        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        var timeline = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" });
        var shown = await timeline.Locator("li[data-type='product_registered'] .when").InnerTextAsync();
        Assert.Equal($"{second:yyyy-MM-dd HH:mm:ss} UTC", shown);
        // Typed as the page shows it: up to and including that second is the whole second, the registration in it included.
        var typed = shown.Replace(" UTC", "", StringComparison.Ordinal).Replace(' ', 'T');
        await Page.GetByLabel("Until: before the moment, or up to and including it").SelectOptionAsync("through");
        await Page.GetByLabel("Until (UTC)").FillAsync(typed);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Expect(timeline.Locator("li[data-type='product_registered']")).ToHaveCountAsync(1);
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = Heading(events.Count(e => e.At < second.AddSeconds(1))) })).ToBeVisibleAsync();
        // Before that second: the registration is not listed.
        await Page.GetByLabel("Until: before the moment, or up to and including it").SelectOptionAsync("to");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = Heading(events.Count(e => e.At < second)) })).ToBeVisibleAsync();
        await Expect(timeline.Locator("li[data-type='product_registered']")).ToHaveCountAsync(0);
        // A minute typed without its seconds: up to and including it is the whole minute.
        await Page.GetByLabel("Until: before the moment, or up to and including it").SelectOptionAsync("through");
        await Page.GetByLabel("Until (UTC)").FillAsync(typed[..16]);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = Heading(events.Count(e => e.At < minute.AddMinutes(1))) })).ToBeVisibleAsync();
        await Expect(timeline.Locator("li[data-type='product_registered']")).ToHaveCountAsync(1);

        // Time travel to that second replays what the API replays at its last microsecond: the registration's commit included.
        var whole = (await App.ClientAs(LedgerRoles.Auditor)
            .GetAsync($"/api/accounts/{account}/as-of?timestamp={Uri.EscapeDataString(second.AddTicks(TimeSpan.TicksPerSecond - 10).ToString("O", CultureInfo.InvariantCulture))}")
            .ReadAs<Api.Audit.AccountAsOf>()).LastSequenceIncluded;
        Assert.True(whole >= registered.Sequence);
        await Page.GetByLabel("Show the account as it stood at (UTC)").FillAsync(typed);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Travel" }).ClickAsync();
        var asOf = Page.GetByTestId("as-of");
        await Expect(asOf.GetByRole(AriaRole.Heading).First).ToHaveTextAsync($"The account as of {shown}");
        await Expect(asOf).ToContainTextAsync($"Replayed from the events up to sequence {whole};");
    }

    [Fact]
    public async Task An_edited_event_is_marked_in_the_history_and_a_replay_that_folds_it_says_so()
    {
        var account = await OneProductRegisteredByKadri();
        await SignInAs(LedgerRoles.Auditor, "aino");
        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        var timeline = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" });
        await Expect(timeline.GetByRole(AriaRole.Listitem)).ToHaveCountAsync(3);
        await Expect(Page.GetByTestId("history-chain")).ToHaveCountAsync(0);
        await Expect(timeline.Locator(".chain-problem")).ToHaveCountAsync(0);

        // Someone with the database's keys changes the account's opening event: the history shows it as stored, and says it is not what
        // was chained, on the event and above the timeline.
        await ChangeOneRow($"update {App.SchemaName}.mt_events set data = jsonb_set(data, '{{CompanyName}}', '\"Valgus Stuudio OÜ\"') where stream_id = @a", "a", account);
        await Page.ReloadAsync();
        var opening = timeline.GetByRole(AriaRole.Listitem).First;
        await Expect(opening).ToContainTextAsync("Valgus Stuudio OÜ");
        await Expect(opening.Locator(".chain-problem")).ToHaveTextAsync("✗ edited after it was chained");
        await Expect(timeline.Locator(".chain-problem")).ToHaveCountAsync(1);
        // Which chain: the account's own, not one of an old CPS account it migrated from.
        await Expect(Page.GetByTestId("history-chain")).ToContainTextAsync("The account's own hash chain is broken: edited at sequence ");
        await Screenshot("history-chain-broken");

        // A replay folds the edited event: its answer says so.
        await opening.GetByRole(AriaRole.Button).ClickAsync();
        await Expect(Page.GetByTestId("as-of").GetByTestId("as-of-chain")).ToContainTextAsync(
            "not as they were chained: the account's own hash chain, edited at sequence ");
    }

    [Fact]
    public async Task The_audit_tabs_chain_status_names_a_break_by_the_event_the_history_marks()
    {
        var account = await OneProductRegisteredByKadri();
        await SignInAs(LedgerRoles.Auditor, "aino");
        await ChangeOneRow($"update {App.SchemaName}.mt_events set data = jsonb_set(data, '{{CompanyName}}', '\"Valgus Stuudio OÜ\"') where stream_id = @a", "a", account);
        var sequence = (await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history").ReadAs<Api.Audit.HistoryPage>()).Items[0].Sequence;

        // The history marks the event by its sequence; the Audit tab's chain row says the same, not a link position the console shows
        // nowhere else (until 2026-12-07 "✗ edited at link 1", which the auditor could not find in the history).
        await Page.GotoAsync($"/console/#/accounts/{account}/audit");
        await Expect(Page.GetByTestId("hash-chain").Locator("tr[data-kind=account] td").Last).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(
            $@"^✗ edited at sequence {sequence} \(business_account_opened, recorded [0-9-]+ [0-9:]+ UTC\)$"));
    }

    [Fact]
    public async Task An_altered_stored_hash_is_marked_on_its_event_alone_as_chained()
    {
        var account = await OneProductRegisteredByKadri();
        await SignInAs(LedgerRoles.Auditor, "aino");

        // Someone with the database's keys changes the opening event's stored link, not the event: the next link still hashes over
        // the link as it was, so the auditor is told of one altered hash, not of two edited events.
        await ChangeOneRow($"update {App.SchemaName}.account_chain set hash = sha256(hash) where chain_id = @a and position = 1", "a", account);
        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        var timeline = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" });
        await Expect(timeline.GetByRole(AriaRole.Listitem)).ToHaveCountAsync(3);
        await Expect(timeline.GetByRole(AriaRole.Listitem).First.Locator(".chain-problem"))
            .ToHaveTextAsync("✗ as chained, but its link's stored hash was altered");
        await Expect(timeline.Locator(".chain-problem")).ToHaveCountAsync(1);
        await Expect(Page.GetByTestId("history-chain")).ToContainTextAsync("The account's own hash chain is broken: hash altered at sequence ");
        // The Audit tab says it in the same words, not the API's code ("hash_altered at link 1" until 2026-12-07).
        await Page.GotoAsync($"/console/#/accounts/{account}/audit");
        await Expect(Page.GetByTestId("hash-chain").Locator("tr[data-kind=account]")).ToContainTextAsync("✗ hash altered at sequence ");
    }

    [Fact]
    public async Task Support_links_an_old_cps_email_and_resends_the_invitation_each_with_a_reason_and_a_ticket()
    {
        await App.ListModel(points: 500); // one product reaches the invitation threshold
        var account = await App.OpenAccount("studio@example.ee", oldEmails: ["studio@old.example"]);
        await App.TrackedUntilHandled<SendInvitationEmail>(1, () => App.Member(account).Register(account, Products.Products.Complete("R5-0001")));
        var emails = () => Directory.Exists(App.MailFolder) ? Directory.GetFiles(App.MailFolder, "*.eml").Length : 0;
        Assert.Equal(1, emails()); // the invitation

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/support");
        // Before linking, support sees which old e-mails the account lists and whether each is proved.
        var oldEmails = Page.GetByTestId("link-email-status");
        await Expect(oldEmails).ToHaveTextAsync("Old CPS e-mails on this account: studio@old.example: not proved yet.");

        var preview = await ReviewLinkingOldEmail("Kadri.Tamm@old.example", "Owner confirmed by the old invoice", "CPS-SUP-77");
        await Expect(preview).ToContainTextAsync("OldCpsEmailLinked");
        await Expect(preview).ToContainTextAsync("CPS-SUP-77");
        // The preview shows the e-mail as the ledger records it (trimmed, lower case), not as it was typed.
        await Expect(preview).ToContainTextAsync("kadri.tamm@old.example");
        await Expect(preview).Not.ToContainTextAsync("Kadri.Tamm");
        await preview.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(Page.GetByText("Written: kadri.tamm@old.example linked to this account and verified.", new() { Exact = true }).First).ToBeVisibleAsync();
        await Expect(oldEmails).ToHaveTextAsync(
            "Old CPS e-mails on this account: studio@old.example: not proved yet; kadri.tamm@old.example: proved (linked by support).");

        var resend = Page.GetByTestId("resend");
        await resend.GetByLabel("Reason").FillAsync("Member says the first e-mail never arrived");
        await resend.GetByLabel("Ticket reference").FillAsync("CPS-SUP-78");
        await resend.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(preview).ToContainTextAsync("studio@example.ee");
        await Expect(preview).ToContainTextAsync("CPS-SUP-78");
        // Under review the form's "Review" is gone: only "Write it" and "Change" act on what is shown.
        await Expect(resend.GetByRole(AriaRole.Button, new() { Name = "Review" })).ToBeHiddenAsync();
        await App.TrackedUntilHandled<SendInvitationEmail>(1, async () =>
        {
            await preview.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
            await Expect(Page.GetByText("Written: the invitation e-mail goes out again to studio@example.ee.").First).ToBeVisibleAsync();
        });
        Assert.Equal(2, emails());

        // Both are in the history with who, why and the ticket.
        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        var timeline = Page.GetByRole(AriaRole.List, new() { Name = "Events, oldest first" });
        await Expect(timeline.Locator("li[data-type='old_cps_email_linked']")).ToContainTextAsync("reason: Owner confirmed by the old invoice · ticket CPS-SUP-77");
        await Expect(timeline.Locator("li[data-type='invitation_email_resent']")).ToContainTextAsync("by anna");
        await Expect(timeline.Locator("li[data-type='invitation_email_resent']")).ToContainTextAsync("ticket CPS-SUP-78");
        await Expect(timeline.Locator("li[data-type='old_cps_email_verified']")).ToContainTextAsync("linked by support");
        // The invitation is the ledger's doing, set off by the member's registration.
        await Expect(timeline.Locator("li[data-type='invitation_issued']")).ToContainTextAsync("by system:invitation-policy (caused by kadri)");
        await Expect(Page.GetByText("Old CPS e-mails: studio@old.example, kadri.tamm@old.example")).ToBeVisibleAsync();
    }

    /// <summary>Fills support's "Link an old CPS e-mail" action on the open support page and asks for its preview.</summary>
    private async Task<ILocator> ReviewLinkingOldEmail(string email, string reason, string ticket = "CPS-SUP-77")
    {
        var link = Page.GetByTestId("link-email");
        await link.GetByLabel("Old CPS e-mail").FillAsync(email);
        await link.GetByLabel("Reason").FillAsync(reason);
        await link.GetByLabel("Ticket reference").FillAsync(ticket);
        await link.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        return Page.GetByRole(AriaRole.Region, new() { Name = "What will be written" });
    }

    [Fact]
    public async Task A_preview_keeps_its_long_words_inside_its_box_on_a_laptop_screen()
    {
        var account = await App.OpenAccount("studio@example.ee");
        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/support");

        // Three actions side by side leave each preview narrow: an event name or an e-mail, which has no place to break, once
        // ran over the preview's border into the next column.
        var preview = await ReviewLinkingOldEmail("kadri.tamm@old.example", "Ticket CPS-SUP-77: owner confirmed by the old invoice");
        await Expect(preview).ToContainTextAsync("OldCpsEmailVerified");

        var box = (await preview.BoundingBoxAsync())!;
        foreach (var value in await preview.Locator("dd").AllAsync())
        {
            var line = (await value.BoundingBoxAsync())!;
            Assert.True(line.X + line.Width <= box.X + box.Width,
                $"\"{await value.TextContentAsync()}\" ends at {line.X + line.Width:0}px, past the preview's edge at {box.X + box.Width:0}px");
        }
        Assert.True(await preview.EvaluateAsync<bool>("e => e.scrollWidth <= e.clientWidth"), "The preview scrolls sideways");
    }

    [Fact]
    public async Task Linking_an_email_the_account_has_already_proved_says_that_nothing_was_written()
    {
        var account = await App.OpenAccount("studio@example.ee", [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);

        await SignInAs(LedgerRoles.Support, "anna");
        await Page.GotoAsync($"/console/#/accounts/{account}/support");
        var preview = await ReviewLinkingOldEmail("Kadri.Tamm@old.example", "Ticket CPS-SUP-78: member asked again");
        await preview.GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();

        // The ledger records nothing for an e-mail the account has proved already: the console does not claim a link and a reason.
        await Expect(Page.GetByText("Nothing written: kadri.tamm@old.example was already verified on this account (by the code sent to it).",
            new() { Exact = true })
            .First).ToBeVisibleAsync();
        await Expect(Page.GetByText("linked to this account and verified")).ToHaveCountAsync(0);
        await using var session = App.Store.QuerySession();
        Assert.DoesNotContain(await session.Events.FetchStreamAsync(account), e => e.Data is Api.Accounts.OldCpsEmailLinked);
    }

    [Fact]
    public async Task An_auditor_sees_no_action_buttons_verifies_the_account_and_is_refused_if_it_calls_an_action()
    {
        var account = await AccountWithProducts();
        await SignInAs(LedgerRoles.Auditor, "ines");

        await Page.GetByLabel("Find an account").FillAsync("valgus");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        await Page.GetByRole(AriaRole.Link, new() { Name = "Valgus Studio OÜ" }).ClickAsync();
        await Expect(Card("points-total")).ToContainTextAsync("275");

        var tabs = Page.GetByRole(AriaRole.Navigation, new() { Name = "Account" });
        await Expect(tabs.GetByRole(AriaRole.Link)).ToHaveTextAsync(["Overview", "History & time travel", "Audit"]);
        await Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Review" })).ToHaveCountAsync(0);
        await Page.GotoAsync($"/console/#/accounts/{account}/support");
        await Expect(Page.GetByText("Only support staff can change an account.")).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Review" })).ToHaveCountAsync(0);
        await Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Write it" })).ToHaveCountAsync(0);

        // The auditor's tools: the hash chain and a verification run.
        await tabs.GetByRole(AriaRole.Link, new() { Name = "Audit" }).ClickAsync();
        await Expect(Page.GetByTestId("hash-chain")).ToContainTextAsync("✓ Intact");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Run verification" }).ClickAsync();
        await Expect(Page.GetByTestId("verification")).ToContainTextAsync("✓ Verified");
        // Counted in words an auditor quotes in a report: "7 stored documents", not "7 stored document(s)".
        await Expect(Page.GetByTestId("verification")).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"\d+ stored documents? equal"));
        await Expect(Page.GetByTestId("verification")).Not.ToContainTextAsync("(s)");
        await Expect(Page.GetByTestId("verification")).Not.ToContainTextAsync("null");
        await Screenshot("audit");

        // Calling a support action from the page anyway: the API refuses it, and nothing is written.
        var status = await Page.EvaluateAsync<int>(
            """
            async id => (await fetch(`/api/accounts/${id}/points-adjustments`, {
              method: 'POST',
              headers: { 'Content-Type': 'application/json', 'X-CpsLedger-Console': '1',
                         Authorization: `Bearer ${sessionStorage.getItem('cpsledger.console.token')}` },
              body: JSON.stringify({ points: 500, reason: 'Auditor trying an action', ticketReference: 'CPS-SUP-9' }),
            })).status
            """, account.ToString());
        Assert.Equal(403, status);
        Assert.Equal(275, (await App.Member(account).Summary(account)).PointsTotal);
    }

    [Fact]
    public async Task The_verification_heads_each_kind_of_difference_by_what_it_compared()
    {
        // Every difference was headed "Stored / Replayed": a column's value and its document's, or an event's running total and the
        // sum of the amounts, read as a stored projection and its replay. The invoice below is appended without its number's claim, which
        // verification compares with the event that issued the number: a kind of its own too.
        var account = await AccountWithProducts();
        var other = Guid.NewGuid();
        var invoice = Guid.CreateVersion7();
        await using (var session = App.Store.LightweightSession())
        {
            var at = App.Clock.GetUtcNow();
            var day = DateOnly.FromDateTime(at.UtcDateTime);
            session.Events.StartStream<Api.Invoicing.Invoice>(invoice, new Api.Invoicing.InvoiceIssued(invoice, "INV-VH-1", account, Guid.NewGuid(),
                "CPS-VH-1", "Valgus Studio OÜ", "EE", PaymentMethod.BankTransfer, "EUR", [new Api.Invoicing.InvoiceLine("CPS Gold, 12 months", 200m)],
                200m, 0.24m, 48m, 248m, day, day.AddDays(14), at));
            session.Events.Append(invoice, new Api.Invoicing.PaymentReceived(invoice, "INV-VH-1", account, Guid.CreateVersion7(), PaymentMethod.BankTransfer,
                100m, "EUR", day, null, "VH-BANK-1", Api.Invoicing.PaymentKind.Partial, 999m, 148m, 0m, at));
            await session.SaveChangesAsync();
        }

        await using (var connection = new Npgsql.NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var edit = new Npgsql.NpgsqlCommand(
                $"update {App.SchemaName}.mt_doc_productview set data = jsonb_set(data, '{{Points}}', '999') where data ->> 'SerialNumber' = 'R5-0001'; " +
                $"update {App.SchemaName}.mt_doc_serialownership set data = jsonb_set(data, '{{AccountId}}', '\"{other}\"') " +
                "where data ->> 'SerialNumber' = 'R5-0001'", connection);
            Assert.Equal(2, await edit.ExecuteNonQueryAsync());
        }

        await SignInAs(LedgerRoles.Auditor, "ines");
        await Page.GotoAsync($"/console/#/accounts/{account}/audit");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Run verification" }).ClickAsync();
        var verification = Page.GetByTestId("verification");
        await Expect(verification).ToContainTextAsync("✗ 4 differences");

        var replayed = verification.GetByRole(AriaRole.Table, new() { Name = "Stored projection against replay" });
        await Expect(replayed.GetByRole(AriaRole.Columnheader)).ToHaveTextAsync(["Document", "Id", "Field", "Stored", "Replayed"]);
        await Expect(replayed.Locator("tbody tr")).ToHaveTextAsync([new System.Text.RegularExpressions.Regex(@"^ProductView.*\$\.Points999235$")]);
        var columns = verification.GetByRole(AriaRole.Table, new() { Name = "Copied column against its document" });
        await Expect(columns.GetByRole(AriaRole.Columnheader)).ToHaveTextAsync(["Document", "Id", "Column", "Column value", "Document value"]);
        await Expect(columns.Locator("tbody td")).ToHaveTextAsync(new[] { "SerialOwnership", "[^|]+\\|R5-0001", "account_id", $"\"{account}\"", $"\"{other}\"" }
            .Select(cell => new System.Text.RegularExpressions.Regex($"^{cell}$")));
        var totals = verification.GetByRole(AriaRole.Table, new() { Name = "Running total in a payment event against the sum of the amounts" });
        await Expect(totals.GetByRole(AriaRole.Columnheader)).ToHaveTextAsync(["Document", "Id", "Event", "Event's total", "Sum of amounts"]);
        await Expect(totals.Locator("tbody td")).ToHaveTextAsync(["Invoice", invoice.ToString(), "(event 2) payment_received.TotalReceived", "999", "100"]);
        var claims = verification.GetByRole(AriaRole.Table, new() { Name = "Number's claim against the event that issued the number" });
        await Expect(claims.GetByRole(AriaRole.Columnheader)).ToHaveTextAsync(["Document", "Id", "Claim field", "Claim", "Issuing event"]);
        await Expect(claims.Locator("tbody td")).ToHaveTextAsync(["InvoiceNumberClaim", "INV-VH-1", "(claim)", "(none)",
            $"{{\"InvoiceId\":\"{invoice}\",\"AccountId\":\"{account}\"}}"]);
        await Screenshot("audit-differences");
    }

    /// <summary>An account that proved Kadri's old e-mail and migrated her two old products.</summary>
    private async Task<Guid> KadrisProductsMigrated()
    {
        await App.ListModel(points: 235);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        Assert.Equal(2, (await App.Member(account).Migrate(account)).Migrated);
        return account;
    }

    [Fact]
    public async Task The_hash_chain_panel_shows_the_old_cps_account_a_migration_read_named_by_its_old_email()
    {
        var account = await KadrisProductsMigrated();
        await SignInAs(LedgerRoles.Support, "anna");

        await Page.GotoAsync($"/console/#/accounts/{account}/audit");
        var panel = Page.GetByTestId("hash-chain");
        await Expect(panel).ToContainTextAsync("✓ Intact");
        await Expect(panel.Locator("tr[data-kind=account]")).ToContainTextAsync("The account");
        var old = panel.Locator("tr[data-kind=old_cps_account]");
        await Expect(old).ToContainTextAsync($"Old CPS account {LegacyFiles.Kadri} ({LegacyFiles.KadriNumber}) {Api.Migration.LegacyIds.AccountFor(LegacyFiles.Kadri)}");
        await Expect(old).ToContainTextAsync("✓ intact");
        await Screenshot("audit-old-cps-account");
    }

    [Fact]
    public async Task The_historys_broken_chain_notice_names_the_old_cps_account_whose_chain_broke()
    {
        var account = await KadrisProductsMigrated();
        // An imported product's event on the old CPS account's chain edited in the database: the history does not list that event, so
        // its notice alone tells the auditor which chain broke.
        await ChangeOneRow($"update {App.SchemaName}.mt_events set data = jsonb_set(data, '{{Dealer}}', '\"Forged\"') where stream_id = @legacy " +
                "and type = 'legacy_product_imported' and data ->> 'SerialNumber' = 'LENS-1'", "legacy", Api.Migration.LegacyIds.AccountFor(LegacyFiles.Kadri));
        await SignInAs(LedgerRoles.Auditor, "aino");

        await Page.GotoAsync($"/console/#/accounts/{account}/history");
        var notice = Page.GetByTestId("history-chain");
        await Expect(notice).ToContainTextAsync(
            $"The hash chain of old CPS account {LegacyFiles.Kadri} ({LegacyFiles.KadriNumber}) is broken: edited at sequence ");
        await Expect(notice).Not.ToContainTextAsync("account's own");

        // The Audit tab's verification names it the same way, not by its id alone.
        await Page.GotoAsync($"/console/#/accounts/{account}/audit");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Run verification" }).ClickAsync();
        var legacy = Api.Migration.LegacyIds.AccountFor(LegacyFiles.Kadri);
        await Expect(Page.GetByTestId("verification").GetByRole(AriaRole.Listitem)).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(
            $@"^Chain of old CPS account {System.Text.RegularExpressions.Regex.Escape($"{LegacyFiles.Kadri} ({LegacyFiles.KadriNumber})")} \({legacy}\): edited at link \d+ \(legacy_product_imported recorded [0-9-]+ [0-9:]+ UTC, event "));
    }

    [Fact]
    public async Task The_overview_shows_the_old_cps_membership_number_a_search_finds_the_account_by()
    {
        var account = await KadrisProductsMigrated();
        await SignInAs(LedgerRoles.Support, "anna");

        await Page.GotoAsync($"/console/#/accounts/{account}");
        var numbers = Card("membership-numbers");
        await Expect(numbers).ToContainTextAsync(LegacyFiles.KadriNumber);
        await Expect(numbers).ToContainTextAsync("from old CPS");
        // The explanation's line of the migrated camera says where it came from, as the products table does.
        await Expect(Page.GetByTestId("explanation").Locator("tbody tr").First).ToContainTextAsync($"migrated from {LegacyFiles.Kadri}");
    }

    [Fact]
    public async Task The_sign_in_hint_names_every_role_the_console_serves()
    {
        await Page.GotoAsync("/console/");
        // Finance signs in here too (its invoices, search and overview); until 2026-12-07 the hint named support and auditors only.
        await Expect(Page.Locator("#token-hint")).ToHaveTextAsync(
            "Development only. Get one with: dotnet run -v q --project src/CpsLedger.Api -- token --role support --subject your-name " +
            "(or --role auditor, or --role finance).");
    }

    [Fact]
    public async Task A_bad_token_is_not_accepted_and_a_member_is_told_the_console_is_for_staff()
    {
        await Page.GotoAsync("/console/");
        await Page.GetByLabel("Development token").FillAsync("not-a-token");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Alert)).ToContainTextAsync("That token was not accepted");

        await Page.GetByLabel("Development token").FillAsync(App.TokenFor(LedgerRoles.Member, Guid.NewGuid(), "kadri"));
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Not for this role" })).ToBeVisibleAsync();
        // Not only "not here": where a member does what it came for.
        await Expect(Page.GetByText("Members see their account, products, points and invoices in the CPS member portal.")).ToBeVisibleAsync();

        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(Page.GetByLabel("Development token")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Finance_reads_the_open_invoices_across_accounts_by_due_date_and_what_is_owed_back()
    {
        await App.InvoicesOfTwoAccounts();
        await SignInAs(LedgerRoles.Finance, "fredrik");

        // Finance's page, straight after signing in: what is still owed, the overdue first, the sums kept per currency.
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Open invoices", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync("Still owed: 348.00 EUR (2 invoices), 124.00 GBP (1 invoice)");
        var rows = Page.GetByTestId("invoice-list").Locator("tbody tr");
        await Expect(rows).ToHaveCountAsync(3);
        await Expect(rows.Nth(0)).ToContainTextAsync("INV-2026-000001");
        await Expect(rows.Nth(0)).ToContainTextAsync("Alpha Studio");
        await Expect(rows.Nth(0)).ToContainTextAsync("overdue 10 days");
        await Expect(rows.Nth(0)).ToContainTextAsync(Api.Invoicing.CreditorReferences.Grouped(Api.Invoicing.CreditorReferences.For("INV-2026-000001")));
        await Expect(rows.Nth(1)).ToContainTextAsync("INV-2026-000002");
        await Expect(rows.Nth(1)).ToContainTextAsync("124.00 GBP");
        await Expect(rows.Nth(2)).ToContainTextAsync("Beta Foto");
        await Expect(rows.Nth(2)).ToContainTextAsync("100.00 EUR");
        // Beside it the account search, for what a transfer or a caller quotes (below); the invoice list stays finance's page.
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Invoices" })).ToHaveAttributeAsync("aria-current", "page");
        // Named for who works in it, finance included.
        await Expect(Page.Locator(".brand")).ToHaveTextAsync("CpsLedger support, audit & finance console");
        Assert.Equal("CpsLedger support, audit & finance console", await Page.TitleAsync());

        // The filters' labels on one line and their fields on the next, whatever hint a field has beneath it.
        var labels = await Task.WhenAll(new[] { "i-status", "i-currency", "i-method", "i-due-before" }
            .Select(id => Page.Locator($"label[for={id}]").BoundingBoxAsync()));
        var fields = await Task.WhenAll(new[] { "i-status", "i-currency", "i-method", "i-due-before" }
            .Select(id => Page.Locator($"#{id}").BoundingBoxAsync()));
        Assert.All(labels, l => Assert.Equal(labels[0]!.Y, l!.Y, 1.0));
        Assert.All(fields, f => Assert.Equal(fields[0]!.Y, f!.Y, 1.0));
        Assert.True(labels[0]!.Y + labels[0]!.Height <= fields[0]!.Y, "each label above its field");
        // At 1366 wide each line is one line tall, the days overdue and three buttons beside its status included.
        for (var n = 0; n < 3; n++)
            Assert.True(await rows.Nth(n).LinesTall() < 1.5, $"line {n + 1} is {await rows.Nth(n).LinesTall():0.0} lines tall");
        await Screenshot("finance-open-invoices");

        // Still owed and due before today: the overdue one, and the filter is in the address finance shares.
        var today = DateOnly.FromDateTime(App.Clock.GetUtcNow().UtcDateTime).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        await Page.GetByLabel("Due before").FillAsync(today);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(Page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"#/invoices\\?status=open&dueBefore={today}$"));
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync("Still owed: 248.00 EUR (1 invoice)");
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(rows.Nth(0)).ToContainTextAsync("INV-2026-000001");
        await Expect(Page.GetByLabel("Due before")).ToHaveValueAsync(today);

        // A shared link to "overdue in GBP" opens with its filters filled in; the back button returns to the list before it.
        await Page.GotoAsync("/console/#/invoices?status=overdue&currency=GBP");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Overdue invoices", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page.GetByLabel("Show")).ToHaveValueAsync("overdue");
        await Expect(Page.GetByLabel("Currency")).ToHaveValueAsync("GBP");
        await Expect(Page.GetByLabel("Due before")).ToHaveValueAsync("");
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync("No overdue invoices match these filters: currency GBP.");
        await Page.GoBackAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Open invoices", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page.GetByLabel("Due before")).ToHaveValueAsync(today);
        await Expect(rows).ToHaveCountAsync(1);

        await Page.GetByLabel("Due before").FillAsync("");
        await Page.GetByLabel("Show").SelectOptionAsync("refund_owed");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Invoices owed back", Level = 1 })).ToBeVisibleAsync();
        // What CPS owes back, in the sums and on each line (the column so named), never what is outstanding (0.00 on both).
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync("Owed back: 54.00 EUR (2 invoices)");
        await Expect(rows).ToHaveCountAsync(2);
        var headers = Page.GetByTestId("invoice-list").Locator("thead th");
        await Expect(headers).ToHaveTextAsync(["Invoice", "Company", "Issued", "Due", "Total", "Owed back", "Payment", "Status"]);
        await Expect(rows.Nth(0).Locator("td").Nth(0)).ToHaveTextAsync("INV-2026-000004");
        await Expect(rows.Nth(0).Locator("td").Nth(5)).ToHaveTextAsync("30.00 EUR");
        await Expect(rows.Nth(1).Locator("td").Nth(0)).ToHaveTextAsync("INV-2026-000005");
        await Expect(rows.Nth(1).Locator("td").Nth(5)).ToHaveTextAsync("24.00 EUR");
        await Expect(Page.GetByTestId("invoice-list")).Not.ToContainTextAsync("Outstanding");
        // The cancelled one's credit note, as the member received it, beside the invoice it cancels.
        await AssertDownloadsPdf(rows.Nth(1).GetByRole(AriaRole.Button, new() { Name = "Credit note PDF, CN-2026-000001" }),
            "CN-2026-000001.pdf", "CN-2026-000001");

        // A bad filter is the API's 400, its sentence shown.
        await Page.GetByLabel("Currency").FillAsync("eur");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Alert)).ToContainTextAsync("is not an ISO 4217 code in upper case");
    }

    [Fact]
    public async Task An_empty_invoice_list_says_there_are_none_yet_and_with_a_filter_that_none_match_it()
    {
        await SignInAs(LedgerRoles.Finance, "fredrik");

        // A ledger with no invoice: nothing to match, so no "match" either.
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Open invoices", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync("No open invoices.");
        await Page.GotoAsync("/console/#/invoices?status=");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "All invoices", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync("No invoices yet.");

        // With filters, the ones that found nothing, as typed.
        await Page.GotoAsync("/console/#/invoices?status=&method=card&dueBefore=2026-12-05&issuedFrom=2026-11-01&issuedTo=2026-11-30");
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync(
            "No invoices match these filters: payment by card, due before 2026-12-05, issued from 2026-11-01, issued to 2026-11-30.");
    }

    [Fact]
    public async Task Finance_sees_the_invoices_before_their_sums_and_pages_by_whether_more_follow()
    {
        // 51 open invoices, one due date: a page of 50, by number, and one more.
        await App.InvoicesIssuedAtOneInstant([.. Enumerable.Range(1, 51).Select(n => ($"INV-2026-{n:D6}", 100m, "EUR"))]);
        // The sums held, as on a slow line: the page is read without them and shown, "Counting…" in their place. Each page's sums wait
        // for the hold in place when they are asked for.
        var sumsRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await Page.RouteAsync(url => new Uri(url).AbsolutePath == "/api/invoices/sums", async route =>
        {
            await sumsRead.Task;
            await route.ContinueAsync();
        });
        await SignInAs(LedgerRoles.Finance, "fredrik");

        var rows = Page.GetByTestId("invoice-list").Locator("tbody tr");
        await Expect(rows).ToHaveCountAsync(50);
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync("Counting…");
        // The page asked for says whether more follow, not how many pages there are: that comes with the sums.
        await Expect(Page.GetByTestId("invoice-page")).ToHaveTextAsync("Page 1");
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Previous page" })).ToHaveCountAsync(0);
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Next page" })).ToBeVisibleAsync();
        sumsRead.SetResult();
        await Expect(Page.GetByTestId("invoice-totals")).ToContainTextAsync("(51 invoices)");
        await Expect(Page.GetByTestId("invoice-page")).ToHaveTextAsync("Page 1 of 2");

        // The last page: one invoice, no Next, Previous back to the first; shown before its sums too, and its number of pages with them.
        sumsRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await Page.GetByRole(AriaRole.Link, new() { Name = "Next page" }).ClickAsync();
        await Expect(Page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("#/invoices\\?.*page=2"));
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(rows.Nth(0)).ToContainTextAsync("INV-2026-000051");
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync("Counting…");
        await Expect(Page.GetByTestId("invoice-page")).ToHaveTextAsync("Page 2");
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Next page" })).ToHaveCountAsync(0);
        await Screenshot("finance-invoices-counting");
        sumsRead.SetResult();
        await Expect(Page.GetByTestId("invoice-totals")).ToContainTextAsync("(51 invoices)");
        await Expect(Page.GetByTestId("invoice-page")).ToHaveTextAsync("Page 2 of 2");
        await Page.GetByRole(AriaRole.Link, new() { Name = "Previous page" }).ClickAsync();
        await Expect(rows).ToHaveCountAsync(50);
        await Expect(rows.Nth(0)).ToContainTextAsync("INV-2026-000001");
    }

    [Fact]
    public async Task When_the_sums_cannot_be_read_the_invoices_are_still_listed_and_the_sums_line_says_so()
    {
        await App.InvoicesOfTwoAccounts();
        await Page.RouteAsync(url => new Uri(url).AbsolutePath == "/api/invoices/sums", route => route.FulfillAsync(new()
        {
            Status = 503,
            ContentType = "application/problem+json",
            Body = """{"title":"Database unavailable","status":503}""",
        }));
        await SignInAs(LedgerRoles.Finance, "fredrik");

        var rows = Page.GetByTestId("invoice-list").Locator("tbody tr");
        await Expect(rows).ToHaveCountAsync(3);
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync(
            "The sums could not be read (Database unavailable (503)); the invoices below are as listed.");
        // No alert over the page: the list works as ever, its lines' links and buttons included.
        await Expect(Page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
        await rows.Nth(0).GetByRole(AriaRole.Link, new() { Name = "Alpha Studio" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Alpha Studio", Level = 1 })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Finance_lists_the_invoices_issued_between_two_days_and_the_days_stay_in_the_address()
    {
        await App.InvoicesOfTwoAccounts();
        var today = DateOnly.FromDateTime(App.Clock.GetUtcNow().UtcDateTime);
        string Day(int daysAgo) => today.AddDays(-daysAgo).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        await SignInAs(LedgerRoles.Finance, "fredrik");

        // Month-end: every invoice issued from 10 to 5 days ago, both days included, however it stands (000005 issued 10 days ago,
        // 000006 8, 000002 5; 000001 at 40 and 000003 at 3 days are outside), by due date as ever.
        await Page.GetByLabel("Show").SelectOptionAsync("");
        await Page.GetByLabel("Issued from").FillAsync(Day(10));
        await Page.GetByLabel("Issued to").FillAsync(Day(5));
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(Page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"#/invoices\\?status=&issuedFrom={Day(10)}&issuedTo={Day(5)}$"));
        var numbers = Page.GetByTestId("invoice-list").Locator("tbody tr td:first-child");
        await Expect(numbers).ToHaveTextAsync(["INV-2026-000005", "INV-2026-000006", "INV-2026-000002"]);
        await Expect(Page.GetByTestId("invoice-totals")).ToContainTextAsync("(2 invoices)");

        // Beneath the other filters when the row is full, labels still on one line and each above its field.
        var labels = await Task.WhenAll(new[] { "i-issued-from", "i-issued-to" }.Select(id => Page.Locator($"label[for={id}]").BoundingBoxAsync()));
        var fields = await Task.WhenAll(new[] { "i-issued-from", "i-issued-to" }.Select(id => Page.Locator($"#{id}").BoundingBoxAsync()));
        Assert.Equal(labels[0]!.Y, labels[1]!.Y, 1.0);
        Assert.Equal(fields[0]!.Y, fields[1]!.Y, 1.0);
        Assert.True(labels[0]!.Y + labels[0]!.Height <= fields[0]!.Y, "each label above its field");

        // A shared link to "cancelled, issued in that span" opens with its days filled in; back returns to the list before.
        await Page.GotoAsync($"/console/#/invoices?status=cancelled&issuedFrom={Day(10)}&issuedTo={Day(5)}");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Cancelled invoices", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page.GetByLabel("Issued from")).ToHaveValueAsync(Day(10));
        await Expect(Page.GetByLabel("Issued to")).ToHaveValueAsync(Day(5));
        await Expect(numbers).ToHaveTextAsync(["INV-2026-000005", "INV-2026-000006"]);
        await Page.GoBackAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "All invoices", Level = 1 })).ToBeVisibleAsync();
        await Expect(numbers).ToHaveCountAsync(3);

        // The days the wrong way round: the API's 400, its sentence shown.
        await Page.GetByLabel("Issued from").FillAsync(Day(5));
        await Page.GetByLabel("Issued to").FillAsync(Day(10));
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Alert)).ToContainTextAsync("Must not be before issuedFrom.");
    }

    [Fact]
    public async Task Finance_saves_a_lines_invoice_and_credit_note_and_opens_its_account_read_only()
    {
        var (account, invoice) = await CancelledWithFiftyReceived();
        var note = invoice.CreditNote!.CreditNoteNumber;

        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Page.GotoAsync("/console/#/invoices?status=refund_owed");
        var row = Page.GetByTestId("invoice-list").Locator("tbody tr");
        await Expect(row).ToHaveCountAsync(1);
        await Expect(row.Locator("td").Nth(5)).ToHaveTextAsync("50.00 EUR");
        // What the member was sent, as it was printed: the invoice and, the invoice being cancelled, its credit note.
        await AssertDownloadsPdf(row.GetByRole(AriaRole.Button, new() { Name = $"Invoice PDF, {invoice.InvoiceNumber}" }),
            $"{invoice.InvoiceNumber}.pdf", invoice.InvoiceNumber);
        await AssertDownloadsPdf(row.GetByRole(AriaRole.Button, new() { Name = $"Credit note PDF, {note}" }), $"{note}.pdf", note);

        // The company opens the account's overview: every read it makes admits finance; it shows nothing finance may not do.
        await row.GetByRole(AriaRole.Link, new() { Name = "Valgus Studio OÜ" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Valgus Studio OÜ", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"#/accounts/{account}$"));
        await Expect(Card("owed")).ToContainTextAsync($"refund due: 50.00 EUR on {invoice.InvoiceNumber}");
        await Expect(Page.GetByTestId("invoices")).ToContainTextAsync($"cancelled by credit note {note}");
        await Expect(Page.GetByTestId("tiers-table")).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
        // Read-only but for finance's invoice actions: no history or audit (the API refuses finance the history), no support action.
        var tabs = Page.GetByRole(AriaRole.Navigation, new() { Name = "Account" });
        await Expect(tabs.GetByRole(AriaRole.Link)).ToHaveTextAsync(["Overview"]);
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Support actions" })).ToHaveCountAsync(0);
        foreach (var action in new[] { "Review", "Write it", "Resend invitation", "Run verification" })
            await Expect(Page.GetByRole(AriaRole.Button, new() { Name = action })).ToHaveCountAsync(0);
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Invoices" })).ToBeVisibleAsync();
        await Screenshot("finance-account");

        // The other tabs typed in: said to be not finance's, nothing asked of the API that it would refuse.
        foreach (var tab in new[] { "history", "audit", "support" })
        {
            await Page.GotoAsync($"/console/#/accounts/{account}/{tab}");
            await Expect(Page.GetByText("Finance reads an account’s overview")).ToBeVisibleAsync();
            await Expect(Page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
            await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Valgus Studio OÜ" })).ToHaveAttributeAsync("href", $"#/accounts/{account}");
        }
    }

    [Fact]
    public async Task Finance_finds_an_account_by_a_transfers_creditor_reference_and_by_a_credit_note_number()
    {
        var (account, invoice) = await CancelledWithFiftyReceived();
        var note = invoice.CreditNote!.CreditNoteNumber;
        // The reference as the invoice prints it and a transfer quotes it: grouped in fours, with spaces.
        var printed = Api.Invoicing.CreditorReferences.Grouped(Api.Invoicing.CreditorReferences.For(invoice.InvoiceNumber));
        Assert.Contains(' ', printed);

        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Page.GetByRole(AriaRole.Link, new() { Name = "Accounts" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Accounts", Level = 1 })).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Accounts" })).ToHaveAttributeAsync("aria-current", "page");

        foreach (var (typed, matched) in new[] { (printed, $"creditor reference: {printed}"), (note, $"credit note number: {note}") })
        {
            await Page.GetByLabel("Find an account").FillAsync(typed);
            await Page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
            var found = Page.GetByRole(AriaRole.Row).Filter(new() { HasText = matched });
            await Expect(found).ToHaveCountAsync(1);
            if (typed == printed)
                await Screenshot("finance-search");
            // The result opens the overview finance reads, read-only as from an invoice line.
            await found.GetByRole(AriaRole.Link, new() { Name = "Valgus Studio OÜ" }).ClickAsync();
            await Expect(Page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"#/accounts/{account}$"));
            await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Valgus Studio OÜ", Level = 1 })).ToBeVisibleAsync();
            await Expect(Page.GetByTestId("invoices")).ToContainTextAsync($"cancelled by credit note {note}");
            await Expect(Page.GetByRole(AriaRole.Navigation, new() { Name = "Account" }).GetByRole(AriaRole.Link)).ToHaveTextAsync(["Overview"]);
            await Expect(Page.GetByRole(AriaRole.Alert)).ToHaveCountAsync(0);
            await Page.GoBackAsync();
            await Expect(Page.GetByLabel("Find an account")).ToHaveValueAsync(typed);
        }

        // A page that cannot load sends finance to its search, not to "#/" (its invoice list).
        await Page.GotoAsync("/console/#/accounts/not-a-uuid");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Could not load this page" })).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = "Find an account" })).ToHaveAttributeAsync("href", "#/search");
    }

    // ---------- finance's writing: transfers, credit notes ----------

    /// <summary>Changes one row behind the ledger's back, as someone with the database's keys would: the statement must touch exactly one.</summary>
    private async Task ChangeOneRow(string sql, string parameter, object value)
    {
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var change = new Npgsql.NpgsqlCommand(sql, connection);
        change.Parameters.AddWithValue(parameter, value);
        Assert.Equal(1, await change.ExecuteNonQueryAsync());
    }

    private static string Euros(decimal amount) => amount.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>The dialog finance records a transfer in, filled in from a bank statement line; returns it once "Review" is pressed.</summary>
    private async Task<ILocator> ReviewTransfer(string amount, string valueDate, string bankReference, string? reference = null)
    {
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Record a transfer received" });
        if (reference is not null)
            await dialog.GetByLabel("Reference the payer wrote").FillAsync(reference);
        await dialog.GetByLabel("Amount").FillAsync(amount);
        await dialog.GetByLabel("Currency").FillAsync("EUR");
        await dialog.GetByLabel("Value date").FillAsync(valueDate);
        await dialog.GetByLabel("Bank reference").FillAsync(bankReference);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        return dialog;
    }

    private static ILocator Review(ILocator dialog) => dialog.GetByRole(AriaRole.Region, new() { Name = "What will be written" });

    [Fact]
    public async Task Finance_records_a_transfer_on_an_invoice_line_after_seeing_the_outstanding_before_and_after()
    {
        var (account, member, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        var row = Page.GetByTestId("invoice-list").Locator("tbody tr").Filter(new() { HasText = invoice.InvoiceNumber });
        await row.GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Record a transfer received" });
        await Expect(dialog).ToContainTextAsync($"On invoice {invoice.InvoiceNumber}");
        await Expect(dialog.GetByLabel("Currency")).ToHaveValueAsync("EUR");

        // A value date before the invoice was issued: the API's preview refuses it, its sentence beside its field, and nothing written.
        var beforeIssue = invoice.IssuedOn.AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        await ReviewTransfer("100.00", beforeIssue, "LHV-20261205-0042", "CPS membership Valgus");
        await Expect(dialog.GetByLabel("Value date")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(dialog.Locator("#transfer-valueDate-error")).ToContainTextAsync($"before invoice {invoice.InvoiceNumber} was issued");
        await Expect(dialog.GetByRole(AriaRole.Alert)).ToContainTextAsync("(400)");
        Assert.Empty((await member.SingleInvoice(account)).Payments);

        // Corrected: the review says the invoice, the money and what is outstanding before and after, before anything is written.
        var today = Invoicing.Billing.ValueDate(App);
        await dialog.GetByLabel("Value date").FillAsync(today);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        var remaining = invoice.Total - 100.00m;
        await Expect(Review(dialog)).ToContainTextAsync($"invoice {invoice.InvoiceNumber} of {invoice.CompanyName}");
        // The company's name isolated, as every name the console shows: a right-to-left one keeps its own direction.
        var company = new System.Text.RegularExpressions.Regex($"^{System.Text.RegularExpressions.Regex.Escape(invoice.CompanyName)}$");
        await Expect(Review(dialog).Locator("dd bdi").Filter(new() { HasTextRegex = company })).ToHaveCountAsync(1);
        await Expect(Review(dialog)).ToContainTextAsync("100.00 EUR");
        await Expect(Review(dialog)).ToContainTextAsync(today);
        await Expect(Review(dialog)).ToContainTextAsync("LHV-20261205-0042");
        await Expect(Review(dialog)).ToContainTextAsync($"{Euros(invoice.Total)} EUR before, {Euros(remaining)} EUR after (partial)");
        await Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Review" })).ToBeHiddenAsync();
        await Screenshot("finance-transfer-review");
        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync(
            $"Written: 100.00 EUR received on {invoice.InvoiceNumber} (partial); {Euros(remaining)} EUR outstanding now.");
        var payment = Assert.Single((await member.SingleInvoice(account)).Payments);
        Assert.Equal((100.00m, "LHV-20261205-0042", "CPS membership Valgus"), (payment.Amount, payment.BankReference, payment.Reference));

        // The list was read again behind the dialog: the line says what the API now says.
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();
        await Expect(dialog).ToHaveCountAsync(0);
        await Expect(row.Locator("td").Nth(5)).ToHaveTextAsync($"{Euros(remaining)} EUR");
        // The button that opened the dialog was read again with the list: its successor, on the same line, has the focus back.
        await Expect(row.GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" })).ToBeFocusedAsync();
    }

    [Fact]
    public async Task Closing_the_transfer_while_the_list_is_still_read_again_returns_the_keyboard_to_the_lines_button()
    {
        var (_, _, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        var row = Page.GetByTestId("invoice-list").Locator("tbody tr").Filter(new() { HasText = invoice.InvoiceNumber });
        var opener = row.GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" });
        await opener.ClickAsync();
        var dialog = await ReviewTransfer("100.00", Invoicing.Billing.ValueDate(App), "LHV-20261205-0042");

        // The list's reading after the write is held, as on a slow line: "Close" is pressed before the list is drawn again, so the
        // button that opened the dialog is about to be replaced and its successor not there yet.
        var listRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await Page.RouteAsync(url => new Uri(url).AbsolutePath == "/api/invoices", async route =>
        {
            await listRead.Task;
            await route.ContinueAsync();
        });
        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync($"Written: 100.00 EUR received on {invoice.InvoiceNumber}");
        // Meanwhile the list stays as it was behind the dialog: no "Loading…" in its place, no jump to the page's top.
        await Expect(Page.GetByTestId("invoice-list")).ToHaveCountAsync(1);
        await Expect(Page.GetByText("Loading…")).ToHaveCountAsync(0);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();
        await Expect(dialog).ToHaveCountAsync(0);

        // The list drawn: the keyboard is on the same line's button, not on the page's heading.
        listRead.SetResult();
        await Expect(row.Locator("td").Nth(5)).ToHaveTextAsync($"{Euros(invoice.Total - 100.00m)} EUR");
        await Expect(opener).ToBeFocusedAsync();
    }

    [Theory]
    [InlineData(1366, 768)]
    [InlineData(1280, 720)]
    public async Task On_a_laptop_screen_the_transfers_review_and_write_it_are_in_view_at_once_and_escape_returns_to_the_opener(int width, int height)
    {
        var (_, _, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await Page.SetViewportSizeAsync(width, height);
        await SignInAs(LedgerRoles.Finance, "fredrik");
        var opener = Page.GetByTestId("invoice-list").GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" });
        await opener.ClickAsync();
        var dialog = await ReviewTransfer("100.00", Invoicing.Billing.ValueDate(App), "LHV-20261205-0042", "CPS membership Valgus");
        await Expect(Review(dialog)).ToContainTextAsync("(partial)");

        // Read and written without scrolling the dialog: its title, the whole review, "Write it" and "Close" on the screen together.
        await Expect(dialog.GetByRole(AriaRole.Heading, new() { Name = "Record a transfer received" })).ToBeInViewportAsync(new() { Ratio = 1 });
        await Expect(Review(dialog)).ToBeInViewportAsync(new() { Ratio = 1 });
        var writeIt = Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" });
        await Expect(writeIt).ToBeFocusedAsync();
        await Expect(writeIt).ToBeInViewportAsync(new() { Ratio = 1 });
        await Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Close" })).ToBeInViewportAsync(new() { Ratio = 1 });

        // Escape closes it, writing nothing, and the keyboard is back on the button that opened it.
        await Page.Keyboard.PressAsync("Escape");
        await Expect(dialog).ToHaveCountAsync(0);
        await Expect(opener).ToBeFocusedAsync();
    }

    [Fact]
    public async Task A_field_refused_at_review_takes_the_focus_so_the_keyboard_is_not_lost()
    {
        var (_, _, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await SignInAs(LedgerRoles.Finance, "fredrik");

        // At review: the API's preview refuses the value date (400); the button that was pressed is gone, the field it names has the focus.
        var row = Page.GetByTestId("invoice-list").Locator("tbody tr").Filter(new() { HasText = invoice.InvoiceNumber });
        await row.GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" }).ClickAsync();
        var beforeIssue = invoice.IssuedOn.AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var dialog = await ReviewTransfer("100.00", beforeIssue, "LHV-20261205-0042");
        await Expect(dialog.GetByLabel("Value date")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(dialog.GetByLabel("Value date")).ToBeFocusedAsync();
        await Page.Keyboard.PressAsync("Escape");

        // Too short a reason for a credit note, refused by the cancellation's preview (400 at review, before any "Write it"): the field
        // has the focus, not the page behind.
        await row.GetByRole(AriaRole.Button, new() { Name = $"Cancel by credit note, {invoice.InvoiceNumber}" }).ClickAsync();
        dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Cancel an invoice by credit note" });
        await dialog.GetByLabel("Reason").FillAsync("No");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(dialog.GetByLabel("Reason")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(dialog.GetByLabel("Reason")).ToBeFocusedAsync();
        await Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Write it" })).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Finance_is_told_at_review_that_a_transfer_paying_the_invoice_a_suspension_rests_on_reinstates_the_membership()
    {
        var (account, member, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await Invoicing.Billing.FastForward(App, TimeSpan.FromDays(31)); // overdue
        await Invoicing.Billing.FastForward(App, TimeSpan.FromDays(14) + TimeSpan.FromHours(1)); // past its grace period: suspended
        await SignInAs(LedgerRoles.Finance, "fredrik");
        var row = Page.GetByTestId("invoice-list").Locator("tbody tr").Filter(new() { HasText = invoice.InvoiceNumber });
        await row.GetByRole(AriaRole.Button, new() { Name = $"Record transfer, {invoice.InvoiceNumber}" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Record a transfer received" });

        // Part of it: the suspension stays, and the review says nothing of the membership.
        await ReviewTransfer("10.00", Invoicing.Billing.ValueDate(App), "LHV-LATE-1");
        await Expect(Review(dialog)).ToContainTextAsync("(partial)");
        await Expect(Review(dialog)).Not.ToContainTextAsync("Membership");

        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Change" }).ClickAsync();
        await dialog.GetByLabel("Amount").FillAsync(Euros(invoice.Total));
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(Review(dialog)).ToContainTextAsync("suspended for this invoice: active again (MembershipReinstated)");
        Assert.Equal(Api.Invoicing.MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);
        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync("the membership this invoice kept suspended is active again");
    }

    [Fact]
    public async Task Finance_records_a_transfer_by_the_reference_as_the_payer_wrote_it_and_is_told_of_the_overpayment_first()
    {
        var (account, member, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await SignInAs(LedgerRoles.Finance, "fredrik");

        // From the header: the reference as the payer typed it (lower case, its groups run together), which the API resolves.
        await Page.GetByRole(AriaRole.Button, new() { Name = "Record a transfer", Exact = true }).ClickAsync();
        var typed = Api.Invoicing.CreditorReferences.Grouped(invoice.CreditorReference).ToLowerInvariant().Replace(" ", "");
        var dialog = await ReviewTransfer(Euros(invoice.Total + 20.00m), Invoicing.Billing.ValueDate(App), "SEB-7", typed);
        await Expect(Review(dialog)).ToContainTextAsync($"invoice {invoice.InvoiceNumber} of {invoice.CompanyName}");
        await Expect(Review(dialog)).ToContainTextAsync($"{Euros(invoice.Total)} EUR before, 0.00 EUR after (overpayment)");
        await Expect(Review(dialog)).ToContainTextAsync(
            "More than is outstanding: the API records it as an overpayment, and 20.00 EUR is then owed back to the payer");
        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync(
            $"Written: {Euros(invoice.Total + 20.00m)} EUR received on {invoice.InvoiceNumber} (overpayment); 0.00 EUR outstanding now, " +
            "the invoice is paid; 20.00 EUR overpaid, owed back to the payer.");
        var paid = await member.SingleInvoice(account);
        Assert.Equal((Api.Invoicing.InvoiceStatus.Paid, 20.00m, typed), (paid.Status, paid.Overpaid, Assert.Single(paid.Payments).Reference));

        // Read again: paid, the invoice is no longer on the open list.
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();
        await Expect(Page.GetByTestId("invoice-totals")).ToHaveTextAsync("No open invoices.");
    }

    [Fact]
    public async Task A_reference_with_other_words_around_the_number_is_left_to_the_api_and_one_naming_no_invoice_records_nothing()
    {
        var (account, member, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await SignInAs(LedgerRoles.Finance, "fredrik");

        // Nothing of ours: the API's preview finds no invoice (404) and the review says so, with nothing to write.
        await Page.GetByRole(AriaRole.Button, new() { Name = "Record a transfer", Exact = true }).ClickAsync();
        var dialog = await ReviewTransfer("10.00", Invoicing.Billing.ValueDate(App), "LHV-9", "Gift for the team");
        await Expect(Review(dialog)).ToContainTextAsync("The reference \"Gift for the team\" names no invoice of ours");
        await Expect(Review(dialog)).ToContainTextAsync("The API refuses it (404, No matching invoice)");
        await Expect(Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" })).ToHaveCountAsync(0);
        Assert.Empty((await member.SingleInvoice(account)).Payments);

        // The number among other words: the transfer's own matching finds it, and the preview names it and what is outstanding.
        var typed = $"Membership {invoice.InvoiceNumber} Valgus";
        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Change" }).ClickAsync();
        await dialog.GetByLabel("Reference the payer wrote").FillAsync(typed);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(Review(dialog)).ToContainTextAsync($"invoice {invoice.InvoiceNumber} of {invoice.CompanyName}");
        await Expect(Review(dialog)).ToContainTextAsync($"{Euros(invoice.Total)} EUR before, {Euros(invoice.Total - 10.00m)} EUR after (partial)");
        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync(
            $"Written: 10.00 EUR received on {invoice.InvoiceNumber} (partial); {Euros(invoice.Total - 10.00m)} EUR outstanding now.");
        Assert.Equal(typed, Assert.Single((await member.SingleInvoice(account)).Payments).Reference);
    }

    [Fact]
    public async Task A_transfer_for_a_cancelled_invoice_is_reviewed_with_what_the_api_will_say_and_cannot_be_written()
    {
        var (account, invoice) = await CancelledWithFiftyReceived();
        await SignInAs(LedgerRoles.Finance, "fredrik");

        await Page.GetByRole(AriaRole.Button, new() { Name = "Record a transfer", Exact = true }).ClickAsync();
        var dialog = await ReviewTransfer("20.00", Invoicing.Billing.ValueDate(App), "LHV-2", invoice.InvoiceNumber);
        await Expect(Review(dialog)).ToContainTextAsync(
            $"Invoice {invoice.InvoiceNumber} was cancelled by credit note {invoice.CreditNote!.CreditNoteNumber}: nothing is owed on it. " +
            "Refund the transfer. The API refuses it (409, Invoice cancelled).");
        await Expect(Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" })).ToHaveCountAsync(0);
        Assert.Single((await Invoicing.Billing.Invoices(App.Member(account), account)).Single().Payments);
    }

    [Fact]
    public async Task Only_finance_is_offered_the_transfer_and_the_credit_note()
    {
        var (account, _, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        string[] actions = ["Record a transfer", $"Record transfer, {invoice.InvoiceNumber}", $"Cancel by credit note, {invoice.InvoiceNumber}"];

        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Expect(Page.GetByTestId("invoice-list")).ToBeVisibleAsync();
        foreach (var action in actions)
            await Expect(Page.GetByRole(AriaRole.Button, new() { Name = action, Exact = true })).ToHaveCountAsync(1);
        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Expect(Page.GetByTestId("invoices").GetByRole(AriaRole.Button, new() { Name = actions[1], Exact = true })).ToBeVisibleAsync();

        foreach (var (role, name) in new[] { (LedgerRoles.Auditor, "ines"), (LedgerRoles.Support, "anna") })
        {
            await Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
            await SignInAs(role, name);
            if (role == LedgerRoles.Auditor)
            {
                await Page.GotoAsync("/console/#/invoices");
                await Expect(Page.GetByTestId("invoice-list")).ToContainTextAsync(invoice.InvoiceNumber);
                foreach (var action in actions)
                    await Expect(Page.GetByRole(AriaRole.Button, new() { Name = action, Exact = true })).ToHaveCountAsync(0);
            }
            await Page.GotoAsync($"/console/#/accounts/{account}");
            await Expect(Page.GetByTestId("invoices")).ToContainTextAsync(invoice.InvoiceNumber);
            foreach (var action in actions)
                await Expect(Page.GetByRole(AriaRole.Button, new() { Name = action, Exact = true })).ToHaveCountAsync(0);
        }
    }

    [Fact]
    public async Task Finance_cancels_an_invoice_by_credit_note_on_the_account_and_saves_the_credit_notes_pdf()
    {
        var (account, member, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Finance).PostJson("/api/payments/bank-transfers",
            Invoicing.Billing.BankPayment(App, invoice.InvoiceNumber, 50.00m, "LHV-1"))).ShouldBe(System.Net.HttpStatusCode.Created));
        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Page.GetByTestId("invoices").GetByRole(AriaRole.Button, new() { Name = $"Cancel by credit note, {invoice.InvoiceNumber}" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Cancel an invoice by credit note" });

        // Too short a reason: the API's preview refuses it at review, its sentence beside the field, nothing to write.
        await dialog.GetByLabel("Reason").FillAsync("No");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(dialog.GetByLabel("Reason")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(dialog.Locator("#cancel-invoice-reason-error")).ToContainTextAsync("at least 5 characters");
        await Expect(dialog.GetByRole(AriaRole.Alert)).ToContainTextAsync("(400)");
        await Expect(Review(dialog)).ToHaveCountAsync(0);
        Assert.Equal(Api.Invoicing.InvoiceStatus.Open, (await member.SingleInvoice(account)).Status);

        const string reason = "Issued to the wrong company: the buyer's VAT ID was missing";
        await dialog.GetByLabel("Reason").FillAsync(reason);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(Review(dialog)).ToContainTextAsync($"{invoice.InvoiceNumber} of {invoice.CompanyName}, total {Euros(invoice.Total)} EUR");
        await Expect(Review(dialog)).ToContainTextAsync($"{Euros(invoice.Total - 50.00m)} EUR before, nothing after");
        await Expect(Review(dialog)).ToContainTextAsync("50.00 EUR received on it and not refunded yet, to be refunded to the payer");
        await Expect(Review(dialog)).ToContainTextAsync("InvoiceCancelled, then CreditNoteIssued");
        await Expect(Review(dialog)).ToContainTextAsync(reason);
        await Expect(Review(dialog)).Not.ToContainTextAsync("Membership");
        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync($"Written: {invoice.InvoiceNumber} cancelled by credit note ");

        var cancelled = await member.SingleInvoice(account);
        var note = cancelled.CreditNote!.CreditNoteNumber;
        Assert.Equal((Api.Invoicing.InvoiceStatus.Cancelled, reason), (cancelled.Status, cancelled.CancellationReason));
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync(
            $"Written: {invoice.InvoiceNumber} cancelled by credit note {note}; 50.00 EUR received on it and not refunded yet is to be refunded.");
        // The credit note the member is sent, at once: the PDF of the number just issued.
        await AssertDownloadsPdf(dialog.GetByRole(AriaRole.Button, new() { Name = $"Credit note PDF, {note}" }), $"{note}.pdf", note);

        // The account was read again behind the dialog.
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();
        await Expect(Page.GetByTestId("invoices").Locator("tbody tr")).ToContainTextAsync($"cancelled by credit note {note}; refund due 50.00 EUR");
        await Expect(Page.GetByTestId("invoices").GetByRole(AriaRole.Button, new() { Name = $"Cancel by credit note, {invoice.InvoiceNumber}" }))
            .ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Finance_records_a_refund_on_an_invoice_of_the_owed_back_list_and_no_more_than_is_owed_back()
    {
        var (account, invoice) = await CancelledWithFiftyReceived();
        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Page.GotoAsync("/console/#/invoices?status=refund_owed");
        var row = Page.GetByTestId("invoice-list").Locator("tbody tr");
        await row.GetByRole(AriaRole.Button, new() { Name = $"Record refund, {invoice.InvoiceNumber}" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Record a refund paid" });
        await Expect(dialog.GetByLabel("Currency")).ToHaveValueAsync("EUR");

        // More than is owed back: said at review, with nothing to write.
        var today = Invoicing.Billing.ValueDate(App);
        await dialog.GetByLabel("Amount").FillAsync("60.00");
        await dialog.GetByLabel("Paid on").FillAsync(today);
        await dialog.GetByLabel("Bank reference").FillAsync("LHV-OUT-1");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(Review(dialog)).ToContainTextAsync($"50.00 EUR is owed back on invoice {invoice.InvoiceNumber}, not 60.00. Nothing was recorded. " +
            "The API refuses it (409, Refund exceeds what is owed back).");
        await Expect(Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" })).ToHaveCountAsync(0);

        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Change" }).ClickAsync();
        await dialog.GetByLabel("Amount").FillAsync("20.00");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        await Expect(Review(dialog)).ToContainTextAsync("RefundPaid (of money received on a cancelled invoice)");
        await Expect(Review(dialog)).ToContainTextAsync("50.00 EUR before, 30.00 EUR after");
        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync(
            $"Written: 20.00 EUR refunded on {invoice.InvoiceNumber}; 30.00 EUR still owed back.");
        var refund = Assert.Single((await Invoicing.Billing.Invoices(App.Member(account), account)).Single().Refunds);
        Assert.Equal((20.00m, "LHV-OUT-1"), (refund.Amount, refund.Reference));

        await dialog.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();
        await Expect(row.Locator("td").Nth(5)).ToHaveTextAsync("30.00 EUR");
        // Still owed back: the line's "Record refund", drawn again with the list, has the keyboard back.
        await Expect(row.GetByRole(AriaRole.Button, new() { Name = $"Record refund, {invoice.InvoiceNumber}" })).ToBeFocusedAsync();
    }

    [Fact]
    public async Task Finance_issues_the_replacement_of_a_cancelled_invoice_and_saves_its_pdf()
    {
        var (account, member, _, invoice) = await Invoicing.Billing.BankMemberWithItsJoiningInvoice(App);
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Finance).PostJson(
            $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation", new { reason = "Buyer's VAT ID was missing" }))
            .ShouldBe(System.Net.HttpStatusCode.Created));
        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Page.GetByTestId("invoices").GetByRole(AriaRole.Button, new() { Name = $"Issue replacement, {invoice.InvoiceNumber}" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Issue the replacement of a cancelled invoice" });
        await dialog.GetByLabel("Reason").FillAsync("Reissued with the buyer's VAT ID");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        var note = (await member.SingleInvoice(account)).CreditNote!.CreditNoteNumber;
        await Expect(Review(dialog)).ToContainTextAsync($"invoice {invoice.InvoiceNumber} of {invoice.CompanyName}, cancelled by credit note {note}");
        // The API's preview says what the corrected invoice totals before it is written (no number taken yet).
        await Expect(Review(dialog)).ToContainTextAsync("numbered INV-… when written");
        var reviewed = await Review(dialog).InnerTextAsync();
        await Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" }).ClickAsync();
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync("Written: invoice ");

        var invoices = await Invoicing.Billing.Invoices(member, account);
        Assert.Equal(2, invoices.Count);
        var corrected = invoices.Single(i => i.InvoiceNumber != invoice.InvoiceNumber);
        Assert.Equal(corrected.InvoiceNumber, invoices.Single(i => i.InvoiceNumber == invoice.InvoiceNumber).ReplacedBy);
        Assert.Contains($"{Euros(corrected.Total)} EUR, VAT {Euros(corrected.Vat)} EUR included, due {corrected.DueOn:yyyy-MM-dd} if written today", reviewed);
        await Expect(dialog.GetByRole(AriaRole.Status)).ToContainTextAsync(
            $"Written: invoice {corrected.InvoiceNumber} replaces {invoice.InvoiceNumber}: {Euros(corrected.Total)} EUR, due {corrected.DueOn:yyyy-MM-dd}.");
        await AssertDownloadsPdf(dialog.GetByRole(AriaRole.Button, new() { Name = $"Invoice PDF, {corrected.InvoiceNumber}" }),
            $"{corrected.InvoiceNumber}.pdf", corrected.InvoiceNumber);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Close" }).ClickAsync();
        await Expect(Page.GetByTestId("invoices").Locator("tbody tr")).ToHaveCountAsync(2);
        await Expect(Page.GetByTestId("invoices")).ToContainTextAsync($"replaced by {corrected.InvoiceNumber}");
        await Expect(Page.GetByRole(AriaRole.Button, new() { Name = $"Issue replacement, {invoice.InvoiceNumber}" })).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task A_replacement_the_api_refuses_shows_its_detail_and_writes_nothing()
    {
        // Support cancelled the membership: nothing is invoiced for its term any more, which only the API knows (409).
        var (account, invoice) = await CancelledWithFiftyReceived();
        await SignInAs(LedgerRoles.Finance, "fredrik");
        await Page.GotoAsync($"/console/#/accounts/{account}");
        await Page.GetByTestId("invoices").GetByRole(AriaRole.Button, new() { Name = $"Issue replacement, {invoice.InvoiceNumber}" }).ClickAsync();
        var dialog = Page.GetByRole(AriaRole.Dialog, new() { Name = "Issue the replacement of a cancelled invoice" });
        await dialog.GetByLabel("Reason").FillAsync("Reissued with the buyer's VAT ID");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();
        // Said at review, from the API's preview: nothing to write.
        await Expect(Review(dialog)).ToContainTextAsync("Nothing can be written");
        await Expect(Review(dialog)).ToContainTextAsync("nothing is invoiced for its term any more");
        await Expect(Review(dialog)).ToContainTextAsync("The API refuses it (409, Membership cancelled)");
        await Expect(Review(dialog).GetByRole(AriaRole.Button, new() { Name = "Write it" })).ToHaveCountAsync(0);
        Assert.Single(await Invoicing.Billing.Invoices(App.Member(account), account));
    }
}
