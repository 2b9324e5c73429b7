using System.Net;
using System.Text.Json;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// An account's own lists (My Products, its invoices, its points explanation's lines) page as the lists across accounts do, with
/// page and pageSize: whole as before without them; a page's figures are the whole account's; ties never split differently.
/// </summary>
public sealed class AccountListPagingTests(LedgerApp app) : LedgerTest(app)
{
    private static readonly DateTimeOffset OneInstant = new(2026, 10, 1, 9, 0, 0, TimeSpan.Zero);

    private async Task<Guid> Account(string email = "paging@example.ee") =>
        (await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Accounts.Accounts.Opening(email, "Paging Studio"))
            .ReadAs<BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;

    /// <summary>
    /// Products registered at one instant, as a migration registers them: <paramref name="complete"/> with their points allocated
    /// (at that instant too), then <paramref name="waiting"/> without a dealer, earning nothing yet.
    /// </summary>
    private async Task<IReadOnlyList<Guid>> ProductsAtOneInstant(Guid account, int complete, int waiting)
    {
        var ids = new List<Guid>();
        await using var session = App.Store.LightweightSession();
        for (var n = 0; n < complete + waiting; n++)
        {
            var id = Guid.NewGuid();
            var serial = $"PG-{account.ToString()[..8]}-{n:000}";
            var done = n < complete;
            var registered = new ProductRegistered(id, account, Products.Products.R5, "EOS R5", "camera_body", serial, new DateOnly(2024, 3, 1), "EE",
                done ? "Photopoint" : null, [], RegistrationSource.Migration, OneInstant);
            object[] events = done ? [registered, new PointsAllocated(id, account, Products.Products.R5, serial, 10 + n, 1, OneInstant)] : [registered];
            session.Events.StartStream<ProductRegistration>(id, events);
            ids.Add(id);
        }
        await session.SaveChangesAsync();
        return ids;
    }

    private static async Task<JsonElement> Json(Task<HttpResponseMessage> response) => await (await response).ShouldBe(HttpStatusCode.OK);

    [Fact]
    public async Task My_products_page_by_registration_then_id_and_the_pages_together_are_the_whole_list_an_array_without_paging()
    {
        var account = await Account();
        var ids = await ProductsAtOneInstant(account, complete: 5, waiting: 2);
        var member = App.Member(account);
        var url = Products.Products.ProductsUrl(account);

        // Without paging parameters: the array it always was, every product, ties by id descending.
        var whole = await Json(member.GetAsync(url));
        Assert.Equal(JsonValueKind.Array, whole.ValueKind);
        var wholeIds = whole.EnumerateArray().Select(p => p.GetProperty("id").GetGuid()).ToList();
        Assert.Equal(ids.OrderByDescending(id => id), wholeIds);

        var first = await member.GetAsync($"{url}?pageSize=3").ReadAs<ProductPage>();
        var second = await member.GetAsync($"{url}?page=2&pageSize=3").ReadAs<ProductPage>();
        var last = await member.GetAsync($"{url}?page=3&pageSize=3").ReadAs<ProductPage>();
        var past = await member.GetAsync($"{url}?page=4&pageSize=3").ReadAs<ProductPage>();

        Assert.Equal(wholeIds, first.Items.Concat(second.Items).Concat(last.Items).Select(p => p.Id));
        Assert.Equal([3, 3, 1, 0], new[] { first, second, last, past }.Select(p => p.Items.Count));
        // The number of products is the account's on every page, not the page's.
        Assert.All(new[] { first, second, last, past }, p => Assert.Equal((account, 7L, 3), (p.AccountId, p.Total, p.PageSize)));
        Assert.Equal([1, 2, 3, 4], new[] { first, second, last, past }.Select(p => p.Page));

        // page alone: pages of 50; the points lines in words as the whole list has them.
        var defaults = await member.GetAsync($"{url}?page=1").ReadAs<ProductPage>();
        Assert.Equal((50, 7L), (defaults.PageSize, defaults.Total));
        Assert.Equal(wholeIds, defaults.Items.Select(p => p.Id));
        Assert.All(defaults.Items.Where(p => p.GreenTick), p => Assert.StartsWith("EOS R5 (EOS-R5, ", Assert.Single(p.PointsLines).InWords));
    }

