using System.Net;
using System.Text.Json;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// Who reaches what, for every route the service maps (its own endpoint list, not a hand list): no token, another account's
/// member, and another account's objects named under the caller's own account. A route added later is in the matrix at once;
/// a route that names an object besides the account fails until it is given the request that reaches that object.
/// </summary>
public sealed class RouteAccessMatrixTests(LedgerApp app) : LedgerTest(app)
{
    private sealed record Route(string Method, string Pattern, bool Anonymous, IReadOnlyList<string> Roles);

    private IReadOnlyList<Route> Routes() =>
        App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => new Route(m, e.RoutePattern.RawText!,
                e.Metadata.GetMetadata<IAllowAnonymous>() is not null,
                [.. e.Metadata.GetOrderedMetadata<IAuthorizeData>().SelectMany(a => (a.Roles ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
                    .Select(r => r.Trim()).Distinct()])))
            .Where(r => r.Method != "OPTIONS" && r.Method != "HEAD")
            .Distinct()
            .ToList();

    private static bool Scoped(Route route) => route.Pattern.Contains("{accountId}", StringComparison.Ordinal);

    private static HttpRequestMessage Request(string method, string url, object? body = null) =>
        new(new HttpMethod(method), url)
        {
            Content = method is "GET" or "DELETE" ? null : JsonContent(body ?? new { }),
        };

    private static StringContent JsonContent(object body) =>
        new(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");

    private static string Fill(string pattern, Guid account) =>
        System.Text.RegularExpressions.Regex.Replace(pattern.Replace("{accountId}", account.ToString()), "{[^}]+}", "X-1");

    [Fact]
    public async Task Every_route_but_the_public_ones_refuses_a_request_without_a_token()
    {
        // The public routes, by name: a route that allows anonymous callers is added here on purpose or not at all.
        // The interactive docs (/scalar/...) are the library's files, whatever their names.
        var anonymous = Routes().Where(r => r.Anonymous).Select(r => $"{r.Method} {r.Pattern}").ToList();
        Assert.Equal(
            string.Join(", ", ["GET /console/config.json", "GET /console/signin", "GET /openapi/{documentName}.json", "POST /console/signout"]),
            string.Join(", ", anonymous.Where(r => !r.StartsWith("GET /scalar/", StringComparison.Ordinal)).Order(StringComparer.Ordinal)));

        var account = await App.OpenAccount();
        var caller = App.Anonymous();
        var routes = Routes().Where(r => !r.Anonymous && r.Pattern.StartsWith("/api/", StringComparison.Ordinal)).ToList();
        Assert.True(routes.Count >= 60, $"Only {routes.Count} routes found.");

        var answered = new List<string>();
        foreach (var route in routes)
        {
            var response = await caller.SendAsync(Request(route.Method, Fill(route.Pattern, account)));
            if (response.StatusCode != HttpStatusCode.Unauthorized)
                answered.Add($"{route.Method} {route.Pattern}: {(int)response.StatusCode}");
        }

        Assert.Empty(answered);
    }

    [Fact]
    public async Task Every_account_route_refuses_another_accounts_member()
    {
        var account = await App.OpenAccount();
        var other = await App.OpenAccount("other@example.ee");
        // Something on the account for a read to show, had it answered.
        await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
            new { points = 50, reason = "Goodwill for a late delivery", ticketReference = "CPS-SUP-7" });
        var otherMember = App.UncheckedClientAs(LedgerRoles.Member, other);
        var routes = Routes().Where(Scoped).ToList();
        Assert.True(routes.Count >= 40, $"Only {routes.Count} account routes found.");

        var answered = new List<string>();
        foreach (var route in routes)
        {
            var response = await otherMember.SendAsync(Request(route.Method, Fill(route.Pattern, account)));
            // The problem's instance repeats the URL asked for; nothing of the account itself may be in the answer.
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.Forbidden || body.Contains("Valgus", StringComparison.Ordinal) || body.Contains("studio@", StringComparison.Ordinal))
                answered.Add($"{route.Method} {route.Pattern}: {(int)response.StatusCode} {body}");
        }

