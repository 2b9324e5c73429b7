using System.Net;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using Marten;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace CpsLedger.Tests.Audit;

[Collection(SecondLedgerCollection.Name)]
public sealed class AuditTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor, subject: "auditor-ines");
    private HttpClient SupportAgent => App.ClientAs(LedgerRoles.Support, subject: "support-anna");

    private static object Adjustment(int points) => new { points, reason = "Registration lost in the portal outage", ticketReference = "CPS-SUP-1234" };

    [Fact]
    public async Task History_lists_every_event_across_the_accounts_streams_in_commit_order_with_who_why_and_correlation()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account, "kadri");
        var registered = await member.Register(account, Products.Products.WithoutDealer("H-1"));
        var request = new HttpRequestMessage(HttpMethod.Patch, registered.Url)
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { dealer = "Photopoint" }),
        };
        request.Headers.Add("X-Correlation-Id", "corr-dealer-added");
        // Tracked until the invitation reviews both set off are handled (the adjustment crosses 500).
        await App.Tracked(async () =>
        {
            await (await member.SendAsync(request)).ShouldBe(HttpStatusCode.OK);
            await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(300))).ShouldBe(HttpStatusCode.Created);
        });

        var items = (await History(account, "")).Items;
        Assert.Equal(
            ["business_account_opened", "product_registered", "product_details_amended", "points_allocated", "points_adjusted", "invitation_issued"],
            items.Select(i => i.Type));
        var sequences = items.Select(i => i.Sequence).ToList();
        Assert.Equal(sequences.Order(), sequences);
        Assert.Equal(
            [
                AccountStreamKind.Account, AccountStreamKind.Registration, AccountStreamKind.Registration, AccountStreamKind.Registration,
                AccountStreamKind.Account, AccountStreamKind.Membership,
            ],
            items.Select(i => i.Stream));

        var amended = items[2];
        Assert.Equal(("kadri", "corr-dealer-added"), (amended.By, amended.CorrelationId));
        Assert.Equal("Details of EOS-R5 amended: dealer Photopoint", amended.Description);
        var adjusted = items[4];
        Assert.Equal(("support-anna", "Registration lost in the portal outage", "CPS-SUP-1234"), (adjusted.By, adjusted.Reason, adjusted.TicketReference));

        // Filters and paging.
        Assert.Equal(2, (await History(account, "types=points_allocated,points_adjusted")).Total);
        // In any letter case, or as the points explanation names the event; a name that is none of them is a 400, never an empty page.
        Assert.Equal(2, (await History(account, "types=POINTS_ALLOCATED,%20PointsAdjusted")).Total);
        var unknown = (await Auditor.GetAsync($"/api/accounts/{account}/history?types=points_adjusted,nope")
            .ReadProblem(HttpStatusCode.BadRequest)).Errors["types"].Single();
        Assert.StartsWith("Not an event type of an account's history: nope. The types, in any letter case", unknown);
        Assert.Contains("points_adjusted", unknown);
        Assert.All(items, i => Assert.Contains(i.Type, HistoryTypes.Of(App.Store).Keys));
        Assert.Equal(2, (await History(account, "page=2&pageSize=4")).Items.Count);
        var future = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"));
        Assert.Equal(0, (await History(account, $"from={future}")).Total);
        await (await Auditor.GetAsync($"/api/accounts/{account}/history?pageSize=0")).ShouldBeProblem(HttpStatusCode.BadRequest);

        // Members read their own history only.
        await (await member.GetAsync($"/api/accounts/{account}/history")).ShouldBe(HttpStatusCode.OK);
        var other = await App.OpenAccount("other@example.ee");
        await (await App.Member(other).GetAsync($"/api/accounts/{account}/history")).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await Auditor.GetAsync($"/api/accounts/{Guid.NewGuid()}/history")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    // Support writes its reasons for the audit trail, and they may be internal: the member's own history says that CPS support made
    // the change, with the ticket (the member's own), never the reason text; support and auditors read everything.
    [Fact]
    public async Task A_member_reads_that_cps_support_made_a_change_and_its_ticket_but_not_supports_reason()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        const string adjustmentReason = "Registration lost in the portal outage", linkReason = "Ticket 4711: caller sounded unsure, verify later",
            onBehalfReason = "Member called: registering by phone";
        await App.Tracked(async () =>
        {
            await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(300))).ShouldBe(HttpStatusCode.Created);
            await (await SupportAgent.PostJson(Products.Products.ProductsUrl(account),
                Products.Products.BySupport(Products.Products.Complete("RS-1"), onBehalfReason, "CPS-SUP-77"))).ShouldBe(HttpStatusCode.Created);
        });
        await (await SupportAgent.PostJson($"/api/accounts/{account}/old-cps-emails", new { email = "kadri@old.example", reason = linkReason, ticketReference = "CPS-SUP-1" }))
            .ShouldBe(HttpStatusCode.OK);
        string[] reasons = [adjustmentReason, linkReason, onBehalfReason];

        var member = App.Member(account);
        var raw = await (await member.GetAsync($"/api/accounts/{account}/history?pageSize=500")).Content.ReadAsStringAsync();
        Assert.All(reasons, r => Assert.DoesNotContain(r, raw, StringComparison.Ordinal));
        var mine = (await member.GetAsync($"/api/accounts/{account}/history?pageSize=500").ReadAs<HistoryPage>()).Items;
        Assert.All(mine, e => Assert.Null(e.Reason));
        var adjusted = Assert.Single(mine, e => e.Type == "points_adjusted");
        Assert.Equal(("Manual adjustment +300 points by CPS support (ticket CPS-SUP-1234)", "CPS-SUP-1234"), (adjusted.Description, adjusted.TicketReference));
        Assert.Equal("CPS-SUP-77", Assert.Single(mine, e => e.Type == "product_registered").TicketReference);
        // The ticket is the member's own: its sentence names it, as an adjustment's does.
        Assert.Equal("Old CPS e-mail kadri@old.example linked by CPS support (ticket CPS-SUP-1)",
            Assert.Single(mine, e => e.Type == "old_cps_email_linked").Description);
        Assert.Equal("Old CPS e-mail kadri@old.example verified: linked by CPS support",
            Assert.Single(mine, e => e.Type == "old_cps_email_verified").Description);

        foreach (var staff in new[] { SupportAgent, Auditor })
        {
            var all = (await staff.GetAsync($"/api/accounts/{account}/history?pageSize=500").ReadAs<HistoryPage>()).Items;
            Assert.Equal(mine.Select(e => e.EventId), all.Select(e => e.EventId));
            var theirs = Assert.Single(all, e => e.Type == "points_adjusted");
            Assert.Equal((adjustmentReason, "CPS-SUP-1234"), (theirs.Reason, theirs.TicketReference));
            Assert.EndsWith($": {adjustmentReason}", theirs.Description);
            Assert.Equal(onBehalfReason, Assert.Single(all, e => e.Type == "product_registered").Reason);
            Assert.Equal($"Old CPS e-mail kadri@old.example linked by support (ticket CPS-SUP-1): {linkReason}",
                Assert.Single(all, e => e.Type == "old_cps_email_linked").Description);
        }
        foreach (var role in new[] { LedgerRoles.Finance, LedgerRoles.Portal })
            await (await App.ClientAs(role).GetAsync($"/api/accounts/{account}/history")).ShouldBe(HttpStatusCode.Forbidden);
    }

    // The same rule as the history's, in every other read that would quote support's reasons: the points explanation (an
    // adjustment, support's registration and deregistration), the membership (a term support cancelled) and time travel (both).
    [Fact]
    public async Task A_member_reads_supports_changes_in_the_explanation_membership_and_time_travel_without_supports_reason()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        const string adjustmentReason = "Registration lost in the portal outage", onBehalfReason = "Member called: registering by phone",
            offReason = "Member called: sold it, keep an eye on resale", cancelReason = "Company closed, owner unreachable (internal)";
        var registered = await App.Tracked(async () =>
        {
            await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(300))).ShouldBe(HttpStatusCode.Created);
            return await SupportAgent.Register(account, Products.Products.BySupport(
                Products.Products.Complete("RS-1", Billing.Thousand), onBehalfReason, "CPS-SUP-77"));
        });
        await App.Tracked(async () => await (await SupportAgent.PostJson($"{Products.Products.ProductsUrl(account)}/{registered.RegistrationId}/deregistration",
            Products.Products.BySupport(new { reason = "sold" }, offReason, "CPS-SUP-78"))).ShouldBe(HttpStatusCode.OK));
        await App.Tracked(async () => await (await SupportAgent.PostJson($"/api/accounts/{account}/membership/cancellation",
            new { reason = cancelReason, ticketReference = "CPS-SUP-79" })).ShouldBe(HttpStatusCode.OK));
        string[] reasons = [adjustmentReason, onBehalfReason, offReason, cancelReason];
        var last = await LastSequence();
        // Time travel is the history readers' (the member, support, auditors): the portal and finance read the other two.
        var member = App.Member(account);
        foreach (var (reader, travels) in new[] { (member, true), (App.ClientAs(LedgerRoles.Portal), false) })
        {
            foreach (var read in travels ? ["points-explanation", "membership", $"as-of?sequence={last}"] : new[] { "points-explanation", "membership" })
            {
                var response = await reader.GetAsync($"/api/accounts/{account}/{read}");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var raw = await response.Content.ReadAsStringAsync();
                Assert.All(reasons, r => Assert.DoesNotContain(r, raw, StringComparison.Ordinal));
            }

            var explanation = await reader.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<Api.Products.PointsExplanation>();
            var asOf = travels ? await reader.GetAsync($"/api/accounts/{account}/as-of?sequence={last}").ReadAs<AccountAsOf>() : null;
            foreach (var lines in asOf is null ? [explanation.Lines] : new[] { explanation.Lines, asOf.Explanation.Lines })
            {
                var adjusted = Assert.Single(lines, l => l.Event == "PointsAdjusted");
                Assert.Equal(("CPS-SUP-1234", null), (adjusted.TicketReference, adjusted.Reason));
                var allocated = Assert.Single(lines, l => l.Event == "PointsAllocated" && l.RegistrationId == registered.RegistrationId);
                Assert.Equal(("CPS-SUP-77", null), (allocated.TicketReference, allocated.Reason));
                // A removal keeps its own reason (the deregistration's), without support's words after it.
                var removed = Assert.Single(lines, l => l.Event == "PointsRemoved");
                Assert.Equal(("CPS-SUP-78", "deregistered: sold"), (removed.TicketReference, removed.Reason));
            }
            var membership = await reader.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();
            foreach (var terms in asOf is null ? [membership.PastMemberships] : new[] { membership.PastMemberships, asOf.Membership!.PastMemberships })
                Assert.Equal("cancelled by CPS support", Assert.Single(terms).EndedBecause);
        }

        foreach (var (staff, travels) in new[] { (SupportAgent, true), (Auditor, true), (App.ClientAs(LedgerRoles.Finance), false) })
        {
            var explanation = await staff.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<Api.Products.PointsExplanation>();
            var asOf = travels ? await staff.GetAsync($"/api/accounts/{account}/as-of?sequence={last}").ReadAs<AccountAsOf>() : null;
            foreach (var lines in asOf is null ? [explanation.Lines] : new[] { explanation.Lines, asOf.Explanation.Lines })
            {
                Assert.Equal(adjustmentReason, Assert.Single(lines, l => l.Event == "PointsAdjusted").Reason);
                Assert.Equal(onBehalfReason, Assert.Single(lines, l => l.Event == "PointsAllocated" && l.RegistrationId == registered.RegistrationId).Reason);
                Assert.Equal($"deregistered: sold; support: {offReason}", Assert.Single(lines, l => l.Event == "PointsRemoved").Reason);
            }
            var membership = await staff.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();
            foreach (var terms in asOf is null ? [membership.PastMemberships] : new[] { membership.PastMemberships, asOf.Membership!.PastMemberships })
                Assert.Equal($"cancelled by CPS support ({cancelReason})", Assert.Single(terms).EndedBecause);
        }
    }

    // Staff user names are internal identifiers: the member and the portal read the role that acted (docs/security.md, "Who and
    // why"); the member's own actions and the ledger's keep their names; support and auditors read the names.
    [Fact]
    public async Task A_member_and_the_portal_read_the_role_of_cps_staff_who_acted_never_their_user_name()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await FaultWaits.InvitedAccount(App, App.CreateClient(), "studio@example.ee");
        const string finance = "finance-fred";
        // Support joins for the member (with its ticket) and adjusts the points; the invoice that follows is the ledger's, set off by
        // support's join; finance records the bank transfer that pays it (no reason: known as finance's by the event only finance writes).
        await App.Tracked(async () => await (await SupportAgent.PostJson($"/api/accounts/{account}/membership",
            Support.OnBehalf.BySupport(new { tier = "gold", paymentMethod = "bank_transfer" }))).ShouldBe(HttpStatusCode.Created));
        await App.Tracked(async () =>
            await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(50))).ShouldBe(HttpStatusCode.Created));
        const string onBehalfReason = "Member called: registering by phone";
        var bySupport = await App.Tracked(() => SupportAgent.Register(account, Products.Products.BySupport(
            Products.Products.Complete("RS-STAFF", Billing.Thousand), onBehalfReason, "CPS-SUP-77")));
        await App.FastForward(TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1));
        var invoice = await App.Member(account).SingleInvoice(account);
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Finance, subject: finance).PostJson("/api/payments/bank-transfers",
            App.BankPayment(invoice.InvoiceNumber, invoice.Total, "SEPA-STAFF-1"))).ShouldBe(HttpStatusCode.Created));
        var last = await LastSequence();
        string[] staffNames = ["support-anna", finance];

        // What support and auditors read, and what the member reads instead.
        var all = (await History(account, "pageSize=500")).Items;
        Assert.Equal("support-anna", Assert.Single(all, e => e.Type == "cps_joined").By);
        var issued = Assert.Single(all, e => e.Type == "invoice_issued");
        Assert.Equal(("system:invoicing", "support-anna"), (issued.By, issued.CausedBy?.User));
        Assert.Equal(finance, Assert.Single(all, e => e.Type == "payment_received").By);
        const string own = "test-member";
        Assert.Equal([own, "support-anna"], all.Where(e => e.Type == "product_registered").Select(e => e.By));

        var member = App.Member(account, own);
        var raw = await (await member.GetAsync($"/api/accounts/{account}/history?pageSize=500")).Content.ReadAsStringAsync();
        Assert.All(staffNames, n => Assert.DoesNotContain(n, raw, StringComparison.Ordinal));
        var mine = (await member.GetAsync($"/api/accounts/{account}/history?pageSize=500").ReadAs<HistoryPage>()).Items;
        Assert.Equal(all.Select(e => e.EventId), mine.Select(e => e.EventId));
        Assert.Equal("CPS support", Assert.Single(mine, e => e.Type == "cps_joined").By);
        Assert.Equal("CPS support", Assert.Single(mine, e => e.Type == "points_adjusted").By);
        var issuedForMember = Assert.Single(mine, e => e.Type == "invoice_issued");
        Assert.Equal(("system:invoicing", "CPS support", issued.CausedBy!.CorrelationId),
            (issuedForMember.By, issuedForMember.CausedBy?.User, issuedForMember.CausedBy?.CorrelationId));
        Assert.Equal("CPS finance", Assert.Single(mine, e => e.Type == "payment_received").By);
        Assert.Equal("CPS finance", Assert.Single(mine, e => e.Type == "invoice_paid").By);
        Assert.Equal([own, "CPS support"], mine.Where(e => e.Type == "product_registered").Select(e => e.By));
        Assert.Equal("test-portal", Assert.Single(mine, e => e.Type == "business_account_opened").By);

        // The explanation and My Products (the member's, the portal's, and the member's time travel) name support's lines by its role,
        // without support's reason.
        var portal = App.ClientAs(LedgerRoles.Portal);
        foreach (var (reader, read) in new[]
                 {
                     (member, "points-explanation"), (member, $"as-of?sequence={last}"), (portal, "points-explanation"),
                     (member, "products"), (portal, "products"), (portal, $"products/{bySupport.RegistrationId}"),
                 })
        {
            var response = await reader.GetAsync($"/api/accounts/{account}/{read}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var text = await response.Content.ReadAsStringAsync();
            Assert.All(staffNames.Append(onBehalfReason), n => Assert.DoesNotContain(n, text, StringComparison.Ordinal));
        }
        var lines = (await portal.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<Api.Products.PointsExplanation>()).Lines;
        Assert.Equal("CPS support", Assert.Single(lines, l => l.Event == "PointsAdjusted").By);
        var supports = Assert.Single(lines, l => l.RegistrationId == bySupport.RegistrationId);
        Assert.Equal(("CPS support", "CPS-SUP-77"), (supports.By, supports.TicketReference));
        Assert.Equal(own, Assert.Single(lines, l => l.Event == "PointsAllocated" && l.RegistrationId != bySupport.RegistrationId).By);
        var products = await member.GetAsync($"/api/accounts/{account}/products").ReadAs<List<Api.Products.ProductView>>();
        var line = Assert.Single(Assert.Single(products, p => p.Id == bySupport.RegistrationId).PointsLines);
        Assert.Equal(("CPS support", "CPS-SUP-77", (string?)null), (line.By, line.TicketReference, line.Reason));
        var travelled = (await member.GetAsync($"/api/accounts/{account}/as-of?sequence={last}").ReadAs<AccountAsOf>()).Explanation.Lines;
        Assert.Equal("CPS support", Assert.Single(travelled, l => l.Event == "PointsAdjusted").By);

        foreach (var staff in new[] { SupportAgent, Auditor, App.ClientAs(LedgerRoles.Finance) })
        {
            var theirs = await staff.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<Api.Products.PointsExplanation>();
            Assert.Equal("support-anna", Assert.Single(theirs.Lines, l => l.Event == "PointsAdjusted").By);
            var product = await staff.GetAsync($"/api/accounts/{account}/products/{bySupport.RegistrationId}").ReadAs<Api.Products.ProductView>();
            Assert.Equal(("support-anna", onBehalfReason), (Assert.Single(product.PointsLines).By, Assert.Single(product.PointsLines).Reason));
        }
        var support = (await SupportAgent.GetAsync($"/api/accounts/{account}/history?pageSize=500").ReadAs<HistoryPage>()).Items;
        Assert.Equal(all.Select(e => (e.By, e.CausedBy?.User)), support.Select(e => (e.By, e.CausedBy?.User)));
    }

    // A points line reads its `by` by the role recorded on its event: a name that also acted as support on the account (support's
    // token for a user named like the member's) is staff's only on the lines support wrote. The heuristic, which has no role to go
    // on, read every line of that name as support's.
    [Fact]
    public async Task A_points_line_names_the_role_recorded_on_its_event_not_every_line_of_a_name_that_once_acted_as_staff()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        const string name = "kadri";
        var member = App.Member(account, name);
        var bySupport = await App.Tracked(() => App.ClientAs(LedgerRoles.Support, subject: name).Register(account,
            Products.Products.BySupport(Products.Products.Complete("ROLE-S"), ticket: "CPS-SUP-88")));
        var own = await App.Tracked(() => member.Register(account, Products.Products.Complete("ROLE-M")));
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Support, subject: name)
            .PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(5))).ShouldBe(HttpStatusCode.Created));
        var last = await LastSequence();

        var explanation = await member.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<Api.Products.PointsExplanation>();
        var travelled = (await member.GetAsync($"/api/accounts/{account}/as-of?sequence={last}").ReadAs<AccountAsOf>()).Explanation;
        foreach (var lines in new[] { explanation.Lines, travelled.Lines })
        {
            Assert.Equal(("CPS support", "support"), Read(Assert.Single(lines, l => l.RegistrationId == bySupport.RegistrationId)));
            Assert.Equal((name, "member"), Read(Assert.Single(lines, l => l.RegistrationId == own.RegistrationId)));
            Assert.Equal(("CPS support", "support"), Read(Assert.Single(lines, l => l.Event == "PointsAdjusted")));
        }
        var products = await member.GetAsync($"/api/accounts/{account}/products").ReadAs<List<Api.Products.ProductView>>();
        Assert.Equal((name, "member"), Read(Assert.Single(Assert.Single(products, p => p.Id == own.RegistrationId).PointsLines)));
        Assert.Equal(("CPS support", "support"), Read(Assert.Single(Assert.Single(products, p => p.Id == bySupport.RegistrationId).PointsLines)));

        // Support reads the name as recorded on every line, with the role beside it.
        var theirs = await SupportAgent.GetAsync($"/api/accounts/{account}/points-explanation").ReadAs<Api.Products.PointsExplanation>();
        Assert.Equal((name, "support"), Read(Assert.Single(theirs.Lines, l => l.RegistrationId == bySupport.RegistrationId)));
        Assert.Equal((name, "member"), Read(Assert.Single(theirs.Lines, l => l.RegistrationId == own.RegistrationId)));
        Assert.Equal((name, "support"), Read(Assert.Single(theirs.Lines, l => l.Event == "PointsAdjusted")));

        static (string?, string?) Read(Api.Products.PointsLine line) => (line.By, line.Role);
    }

    [Fact]
    public async Task Time_travel_replays_the_account_before_and_after_a_catalogue_change_and_a_deregistration()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var first = await member.Register(account, Products.Products.Complete("TT-1"));
        var afterFirst = await LastSequence();

        await App.ChangeModelPoints(Products.Products.R5, 300);
        // Tracked until the invitation its 535 points set off is stored: a review still waiting for its batch when the
        // deregistration commits would see 300 points and invite no one.
        var second = await App.Tracked(() => member.Register(account, Products.Products.Complete("TT-2")));
        // The second registration's own last event, before the invitation.
        var afterSecond = await LastSequence(second.RegistrationId);
        // The events' timestamps are the database's commit times: what committed before this instant is older than it.
        var beforeDeregistration = await DatabaseNow();

        await App.Tracked(async () => await (await member.PostJson($"{first.Url}/deregistration", new { reason = "sold" })).ShouldBe(HttpStatusCode.OK));

        var atFirst = await AsOf(account, $"sequence={afterFirst}");
        Assert.Equal(235, atFirst.Summary.PointsTotal);
        Assert.Equal(1, atFirst.EligibleTiers!.TierTableVersion);

        var atSecond = await AsOf(account, $"sequence={afterSecond}");
        Assert.Equal(535, atSecond.Summary.PointsTotal);
        Assert.Equal([235, 300], atSecond.Explanation.Lines.Select(l => l.Points));
        Assert.Null(atSecond.Membership);

        var byTime = await AsOf(account, $"timestamp={Uri.EscapeDataString(beforeDeregistration.ToString("O"))}");
        Assert.Equal((535, 2), (byTime.Summary.PointsTotal, byTime.Summary.Products));
        Assert.Equal(535, byTime.Membership!.Invitation!.Points);

        var now = await AsOf(account, $"timestamp={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"))}");
        Assert.Equal(300, now.Summary.PointsTotal);
        Assert.Null(now.Membership!.Invitation);
        // The stored summary agrees with the replay of now.
        Assert.Equal(300, (await member.Summary(account)).PointsTotal);

        await (await Auditor.GetAsync($"/api/accounts/{account}/as-of")).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await Auditor.GetAsync($"/api/accounts/{account}/as-of?sequence=1&timestamp=2020-01-01T00:00:00Z")).ShouldBeProblem(HttpStatusCode.BadRequest);
        // Not a whole number at all is told the same: "from -9223372036854775808" read as if a negative sequence could be asked for.
        foreach (var notASequence in new[] { "0", "-1", "abc", "1.5" })
        {
            var problem = await Auditor.GetAsync($"/api/accounts/{account}/as-of?sequence={notASequence}").ReadProblem(HttpStatusCode.BadRequest);
            Assert.Equal(["The sequence is a positive number (global event sequences start at 1)."], problem.Errors["sequence"]);
        }
        // A positive number too large for a sequence is told the range it must be in (since 2026-12-07; it was told it is a positive number).
        var tooLarge = await Auditor.GetAsync($"/api/accounts/{account}/as-of?sequence=99999999999999999999").ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["Must be a whole number from 1 to 9223372036854775807."], tooLarge.Errors["sequence"]);
        await (await Auditor.GetAsync($"/api/accounts/{account}/as-of?timestamp=2020-01-01T00:00:00Z")).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_explanation_names_the_tiers_a_member_can_upgrade_to_as_eligible_tiers_and_time_travel_do()
    {
        // Found by AuditPropertyTests (seed 7qZeGzRGUOHXGKdF): the explanation said a Silver member with 1200 points could
        // upgrade to nothing, while eligible-tiers and as-of said gold.
        var account = await App.OpenAccount();
        var member = App.Member(account);
        await App.Tracked(async () =>
            await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(1200))).ShouldBe(HttpStatusCode.Created));
        await App.Tracked(async () => await (await member.PostJson($"/api/accounts/{account}/membership",
            new { tier = "silver", paymentMethod = "bank_transfer" })).ShouldBe(HttpStatusCode.Created));

        var explanation = await member.Explanation(account);
        Assert.Equal(["gold"], explanation.Membership!.UpgradableTo);
        var tiers = await member.GetAsync($"/api/accounts/{account}/eligible-tiers").ReadAs<CpsLedger.Api.Tiers.EligibleTiers>();
        Assert.Equal(tiers.Membership!.UpgradableTo, explanation.Membership.UpgradableTo);
        var asOf = await AsOf(account, $"sequence={await LastSequence()}");
        Assert.Equal(asOf.Explanation.Membership!.UpgradableTo, explanation.Membership.UpgradableTo);
    }

    [Fact]
    public async Task A_deduction_below_zero_is_kept_as_support_stated_it_and_unlocks_nothing()
    {
        // docs/programme.md's decision: the total is the sum of the events, never clipped at zero.
        await App.ListModel(points: 15);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        await member.Register(account, Products.Products.Complete("NEG-1"));
        await App.Tracked(async () =>
            await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(-50))).ShouldBe(HttpStatusCode.Created));

        var summary = await member.Summary(account);
        Assert.Equal((-35, -50), (summary.PointsTotal, summary.ManualAdjustmentPoints));
        var explanation = await member.Explanation(account);
        Assert.Equal(-35, explanation.PointsTotal);
        Assert.Equal([15, -50], explanation.Lines.Select(l => l.Points));
        var tiers = await member.GetAsync($"/api/accounts/{account}/eligible-tiers").ReadAs<CpsLedger.Api.Tiers.EligibleTiers>();
        Assert.Equal(-35, tiers.Points);
        Assert.DoesNotContain(tiers.Standard.Concat(tiers.Enterprise), t => t.Eligible);
        await (await member.PostJson($"/api/accounts/{account}/membership", new { tier = "silver", paymentMethod = "bank_transfer" }))
            .ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.True((await Verification($"?accountId={account}")).Agrees);
    }

    [Fact]
    public void Every_event_that_names_an_account_can_be_filtered_by_in_its_history()
    {
        // An event carrying an AccountId is on that account's hash chain and in its history; the types filter must know it, or
        // asking for it is a 400.
        // The events: what the projections and aggregates apply (their Apply/Create methods' event parameter). An event no
        // projection applies escapes this check (LegacyProductMigrated: MigrationTests filters by it).
        var naming = typeof(AccountHistory).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static |
                                          System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.DeclaredOnly))
            .Where(m => m.Name is "Apply" or "Create" && m.GetParameters().Length > 0)
            .Select(m => m.GetParameters()[0].ParameterType)
            .Select(t => t.IsGenericType && t.GetGenericArguments().Length == 1 ? t.GetGenericArguments()[0] : t)
            .Where(t => t.Namespace?.StartsWith("CpsLedger.Api", StringComparison.Ordinal) == true
                        && t.GetProperty("AccountId")?.PropertyType == typeof(Guid)
                        && t.GetProperty("Id") is null) // a document some Apply methods take first, not an event
            .Distinct()
            .ToList();
        Assert.NotEmpty(naming);
        Assert.Empty(naming.Except(AccountHistory.EventTypes).Select(t => t.Name));
    }

    [Fact]
    public async Task Overrides_through_a_moment_include_the_override_at_that_moment_as_the_history_through_does()
    {
        var account = await App.OpenAccount();
        await App.Tracked(async () => await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(14)))
            .ShouldBe(HttpStatusCode.Created));
        var at = Assert.Single((await Overrides($"accountId={account}")).Items).At;
        static string Moment(DateTimeOffset moment) => Uri.EscapeDataString(moment.ToString("O"));

        // The moment listed is included, in any offset, and to the microsecond: rounded as stored; to keeps it out.
        foreach (var through in new[] { at, at.ToOffset(TimeSpan.FromHours(2)), TimeRange.ToStoredPrecision(at) })
            Assert.Single((await Overrides($"accountId={account}&through={Moment(through)}")).Items);
        Assert.Equal(0, (await Overrides($"accountId={account}&through={Moment(at.AddTicks(-20))}")).Total);
        Assert.Equal(0, (await Overrides($"accountId={account}&to={Moment(at)}")).Total);
        Assert.Single((await Overrides($"accountId={account}&from={Moment(at)}&through={Moment(at)}")).Items);

        // One end or the other, never both; and a range that ends before it starts is refused, as the history refuses them.
        var both = await Auditor.GetAsync($"/api/support/overrides?to={Moment(at)}&through={Moment(at)}");
        Assert.True((await both.ShouldBeProblem(HttpStatusCode.BadRequest)).GetProperty("errors").TryGetProperty("through", out _));
        var backwards = await Auditor.GetAsync($"/api/support/overrides?from={Moment(at.AddSeconds(1))}&through={Moment(at)}");
        Assert.True((await backwards.ShouldBeProblem(HttpStatusCode.BadRequest)).GetProperty("errors").TryGetProperty("from", out _));
    }

    [Fact]
    public async Task The_last_moment_a_timestamp_can_name_is_read_as_the_end_of_time_by_through_and_time_travel_not_a_500()
    {
        // 9999-12-31T23:59:59.9999995Z and later round up, to the microsecond, past the largest moment .NET holds: the rounding
        // threw, and the history, the overrides and time travel answered 500.
        var account = await App.OpenAccount();
        await App.Tracked(async () => await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(14)))
            .ShouldBe(HttpStatusCode.Created));

        foreach (var moment in new[] { "9999-12-31T23:59:59.9999995Z", "9999-12-31T23:59:59.9999999Z" })
        {
            var through = Uri.EscapeDataString(moment);
            Assert.Equal(["business_account_opened", "points_adjusted"],
                (await History(account, $"through={through}")).Items.Select(i => i.Type));
            Assert.Single((await Overrides($"accountId={account}&through={through}")).Items);
            Assert.Equal(14, (await AsOf(account, $"timestamp={through}")).Summary.PointsTotal);
        }
    }

    [Fact]
    public async Task A_types_filter_of_only_commas_and_spaces_names_no_type_and_lists_every_event_as_an_empty_one_does()
    {
        // Until 2026-12-07 "types=," filtered by an empty set of names: an empty page, read as "nothing happened".
        var account = await App.OpenAccount();
        await App.Tracked(async () => await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(14)))
            .ShouldBe(HttpStatusCode.Created));

        foreach (var types in new[] { "", ",", "%20,%20,," })
            Assert.Equal(["business_account_opened", "points_adjusted"], (await History(account, $"types={types}")).Items.Select(i => i.Type));
    }

    private Task<AccountAsOf> AsOf(Guid account, string query) =>
        Auditor.GetAsync($"/api/accounts/{account}/as-of?{query}").ReadAs<AccountAsOf>();

    private Task<HistoryPage> History(Guid account, string query) =>
        Auditor.GetAsync($"/api/accounts/{account}/history?{query}").ReadAs<HistoryPage>();

    private Task<VerificationReport> Verification(string query = "") =>
        Auditor.GetAsync($"/api/audit/verification{query}").ReadAs<VerificationReport>();

    private Task<SupportOverridePage> Overrides(string query) =>
        Auditor.GetAsync($"/api/support/overrides?{query}").ReadAs<SupportOverridePage>();

    private async Task<DateTimeOffset> DatabaseNow()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select clock_timestamp()", connection);
        return new DateTimeOffset((DateTime)(await command.ExecuteScalarAsync())!, TimeSpan.Zero);
    }

    private async Task<long> LastSequence(Guid? stream = null)
    {
        await using var session = App.Store.QuerySession();
        return stream is { } id
            ? await session.Events.QueryAllRawEvents().Where(e => e.StreamId == id).MaxAsync(e => e.Sequence)
            : await session.Events.QueryAllRawEvents().MaxAsync(e => e.Sequence);
    }

    [Fact]
    public async Task Verification_finds_nothing_after_normal_operation_and_names_a_corrupted_projection_field()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var product = await member.Register(account, Products.Products.Complete("V-1"));
        await member.Register(account, Products.Products.WithoutDealer("V-2"));
        await App.Tracked(async () =>
            await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(-20))).ShouldBe(HttpStatusCode.Created));

        var clean = await Verification();
        Assert.True(clean.Agrees, string.Join("; ", clean.Differences));
        Assert.True(clean.DocumentsChecked >= 6);

        var registrationId = product.RegistrationId;
        await Sql($"update cpsledger_tests.mt_doc_productview set data = jsonb_set(data, '{{Points}}', '999') where id = '{registrationId}'");
        await Sql($"delete from cpsledger_tests.mt_doc_serialownership where data ->> 'RegistrationId' = '{registrationId}'");
        await Sql("update cpsledger_tests.mt_doc_serialownership set data = jsonb_set(data, '{SerialNumber}', '\"V-9\"') where id = 'EOS-R5|V-2'");

        var report = await Verification($"?accountId={account}");
        var points = Assert.Single(report.Differences, d => d.Document == "ProductView");
        Assert.Equal(new ProjectionDifference("ProductView", registrationId.ToString(), "$.Points", "999", "235"), points);
        var claims = report.Differences.Where(d => d.Document == "SerialOwnership").ToList();
        Assert.Equal(["EOS-R5|V-1", "EOS-R5|V-2"], claims.Select(c => c.Id));
        Assert.EndsWith(" V-9", claims[1].Stored);
        Assert.EndsWith(" V-2", claims[1].Replayed);

        // The whole ledger (each projection folded in one scan of its events, compared in batches) finds the same, and
        // also a document that is missing and one that no stream replays to.
        var orphan = Guid.NewGuid();
        await Sql($"delete from cpsledger_tests.mt_doc_accountadjustments where id = '{account}'");
        await Sql($"create temp table copied as select * from cpsledger_tests.mt_doc_productview where id = '{registrationId}'; " +
                  $"update copied set id = '{orphan}'; insert into cpsledger_tests.mt_doc_productview select * from copied");
        var whole = await Verification();
        Assert.Equal(report.Differences, whole.Differences.Where(d => d.Document == "SerialOwnership" || (d.Document == "ProductView" && d.Id != orphan.ToString())));
        Assert.Contains(new ProjectionDifference("AccountAdjustments", account.ToString(), "(document)", null, "present"), whole.Differences);
        Assert.Contains(new ProjectionDifference("ProductView", orphan.ToString(), "(document)", "present", null), whole.Differences);
        Assert.Equal(report.Differences.Count + 2, whole.Differences.Count);

        // A rebuild of every projection from the events leaves no difference.
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
        {
            foreach (var projection in ((Marten.StoreOptions)App.Store.Options).Projections.All)
                await daemon.RebuildProjectionAsync(projection.Name, TimeSpan.FromMinutes(1), CancellationToken.None);
        }

        var rebuilt = await Verification();
        Assert.True(rebuilt.Agrees, string.Join("; ", rebuilt.Differences));

        await (await member.GetAsync("/api/audit/verification")).ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Verification_names_each_field_of_a_support_override_changed_in_the_database_and_a_row_no_event_makes()
    {
        // QA's case: a stored override row edited in SQL (reason and description, the event saying +14 and "Goodwill") was
        // listed to auditors while verification agreed, as it compared only each row's account and action.
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var registered = await App.Member(account).Register(account, Products.Products.WithoutDealer("O-1"));
        await App.Tracked(async () => await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments",
            new { points = 14, reason = "Goodwill", ticketReference = "CPS-SUP-1234" })).ShouldBe(HttpStatusCode.Created));
        await App.Tracked(async () => await (await SupportAgent.PatchJson(registered.Url,
            CpsLedger.Tests.Support.OnBehalf.BySupport(new { dealer = "Photopoint" }))).ShouldBe(HttpStatusCode.OK));
        var overrides = (await Overrides($"accountId={account}")).Items;
        var adjustment = Assert.Single(overrides, o => o.Action == "points_adjusted");
        Assert.Equal(("+14 points", "Goodwill"), (adjustment.Description, adjustment.Reason));
        var amendment = Assert.Single(overrides, o => o.Action == "product_details_amended");
        var clean = await Verification($"?accountId={account}");
        Assert.True(clean.Agrees, string.Join("; ", clean.Differences));

        var table = $"{App.SchemaName}.mt_doc_supportoverride";
        await Sql($"update {table} set data = data || '{{\"Reason\": \"Approved by CFO\", \"Description\": \"+14000 points\"}}' where id = '{adjustment.Id}'");
        // An override that support gave on a member's call: its ticket is from the event's headers.
        await Sql($"update {table} set data = jsonb_set(data, '{{TicketReference}}', '\"CPS-SUP-1\"') where id = '{amendment.Id}'");
        var forged = Guid.NewGuid();
        await Sql($"create temp table forged as select * from {table} where id = '{adjustment.Id}'; " +
                  $"update forged set id = '{forged}', data = jsonb_set(data, '{{Id}}', '\"{forged}\"'); insert into {table} select * from forged");
        Assert.Contains((await Overrides($"accountId={account}")).Items, o => o.Reason == "Approved by CFO");

        ProjectionDifference[] expected =
        [
            new("SupportOverride", adjustment.Id.ToString(), "$.Description", "\"+14000 points\"", "\"+14 points\""),
            new("SupportOverride", adjustment.Id.ToString(), "$.Reason", "\"Approved by CFO\"", "\"Goodwill\""),
            new("SupportOverride", amendment.Id.ToString(), "$.TicketReference", "\"CPS-SUP-1\"", $"\"{CpsLedger.Tests.Support.OnBehalf.Ticket}\""),
            new("SupportOverride", forged.ToString(), "(document)", "present", null),
        ];
        var report = await Verification($"?accountId={account}");
        Assert.False(report.Agrees);
        Assert.Equal(expected.OrderBy(d => (d.Id, d.Field)), report.Differences.OrderBy(d => (d.Id, d.Field)));
        Assert.Equal(expected.OrderBy(d => (d.Id, d.Field)), (await Verification()).Differences.OrderBy(d => (d.Id, d.Field)));

        // A row deleted is named too, as a document of any other projection is.
        await Sql($"delete from {table} where id = '{adjustment.Id}'");
        var missing = new ProjectionDifference("SupportOverride", adjustment.Id.ToString(), "(document)", null, "present");
        Assert.Contains(missing, (await Verification($"?accountId={account}")).Differences);
        Assert.Contains(missing, (await Verification()).Differences);
    }

    [Fact]
    public async Task The_verify_command_refuses_an_account_that_does_not_exist_as_the_api_does_and_checks_one_that_does()
    {
        var account = await App.OpenAccount();
        var unknown = Guid.NewGuid();
        await (await Auditor.GetAsync($"/api/audit/verification?accountId={unknown}")).ShouldBe(HttpStatusCode.NotFound);

        // It once answered "Checked 1 account(s), 0 document(s): 0 difference(s)" and exit code 0: a mistyped id "verified".
        var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "verify", "--account", unknown.ToString());
        Assert.True(exit == 1, output);
        Assert.Contains($"No business account has the id {unknown}: nothing verified.", output);

        (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "verify", "--account", account.ToString());
        Assert.True(exit == 0, output);
        Assert.Contains("Checked 1 account(s)", output);
        Assert.Contains(": 0 difference(s), 0 hash chain break(s).", output);
    }

    [Fact]
    public async Task A_manual_adjustment_is_its_own_explanation_line_counts_in_the_total_and_is_listed_for_review()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        await App.Member(account).Register(account, Products.Products.Complete("A-1"));
        var url = $"/api/accounts/{account}/points-adjustments";

        await App.Tracked(async () => await (await SupportAgent.PostJson(url, Adjustment(300))).ShouldBe(HttpStatusCode.Created));

        var summary = await App.Member(account).Summary(account);
        Assert.Equal((535, 300), (summary.PointsTotal, summary.ManualAdjustmentPoints));
        var explanation = await App.Member(account).Explanation(account);
        var line = explanation.Lines.Single(l => l.Event == "PointsAdjusted");
        // The member reads the role that acted; support reads the agent's name (docs/security.md, "Who and why").
        Assert.Equal((300, "CPS support", "CPS-SUP-1234"),
            (line.Points, line.By, line.TicketReference));
        Assert.Equal(535, explanation.PointsTotal);
        Assert.Equal("support-anna", (await SupportAgent.Explanation(account)).Lines.Single(l => l.Event == "PointsAdjusted").By);

        // The adjustment crossed 500: the invitation policy saw it like any points event.
        var membership = await SupportAgent.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();
        Assert.Equal(535, membership.Invitation!.Points);

        var listed = Assert.Single((await Overrides($"accountId={account}")).Items);
        Assert.Equal(("points_adjusted", "+300 points", "support-anna"), (listed.Action, listed.Description, listed.By));
        Assert.Equal(0, (await Overrides("by=someone-else")).Total);

        await (await SupportAgent.PostJson(url, new { points = 0, reason = "x", ticketReference = "" })).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await App.Member(account).PostJson(url, Adjustment(10))).ShouldBe(HttpStatusCode.Forbidden);
        await (await Auditor.PostJson(url, Adjustment(10))).ShouldBe(HttpStatusCode.Forbidden);
        await (await SupportAgent.PostJson($"/api/accounts/{Guid.NewGuid()}/points-adjustments", Adjustment(10))).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.Member(account).GetAsync("/api/support/overrides")).ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Support_resends_the_standing_invitation_as_a_new_email_with_a_reason_on_the_record()
    {
        await App.ListModel(points: 600);
        var account = await App.OpenAccount();
        var url = $"/api/accounts/{account}/invitation/resend";
        var reason = new { reason = "Member says the first e-mail never arrived", ticketReference = "CPS-SUP-77" };

        await (await SupportAgent.PostJson(url, reason)).ShouldBeProblem(HttpStatusCode.Conflict);

        await App.Tracked(() => App.Member(account).Register(account, Products.Products.Complete("R-1")));
        Assert.Single(Directory.GetFiles(App.MailFolder, "*.eml"));

        HttpResponseMessage? resent = null;
        await App.Tracked(async () => await (resent = await SupportAgent.PostJson(url, reason)).ShouldBe(HttpStatusCode.Accepted));
        Assert.Equal($"/api/accounts/{account}/membership", resent!.Headers.Location?.OriginalString);
        var emails = Directory.GetFiles(App.MailFolder, "*.eml");
        Assert.Equal(2, emails.Length);
        Assert.Contains(emails, f => f.Contains("-resent-"));

        var listed = Assert.Single((await Overrides($"accountId={account}")).Items);
        Assert.Equal(("invitation_email_resent", "support-anna", "CPS-SUP-77"), (listed.Action, listed.By, listed.TicketReference));
        // The reason and the ticket in the event's metadata (what the history reads), as every other support command records them.
        var history = await History(account, "types=invitation_email_resent");
        Assert.Equal(("Member says the first e-mail never arrived", "CPS-SUP-77"), (history.Items[0].Reason, history.Items[0].TicketReference));

        await (await SupportAgent.PostJson(url, new { reason = "", ticketReference = "CPS-SUP-77" })).ShouldBeProblem(HttpStatusCode.BadRequest);
        // Without a ticket: a 400 naming the field, as an adjustment's, and nothing sent.
        var noTicket = await (await SupportAgent.PostJson(url, new { reason = "Member says the first e-mail never arrived" }))
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["ticketReference"], noTicket.Errors.Keys);
        Assert.Equal(2, Directory.GetFiles(App.MailFolder, "*.eml").Length);
        await (await App.Member(account).PostJson(url, reason)).ShouldBe(HttpStatusCode.Forbidden);
        await (await SupportAgent.PostJson($"/api/accounts/{Guid.NewGuid()}/invitation/resend", reason)).ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.True((await Verification($"?accountId={account}")).Agrees);
    }

    [Fact]
    public async Task Linking_and_unlinking_an_old_email_are_overrides_with_their_reason_in_the_history()
    {
        var account = await App.OpenAccount();
        var emails = $"/api/accounts/{account}/old-cps-emails";
        // Without a ticket: a 400 naming the field, as an adjustment's, and nothing linked.
        var noTicket = await (await SupportAgent.PostJson(emails, new { email = "kadri@old.example", reason = "Owner proved the old account" }))
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["ticketReference"], noTicket.Errors.Keys);
        Assert.Equal(0, (await Overrides($"accountId={account}")).Total);

        await (await SupportAgent.PostJson(emails,
                new { email = "kadri@old.example", reason = "Owner proved the old account", ticketReference = "CPS-SUP-9" }))
            .ShouldBe(HttpStatusCode.OK);
        // Unlinking takes its ticket as the link does (a query's, beside the reason): without it, a 400 naming it and the e-mail stays.
        var unlinkNoTicket = await (await SupportAgent.DeleteAsync($"{emails}/kadri@old.example?reason=Linked%20to%20the%20wrong%20account"))
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["ticketReference"], unlinkNoTicket.Errors.Keys);
        Assert.Equal(["old_cps_email_linked"], (await Overrides($"accountId={account}")).Items.Select(o => o.Action));
        await (await SupportAgent.DeleteAsync($"{emails}/kadri@old.example?reason=Linked%20to%20the%20wrong%20account&ticketReference=CPS-SUP-10"))
            .ShouldBe(HttpStatusCode.OK);

        // One row for the link (its verification, written with it, is not a second one), with its ticket.
        var overrides = (await Overrides($"accountId={account}")).Items;
        Assert.Equal(["old_cps_email_unlinked", "old_cps_email_linked"], overrides.Select(o => o.Action));
        Assert.Equal(["CPS-SUP-10", "CPS-SUP-9"], overrides.Select(o => o.TicketReference));
        var history = await History(account, "types=old_cps_email_linked,old_cps_email_verified,old_cps_email_unlinked");
        Assert.Equal(["Owner proved the old account", "Owner proved the old account", "Linked to the wrong account"], history.Items.Select(i => i.Reason));
        Assert.Equal(["CPS-SUP-9", "CPS-SUP-9", "CPS-SUP-10"], history.Items.Select(i => i.TicketReference));
        Assert.True((await Verification($"?accountId={account}")).Agrees);
    }

    [Fact]
    public async Task One_accounts_verification_checks_the_old_cps_accounts_its_migration_reads()
    {
        await App.ListModel(points: 235);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        Assert.Equal(2, (await App.Member(account).Migrate(account)).Migrated);
        var clean = await Verification($"?accountId={account}");
        Assert.True(clean.Agrees, string.Join("; ", clean.Differences));

        // The old account's view says a migrated product is waiting again, and the lens still waiting for its model has a forged
        // dealer in its stored event: the status and MIGRATE PRODUCTS would show and move what the events never said.
        var legacy = LegacyIds.AccountFor(LegacyFiles.Kadri);
        await Sql($"update cpsledger_tests.mt_doc_legacyaccountview set data = jsonb_set(data, '{{Products,0,MigratedToAccountId}}', 'null') " +
                  $"where id = '{legacy}'");
        await Sql($"update cpsledger_tests.mt_events set data = jsonb_set(data, '{{Dealer}}', '\"Forged\"') where stream_id = '{legacy}' " +
                  "and type = 'legacy_product_imported' and data ->> 'SerialNumber' = 'LENS-1'");

        var report = await Verification($"?accountId={account}");
        Assert.False(report.Agrees);
        Assert.Contains(report.Differences, d => (d.Document, d.Id, d.Field) == ("LegacyAccountView", legacy.ToString(), "$.Products[0].MigratedToAccountId"));
        var edited = Assert.Single(report.ChainBreaks);
        Assert.Equal((legacy, "edited"), (edited.ChainId, edited.Problem));
    }

    /// <summary>Two membership numbers: Kadri's old one, migrated into one account, and one a join issued to another.</summary>
    private async Task<(Guid Migrated, Guid Joined, string Issued)> AnOldNumberMigratedAndANumberIssued()
    {
        await App.ListModel(points: 235);
        await Billing.ListThousandPointModel(App.Store);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var migrated = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(migrated, LegacyFiles.Kadri);
        await App.Member(migrated).Migrate(migrated);
        var joined = await App.JoinedAccount("DE", "bank_transfer", email: "joined@example.de");
        await using var session = App.Store.QuerySession();
        var issued = Assert.Single((await session.LoadAsync<AccountMembership>(MembershipStream.For(joined)))!.MembershipNumbers);
        return (migrated, joined, issued);
    }

    [Fact]
    public async Task Verification_names_a_membership_number_claim_moved_deleted_or_added_in_the_database()
    {
        var (migrated, joined, issued) = await AnOldNumberMigratedAndANumberIssued();
        var clean = await Verification();
        Assert.True(clean.Agrees, string.Join("; ", clean.Differences));
        Assert.True((await Verification($"?accountId={migrated}")).Agrees);

        // The old number's claim moved to the joined account, the issued number's claim deleted, and a claim no event makes.
        const string table = "cpsledger_tests.mt_doc_membershipnumberclaim";
        await Sql($"update {table} set data = jsonb_set(data, '{{AccountId}}', '\"{joined}\"'), account_id = '{joined}' where id = '{LegacyFiles.KadriNumber}'");
        await Sql($"delete from {table} where id = '{issued}'");
        await Sql($"create temp table stray as select * from {table} where id = '{LegacyFiles.KadriNumber}'; " +
                  $"update stray set id = 'CPS-OLD-0815', data = jsonb_set(jsonb_set(data, '{{Id}}', '\"CPS-OLD-0815\"'), '{{AccountId}}', '\"{migrated}\"'), " +
                  $"account_id = '{migrated}'; insert into {table} select * from stray");

        var ofMigrated = await Verification($"?accountId={migrated}");
        Assert.Equal([
            new ProjectionDifference(nameof(MembershipNumberClaim), "CPS-OLD-0815", "(document)", migrated.ToString(), null),
            new ProjectionDifference(nameof(MembershipNumberClaim), LegacyFiles.KadriNumber, "(document)", joined.ToString(), migrated.ToString()),
        ], ofMigrated.Differences);
        var ofJoined = await Verification($"?accountId={joined}");
        // Issued numbers ("CPS-482-173-905") sort before the old ones ("CPS-OLD-...").
        Assert.Equal([
            new ProjectionDifference(nameof(MembershipNumberClaim), issued, "(document)", null, joined.ToString()),
            new ProjectionDifference(nameof(MembershipNumberClaim), LegacyFiles.KadriNumber, "(document)", joined.ToString(), null),
        ], ofJoined.Differences.OrderBy(d => d.Id, StringComparer.Ordinal));

        var whole = await Verification();
        Assert.Equal([
            new ProjectionDifference(nameof(MembershipNumberClaim), issued, "(document)", null, joined.ToString()),
            new ProjectionDifference(nameof(MembershipNumberClaim), "CPS-OLD-0815", "(document)", migrated.ToString(), null),
            new ProjectionDifference(nameof(MembershipNumberClaim), LegacyFiles.KadriNumber, "(document)", joined.ToString(), migrated.ToString()),
        ], whole.Differences.OrderBy(d => d.Id, StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_number_claims_backfill_writes_the_rows_an_older_ledger_lacks_and_reports_one_held_by_another_account()
    {
        var (migrated, joined, issued) = await AnOldNumberMigratedAndANumberIssued();

        // A ledger from before old numbers were claimed: the migrated old number has no row. And a row moved by hand: the events
        // give the issued number to the joined account, its row names the migrated one.
        const string table = "cpsledger_tests.mt_doc_membershipnumberclaim";
        await Sql($"delete from {table} where id = '{LegacyFiles.KadriNumber}'");
        await Sql($"update {table} set data = jsonb_set(data, '{{AccountId}}', '\"{migrated}\"'), account_id = '{migrated}' where id = '{issued}'");
        Assert.False((await Verification()).Agrees);

        var dryRun = await NumberClaimBackfill.RunAsync(App.Store, "cli-ops", dryRun: true, CancellationToken.None);
        Assert.Equal([LegacyFiles.KadriNumber], dryRun.Added);
        await using (var session = App.Store.QuerySession())
            Assert.Null(await session.LoadAsync<MembershipNumberClaim>(LegacyFiles.KadriNumber));

        var report = await NumberClaimBackfill.RunAsync(App.Store, "cli-ops", dryRun: false, CancellationToken.None);

        Assert.Equal((2, 0), (report.NumbersInEvents, report.AlreadyClaimed));
        Assert.Equal([LegacyFiles.KadriNumber], report.Added);
        Assert.Equal([new NumberClaimHeldElsewhere(issued, joined, migrated)], report.HeldElsewhere);
        var whole = await Verification();
        Assert.Equal([new ProjectionDifference(nameof(MembershipNumberClaim), issued, "(document)", migrated.ToString(), joined.ToString())],
            whole.Differences);
        Assert.Contains($"{issued}: events give it to {joined}, claimed by {migrated}", NumberClaimBackfillCommand.Describe(report, dryRun: false));

        // Run again: nothing left to write.
        var again = await NumberClaimBackfill.RunAsync(App.Store, "cli-ops", dryRun: false, CancellationToken.None);
        Assert.Equal((1, 0), (again.AlreadyClaimed, again.Added.Count));
    }

    [Fact]
    public async Task Invoices_and_card_charges_are_in_the_history_verified_and_chained_and_the_card_token_is_not_shown()
    {
        await CpsLedger.Tests.Invoicing.Billing.ListThousandPointModel(App.Store);
        var account = await CpsLedger.Tests.Invoicing.Billing.JoinedAccount(App, "EE", "card", "tok_sandbox_approve");
        await CpsLedger.Tests.Invoicing.Billing.FastForward(App, TimeSpan.FromHours(3));
        await CpsLedger.Tests.Invoicing.Billing.FastForward(App, TimeSpan.FromDays(31));

        var historyResponse = await Auditor.GetAsync($"/api/accounts/{account}/history?pageSize=500");
        var items = (await historyResponse.ReadAs<HistoryPage>()).Items;
        Assert.Contains(items, i => i.Type == "invoice_issued" && i.Stream == AccountStreamKind.Invoice);
        Assert.Contains(items, i => i.Type == "card_charge_attempted");
        var card = Assert.Single(items, i => i.Type == "payment_card_saved");
        Assert.Contains("Visa ending 4242", card.Description);
        var historyText = await historyResponse.Content.ReadAsStringAsync();
        Assert.DoesNotContain("tok_sandbox_approve", historyText);
        Assert.DoesNotContain("pm_sandbox", historyText);

        var report = await Verification($"?accountId={account}");
        Assert.True(report.Agrees, string.Join("; ", report.Differences));
        // Account, membership, payment card, invoice, product, serial claim.
        Assert.True(report.DocumentsChecked >= 6, $"{report.DocumentsChecked} documents checked");
    }

    [Fact]
    public async Task Verification_names_an_invoice_list_column_edited_in_the_database_with_the_columns_value_and_the_documents()
    {
        // Finance's list across accounts sums the columns Marten copies out of each invoice, never the JSON: a column edited in
        // SQL skewed its totals while verification, comparing the documents with their replay, agreed.
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var clean = await Verification();
        Assert.True(clean.Agrees, string.Join("; ", clean.Differences));
        Assert.True((await Verification($"?accountId={account}")).Agrees);

        await Sql($"update {App.SchemaName}.mt_doc_invoice set total = 1.00, status = 'Paid', credit_note_total = 5 where id = '{invoice.Id}'");

        ProjectionDifference[] expected =
        [
            new("Invoice", invoice.Id.ToString(), "(column) credit_note_total", "5", null),
            new("Invoice", invoice.Id.ToString(), "(column) status", "\"Paid\"", "\"Open\""),
            new("Invoice", invoice.Id.ToString(), "(column) total", "1.00", invoice.Total.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ];
        var report = await Verification($"?accountId={account}");
        Assert.False(report.Agrees);
        Assert.Equal(expected, report.Differences);
        Assert.Equal(expected, (await Verification()).Differences);

        var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "verify");
        Assert.True(exit == 1, output);
        Assert.Contains($"  Invoice {invoice.Id} (column) total: column 1.00, document {expected[2].Replayed}", output);

        // A document value the column's type cannot read (its JSON edited) is said, not a failed run.
        await Sql($"update {App.SchemaName}.mt_doc_invoice set data = jsonb_set(data, '{{Total}}', '\"abc\"') where id = '{invoice.Id}'");
        var unreadable = Assert.Single((await Verification($"?accountId={account}")).Differences, d => d.Field == "(column)");
        Assert.Equal(("Invoice", "(columns)", null), (unreadable.Document, unreadable.Id, unreadable.Replayed));
        Assert.StartsWith("not compared: ", unreadable.Stored);
        Assert.Contains(unreadable, (await Verification()).Differences);
    }

    [Fact]
    public void The_invoice_columns_verification_compares_are_those_the_invoice_list_reads()
    {
        // Marten's mapping, not a list kept here: a column the list adds is compared without a change to verification.
        var compared = DuplicatedColumns.Of(App.Store, typeof(CpsLedger.Api.Invoicing.Invoice)).Select(c => c.Name).ToHashSet();
        Assert.Subset(compared, new HashSet<string> { "status", "currency", "payment_method", "due_on", "issued_on", "total", "outstanding",
            "overpaid", "refund_due", "total_received", "refunded", CpsLedger.Api.Invoicing.InvoiceList.CreditedColumn, "account_id", "invoice_number" });
    }

    [Fact]
    public async Task Verification_names_a_duplicated_column_of_every_document_type_edited_in_the_database()
    {
        // Only the invoice's columns were compared: a product's, a claim's or a support override's account column (what the account's
        // lists and lookups find them by) edited in SQL went unseen while the document and the replay of its events agreed.
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        await App.ListModel(points: 235);
        var product = await App.Member(account).Register(account, Products.Products.Complete("DC-1"));
        await App.Tracked(async () =>
            await (await SupportAgent.PostJson($"/api/accounts/{account}/points-adjustments", Adjustment(14))).ShouldBe(HttpStatusCode.Created));
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Finance).PostJson(
            $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation", new { reason = "Wrong address" })).ShouldBe(HttpStatusCode.Created));
        await using (var session = App.Store.LightweightSession())
        {
            session.Events.Append(account, new OldCpsEmailVerified(account, "old@example.ee", OldCpsEmailVerificationMethod.Code, null, null, App.Clock.GetUtcNow()));
            await session.SaveChangesAsync();
        }

        var other = await App.OpenAccount("other@example.ee");
        Assert.True((await Verification()).Agrees, string.Join("; ", (await Verification()).Differences));
        var types = DuplicatedColumns.All(App.Store);
        // Marten's mapping, not a list kept here: every document type with a duplicated column is compared.
        Assert.Subset(types.Select(t => t.Name).ToHashSet(), new HashSet<string> { "Invoice", "ProductView", "SupportOverride", "SerialOwnership",
            "MembershipNumberClaim", "OldCpsEmailClaim", "InvoiceNumberClaim", "CreditNoteNumberClaim" });

        // A product moved to another account by its column, an override's time, an invoice's currency; every claim row moved.
        var schema = App.SchemaName;
        await Sql($"update {schema}.mt_doc_productview set account_id = '{other}' where id = '{product.RegistrationId}'");
        await Sql($"update {schema}.mt_doc_supportoverride set at = at - interval '1 day' where account_id = '{account}'");
        await Sql($"update {schema}.mt_doc_invoice set currency = 'GBP' where id = '{invoice.Id}'");
        foreach (var claims in types.Where(t => t.Name.EndsWith("Claim", StringComparison.Ordinal) || t.Name == "SerialOwnership"))
            await Sql($"update {claims.Table} set account_id = '{other}' where account_id = '{account}'");

        static IEnumerable<ProjectionDifference> Columns(VerificationReport report) =>
            report.Differences.Where(d => d.Field.StartsWith(DuplicatedColumns.FieldPrefix, StringComparison.Ordinal));
        var whole = Columns(await Verification()).ToList();
        Assert.Equal(types.Select(t => t.Name).Order(), whole.Select(d => d.Document).Distinct().Order());
        Assert.All(whole, d => Assert.NotEqual(d.Stored, d.Replayed));
        Assert.Contains(new ProjectionDifference("ProductView", product.RegistrationId.ToString(), "(column) account_id", $"\"{other}\"", $"\"{account}\""), whole);
        Assert.Contains(new ProjectionDifference("Invoice", invoice.Id.ToString(), "(column) currency", "\"GBP\"", "\"EUR\""), whole);
        Assert.Single(whole, d => d.Document == "SupportOverride" && d.Field == "(column) at");

        // An account's verification finds its rows by their account column, as its lists and streams do: a row moved to another
        // account is named at that account's.
        var own = Columns(await Verification($"?accountId={account}")).ToList();
        Assert.Equal(["Invoice", "SupportOverride"], own.Select(d => d.Document).Distinct().Order());
        var moved = Columns(await Verification($"?accountId={other}")).ToList();
        Assert.Equal(types.Select(t => t.Name).Where(n => n is not "Invoice" and not "SupportOverride").Order(), moved.Select(d => d.Document).Distinct().Order());
        Assert.Equal(whole.OrderBy(d => (d.Document, d.Id, d.Field)), own.Concat(moved).Distinct().OrderBy(d => (d.Document, d.Id, d.Field)));
    }

    [Fact]
    public async Task Verification_names_a_payment_event_whose_running_total_is_not_the_sum_of_the_amounts_before_it()
    {
        // The invoice takes its total received from the last payment event, not from a sum: an event recording a wrong total made a
        // document and a replay that agreed on it, and verification saw nothing.
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        await App.Tracked(() => App.ClientAs(LedgerRoles.Finance).PostJson("/api/payments/bank-transfers",
            App.BankPayment(invoice.InvoiceNumber, 100m, "RT-BANK-1")).ReadAs<CpsLedger.Api.Invoicing.BankPaymentRecorded>(HttpStatusCode.Created));
        Assert.True((await Verification($"?accountId={account}")).Agrees);

        long version;
        await using (var session = App.Store.LightweightSession())
        {
            var now = App.Clock.GetUtcNow();
            session.Events.Append(invoice.Id, new CpsLedger.Api.Invoicing.PaymentReceived(invoice.Id, invoice.InvoiceNumber, account, Guid.CreateVersion7(),
                PaymentMethod.BankTransfer, 50m, "EUR", DateOnly.FromDateTime(now.UtcDateTime), null, "RT-BANK-2",
                CpsLedger.Api.Invoicing.PaymentKind.Partial, 999m, invoice.Total - 150m, 0m, now));
            await session.SaveChangesAsync();
            version = (await session.Events.FetchStreamStateAsync(invoice.Id))!.Version;
        }

        ProjectionDifference[] expected = [new("Invoice", invoice.Id.ToString(), $"(event {version}) payment_received.TotalReceived", "999", "150")];
        Assert.Equal(expected, (await Verification($"?accountId={account}")).Differences);
        Assert.Equal(expected, (await Verification()).Differences);
        var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "verify");
        Assert.True(exit == 1, output);
        Assert.Contains($"  Invoice {invoice.Id} (event {version}) payment_received.TotalReceived: event 999, sum of amounts 150", output);
    }

    [Fact]
    public async Task Verification_names_an_invoice_or_credit_note_number_claim_deleted_added_or_pointed_elsewhere_in_the_database()
    {
        // Lookups by number read the claim, never the events: a claim deleted, added or pointed at another invoice or account in SQL hid
        // an invoice or showed another's, while verification compared only the claim's account column with the claim itself.
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var creditNote = (await App.Tracked(() => App.ClientAs(LedgerRoles.Finance).PostJson(
                $"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation", new { reason = "Wrong address" })
            .ReadAs<CpsLedger.Api.Invoicing.InvoiceCancellation>(HttpStatusCode.Created))).CreditNoteNumber;
        var other = await App.OpenAccount("other@example.ee");
        Assert.True((await Verification()).Agrees, string.Join("; ", (await Verification()).Differences));
        Assert.True((await Verification($"?accountId={account}")).Agrees);

        // The invoice's claim deleted, a claim of a number no event issued, and the credit note's claim pointed at another invoice and
        // account (its column too, as Marten would write it).
        var schema = App.SchemaName;
        var elsewhere = Guid.NewGuid();
        await Sql($"delete from {schema}.mt_doc_invoicenumberclaim where id = '{invoice.InvoiceNumber}'");
        await using (var session = App.Store.LightweightSession())
        {
            session.Insert(new CpsLedger.Api.Invoicing.InvoiceNumberClaim { Id = "INV-2099-000042", InvoiceId = invoice.Id, AccountId = account });
            await session.SaveChangesAsync();
        }
        await Sql($"update {schema}.mt_doc_creditnotenumberclaim set data = jsonb_set(jsonb_set(data, '{{InvoiceId}}', '\"{elsewhere}\"'), " +
                  $"'{{AccountId}}', '\"{other}\"'), account_id = '{other}' where id = '{creditNote}'");

        var issuedTo = $"{{\"InvoiceId\":\"{invoice.Id}\",\"AccountId\":\"{account}\"}}";
        ProjectionDifference[] expected =
        [
            new("InvoiceNumberClaim", invoice.InvoiceNumber, "(claim)", null, issuedTo),
            new("InvoiceNumberClaim", "INV-2099-000042", "(claim)", issuedTo, null),
            new("CreditNoteNumberClaim", creditNote, "(claim) InvoiceId", $"\"{elsewhere}\"", $"\"{invoice.Id}\""),
            new("CreditNoteNumberClaim", creditNote, "(claim) AccountId", $"\"{other}\"", $"\"{account}\""),
        ];
        Assert.Equal(expected, (await Verification($"?accountId={account}")).Differences);
        Assert.Equal(expected, (await Verification()).Differences);
        // The account it now names holds a claim that none of its events issued.
        Assert.Equal([new ProjectionDifference("CreditNoteNumberClaim", creditNote, "(claim)", $"{{\"InvoiceId\":\"{elsewhere}\",\"AccountId\":\"{other}\"}}", null)],
            (await Verification($"?accountId={other}")).Differences);

        var (exit, output) = await ServiceProcess.RunCommandAsync(App, schema, "verify");
        Assert.True(exit == 1, output);
        Assert.Contains($"  CreditNoteNumberClaim {creditNote} (claim) AccountId: claim \"{other}\", issuing event \"{account}\"", output);
    }

    [Fact]
    public async Task An_auditor_is_refused_every_command_route()
    {
        var account = await App.OpenAccount();
        var routes = App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? [])
                .Select(m => (Method: m, Pattern: e.RoutePattern.RawText!)))
            .Where(r => r.Method is "POST" or "PUT" or "PATCH" or "DELETE")
            .Where(r => r.Pattern.StartsWith("/api/", StringComparison.Ordinal)) // the ledger's commands, not the console's sign-out
            .Distinct()
            .ToList();
        Assert.True(routes.Count >= 8, $"Only {routes.Count} command routes found.");

        foreach (var (method, pattern) in routes)
        {
            var url = System.Text.RegularExpressions.Regex.Replace(pattern, "{accountId}", account.ToString());
            url = System.Text.RegularExpressions.Regex.Replace(url, "{[^}]+}", Guid.NewGuid().ToString());
            var request = new HttpRequestMessage(new HttpMethod(method), url) { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
            var response = await Auditor.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{method} {pattern} answered an auditor with {(int)response.StatusCode}.");
        }
    }

    private async Task Sql(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
