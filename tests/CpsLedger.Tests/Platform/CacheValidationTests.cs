using System.Net;
using System.Net.Http.Headers;
using CpsLedger.Api.Platform;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// Cache-Control and ETag on the API's answers (Platform/CacheValidation.cs): a shared cache never stores a ledger answer, a
/// private one revalidates a JSON answer with its ETag and gets a 304 without a body while it is current, and errors and
/// commands are never stored.
/// </summary>
public sealed class CacheValidationTests(LedgerApp app) : LedgerTest(app)
{
    private static readonly string Revalidate = Directives(CacheValidationMiddleware.Revalidate);
    private const string NoStore = CacheValidationMiddleware.NoStore;

    private static Task<HttpResponseMessage> Get(HttpClient client, string url, params string[] ifNoneMatch)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        foreach (var tag in ifNoneMatch)
            Assert.True(request.Headers.TryAddWithoutValidation("If-None-Match", tag));
        return client.SendAsync(request);
    }

    // Its directives in one order: the in-memory server's client writes them in an order of its own ("no-cache, private").
    private static string CacheControl(HttpResponseMessage response) => Directives(response.Headers.NonValidated["Cache-Control"].ToString());

    private static string Directives(string header) =>
        string.Join(", ", header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));

    private static EntityTagHeaderValue StrongETag(HttpResponseMessage response)
    {
        var tag = response.Headers.ETag;
        Assert.NotNull(tag);
        Assert.False(tag.IsWeak, $"A weak ETag: {tag}");
        return tag;
    }

    [Fact]
    public async Task a_json_answer_carries_a_strong_etag_the_same_while_it_is_unchanged_and_is_revalidated_by_a_private_cache_only()
    {
        var account = await App.OpenAccount();
        var member = App.Member(account);

        var first = await Get(member, $"/api/accounts/{account}");
        await first.ShouldBe(HttpStatusCode.OK);
        var again = await Get(member, $"/api/accounts/{account}");

        Assert.Equal(StrongETag(first), StrongETag(again));
        Assert.Equal(Revalidate, CacheControl(first));
    }

    [Fact]
    public async Task a_matching_if_none_match_gets_304_without_a_body_with_the_same_etag_and_cache_control()
    {
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var url = $"/api/accounts/{account}";
        var tag = StrongETag(await Get(member, url)).Tag;

        // If-None-Match compares weakly (RFC 9110, 13.1.2): the tag alone, marked weak, in a list, or "*".
        foreach (var condition in new[] { tag, $"W/{tag}", $"\"other\", {tag}", "*" })
        {
            var response = await Get(member, url, condition);
            Assert.True(response.StatusCode == HttpStatusCode.NotModified, $"{condition}: {(int)response.StatusCode}");
            Assert.Empty(await response.Content.ReadAsByteArrayAsync());
            Assert.Equal(tag, StrongETag(response).Tag);
            Assert.Equal(Revalidate, CacheControl(response));
        }

        var stale = await Get(member, url, "\"not-this-one\"");
        await stale.ShouldBe(HttpStatusCode.OK);
        Assert.Equal(tag, StrongETag(stale).Tag);
    }

    [Fact]
    public async Task after_a_change_to_the_account_the_old_etag_gets_a_200_with_a_new_etag()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var url = $"/api/accounts/{account}/summary";
        var before = StrongETag(await Get(member, url)).Tag;

        await member.Register(account, Products.Products.Complete());

        var after = await Get(member, url, before);
        var summary = await after.ReadAs<CpsLedger.Api.Products.AccountSummary>();
        Assert.Equal(235, summary.PointsTotal);
        Assert.NotEqual(before, StrongETag(after).Tag);
        Assert.Equal(Revalidate, CacheControl(after));
    }

    [Fact]
    public async Task an_error_answer_is_never_stored_and_has_no_etag()
    {
        var account = await App.OpenAccount();
        var other = await App.OpenAccount("other@example.ee");
        var member = App.Member(account);

        foreach (var (response, status) in new[]
                 {
                     (await Get(member, $"/api/accounts/{other}"), HttpStatusCode.Forbidden),
                     (await Get(member, $"/api/accounts/{account}/invoices/INV-2026-999999"), HttpStatusCode.NotFound),
                     (await Get(member, $"/api/accounts/{account}?unknown=1"), HttpStatusCode.BadRequest),
                     (await Get(App.Anonymous(), $"/api/accounts/{account}"), HttpStatusCode.Unauthorized),
                 })
        {
            await response.ShouldBeProblem(status);
            Assert.Equal(NoStore, CacheControl(response));
            Assert.Null(response.Headers.ETag);
        }

        // A matching If-None-Match does not turn an error into a 304.
        var refused = await Get(member, $"/api/accounts/{other}", "*");
        await refused.ShouldBeProblem(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task a_command_and_its_replayed_answer_are_never_stored_and_have_no_etag()
    {
        var portal = App.ClientAs(LedgerRoles.Portal);
        var key = Guid.NewGuid().ToString();

        var first = await portal.PostJson("/api/accounts", Accounts.Accounts.Opening(), key);
        await first.ShouldBe(HttpStatusCode.Created);
        var replayed = await portal.PostJson("/api/accounts", Accounts.Accounts.Opening(), key);
        await replayed.ShouldBe(HttpStatusCode.Created);

        Assert.Equal("true", Assert.Single(replayed.Headers.GetValues(IdempotencyMiddleware.ReplayedHeader)));
        foreach (var response in new[] { first, replayed })
        {
            Assert.Equal(NoStore, CacheControl(response));
            Assert.Null(response.Headers.ETag);
        }
    }

    [Fact]
    public async Task an_invoice_s_pdf_and_e_invoice_have_etags_the_same_while_the_invoice_is_and_304s_but_are_never_stored()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer",
            billingDetails: new { address = new { street = "Telliskivi 60a", postalCode = "10412", city = "Tallinn", country = "EE" }, vatId = (string?)null });
        await App.FastForward(Billing.IssueDelay);
        var member = App.Member(account);
        var invoice = $"/api/accounts/{account}/invoices/{(await member.SingleInvoice(account)).InvoiceNumber}";

        var pdf = await Get(member, $"{invoice}/pdf");
        await pdf.ShouldBe(HttpStatusCode.OK);
        Assert.Equal("application/pdf", pdf.Content.Headers.ContentType?.MediaType);
        Assert.Equal("%PDF", System.Text.Encoding.ASCII.GetString((await pdf.Content.ReadAsByteArrayAsync())[..4]));
        var tag = StrongETag(pdf).Tag;
        Assert.Equal(NoStore, CacheControl(pdf));

        // Drawn anew at every request, to the same bytes (InvoicePdf): the same ETag, and a client that kept its copy gets a 304.
        var again = await Get(member, $"{invoice}/pdf");
        await again.ShouldBe(HttpStatusCode.OK);
        Assert.Equal(await pdf.Content.ReadAsByteArrayAsync(), await again.Content.ReadAsByteArrayAsync());
        Assert.Equal(tag, StrongETag(again).Tag);
        foreach (var condition in new[] { tag, "*" })
        {
            var unchangedPdf = await Get(member, $"{invoice}/pdf", condition);
            Assert.True(unchangedPdf.StatusCode == HttpStatusCode.NotModified, $"{condition}: {(int)unchangedPdf.StatusCode}");
            Assert.Empty(await unchangedPdf.Content.ReadAsByteArrayAsync());
            Assert.Equal(tag, StrongETag(unchangedPdf).Tag);
            Assert.Equal(NoStore, CacheControl(unchangedPdf));
        }

        // The e-invoice is the same bytes every time: its ETag gets a 304.
        var ubl = await Get(member, $"{invoice}/ubl");
        await ubl.ShouldBe(HttpStatusCode.OK);
        var ublTag = StrongETag(ubl).Tag;
        Assert.Equal(NoStore, CacheControl(ubl));
        var unchanged = await Get(member, $"{invoice}/ubl", ublTag);
        Assert.Equal(HttpStatusCode.NotModified, unchanged.StatusCode);
        Assert.Equal(ublTag, StrongETag(unchanged).Tag);
        Assert.Equal(NoStore, CacheControl(unchanged));
    }
}