        Assert.Empty(answered);
    }

    /// <summary>
    /// An invoice, credit note, product or old e-mail of account B asked for under account A's route, by every role the route admits
    /// (A's own member for the member): not found, never B's object, and nothing of B's changed.
    /// </summary>
    [Fact]
    public async Task Another_accounts_object_named_under_an_own_account_route_is_not_found()
    {
        var (victim, victimMember) = await App.MemberWithItsJoiningInvoice("EE", "bank_transfer");
        var invoiceNumber = (await victimMember.SingleInvoice(victim)).InvoiceNumber;
        var finance = App.ClientAs(LedgerRoles.Finance);
        // Cancelled for its credit note: a write route that found it under another account would still answer other than 404.
        var creditNote = await CreditNoteOf(victim, invoiceNumber, finance);
        var invoicesBefore = await victimMember.Invoices(victim);
        var products = await (await victimMember.GetAsync($"/api/accounts/{victim}/products")).ShouldBe(HttpStatusCode.OK);
        var registrationId = products.EnumerateArray().First().GetProperty("id").GetString()!;
        var victimEmail = "victim.old@old.example";
        await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{victim}/old-cps-emails",
            new { email = victimEmail, reason = "Member showed the old contract", ticketReference = "CPS-SUP-9" })).ShouldBe(HttpStatusCode.OK);

        var own = (await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Accounts.Accounts.Opening("attacker@example.ee", "Tamm Foto OÜ"))
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;
        var ids = new Dictionary<string, string>
        {
            ["{invoiceNumber}"] = invoiceNumber,
            ["{creditNoteNumber}"] = creditNote,
            ["{registrationId}"] = registrationId,
            ["{email}"] = victimEmail,
        };
        var support = new { supportReason = "Member called about it", ticketReference = "CPS-SUP-2" };
        // The request that reaches the object, per route naming one: a route added without an entry fails below until it has one.
        var bodies = new Dictionary<string, object?>
        {
            ["GET /api/accounts/{accountId}/invoices/{invoiceNumber}"] = null,
            ["GET /api/accounts/{accountId}/invoices/{invoiceNumber}/pdf"] = null,
            ["GET /api/accounts/{accountId}/invoices/{invoiceNumber}/ubl"] = null,
            ["GET /api/accounts/{accountId}/credit-notes/{creditNoteNumber}"] = null,
            ["GET /api/accounts/{accountId}/credit-notes/{creditNoteNumber}/pdf"] = null,
            ["GET /api/accounts/{accountId}/credit-notes/{creditNoteNumber}/ubl"] = null,
            ["GET /api/accounts/{accountId}/products/{registrationId}"] = null,
            ["POST /api/accounts/{accountId}/invoices/{invoiceNumber}/cancellation"] = new { reason = "Issued to the wrong buyer" },
            ["POST /api/accounts/{accountId}/invoices/{invoiceNumber}/cancellation/preview"] = new { reason = "Issued to the wrong buyer" },
            ["POST /api/accounts/{accountId}/invoices/{invoiceNumber}/replacement"] = new { reason = "VAT ID added" },
            ["POST /api/accounts/{accountId}/invoices/{invoiceNumber}/replacement/preview"] = new { reason = "VAT ID added" },
            ["POST /api/accounts/{accountId}/invoices/{invoiceNumber}/refunds"] =
                new { amount = 1m, currency = "EUR", paidOn = App.ValueDate(), reference = "LHV-OUT-9" },
            ["POST /api/accounts/{accountId}/invoices/{invoiceNumber}/refunds/preview"] =
                new { amount = 1m, currency = "EUR", paidOn = App.ValueDate(), reference = "LHV-OUT-9" },
            ["PATCH /api/accounts/{accountId}/products/{registrationId}"] = new { dealer = "Foto Kaubamaja" },
            ["POST /api/accounts/{accountId}/products/{registrationId}/deregistration"] = new { reason = "sold", note = (string?)null },
            ["DELETE /api/accounts/{accountId}/old-cps-emails/{email}"] = null,
        };

        var routes = Routes().Where(r => Scoped(r) && r.Pattern.Count(c => c == '{') > 1).ToList();
        var unclassified = routes.Select(r => $"{r.Method} {r.Pattern}").Except(bodies.Keys).ToList();
        Assert.True(unclassified.Count == 0, $"Give these routes the request that reaches their object: {string.Join(", ", unclassified)}");

        var leaks = new List<string>();
        foreach (var (route, role) in routes.SelectMany(r => r.Roles.DefaultIfEmpty(LedgerRoles.Member).Select(role => (r, role))))
        {
            var client = App.UncheckedClientAs(role, role == LedgerRoles.Member ? own : null);
            var url = ids.Aggregate(route.Pattern.Replace("{accountId}", own.ToString()), (u, id) => u.Replace(id.Key, Uri.EscapeDataString(id.Value)));
            if (route.Method == "DELETE")
                url += "?reason=Linked%20by%20mistake&ticketReference=CPS-SUP-3";
            var body = bodies[$"{route.Method} {route.Pattern}"];
            if (body is not null && role == LedgerRoles.Support && route.Method != "GET")
                body = Merge(body, support);
            var response = await client.SendAsync(Request(route.Method, url, body));
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.NotFound || text.Contains(victim.ToString(), StringComparison.OrdinalIgnoreCase)
                                                               || text.Contains("Valgus", StringComparison.Ordinal))
                leaks.Add($"{route.Method} {route.Pattern} as {role}: {(int)response.StatusCode} {text[..Math.Min(text.Length, 300)]}");
        }

        Assert.Empty(leaks);
        // Nothing of the victim's changed: its invoices and products as they were.
        var after = await victimMember.Invoices(victim);
        Assert.Equal(invoicesBefore.Select(i => (i.InvoiceNumber, i.Status, i.Refunded)), after.Select(i => (i.InvoiceNumber, i.Status, i.Refunded)));
        Assert.Equal(products.GetRawText(), (await (await victimMember.GetAsync($"/api/accounts/{victim}/products")).ShouldBe(HttpStatusCode.OK)).GetRawText());
    }

    private static object Merge(object body, object more)
    {
        var merged = JsonSerializer.SerializeToNode(body)!.AsObject();
        foreach (var (name, value) in JsonSerializer.SerializeToNode(more)!.AsObject())
            merged[name] = value?.DeepClone();
        return merged;
    }

    /// <summary>A second invoice of the account's, cancelled by finance: its credit note's number.</summary>
    private async Task<string> CreditNoteOf(Guid account, string invoiceNumber, HttpClient finance)
    {
        var cancelled = await finance.PostJson($"/api/accounts/{account}/invoices/{invoiceNumber}/cancellation",
            new { reason = "Issued without the buyer's VAT ID" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created);
        return cancelled.CreditNoteNumber;
    }
}
