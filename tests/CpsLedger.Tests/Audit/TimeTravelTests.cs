using System.Net;
using System.Text.Json;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Api.Tiers;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;
using JasperFx.Events;
using Marten;
using Npgsql;

namespace CpsLedger.Tests.Audit;

/// <summary>Time travel cuts between commits: it never shows a state that never existed.</summary>
public sealed class TimeTravelTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor);

    /// <summary>An account with one complete product: its registration and points, committed together by one request.</summary>
    private async Task<(Guid Account, IReadOnlyList<IEvent> Commit)> AccountWithOneRegistration()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var registered = await App.Member(account).Register(account, Products.Products.Complete("CUT-1"));
        var events = await EventsOf(registered.RegistrationId);
        Assert.Equal(["product_registered", "points_allocated"], events.Select(e => e.EventTypeName));
        return (account, events);
    }

    [Fact]
    public async Task As_of_the_first_event_of_a_commit_shows_the_whole_commit_and_no_later_one()
    {
        var (account, commit) = await AccountWithOneRegistration();
        // A later commit of the account: not part of the moment asked for.
        await App.Member(account).Register(account, Products.Products.Complete("CUT-2"));

        var asOf = await AsOf(account, $"sequence={commit[0].Sequence}");

        // The product and its points were written in one transaction: no moment showed the product without its points.
        Assert.Equal((1, 235, 0), (asOf.Summary.Products, asOf.Summary.PointsTotal, asOf.Summary.ProductsAwaitingDetails));
        Assert.Equal(commit[1].Sequence, asOf.LastSequenceIncluded);
        Assert.Equal(commit[0].Sequence, asOf.AsOfSequence);
        Assert.Equal(CommitIds.Of(commit[0]), CommitIds.Of(commit[1]));
        Assert.Equal(CommitIds.Of(commit[1]), asOf.LastCommitIncluded);
        Assert.NotNull(asOf.LastCommitIncluded);
        // The history names the commit of each event, so an auditor sees which events stood or fell together.
        var history = await Auditor.GetAsync($"/api/accounts/{account}/history?types=product_registered,points_allocated").ReadAs<HistoryPage>();
        Assert.Equal([asOf.LastCommitIncluded, asOf.LastCommitIncluded], history.Items.Take(2).Select(i => i.Commit));
        Assert.NotEqual(asOf.LastCommitIncluded, history.Items[2].Commit);
        // Asked at the commit's last event, the same moment.
        var atLast = await AsOf(account, $"sequence={commit[1].Sequence}");
        Assert.Equal((1, 235, commit[1].Sequence), (atLast.Summary.Products, atLast.Summary.PointsTotal, atLast.LastSequenceIncluded));
        // Just before the commit: the account as opened.
        var before = await AsOf(account, $"sequence={commit[0].Sequence - 1}");
        Assert.Equal((0, 0), (before.Summary.Products, before.Summary.PointsTotal));
    }

    [Fact]
    public async Task A_timestamp_inside_a_commit_leaves_the_whole_commit_out()
    {
        var (account, commit) = await AccountWithOneRegistration();
        // The events of one transaction need not share a timestamp (seen in a QA database): the points a second later here.
        await Sql($"update {{0}}.mt_events set timestamp = timestamp + interval '1 second' where id = '{commit[1].Id}'");
        var first = commit[0].Timestamp;

        var inside = await AsOf(account, $"timestamp={Uri.EscapeDataString(first.ToString("O"))}");
        // Not visible until it committed, and it committed after its last event: the account as opened.
        Assert.Equal((0, 0), (inside.Summary.Products, inside.Summary.PointsTotal));
        Assert.True(inside.LastSequenceIncluded < commit[0].Sequence);

        var after = await AsOf(account, $"timestamp={Uri.EscapeDataString(first.AddSeconds(1).ToString("O"))}");
        Assert.Equal((1, 235, commit[1].Sequence), (after.Summary.Products, after.Summary.PointsTotal, after.LastSequenceIncluded));
    }

    [Fact]
    public async Task History_through_a_moment_lists_the_events_time_travel_to_that_moment_replays()
    {
        var (account, commit) = await AccountWithOneRegistration();
        await App.Member(account).Register(account, Products.Products.Complete("CUT-2")); // a later commit
        var at = commit[1].Timestamp;
        var moment = Uri.EscapeDataString(at.ToString("O"));

        // The event recorded at exactly the moment is in both: time travel replays it, and the history through the moment ends with it.
        var asOf = await AsOf(account, $"timestamp={moment}");
        Assert.Equal(commit[1].Sequence, asOf.LastSequenceIncluded);
        var through = await History(account, $"through={moment}");
        Assert.Equal(asOf.LastSequenceIncluded, through.Items[^1].Sequence);
        Assert.Equal(3, through.Total);
        // to keeps its documented meaning (before the moment, not included): a client paging by from and to reads each event once.
        var to = await History(account, $"to={moment}");
        Assert.DoesNotContain(to.Items, i => i.Sequence == commit[1].Sequence);

        // Stored timestamps are in microseconds: a moment less than half a microsecond from the event's is the event's moment to both.
        foreach (var near in new[] { at.AddTicks(-4), at.AddTicks(4) })
        {
            var m = Uri.EscapeDataString(near.ToString("O"));
            Assert.Equal(commit[1].Sequence, (await AsOf(account, $"timestamp={m}")).LastSequenceIncluded);
            Assert.Equal(commit[1].Sequence, (await History(account, $"through={m}")).Items[^1].Sequence);
        }

        // One end or the other, never both; and a range that ends before it starts is refused as with to.
        var both = await Auditor.GetAsync($"/api/accounts/{account}/history?to={moment}&through={moment}");
        Assert.True((await both.ShouldBeProblem(HttpStatusCode.BadRequest)).GetProperty("errors").TryGetProperty("through", out _));
        var backwards = await Auditor.GetAsync($"/api/accounts/{account}/history?from={Uri.EscapeDataString(at.AddSeconds(1).ToString("O"))}&through={moment}");
        Assert.True((await backwards.ShouldBeProblem(HttpStatusCode.BadRequest)).GetProperty("errors").TryGetProperty("from", out _));
    }

    private Task<HistoryPage> History(Guid account, string query) =>
        Auditor.GetAsync($"/api/accounts/{account}/history?{query}").ReadAs<HistoryPage>();

    [Fact]
    public async Task Events_stored_without_a_commit_id_are_each_a_commit_of_their_own_as_before()
    {
        var (account, commit) = await AccountWithOneRegistration();
        // As every event stored before events carried their commit.
        await Sql($"update {{0}}.mt_events set headers = headers - 'commit' where jsonb_typeof(headers) = 'object' and stream_id = '{commit[0].StreamId}'");

        var asOf = await AsOf(account, $"sequence={commit[0].Sequence}");

        // The cut falls between the two events, as it always did: the product without its points yet.
        Assert.Equal((1, 0), (asOf.Summary.Products, asOf.Summary.PointsTotal));
        Assert.Equal(commit[0].Sequence, asOf.LastSequenceIncluded);
        Assert.Null(asOf.LastCommitIncluded);
        var byTime = await AsOf(account, $"timestamp={Uri.EscapeDataString(commit[1].Timestamp.ToString("O"))}");
        Assert.Equal((1, 235, commit[1].Sequence), (byTime.Summary.Products, byTime.Summary.PointsTotal, byTime.LastSequenceIncluded));
    }

    [Fact]
    public void Interleaved_commits_are_each_in_or_out_whole()
    {
        // Two transactions at once: X takes sequences 10 and 12, Y 11 between them; 13 was stored before commit ids existed.
        Guid x = Guid.NewGuid(), y = Guid.NewGuid(), a = Guid.NewGuid(), b = Guid.NewGuid();
        var at = DateTimeOffset.Parse("2026-12-04T10:00:00Z");
        IEvent Stored(long sequence, Guid stream, long version, Guid? commit, int second)
        {
            var e = new Event<object>(new object()) { Sequence = sequence, StreamId = stream, Version = version, Timestamp = at.AddSeconds(second) };
            if (commit is { } id)
                e.SetHeader(CommitIds.Header, id.ToString());
            return e;
        }
        IReadOnlyList<IEvent> events = [Stored(10, a, 1, x, 0), Stored(11, b, 1, y, 1), Stored(12, a, 2, x, 2), Stored(13, b, 2, null, 3)];
        long[] Sequences(IReadOnlyList<IEvent> kept) => [.. kept.Select(e => e.Sequence)];

        Assert.Equal([10, 12], Sequences(CommitCut.AtSequence(events, 10, x)));
        // Y's moment: X also wrote after it, so X is left out whole.
        Assert.Equal([11], Sequences(CommitCut.AtSequence(events, 11, y)));
        Assert.Equal([10, 11, 12], Sequences(CommitCut.AtSequence(events, 12, x)));
        Assert.Equal([10, 11, 12, 13], Sequences(CommitCut.AtSequence(events, 13, null)));
        // By time: X's last event is two seconds in.
        Assert.Equal([11], Sequences(CommitCut.AtTimestamp(events, at.AddSeconds(1))));
        Assert.Equal([10, 11, 12], Sequences(CommitCut.AtTimestamp(events, at.AddSeconds(2))));
    }

    /// <summary>
    /// A member with several products (complete, waiting for details, deregistered), support's adjustment and three invoices (two
    /// cancelled and replaced, the last partly paid): what a moment after all of it replays.
    /// </summary>
    private async Task<(Guid Account, HttpClient Member)> AccountWithProductsAndInvoices()
    {
        await Billing.ListThousandPointModel(App.Store);
        await App.ListModel(points: 235);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        var member = App.Member(account);
        await AddProducts(account, member, "TT-A");
        await App.Tracked(() => App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
            new { points = 25, reason = "Registration lost in the portal outage", ticketReference = "CPS-SUP-9" }));
        await App.FastForward(TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1));
        var finance = App.ClientAs(LedgerRoles.Finance);
        for (var i = 0; i < 2; i++)
        {
            var open = Assert.Single(await member.Invoices(account), x => x.Status != InvoiceStatus.Cancelled);
            await App.Tracked(() => finance.PostJson($"/api/accounts/{account}/invoices/{open.InvoiceNumber}/cancellation", new { reason = "Issued in error" })
                .ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
            await App.Tracked(() => finance.PostJson($"/api/accounts/{account}/invoices/{open.InvoiceNumber}/replacement", new { reason = "Reissued" })
                .ReadAs<InvoiceReplacement>(HttpStatusCode.Created));
        }

        var last = Assert.Single(await member.Invoices(account), x => x.Status != InvoiceStatus.Cancelled);
        await App.Tracked(() => finance.PostJson("/api/payments/bank-transfers", App.BankPayment(last.InvoiceNumber, 48m, "PART-TT")));
        Assert.Equal(3, (await member.Invoices(account)).Count);
        return (account, member);
    }

    /// <summary>Three products: two complete (one then deregistered), one waiting for its dealer.</summary>
    private async Task AddProducts(Guid account, HttpClient member, string serials)
    {
        await App.Tracked(async () =>
        {
            await member.Register(account, Products.Products.Complete($"{serials}-1"));
            var sold = await member.Register(account, Products.Products.Complete($"{serials}-2"));
            await member.Register(account, Products.Products.WithoutDealer($"{serials}-3"));
            await (await member.PostJson($"{sold.Url}/deregistration", new { reason = "sold" })).ShouldBe(HttpStatusCode.OK);
        });
    }

    [Fact]
    public async Task As_of_a_moment_before_a_catalogue_change_the_explanation_says_what_the_catalogue_gave_then()
    {
        // What the catalogue gives a line's model, and a waiting product's expected points, are read then as then: an auditor
        // replaying the moment a member called reads what the member read (until 2026-12-07 today's catalogue, seen failing by the
        // audit property walk).
        var (account, _) = await AccountWithOneRegistration();
        await App.Member(account).Register(account, Products.Products.WithoutDealer("WAIT-1"));
        long before;
        await using (var session = App.Store.QuerySession())
            before = await session.Events.QueryAllRawEvents().MaxAsync(e => e.Sequence);
        var then = await Auditor.Explanation(account);
        await App.ChangeModelPoints(Products.Products.R5, 300);

        var asOf = await AsOf(account, $"sequence={before}");

        SameJson(then, asOf.Explanation, "explanation before the change");
        Assert.Null(Assert.Single(asOf.Explanation.Lines).CatalogueNowGives);
        Assert.Equal(235, Assert.Single(asOf.Explanation.AwaitingDetails).ExpectedPoints);
        var now = await Auditor.Explanation(account);
        Assert.Equal((300, 300), (Assert.Single(now.Lines).CatalogueNowGives, Assert.Single(now.AwaitingDetails).ExpectedPoints));
    }

    [Fact]
    public async Task As_of_a_moment_before_a_models_withdrawal_a_waiting_products_expected_points_are_not_a_withdrawn_models()
    {
        // As a points line's modelWithdrawn: replayed with the catalogue as it stood then, so the moment reads as it was read.
        var (account, _) = await AccountWithOneRegistration();
        await App.Member(account).Register(account, Products.Products.WithoutDealer("WAIT-1"));
        var before = await LastSequence();
        await App.WithdrawModel(Products.Products.R5);

        var then = await AsOf(account, $"sequence={before}");
        Assert.Equal((235, false), (Assert.Single(then.Explanation.AwaitingDetails).ExpectedPoints,
            Assert.Single(then.Explanation.AwaitingDetails).ExpectedFromWithdrawnModel));
        var waiting = then.Products.Single(p => p.SerialNumber == "WAIT-1");
        Assert.Equal((235, false), (waiting.ExpectedPoints, waiting.ExpectedFromWithdrawnModel));
        Assert.Null(then.Products.Single(p => p.SerialNumber == "CUT-1").ExpectedFromWithdrawnModel);

        var now = await AsOf(account, $"sequence={await LastSequence()}");
        Assert.Equal((235, true), (Assert.Single(now.Explanation.AwaitingDetails).ExpectedPoints,
            Assert.Single(now.Explanation.AwaitingDetails).ExpectedFromWithdrawnModel));
        waiting = now.Products.Single(p => p.SerialNumber == "WAIT-1");
        Assert.Equal((235, true), (waiting.ExpectedPoints, waiting.ExpectedFromWithdrawnModel));
        // As of now, as read live.
        SameJson(await Auditor.Explanation(account), now.Explanation, "the explanation now");
    }

    [Fact]
    public async Task As_of_now_an_account_with_several_products_and_invoices_is_what_its_projections_say()
    {
        var (account, member) = await AccountWithProductsAndInvoices();
        // The catalogue changed since: each R5 line says what it gives now, time travel's as the live explanation's.
        await App.ChangeModelPoints(Products.Products.R5, 300);
        var summary = await Auditor.Summary(account);
        // The joining product and two of the three registered since (the third deregistered); three invoices.
        Assert.Equal((3, 1, 3), (summary.Products, summary.ProductsAwaitingDetails, (await member.Invoices(account)).Count));
        var explanation = await Auditor.Explanation(account);
        var eligible = await Auditor.GetAsync($"/api/accounts/{account}/eligible-tiers").ReadAs<EligibleTiers>();
        var membership = await Auditor.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();
        var invoices = await Auditor.Invoices(account);
        var products = await ProductList(Auditor, account);
        long lastSequence;
        await using (var session = App.Store.QuerySession())
            lastSequence = await session.Events.QueryAllRawEvents().MaxAsync(e => e.Sequence);

        // The service's clock, moved past the invoice's issue, is the day the live reads decide the membership's standing on.
        var byTime = await AsOf(account, $"timestamp={Uri.EscapeDataString(App.Clock.GetUtcNow().ToString("O"))}");
        var bySequence = await AsOf(account, $"sequence={lastSequence}");

        foreach (var (asOf, how) in new[] { (byTime, "by timestamp"), (bySequence, "by sequence") })
        {
            var owed = how == "by sequence"
                // A sequence's day is its event's (the database's), not the moved clock's: what is owed is the same, due later.
                ? asOf.Summary with { MembershipStatus = summary.MembershipStatus }
                : asOf.Summary;
            SameJson(summary, owed, $"summary {how}");
            SameJson(explanation, asOf.Explanation, $"explanation {how}");
            SameJson(eligible, asOf.EligibleTiers!, $"eligible tiers {how}");
            SameJson(membership, asOf.Membership!, $"membership {how}");
            // Each invoice as the account's invoice list reads it, item for item: two cancelled and replaced, the last partly paid.
            SameJson(invoices, asOf.Invoices, $"invoices {how}");
            // Each product as the account's product list reads it with the deregistered ones, item for item: the joining product,
            // two complete (one sold), one waiting for its dealer.
            SameJson(products, asOf.Products, $"products {how}");
        }
        Assert.Equal(4, byTime.Products.Count);
        Assert.Equal((200.00m, "EUR"), (byTime.Summary.AmountOwed, byTime.Summary.OwedCurrency));

        // A moment still to come has no events after now: the state now, not a forecast (until 2026-12-07 the term read "ended").
        SameJson(summary, (await AsOf(account, "timestamp=2999-01-01T00:00:00Z")).Summary, "summary in 2999");
    }

    [Fact]
    public async Task As_of_a_moment_between_a_payment_and_its_refund_each_invoice_says_what_it_said_then()
    {
        // What an auditor asks: what did the invoice say then: its status, what was received, refunded, credited, outstanding.
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        await App.FastForward(Billing.IssueDelay);
        var issued = await Auditor.SingleInvoice(account);
        var finance = App.ClientAs(LedgerRoles.Finance);
        var afterIssue = await LastSequence();
        await App.Tracked(() => finance.PostJson("/api/payments/bank-transfers", App.BankPayment(issued.InvoiceNumber, issued.Total + 50m, "TT-IN-1")));
        var paid = await Auditor.SingleInvoice(account);
        var afterPayment = await LastSequence();
        await App.Tracked(() => finance.PostJson($"/api/accounts/{account}/invoices/{issued.InvoiceNumber}/refunds",
            new { amount = 20m, currency = "EUR", paidOn = App.ValueDate(), reference = "TT-OUT-1" }).ReadAs<RefundRecorded>(HttpStatusCode.Created));
        await App.Tracked(() => finance.PostJson($"/api/accounts/{account}/invoices/{issued.InvoiceNumber}/cancellation",
            new { reason = "Issued in error" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
        var now = await Auditor.Invoices(account);

        var beforePayment = Assert.Single((await AsOf(account, $"sequence={afterIssue}")).Invoices);
        var betweenPaymentAndRefund = Assert.Single((await AsOf(account, $"sequence={afterPayment}")).Invoices);
        var asOfNow = (await AsOf(account, $"sequence={await LastSequence()}")).Invoices;

        Assert.Equal((InvoiceStatus.Open, 0m, 0m, issued.Total, (CreditNoteIssued?)null),
            (beforePayment.Status, beforePayment.TotalReceived, beforePayment.Refunded, beforePayment.Outstanding, beforePayment.CreditNote));
        Assert.Equal((InvoiceStatus.Paid, issued.Total + 50m, 0m, 50m, 0m, (CreditNoteIssued?)null),
            (betweenPaymentAndRefund.Status, betweenPaymentAndRefund.TotalReceived, betweenPaymentAndRefund.Refunded, betweenPaymentAndRefund.Overpaid,
                betweenPaymentAndRefund.Outstanding, betweenPaymentAndRefund.CreditNote));
        // What the invoice read right after the payment, whole.
        SameJson(paid, betweenPaymentAndRefund, "the invoice between the payment and the refund");
        // Now: refunded in part, then cancelled by a credit note; as the invoice list reads it.
        var cancelled = Assert.Single(asOfNow);
        Assert.Equal((InvoiceStatus.Cancelled, 20m, issued.Total, issued.Total + 30m),
            (cancelled.Status, cancelled.Refunded, cancelled.CreditNote?.Total, cancelled.RefundDue));
        SameJson(now, asOfNow, "the invoices now");
    }

    [Fact]
    public async Task Time_travel_reads_the_same_few_times_however_many_products_and_invoices_the_account_has()
    {
        var (account, member) = await AccountWithProductsAndInvoices();
        var at = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"));
        var few = await RoundTripsOf($"/api/accounts/{account}/as-of?timestamp={at}");
        var sequence = (await AsOf(account, $"timestamp={at}")).LastSequenceIncluded;
        var fewBySequence = await RoundTripsOf($"/api/accounts/{account}/as-of?sequence={sequence}");

        // Six more products and an invoice more (a third cancelled and replaced).
        await AddProducts(account, member, "TT-B");
        await AddProducts(account, member, "TT-C");
        var finance = App.ClientAs(LedgerRoles.Finance);
        var open = Assert.Single(await member.Invoices(account), x => x.Status != InvoiceStatus.Cancelled);
        await App.Tracked(() => finance.PostJson($"/api/accounts/{account}/invoices/{open.InvoiceNumber}/cancellation", new { reason = "Issued in error" })
            .ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
        await App.Tracked(() => finance.PostJson($"/api/accounts/{account}/invoices/{open.InvoiceNumber}/replacement", new { reason = "Reissued" })
            .ReadAs<InvoiceReplacement>(HttpStatusCode.Created));
        at = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"));
        var many = await RoundTripsOf($"/api/accounts/{account}/as-of?timestamp={at}");
        var manyBySequence = await RoundTripsOf($"/api/accounts/{account}/as-of?sequence={(await AsOf(account, $"timestamp={at}")).LastSequenceIncluded}");

        // The account's streams are found, then all their events read once and each stream replayed in memory: not a read per
        // product or invoice. (Before, each of them was replayed by a query of its own.)
        Assert.Equal(few, many);
        Assert.Equal(fewBySequence, manyBySequence);
        Assert.True(many.Count <= 3, $"{many.Count} round trips:\n{string.Join("\n", many)}");
        // Every product is in the answer, described from what the replay read (the catalogue and old e-mails then): no read more.
        Assert.Equal(10, (await AsOf(account, $"timestamp={at}")).Products.Count);
        // The member reads staff by their roles, decided from the lines replayed: no read more either.
        Assert.Equal(many, await SentStatements.OfGet(member, $"/api/accounts/{account}/as-of?timestamp={at}"));
    }

    [Fact]
    public async Task As_of_a_moment_each_product_is_as_the_product_list_read_it_then_whatever_changed_since()
    {
        // What an auditor asks: what did the account's product list look like then.
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var support = App.ClientAs(LedgerRoles.Support, subject: "support-rita");
        var registered = await member.Register(account, Products.Products.WithoutDealer("PL-1"));
        var (pending, pendingList) = (await LastSequence(), await ProductList(Auditor, account));
        await App.Tracked(() => member.PatchJson(registered.Url, new { dealer = "Photopoint" }));
        var (completed, completedList) = (await LastSequence(), await ProductList(Auditor, account));
        var membersList = await ProductList(member, account);
        // All later than both cuts: support corrects the serial, the catalogue changes, support deregisters it in error.
        await App.Tracked(() => support.PatchJson(registered.Url, Support.OnBehalf.BySupport(new { serialNumber = "PL-1-X" })));
        await App.ChangeModelPoints(Products.Products.R5, 300);
        await App.Tracked(() => support.PostJson($"{registered.Url}/deregistration", Support.OnBehalf.BySupport(new { reason = "registered_in_error" })));
        var now = Assert.Single(await ProductList(Auditor, account));
        Assert.Equal((true, "PL-1-X", 0), (now.Deregistered, now.SerialNumber, now.Points));

        // Between the registration and its completion: waiting for its dealer, no points, expecting the catalogue's value then.
        var waiting = await AsOf(account, $"sequence={pending}");
        var then = Assert.Single(waiting.Products);
        Assert.Equal([MandatoryDetail.Dealer], then.MissingDetails);
        Assert.Equal((false, 0, 235, 0, false), (then.GreenTick, then.Points, then.ExpectedPoints, then.PointsLines.Count, then.Deregistered));
        SameJson(pendingList, waiting.Products, "products before the completion");
        // After it: complete, as registered, its one line; neither support's correction nor its deregistration yet.
        var complete = await AsOf(account, $"sequence={completed}");
        then = Assert.Single(complete.Products);
        Assert.Equal(("PL-1", true, 235, (int?)null, 1, false),
            (then.SerialNumber, then.GreenTick, then.Points, then.ExpectedPoints, then.PointsLines.Count, then.Deregistered));
        SameJson(completedList, complete.Products, "products after the completion");
        // The member reads them as its product list read them then.
        SameJson(membersList, (await AsOf(account, $"sequence={completed}", member)).Products, "the member's products after the completion");
        // Now: as the list reads it now, to the staff member's name the auditor reads and the role the member reads.
        SameJson(await ProductList(Auditor, account), (await AsOf(account, $"sequence={await LastSequence()}")).Products, "products now");
        var membersNow = Assert.Single((await AsOf(account, $"sequence={await LastSequence()}", member)).Products);
        SameJson(await ProductList(member, account), new[] { membersNow }, "the member's products now");
        Assert.Equal(("CPS support", "deregistered: registered in error"), (membersNow.PointsLines[^1].By, membersNow.PointsLines[^1].Reason));
    }

    /// <summary>The account's product list, the deregistered products too: what time travel's products are as of now.</summary>
    private static Task<List<ProductView>> ProductList(HttpClient client, Guid account) =>
        client.GetAsync($"/api/accounts/{account}/products?includeDeregistered=true").ReadAs<List<ProductView>>();

    private Task<IReadOnlyList<string>> RoundTripsOf(string url) => SentStatements.OfGet(App.ClientAs(LedgerRoles.Auditor), url);

    private static void SameJson(object expected, object actual, string what)
    {
        var e = JsonSerializer.Serialize(expected, HttpAssertions.ApiJson);
        var a = JsonSerializer.Serialize(actual, HttpAssertions.ApiJson);
        Assert.True(e == a, $"{what} differs:\n  live:  {e}\n  as of: {a}");
    }

    private async Task<long> LastSequence()
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().MaxAsync(e => e.Sequence);
    }

    private Task<AccountAsOf> AsOf(Guid account, string query, HttpClient? reader = null) =>
        (reader ?? Auditor).GetAsync($"/api/accounts/{account}/as-of?{query}").ReadAs<AccountAsOf>();

    private async Task<IReadOnlyList<IEvent>> EventsOf(Guid stream)
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().Where(e => e.StreamId == stream).OrderBy(e => e.Sequence).ToListAsync();
    }

    private async Task Sql(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(string.Format(sql, App.SchemaName), connection);
        await command.ExecuteNonQueryAsync();
    }
}