    [Fact]
    public async Task A_page_of_my_products_names_no_member_of_staff_the_whole_list_names_by_role()
    {
        // Stored before roles were recorded (2026-12-05): support's registration of the newer product says support by its ticket; the
        // older product's points were allocated by the ledger on support's request, its line naming only the user who set it off.
        var account = await Account();
        var bySupport = Guid.NewGuid();
        var setOff = Guid.NewGuid();
        await Legacy(bySupport, "LEGACY-1", OneInstant.AddDays(1), "anna", session =>
        {
            session.SetHeader(Api.Support.SupportReason.TicketHeader, "CPS-SUP-9");
            session.SetHeader(Api.Support.SupportReason.ReasonHeader, "Registered by phone");
        });
        await Legacy(setOff, "LEGACY-2", OneInstant, "system:migration", session =>
        {
            session.SetHeader(SystemActor.CausedByUserHeader, "anna");
            session.SetHeader(SystemActor.CausedByCorrelationHeader, "corr-legacy-2");
        });
        var member = App.Member(account);
        var url = Products.Products.ProductsUrl(account);

        var whole = await member.GetAsync(url).ReadAs<List<ProductView>>();
        Assert.Equal([bySupport, setOff], whole.Select(p => p.Id));
        Assert.Equal("CPS support", Assert.Single(whole[1].PointsLines).CausedBy?.User);

        var second = await member.GetAsync($"{url}?page=2&pageSize=1").ReadAs<ProductPage>();
        Assert.Equal(setOff, Assert.Single(second.Items).Id);
        Assert.Equal("CPS support", Assert.Single(second.Items[0].PointsLines).CausedBy?.User);
        // Support reads the name, on a page as in the whole list.
        var support = await App.ClientAs(LedgerRoles.Support).GetAsync($"{url}?page=2&pageSize=1").ReadAs<ProductPage>();
        Assert.Equal("anna", Assert.Single(support.Items[0].PointsLines).CausedBy?.User);

        async Task Legacy(Guid id, string serial, DateTimeOffset at, string by, Action<Marten.IDocumentSession> headers)
        {
            await using var session = App.Store.LightweightSession();
            session.LastModifiedBy = by;
            headers(session);
            session.Events.StartStream<ProductRegistration>(id,
                new ProductRegistered(id, account, Products.Products.R5, "EOS R5", "camera_body", serial, new DateOnly(2024, 3, 1), "EE",
                    "Photopoint", [], RegistrationSource.Registration, at),
                new PointsAllocated(id, account, Products.Products.R5, serial, 235, 1, at));
            await session.SaveChangesAsync();
        }
    }

    [Fact]
    public async Task A_deregistered_product_counts_in_the_total_only_when_listed()
    {
        var account = await Account();
        var ids = await ProductsAtOneInstant(account, complete: 3, waiting: 0);
        var member = App.Member(account);
        await member.PostJson($"{Products.Products.ProductsUrl(account)}/{ids[0]}/deregistration", new { reason = "sold" })
            .ReadAs<ProductRegistrationStatus>();

        Assert.Equal(2L, (await member.GetAsync($"{Products.Products.ProductsUrl(account)}?pageSize=1").ReadAs<ProductPage>()).Total);
        var all = await member.GetAsync($"{Products.Products.ProductsUrl(account)}?pageSize=1&includeDeregistered=true").ReadAs<ProductPage>();
        Assert.Equal(3L, all.Total);
    }

    [Fact]
    public async Task An_accounts_invoices_page_newest_first_ties_by_number_with_the_sums_of_all_of_them_on_every_page()
    {
        // Written out of their numbers' order, all issued at one instant: only the tie-break orders them.
        var account = await App.InvoicesIssuedAtOneInstant(
            ("INV-2026-000203", 100m, "EUR"), ("INV-2026-000201", 200m, "EUR"), ("INV-2026-000205", 100m, "GBP"),
            ("INV-2026-000202", 100m, "EUR"), ("INV-2026-000204", 100m, "EUR"));
        var member = App.Member(account);
        var url = $"/api/accounts/{account}/invoices";

        var whole = await Json(member.GetAsync(url));
        Assert.Equal(JsonValueKind.Array, whole.ValueKind);
        string[] newestFirst = ["INV-2026-000205", "INV-2026-000204", "INV-2026-000203", "INV-2026-000202", "INV-2026-000201"];
        Assert.Equal(newestFirst, whole.EnumerateArray().Select(i => i.GetProperty("invoiceNumber").GetString()));

        var first = await member.GetAsync($"{url}?pageSize=2").ReadAs<AccountInvoicePage>();
        var last = await member.GetAsync($"{url}?page=3&pageSize=2").ReadAs<AccountInvoicePage>();
        var past = await member.GetAsync($"{url}?page=4&pageSize=2").ReadAs<AccountInvoicePage>();
        var middle = await member.GetAsync($"{url}?page=2&pageSize=2").ReadAs<AccountInvoicePage>();

        Assert.Equal(newestFirst, first.Items.Concat(middle.Items).Concat(last.Items).Select(i => i.InvoiceNumber));
        Assert.Equal(["INV-2026-000201"], last.Items.Select(i => i.InvoiceNumber));
        Assert.Empty(past.Items);
        // The account's figures on every page: how many, and what is outstanding per currency, never the page's.
        InvoiceListTotal[] sums = [new("EUR", 4, 248m + 3 * 124m, 248m + 3 * 124m, 0m, 0m, 0m, 0m), new("GBP", 1, 124m, 124m, 0m, 0m, 0m, 0m)];
        Assert.All(new[] { first, middle, last, past }, p =>
        {
            Assert.Equal((account, 5L, 2), (p.AccountId, p.Total, p.PageSize));
            Assert.Equal(sums, p.Totals);
        });
        var summary = await member.GetAsync($"/api/accounts/{account}/summary").ReadAs<AccountSummary>();
        Assert.Equal(summary.Owed.OrderBy(o => o.Currency), past.Totals.Select(t => new MoneyOwed(t.Outstanding, t.Currency)));
    }