/// <summary>The same answers from Kestrel on its loopback port (the console's host): the in-memory test server lets a 304 carry anything.</summary>
[Collection(WebConsole.ConsoleCollection.Name)]
public sealed class CacheValidationOnTheWireTests(WebConsole.ConsoleApp app)
{
    [Fact]
    public async Task kestrel_answers_a_matching_if_none_match_with_a_bare_304()
    {
        using var client = new HttpClient { BaseAddress = app.BaseUrl };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.TokenFor(LedgerRoles.Auditor));

        var first = await client.GetAsync("/api/me");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var tag = first.Headers.ETag ?? throw new Xunit.Sdk.XunitException("No ETag");
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/me") { Headers = { IfNoneMatch = { tag } } };
        var again = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotModified, again.StatusCode);
        Assert.Equal(tag, again.Headers.ETag);
        Assert.Equal("private, no-cache", again.Headers.NonValidated["Cache-Control"].ToString());
        Assert.Empty(await again.Content.ReadAsByteArrayAsync());
        Assert.Null(again.Content.Headers.ContentType);
    }
}

/// <summary>
/// An answer larger than <see cref="CacheValidationMiddleware.MaxHeldBytes"/> goes through as written, whole, without an ETag. No
/// ledger endpoint writes one in the tests (the lists across accounts are paged, at most 500 items; the auditors' chain-heads CSV
/// takes some 110 bytes a chain, 38,000 chains for 4 MiB, and My Products about 1.3 KB a product, some 3,300 products), so the
/// middleware runs here in a Kestrel host of its own with endpoints that write the three ways the ledger's do: a file's bytes at
/// once, JSON through the response's pipe, text in many small writes.
/// </summary>
public sealed class CacheValidationLargeAnswerTests : IAsyncLifetime
{
    private const int Limit = CacheValidationMiddleware.MaxHeldBytes;
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    private static byte[] Bytes(int length) => [.. Enumerable.Range(0, length).Select(i => (byte)('a' + i % 26))];

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.UseMiddleware<CacheValidationMiddleware>();
        _app.MapGet("/api/file/{length:int}", (int length) => Results.File(Bytes(length), "application/pdf", "large.pdf"));
        // A JSON string of the length asked for, quotes included.
        _app.MapGet("/api/json/{length:int}", (int length) => Results.Json(System.Text.Encoding.ASCII.GetString(Bytes(length - 2))));
        _app.MapGet("/api/missing/{length:int}", (int length) => Results.Text(System.Text.Encoding.ASCII.GetString(Bytes(length)), "text/plain",
            statusCode: StatusCodes.Status404NotFound));
        _app.MapGet("/api/text/{length:int}", async (int length, HttpResponse response) =>
        {
            response.ContentType = "text/csv";
            var body = Bytes(length);
            for (var at = 0; at < length; at += 1000)
                await response.Body.WriteAsync(body.AsMemory(at, Math.Min(1000, length - at)));
        });
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.Urls.First()) };
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    public static TheoryData<string, string> Writers => new()
    {
        { "file", CacheValidationMiddleware.NoStore },
        { "json", CacheValidationMiddleware.Revalidate },
        { "text", CacheValidationMiddleware.NoStore },
    };

    [Theory]
    [MemberData(nameof(Writers))]
    public async Task an_answer_over_the_limit_arrives_whole_without_an_etag_and_one_at_the_limit_has_its_etag(string writer, string cacheControl)
    {
        foreach (var length in new[] { Limit + 1, Limit + 1_000_001, Limit })
        {
            // A tag other than "*" matches nothing over the limit: there is no ETag to compare it with.
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/{writer}/{length}");
            if (length > Limit)
                request.Headers.TryAddWithoutValidation("If-None-Match", "\"some-tag\"");
            using var response = await _client.SendAsync(request);
            var body = await response.Content.ReadAsByteArrayAsync();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var expected = writer == "json" ? [(byte)'"', .. Bytes(length - 2), (byte)'"'] : Bytes(length);
            Assert.True(expected.AsSpan().SequenceEqual(body), $"{writer}, {length} bytes: {body.Length} bytes arrived, or other bytes.");
            Assert.Equal(cacheControl, response.Headers.NonValidated["Cache-Control"].ToString());
            if (length > Limit)
                Assert.Null(response.Headers.ETag);
            else
                Assert.NotNull(response.Headers.ETag);
        }
    }

    [Theory]
    [MemberData(nameof(Writers))]
    public async Task any_current_answer_is_not_modified_to_a_star_over_the_limit_too_without_an_etag_as_its_200_has_none(string writer,
        string cacheControl)
    {
        foreach (var length in new[] { Limit + 1, Limit + 1_000_001, Limit })
        {
            foreach (var ifNoneMatch in new[] { "*", "\"some-tag\", *" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/{writer}/{length}");
                Assert.True(request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch));
                using var response = await _client.SendAsync(request);
                var body = await response.Content.ReadAsByteArrayAsync();

                Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
                Assert.Empty(body);
                // The 200's Cache-Control, and its ETag only where the 200 has one (at the limit, not past it).
                Assert.Equal(cacheControl, response.Headers.NonValidated["Cache-Control"].ToString());
                Assert.Equal(length <= Limit, response.Headers.ETag is not null);
                Assert.False(response.Content.Headers.Contains("Content-Type"), $"{writer}, {length} bytes: a 304 with a Content-Type.");
                Assert.False(response.Content.Headers.Contains("Content-Disposition"));
            }
        }
    }

    [Fact]
    public async Task a_missing_answer_over_the_limit_is_not_a_current_one_a_star_does_not_match()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/missing/{Limit + 1}");
        Assert.True(request.Headers.TryAddWithoutValidation("If-None-Match", "*"));
        using var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(Limit + 1, (await response.Content.ReadAsByteArrayAsync()).Length);
        Assert.Equal(CacheValidationMiddleware.NoStore, response.Headers.NonValidated["Cache-Control"].ToString());
    }
}
