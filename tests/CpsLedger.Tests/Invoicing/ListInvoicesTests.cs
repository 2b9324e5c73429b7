using System.Net;
using System.Text.Json;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Marten;

namespace CpsLedger.Tests.Invoicing;

/// <summary>Finance's list of invoices across accounts: what each status filter means, sums kept per currency, paging, who may read it.</summary>
public sealed class ListInvoicesTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor);

    private Task<InvoiceListPage> List(string query) => Finance.GetAsync($"/api/invoices{query}").ReadAs<InvoiceListPage>();

    /// <summary>Two pages equal item by item and figure by figure (a record compares its lists by reference).</summary>
    private sealed class PageComparer : IEqualityComparer<InvoiceListPage>
    {
        public static readonly PageComparer Instance = new();

        public bool Equals(InvoiceListPage? x, InvoiceListPage? y) =>
            x is not null && y is not null && x.Items.SequenceEqual(y.Items) && (x.Totals ?? []).SequenceEqual(y.Totals ?? [])
            && (x.Page, x.PageSize, x.Total, x.HasMore, x.Totals is null) == (y.Page, y.PageSize, y.Total, y.HasMore, y.Totals is null);

        public int GetHashCode(InvoiceListPage obj) => obj.Page;
    }

    [Fact]
    public async Task Open_lists_what_is_still_owed_across_accounts_by_due_date_with_sums_per_currency()
    {
        var (alpha, beta) = await App.InvoicesOfTwoAccounts();

        var open = await List("?status=open");

        Assert.Equal(["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"], open.Items.Select(i => i.InvoiceNumber));
        Assert.Equal(3, open.Total);
        var overdue = open.Items[0];
        Assert.Equal((alpha, "Alpha Studio", InvoiceStatus.Overdue, 248m, 248m, "EUR", PaymentMethod.BankTransfer, 10),
            (overdue.AccountId, overdue.CompanyName, overdue.Status, overdue.Total, overdue.Outstanding, overdue.Currency, overdue.PaymentMethod,
                overdue.DaysOverdue));
        Assert.StartsWith("RF", overdue.CreditorReference);
        var card = open.Items[1];
        Assert.Equal((InvoiceStatus.Open, "GBP", PaymentMethod.Card, (string?)null, (int?)null),
            (card.Status, card.Currency, card.PaymentMethod, card.CreditorReference, card.DaysOverdue));
        var partPaid = open.Items[2];
        Assert.Equal((beta, "Beta Foto", 124m, 100m), (partPaid.AccountId, partPaid.CompanyName, partPaid.Total, partPaid.Outstanding));

        // Never added across currencies.
        Assert.Equal([new InvoiceListTotal("EUR", 2, 372m, 348m, 0m, 24m, 0m, 0m), new InvoiceListTotal("GBP", 1, 124m, 124m, 0m, 0m, 0m, 0m)], open.Totals);

        // What the list calls open is what each account's summary counts as owed.
        foreach (var account in new[] { alpha, beta })
        {
            var owed = (await App.Member(account).GetAsync($"/api/accounts/{account}/summary").ReadAs<Api.Products.AccountSummary>()).Owed;
            var listed = open.Items.Where(i => i.AccountId == account).GroupBy(i => i.Currency).Select(g => new MoneyOwed(g.Sum(i => i.Outstanding), g.Key));
            Assert.Equal(owed.OrderBy(o => o.Currency), listed.OrderBy(o => o.Currency));
        }
    }

    [Fact]
    public async Task Each_status_filter_lists_its_own_invoices()
    {
        await App.InvoicesOfTwoAccounts();

        var overdue = await List("?status=overdue");
        Assert.Equal(("INV-2026-000001", 10), (Assert.Single(overdue.Items).InvoiceNumber, overdue.Items[0].DaysOverdue));

        var paid = await List("?status=paid");
        Assert.Equal(("INV-2026-000004", 0m, 30m), (Assert.Single(paid.Items).InvoiceNumber, paid.Items[0].Outstanding, paid.Items[0].OwedBack));

        var cancelled = await List("?status=cancelled");
        Assert.Equal(["INV-2026-000005", "INV-2026-000006"], cancelled.Items.OrderBy(i => i.InvoiceNumber).Select(i => i.InvoiceNumber));
        Assert.All(cancelled.Items, i => Assert.Equal((InvoiceStatus.Cancelled, 0m), (i.Status, i.Outstanding)));

        // What CPS owes back: the overpayment and what was received on a cancelled invoice, not the one cancelled with nothing paid.
        var owedBack = await List("?status=refund_owed");
        Assert.Equal([("INV-2026-000004", 30m), ("INV-2026-000005", 24m)], owedBack.Items.Select(i => (i.InvoiceNumber, i.OwedBack)));
        Assert.Equal([new InvoiceListTotal("EUR", 2, 124m + 248m, 0m, 54m, 278m + 24m, 0m, 124m)], owedBack.Totals);

        // Every invoice without a status; the other filters narrow any status.
        Assert.Equal(6, (await List("")).Total);
        Assert.Equal(["INV-2026-000002"], (await List("?status=open&currency=GBP")).Items.Select(i => i.InvoiceNumber));
        Assert.Equal(["INV-2026-000002"], (await List("?method=card")).Items.Select(i => i.InvoiceNumber));
        var today = DateOnly.FromDateTime(App.Clock.GetUtcNow().UtcDateTime);
        Assert.Equal(["INV-2026-000001"], (await List($"?status=open&dueBefore={today:yyyy-MM-dd}")).Items.Select(i => i.InvoiceNumber));
        Assert.Equal(["INV-2026-000002", "INV-2026-000003"],
            (await List($"?issuedFrom={today.AddDays(-5):yyyy-MM-dd}&issuedTo={today:yyyy-MM-dd}")).Items.Select(i => i.InvoiceNumber));
    }

    [Fact]
    public async Task Each_line_reconciles_what_was_invoiced_with_what_was_received_credited_and_refunded()
    {
        await App.InvoicesOfTwoAccounts();
        var overpaid = Assert.Single((await List("?status=paid")).Items);
        await App.Tracked(() => Finance.PostJson($"/api/accounts/{overpaid.AccountId}/invoices/{overpaid.InvoiceNumber}/refunds",
            new { amount = 10m, currency = "EUR", paidOn = App.ValueDate(), reference = "OUT-10" }).ReadAs<RefundRecorded>(HttpStatusCode.Created));

        var lines = (await Auditor.GetAsync("/api/invoices").ReadAs<InvoiceListPage>()).Items;

        // From the list alone, as an auditor ticks it off: what was invoiced, less what a credit note took back, is what was received
        // less what was refunded, plus what is still to be paid, less what CPS still owes back.
        Assert.All(lines, l => Assert.Equal(l.Total - l.Credited, l.Received - l.Refunded + l.Outstanding - l.OwedBack));
        // Each figure the invoice's own.
        foreach (var line in lines)
        {
            var invoice = await Auditor.GetAsync($"/api/accounts/{line.AccountId}/invoices/{line.InvoiceNumber}").ReadAs<Invoice>();
            Assert.Equal((invoice.TotalReceived, invoice.Refunded, invoice.CreditNote?.Total ?? 0m), (line.Received, line.Refunded, line.Credited));
        }
        var refunded = Assert.Single(lines, l => l.InvoiceNumber == overpaid.InvoiceNumber);
        Assert.Equal((overpaid.Total + 30m, 10m, 0m, 20m), (refunded.Received, refunded.Refunded, refunded.Credited, refunded.OwedBack));
        var creditedAfterPayment = Assert.Single(lines, l => l.InvoiceNumber == "INV-2026-000005");
        Assert.Equal((creditedAfterPayment.Total, 24m, 24m), (creditedAfterPayment.Credited, creditedAfterPayment.Received, creditedAfterPayment.OwedBack));
    }

    [Fact]
    public async Task The_sums_per_currency_add_up_the_lines_and_reconcile_as_each_line_does()
    {
        var (alpha, _) = await App.InvoicesOfTwoAccounts();
        var overpaid = Assert.Single((await List("?status=paid")).Items);
        await App.Tracked(() => Finance.PostJson($"/api/accounts/{overpaid.AccountId}/invoices/{overpaid.InvoiceNumber}/refunds",
            new { amount = 10m, currency = "EUR", paidOn = App.ValueDate(), reference = "OUT-10" }).ReadAs<RefundRecorded>(HttpStatusCode.Created));

        foreach (var query in new[] { "", "?status=open", "?status=overdue", "?status=paid", "?status=cancelled", "?status=refund_owed", "?currency=EUR" })
        {
            var list = await Auditor.GetAsync($"/api/invoices{query}{(query.Length == 0 ? "?" : "&")}pageSize={InvoiceList.MaxPageSize}")
                .ReadAs<InvoiceListPage>();
            // Each sum is its lines' (all on one page here), per currency; and the sums reconcile as each line does.
            var ofLines = list.Items.GroupBy(l => l.Currency).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => new InvoiceListTotal(g.Key,
                g.Count(), g.Sum(l => l.Total), g.Sum(l => l.Outstanding), g.Sum(l => l.OwedBack), g.Sum(l => l.Received), g.Sum(l => l.Refunded),
                g.Sum(l => l.Credited)));
            Assert.Equal(ofLines, list.Totals);
            Assert.All(list.Totals!, t => Assert.True(t.Total - t.Credited == t.Received - t.Refunded + t.Outstanding - t.OwedBack,
                $"{query}: {t}"));
        }
        var all = await List("");
        Assert.Equal(new InvoiceListTotal("EUR", 5, 248m + 124m + 248m + 124m + 248m, 248m + 100m, 20m + 24m, 24m + 278m + 24m, 10m, 124m + 248m),
            all.Totals!.Single(t => t.Currency == "EUR"));

        // An account's own invoice pages sum the same figures, from its invoices.
        var page = await Auditor.GetAsync($"/api/accounts/{alpha}/invoices?page=1").ReadAs<AccountInvoicePage>();
        Assert.All(page.Totals, t => Assert.True(t.Total - t.Credited == t.Received - t.Refunded + t.Outstanding - t.OwedBack, $"{alpha}: {t}"));
        Assert.Equal(page.Items.Sum(i => i.TotalReceived), page.Totals.Sum(t => t.Received));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(InvoiceListStatus.Open)]
    [InlineData(InvoiceListStatus.Overdue)]
    [InlineData(InvoiceListStatus.Paid)]
    [InlineData(InvoiceListStatus.Cancelled)]
    public async Task The_sums_are_read_from_the_status_index_alone_never_from_the_documents(InvoiceListStatus? status)
    {
        // P6 (BENCHMARKS.md): a status's sums, and every invoice's, can be an index-only scan of the status index, which carries every
        // column they add up; a column it did not carry would leave only scans that read each invoice's row, JSON and all.
        await App.InvoicesOfTwoAccounts();
        await using var session = App.Store.QuerySession();
        var query = InvoiceList.TotalsCommand(session, new InvoiceListFilter(status, null, null, null, null, null));

        var plan = await QueryPlans.FromAnIndexAloneAsync(App.Store, query, $"{App.SchemaName}.mt_doc_invoice");
        var said = string.Join("\n", plan);
        // Open's and overdue's may come from the still-owed index, which carries the same columns.
        Assert.True(plan.Any(line => line.Contains($"Index Only Scan using {InvoiceList.StatusIndex}") ||
                                     (status is InvoiceListStatus.Open or InvoiceListStatus.Overdue &&
                                      line.Contains($"Index Only Scan using {InvoiceList.StillOwedIndex}"))), said);
        Assert.False(plan.Any(line => line.Contains("Heap") || line.Contains("Seq Scan") || line.Contains("Index Scan using")), said);
    }

    [Fact]
    public async Task An_invoice_cancelled_by_a_credit_note_names_it_and_its_pdf_answers_finance()
    {
        var (account, _, _, joining) = await App.BankMemberWithItsJoiningInvoice();
        var cancelled = await App.Tracked(() => Finance.PostJson($"/api/accounts/{account}/invoices/{joining.InvoiceNumber}/cancellation",
            new { reason = "Issued to the wrong company" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created));

        var line = Assert.Single((await List("?status=cancelled")).Items);
        Assert.Equal((joining.InvoiceNumber, account, InvoiceStatus.Cancelled, cancelled.CreditNoteNumber),
            (line.InvoiceNumber, line.AccountId, line.Status, line.CreditNoteNumber));
        Assert.StartsWith("CN-", line.CreditNoteNumber);

        // The PDF route the line's description names answers finance with that credit note, as the member received it.
        var pdf = await Finance.GetAsync($"/api/accounts/{line.AccountId}/credit-notes/{line.CreditNoteNumber}/pdf");
        await pdf.ShouldBe(HttpStatusCode.OK);
        Assert.Equal("application/pdf", pdf.Content.Headers.ContentType?.MediaType);
        var text = await PdfPictures.Text(await pdf.Content.ReadAsByteArrayAsync());
        Assert.Contains(line.CreditNoteNumber!, text);
        Assert.Contains(joining.InvoiceNumber, text);
    }

    [Fact]
    public async Task Pages_split_the_list_and_every_page_carries_the_sums_of_all()
    {
        await App.InvoicesOfTwoAccounts();

        var first = await List("?status=open&pageSize=2");
        var second = await List("?status=open&pageSize=2&page=2");
        var past = await List("?status=open&pageSize=2&page=3");

        Assert.Equal(["INV-2026-000001", "INV-2026-000002"], first.Items.Select(i => i.InvoiceNumber));
        Assert.Equal(["INV-2026-000003"], second.Items.Select(i => i.InvoiceNumber));
        Assert.Empty(past.Items);
        Assert.All(new[] { first, second, past }, p => Assert.Equal((3L, 2), (p.Total, p.PageSize)));
        Assert.Equal(first.Totals, second.Totals);
        Assert.Equal(first.Totals, past.Totals);
    }

    [Theory]
    [InlineData("/api/invoices")]
    [InlineData("/api/invoices?sums=omit")]
    [InlineData("/api/invoices/sums")]
    public async Task Finance_and_auditors_read_the_list_and_its_sums_and_no_one_else(string url)
    {
        var account = await App.OpenAccount("alpha@example.ee");

        await (await App.ClientAs(LedgerRoles.Finance).GetAsync(url)).ShouldBe(HttpStatusCode.OK);
        await (await App.ClientAs(LedgerRoles.Auditor).GetAsync(url)).ShouldBe(HttpStatusCode.OK);
        await (await App.ClientAs(LedgerRoles.Support).GetAsync(url)).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await App.ClientAs(LedgerRoles.Portal).GetAsync(url)).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await App.ClientAs(LedgerRoles.Member, account).GetAsync(url)).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await App.Anonymous().GetAsync(url)).ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Without_its_sums_a_page_says_whether_another_follows_and_lists_what_the_page_with_them_does()
    {
        await App.InvoicesOfTwoAccounts();

        // Three open invoices: pages of 2 (a full page, then the last), a page of exactly 3 (full, and last), and past the end.
        foreach (var (query, numbers, hasMore) in new[]
                 {
                     ("pageSize=2", new[] { "INV-2026-000001", "INV-2026-000002" }, true),
                     ("pageSize=2&page=2", ["INV-2026-000003"], false),
                     ("pageSize=3", ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"], false),
                     ("pageSize=2&page=3", [], false),
                     ("pageSize=1&page=3", ["INV-2026-000003"], false),
                 })
        {
            var alone = await List($"?status=open&{query}&sums=omit");
            var withSums = await List($"?status=open&{query}");

            Assert.Equal(numbers, alone.Items.Select(i => i.InvoiceNumber));
            Assert.Equal(withSums.Items, alone.Items);
            Assert.Equal((hasMore, (long?)null, (IReadOnlyList<InvoiceListTotal>?)null), (alone.HasMore, alone.Total, alone.Totals));
            // With the sums, hasMore is page x pageSize < total, beside the total it is worked out from.
            Assert.Equal((hasMore, (long?)3), (withSums.HasMore, withSums.Total));
            Assert.Equal((withSums.Page, withSums.PageSize), (alone.Page, alone.PageSize));
        }

        // Said as null on the wire, not left out; "include" is what no value means, in any letter case.
        var json = await (await Finance.GetAsync("/api/invoices?status=open&sums=OMIT")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal((JsonValueKind.Null, JsonValueKind.Null, JsonValueKind.False), (json.GetProperty("total").ValueKind,
            json.GetProperty("totals").ValueKind, json.GetProperty("hasMore").ValueKind));
        Assert.Equal(await List("?status=paid"), await List("?status=paid&sums=include"), PageComparer.Instance);
    }

    [Fact]
    public async Task A_page_without_its_sums_links_to_the_next_while_one_follows_and_to_no_last_page()
    {
        await App.InvoicesOfTwoAccounts();

        var first = await Finance.GetAsync("/api/invoices?status=open&pageSize=2&sums=omit");
        Assert.Equal("</api/invoices?status=open&pageSize=2&sums=omit&page=1>; rel=\"first\", " +
                     "</api/invoices?status=open&pageSize=2&sums=omit&page=2>; rel=\"next\"", Assert.Single(first.Headers.GetValues("Link")));
        var last = await Finance.GetAsync("/api/invoices?status=open&pageSize=2&sums=omit&page=2");
        Assert.Equal("</api/invoices?status=open&pageSize=2&sums=omit&page=1>; rel=\"first\", " +
                     "</api/invoices?status=open&pageSize=2&sums=omit&page=1>; rel=\"prev\"", Assert.Single(last.Headers.GetValues("Link")));
    }

    [Theory]
    [InlineData("")]
    [InlineData("?status=open")]
    [InlineData("?status=overdue")]
    [InlineData("?status=paid")]
    [InlineData("?status=cancelled")]
    [InlineData("?status=refund_owed")]
    [InlineData("?currency=EUR")]
    [InlineData("?currency=GBP&method=card")]
    [InlineData("?currency=USD")]
    [InlineData("?dueBefore=2026-01-01")]
    public async Task The_sums_apart_are_what_the_page_carries_for_the_same_filters(string query)
    {
        await App.InvoicesOfTwoAccounts();

        var page = await List(query);
        var sums = await Auditor.GetAsync($"/api/invoices/sums{query}").ReadAs<InvoiceListSums>();

        Assert.Equal(page.Total, sums.Total);
        Assert.Equal(page.Totals, sums.Totals);
    }

    [Fact]
    public async Task The_sums_apart_take_the_date_filters_as_the_list_does()
    {
        await App.InvoicesOfTwoAccounts();
        var today = DateOnly.FromDateTime(App.Clock.GetUtcNow().UtcDateTime);
        var query = $"?issuedFrom={today.AddDays(-5):yyyy-MM-dd}&issuedTo={today:yyyy-MM-dd}";

        var sums = await Finance.GetAsync($"/api/invoices/sums{query}").ReadAs<InvoiceListSums>();

        var page = await List(query);
        Assert.Equal((2L, 2L), (sums.Total, page.Total!.Value));
        Assert.Equal(page.Totals, sums.Totals);
    }

    [Fact]
    public async Task The_page_without_its_sums_is_one_round_trip_and_the_sums_apart_another()
    {
        await App.InvoicesOfTwoAccounts();

        // The page's ids, its invoices and their accounts in one statement; with its sums, the sums, the ids, the invoices and the
        // accounts are four.
        foreach (var query in new[] { "", "?status=open", "?status=refund_owed&currency=EUR" })
        {
            var page = await SentStatements.OfGet(Finance, $"/api/invoices{query}{(query.Length == 0 ? "?" : "&")}sums=omit");
            Assert.True(page.Count == 1, $"{query}: {page.Count} round trips:\n{string.Join("\n", page)}");
            var sums = await SentStatements.OfGet(Finance, $"/api/invoices/sums{query}");
            Assert.True(sums.Count == 1, $"{query}: {sums.Count} round trips:\n{string.Join("\n", sums)}");
            Assert.Equal(4, (await SentStatements.OfGet(Finance, $"/api/invoices{query}")).Count);
        }
        // Past the last page, the same one statement, which finds nothing.
        Assert.Single(await SentStatements.OfGet(Finance, "/api/invoices?status=open&page=9&sums=omit"));
    }

    [Fact]
    public async Task Without_its_sums_a_line_whose_account_is_gone_keeps_the_name_it_was_invoiced_to()
    {
        var (alpha, _) = await App.InvoicesOfTwoAccounts();
        await using (var session = App.Store.LightweightSession())
        {
            session.Delete<Api.Accounts.AccountView>(alpha);
            await session.SaveChangesAsync();
        }

        var alone = await List("?status=open&sums=omit");

        Assert.Equal((await List("?status=open")).Items, alone.Items);
        Assert.Equal(3, alone.Items.Count);
    }

    [Theory]
    [InlineData("?status=unpaid", "status")]
    [InlineData("?status=refund-owed", "status")]
    [InlineData("?method=cash", "method")]
    [InlineData("?currency=eur", "currency")]
    [InlineData("?currency=EURO", "currency")]
    [InlineData("?dueBefore=05.12.2026", "dueBefore")]
    [InlineData("?issuedFrom=2026-12-05&issuedTo=2026-12-01", "issuedTo")]
    [InlineData("?page=0", "page")]
    [InlineData("?pageSize=201", "pageSize")]
    public async Task A_bad_filter_is_a_400_naming_the_field(string query, string field)
    {
        var problem = await Finance.GetAsync($"/api/invoices{query}").ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal([field], problem.Errors.Keys);
        // The sums apart check the same filters the same way; the paging is not theirs, and is refused as unknown.
        var sums = await Finance.GetAsync($"/api/invoices/sums{query}").ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal([field], sums.Errors.Keys);
    }

    [Theory]
    [InlineData("?sums=none")]
    [InlineData("?sums=false")]
    [InlineData("?sums=omit&sums=omit")]
    [InlineData("?status=open&sums=0")]
    public async Task A_sums_value_not_include_or_omit_is_a_400_naming_sums(string query)
    {
        var problem = await Finance.GetAsync($"/api/invoices{query}").ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal(["sums"], problem.Errors.Keys);
    }

    [Theory]
    [InlineData(InvoiceListStatus.Open)]
    [InlineData(InvoiceListStatus.Overdue)]
    [InlineData(InvoiceListStatus.Paid)]
    [InlineData(InvoiceListStatus.Cancelled)]
    public async Task A_status_filter_is_served_by_the_status_index(InvoiceListStatus status)
    {
        await using var session = App.Store.QuerySession();
        var query = InvoiceList.Matching(session, new InvoiceListFilter(status, null, null, null, null, null)).ToCommand();

        var plan = await QueryPlans.WithoutSequentialScansAsync(App.Store, query);
        // Open's and overdue's (still owed) may come from the still-owed index instead.
        Assert.Contains(plan, line => line.Contains(InvoiceList.StatusIndex) ||
                                      (status is InvoiceListStatus.Open or InvoiceListStatus.Overdue && line.Contains(InvoiceList.StillOwedIndex)));
    }

    [Fact]
    public async Task The_unfiltered_page_is_the_first_entries_of_the_order_index_not_a_sort_of_every_invoice()
    {
        await using var session = App.Store.QuerySession();
        var query = InvoiceList.PageIds(session, InvoiceList.Unfiltered, 0, InvoiceList.DefaultPageSize).ToCommand();

        var plan = await QueryPlans.InIndexOrderAsync(App.Store, query);
        Assert.Contains(plan, line => line.Contains(InvoiceList.OrderIndex));
        Assert.DoesNotContain(plan, line => line.Contains("Sort"));
    }

    [Theory]
    [InlineData(InvoiceListStatus.Open, InvoiceList.StillOwedIndex)]
    [InlineData(InvoiceListStatus.RefundOwed, InvoiceList.OwedBackIndex)]
    public async Task An_open_or_owed_back_page_is_the_first_entries_of_its_index_not_a_sort_of_every_such_invoice(InvoiceListStatus status,
        string index)
    {
        // Read through two indexes each, these pages fetched and sorted every such invoice's row: open's 43 ms at 100,000 accounts.
        await using var session = App.Store.QuerySession();
        var query = InvoiceList.PageIds(session, new InvoiceListFilter(status, null, null, null, null, null), 0, InvoiceList.DefaultPageSize)
            .ToCommand();

        var plan = await QueryPlans.InIndexOrderAsync(App.Store, query);
        Assert.Contains(plan, line => line.Contains(index));
        Assert.DoesNotContain(plan, line => line.Contains("Sort"));
    }

    [Theory]
    [InlineData(InvoiceListStatus.Open)]
    [InlineData(InvoiceListStatus.Overdue)]
    [InlineData(InvoiceListStatus.Paid)]
    [InlineData(InvoiceListStatus.Cancelled)]
    [InlineData(InvoiceListStatus.RefundOwed)]
    public async Task A_filtered_page_never_walks_the_order_index(InvoiceListStatus status)
    {
        // With the index usable, the planner walked it for refund_owed's page at 100,000 accounts, testing every invoice on the way (1.4 s).
        await using var session = App.Store.QuerySession();
        var query = InvoiceList.PageIds(session, new InvoiceListFilter(status, null, null, null, null, null), 0, InvoiceList.DefaultPageSize).ToCommand();

        var plan = await QueryPlans.WithoutSequentialScansAsync(App.Store, query);
        Assert.DoesNotContain(plan, line => line.Contains(InvoiceList.OrderIndex));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(InvoiceListStatus.Open)]
    [InlineData(InvoiceListStatus.RefundOwed)]
    public async Task The_page_without_its_sums_selects_its_ids_with_the_statement_whose_plans_are_checked_above(InvoiceListStatus? status)
    {
        // The one statement wraps PageIds' own SQL, parameters and all, so the indexes the plan tests above hold it to serve it too.
        // (Its own plan on a test table of a few rows moves with other tests' statistics: a sort of the few rows may win.)
        await using var session = App.Store.QuerySession();
        var filter = new InvoiceListFilter(status, "EUR", null, null, null, null);
        var ids = InvoiceList.PageIds(session, filter, 50, InvoiceList.DefaultPageSize + 1).ToCommand();
        var page = InvoiceList.PageCommand(session, filter, 50, InvoiceList.DefaultPageSize + 1);

        Assert.Contains($"array({ids.CommandText.Trim().TrimEnd(';')})", page.CommandText);
        Assert.Equal(ids.Parameters.Select(p => p.Value), page.Parameters.Select(p => p.Value));
    }

    [Fact]
    public async Task What_is_owed_back_is_found_through_the_indexes_of_the_few_invoices_that_owe_it()
    {
        await using var session = App.Store.QuerySession();
        var query = InvoiceList.Matching(session, new InvoiceListFilter(InvoiceListStatus.RefundOwed, null, null, null, null, null)).ToCommand();

        var plan = await QueryPlans.WithoutSequentialScansAsync(App.Store, query);
        // The index of those invoices alone (since migration 022), or the partial indexes of its two members together.
        var said = string.Join("\n", plan);
        Assert.True(plan.Any(line => line.Contains(InvoiceList.OwedBackIndex)) ||
                    (plan.Any(line => line.Contains("mt_doc_invoice_idx_overpaid")) && plan.Any(line => line.Contains("mt_doc_invoice_idx_refund_due"))),
            said);
    }
}
