using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// A page of a list links to its first, previous, next and last pages (RFC 8288 Link, Paging.Links): following next from page 1
/// reads every item once, with the request's filters kept; an account's list answered whole has no links.
/// </summary>
public sealed partial class PageLinksTests(LedgerApp app) : LedgerTest(app)
{
    [GeneratedRegex("""<(?<target>[^>]*)>;\s*rel="(?<rel>[a-z]+)"(,\s*|$)""")]
    private static partial Regex LinkValue();

    private static Dictionary<string, string> Links(HttpResponseMessage response)
    {
        var header = Assert.Single(response.Headers.GetValues("Link"));
        var links = LinkValue().Matches(header).ToDictionary(m => m.Groups["rel"].Value, m => m.Groups["target"].Value);
        Assert.Equal(header.Length, LinkValue().Matches(header).Sum(m => m.Length));
        return links;
    }

    /// <summary>Follows next from <paramref name="url"/>, each page's items by <paramref name="key"/>, until a page has no next.</summary>
    private static async Task<(List<string> Items, List<Dictionary<string, string>> Links)> Follow(HttpClient client, string url,
        Func<JsonElement, IEnumerable<JsonElement>> items, Func<JsonElement, string> key)
    {
        var read = new List<string>();
        var links = new List<Dictionary<string, string>>();
        for (var next = url; next is not null;)
        {
            Assert.True(links.Count < 20, "next never stopped");
            var response = await client.GetAsync(next);
            var page = await response.ShouldBe(HttpStatusCode.OK);
            var these = Links(response);
            links.Add(these);
            read.AddRange(items(page).Select(key));
            next = these.GetValueOrDefault("next");
            Assert.StartsWith("/api/", next ?? "/api/"); // relative: the path and query only
        }
        return (read, links);
    }

    [Fact]
    public async Task Following_next_from_page_one_reads_every_product_once_keeps_the_filter_and_stops()
    {
        var account = await App.OpenAccount();
        await App.ListModel();
        var member = App.Member(account);
        for (var n = 0; n < 5; n++)
            await member.Register(account, Products.Products.Complete($"LINK-{n}"));
        var url = Products.Products.ProductsUrl(account);

        var whole = await member.GetAsync(url);
        var all = (await whole.ShouldBe(HttpStatusCode.OK)).EnumerateArray().Select(p => p.GetProperty("id").GetString()!).ToList();
        // The array an account's list answers without page and pageSize has no pages to link.
        Assert.False(whole.Headers.Contains("Link"));

        var (read, links) = await Follow(member, $"{url}?includeDeregistered=false&pageSize=2", p => p.GetProperty("items").EnumerateArray(),
            p => p.GetProperty("id").GetString()!);
        Assert.Equal(all, read);
        Assert.Equal(3, links.Count);
        Assert.All(links, l =>
        {
            Assert.Equal($"{url}?includeDeregistered=false&pageSize=2&page=1", l["first"]);
            Assert.Equal($"{url}?includeDeregistered=false&pageSize=2&page=3", l["last"]);
        });
        Assert.False(links[0].ContainsKey("prev"));
        Assert.Equal($"{url}?includeDeregistered=false&pageSize=2&page=2", links[2]["prev"]);
        Assert.False(links[2].ContainsKey("next"));

        // Asked again with its ETag: the 304 keeps the page's links, as documented.
        var second = await member.GetAsync(links[0]["next"]);
        var again = new HttpRequestMessage(HttpMethod.Get, links[0]["next"]);
        again.Headers.IfNoneMatch.Add(second.Headers.ETag!);
        var notModified = await member.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(Links(second), Links(notModified));
    }

    [Fact]
    public async Task A_page_past_the_last_links_back_to_the_last_and_has_no_next()
    {
        var account = await App.OpenAccount();
        await App.ListModel();
        var member = App.Member(account);
        for (var n = 0; n < 3; n++)
            await member.Register(account, Products.Products.Complete($"PAST-{n}"));
        var url = Products.Products.ProductsUrl(account);

        var response = await member.GetAsync($"{url}?page=9&pageSize=2");
        Assert.Empty((await response.ShouldBe(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());
        var links = Links(response);
        Assert.Equal(["first", "prev", "last"], links.Keys);
        Assert.Equal($"{url}?page=1&pageSize=2", links["first"]);
        Assert.Equal($"{url}?page=2&pageSize=2", links["prev"]);
        Assert.Equal($"{url}?page=2&pageSize=2", links["last"]);

        // The explanation answered whole has no links either; paged, its lines link as any page does.
        var explanationUrl = $"/api/accounts/{account}/points-explanation";
        Assert.False((await member.GetAsync(explanationUrl)).Headers.Contains("Link"));
        var (lines, _) = await Follow(member, $"{explanationUrl}?pageSize=1", e => e.GetProperty("lines").EnumerateArray(),
            l => l.GetProperty("eventId").GetString()!);
        Assert.Equal(3, lines.Distinct().Count());
    }

    [Fact]
    public async Task The_lists_across_accounts_link_their_pages_with_every_filter_encoded_as_given()
    {
        // A search with a space and a letter outside ASCII: the links carry it percent-encoded, and it still finds the same models.
        for (var n = 1; n <= 5; n++)
            await App.ListModel($"LK-{n}", $"Linkkaamera ä {n}");
        await App.ListModel("OTHER-1", "Something else");
        var support = App.ClientAs(LedgerRoles.Support);
        var (models, links) = await Follow(support, "/api/catalogue/models?search=linkkaamera%20%C3%A4&category=camera_body&pageSize=2",
            c => c.GetProperty("items").EnumerateArray(), m => m.GetProperty("code").GetString()!);
        Assert.Equal(["LK-1", "LK-2", "LK-3", "LK-4", "LK-5"], models);
        Assert.Equal("/api/catalogue/models?search=linkkaamera%20%C3%A4&category=camera_body&pageSize=2&page=2", links[0]["next"]);

        // Finance's invoice list, filtered by currency: the other currency's invoice is on no page.
        await App.InvoicesIssuedAtOneInstant(("INV-2026-000301", 100m, "EUR"), ("INV-2026-000302", 100m, "GBP"),
            ("INV-2026-000303", 100m, "EUR"), ("INV-2026-000304", 100m, "EUR"));
        var (invoices, invoiceLinks) = await Follow(App.ClientAs(LedgerRoles.Finance), "/api/invoices?currency=EUR&pageSize=1",
            i => i.GetProperty("items").EnumerateArray(), i => i.GetProperty("invoiceNumber").GetString()!);
        Assert.Equal(["INV-2026-000301", "INV-2026-000303", "INV-2026-000304"], invoices.Order());
        Assert.Equal("/api/invoices?currency=EUR&pageSize=1&page=3", invoiceLinks[0]["last"]);
    }
}