    [Fact]
    public async Task A_page_of_an_accounts_invoices_is_read_by_offset_and_limit_with_its_sums_in_one_round_trip()
    {
        var account = await App.InvoicesIssuedAtOneInstant(
            ("INV-2026-000211", 100m, "EUR"), ("INV-2026-000212", 100m, "EUR"), ("INV-2026-000213", 100m, "GBP"));
        var member = App.Member(account);

        using var statements = new SentStatements();
        member.DefaultRequestHeaders.Add("traceparent", statements.TraceParent);
        var page = await member.GetAsync($"/api/accounts/{account}/invoices?page=2&pageSize=2").ReadAs<AccountInvoicePage>();

        Assert.Equal(["INV-2026-000211"], page.Items.Select(i => i.InvoiceNumber));
        Assert.Equal((3L, 2), (page.Total, page.Totals.Count));
        // One statement batch reads the invoices: the page's documents by offset and limit, not every invoice cut in memory.
        var sql = Assert.Single(statements.Texts, s => s.Contains("mt_doc_invoice", StringComparison.Ordinal));
        Assert.Contains("offset", sql, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("limit", sql, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_explanation_pages_its_lines_and_keeps_the_whole_accounts_total_and_products_awaiting_details()
    {
        var account = await Account();
        await ProductsAtOneInstant(account, complete: 5, waiting: 2);
        var member = App.Member(account);
        var url = $"/api/accounts/{account}/points-explanation";

        var whole = await member.GetAsync(url).ReadAs<PointsExplanation>();
        Assert.Equal((5, 5, (int?)null, (int?)null), (whole.Lines.Count, whole.TotalLines, whole.Page, whole.PageSize));
        Assert.Equal(10 + 11 + 12 + 13 + 14, whole.PointsTotal);
        // Every line at one instant: the event id orders them.
        Assert.Equal(whole.Lines.Select(l => l.EventId).Order(), whole.Lines.Select(l => l.EventId));

        var first = await member.GetAsync($"{url}?pageSize=2").ReadAs<PointsExplanation>();
        var second = await member.GetAsync($"{url}?page=2&pageSize=2").ReadAs<PointsExplanation>();
        var last = await member.GetAsync($"{url}?page=3&pageSize=2").ReadAs<PointsExplanation>();
        var past = await member.GetAsync($"{url}?page=4&pageSize=2").ReadAs<PointsExplanation>();

        Assert.Equal(whole.Lines.Select(l => l.EventId), first.Lines.Concat(second.Lines).Concat(last.Lines).Select(l => l.EventId));
        Assert.Empty(past.Lines);
        Assert.All(new[] { first, second, last, past }, p =>
        {
            Assert.Equal((whole.PointsTotal, 5, 2), (p.PointsTotal, p.TotalLines, p.PageSize));
            Assert.Equal(whole.AwaitingDetails.Select(a => a.RegistrationId), p.AwaitingDetails.Select(a => a.RegistrationId));
        });
        Assert.Equal([1, 2, 3, 4], new[] { first, second, last, past }.Select(p => p.Page ?? 0));
        Assert.Equal(2, whole.AwaitingDetails.Count);
        Assert.Equal(50, (await member.GetAsync($"{url}?page=1").ReadAs<PointsExplanation>()).PageSize);
    }

    [Theory]
    [InlineData("products")]
    [InlineData("invoices")]
    [InlineData("points-explanation")]
    public async Task Out_of_range_paging_is_a_400_naming_the_parameter_and_another_accounts_member_is_still_refused(string list)
    {
        var account = await Account();
        var other = await Account("other@example.ee");
        var member = App.Member(account);
        var url = $"/api/accounts/{account}/{list}";

        foreach (var (query, field, message) in new[]
                 {
                     ("page=0", "page", $"Must be a whole number from 1 to {Paging.MaxPage}."),
                     ($"page={Paging.MaxPage + 1}", "page", $"Must be a whole number from 1 to {Paging.MaxPage}."),
                     ("page=abc", "page", $"Must be a whole number from 1 to {Paging.MaxPage}."),
                     ("pageSize=0", "pageSize", "Must be a whole number from 1 to 200."),
                     ("pageSize=201", "pageSize", "Must be a whole number from 1 to 200."),
                 })
        {
            var problem = await member.GetAsync($"{url}?{query}").ReadProblem(HttpStatusCode.BadRequest);
            Assert.Equal([message], problem.Errors[field]);
        }

        // Both wrong: both named in one answer.
        var both = await member.GetAsync($"{url}?page=0&pageSize=500").ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["page", "pageSize"], both.Errors.Keys.Order());

        await (await App.Member(other, "someone-else").GetAsync($"{url}?page=1&pageSize=10")).ShouldBeProblem(HttpStatusCode.Forbidden);
    }
}
