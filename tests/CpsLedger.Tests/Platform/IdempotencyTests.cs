using System.Net;
using System.Net.Http.Json;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using Marten;
using Microsoft.Extensions.DependencyInjection;

namespace CpsLedger.Tests.Platform;

public sealed class IdempotencyTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task the_same_key_and_body_return_the_first_response_without_a_second_account()
    {
        var client = App.ClientAs(LedgerRoles.Portal);
        var key = Guid.NewGuid().ToString();

        var first = await client.PostJson("/api/accounts", Accounts.Accounts.Opening(), key);
        var firstBody = await first.ShouldBe(HttpStatusCode.Created);
        var second = await client.PostJson("/api/accounts", Accounts.Accounts.Opening(), key);
        var secondBody = await second.ShouldBe(HttpStatusCode.Created);

        Assert.Equal(firstBody.GetRawText(), secondBody.GetRawText());
        // The replay names the id as the first answer did, the deprecated member included.
        var id = secondBody.GetProperty("accountId").GetGuid();
        Assert.Equal((id, $"/api/accounts/{id}"), (secondBody.GetProperty("value").GetGuid(), secondBody.GetProperty("url").GetString()));
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.True(second.Headers.Contains(IdempotencyMiddleware.ReplayedHeader));
        await using var session = App.Store.QuerySession();
        Assert.Equal(1, await session.Query<AccountView>().CountAsync());
    }

    [Fact]
    public async Task a_key_with_a_comma_is_a_400_whose_errors_name_the_header_as_every_other_refused_parameter()
    {
        // A portal that shows a 400's errors by field finds the header there, not only in the detail.
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts") { Content = JsonContent.Create(Accounts.Accounts.Opening()) };
        request.Headers.TryAddWithoutValidation(IdempotencyMiddleware.HeaderName, "first, second");

        var problem = await App.ClientAs(LedgerRoles.Portal).SendAsync(request).ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal("Invalid Idempotency-Key", problem.Title);
        Assert.Equal(new[] { problem.Detail! }, problem.Errors[IdempotencyMiddleware.HeaderName]);
        await using var session = App.Store.QuerySession();
        Assert.Equal(0, await session.Query<AccountView>().CountAsync());
    }

    // A body the strict reader refuses (a required member missing: the gate's) and one it reads but the validator refuses (an
    // unknown country): either way the 400 names the body's field and the header, so that the portal shows both at once.
    [Theory]
    [InlineData("companyName", """{"contactEmail":"studio@example.ee","country":"EE","oldCpsEmails":[]}""")]
    [InlineData("country", """{"companyName":"Valgus Studio OÜ","contactEmail":"studio@example.ee","country":"XX","oldCpsEmails":[]}""")]
    public async Task a_body_error_and_a_bad_key_are_named_together(string field, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts")
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation(IdempotencyMiddleware.HeaderName, "first, second");

        var problem = await App.ClientAs(LedgerRoles.Portal).SendAsync(request).ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal(new[] { field, IdempotencyMiddleware.HeaderName }.Order(StringComparer.Ordinal), problem.Errors.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["The Idempotency-Key header must be given once, with 1 to 200 printable ASCII characters, no comma and no vertical bar."],
            problem.Errors[IdempotencyMiddleware.HeaderName]);
        await using var session = App.Store.QuerySession();
        Assert.Equal(0, await session.Query<AccountView>().CountAsync());
    }

    [Fact]
    public async Task the_same_key_with_another_body_is_422_and_writes_nothing()
    {
        var client = App.ClientAs(LedgerRoles.Portal);
        var key = Guid.NewGuid().ToString();
        await (await client.PostJson("/api/accounts", Accounts.Accounts.Opening(email: "one@example.ee"), key)).ShouldBe(HttpStatusCode.Created);

        var reuse = await client.PostJson("/api/accounts", Accounts.Accounts.Opening(email: "two@example.ee"), key);

        await reuse.ShouldBeProblem(HttpStatusCode.UnprocessableEntity);
        await using var session = App.Store.QuerySession();
        Assert.Equal(1, await session.Query<AccountView>().CountAsync());
    }

    [Theory]
    [InlineData("""{ "companyName": "Valgus Studio OÜ", "contactEmail": "studio@example.ee", "country": "EE", "oldCpsEmails": [] }""")]
    [InlineData("""{"contactEmail":"studio@example.ee","companyName":"Valgus Studio OÜ","country":"EE","oldCpsEmails":[]}""")]
    public async Task the_same_json_in_other_bytes_is_another_body_under_the_key_as_documented(string retried)
    {
        // docs/api-behaviour.md: the body is compared byte for byte, as a retry resends what was sent.
        var client = App.ClientAs(LedgerRoles.Portal);
        var key = Guid.NewGuid().ToString();
        await (await Post(client, """{"companyName":"Valgus Studio OÜ","contactEmail":"studio@example.ee","country":"EE","oldCpsEmails":[]}""", key))
            .ShouldBe(HttpStatusCode.Created);

        await (await Post(client, retried, key)).ShouldBeProblem(HttpStatusCode.UnprocessableEntity);

        static Task<HttpResponseMessage> Post(HttpClient client, string body, string key)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts")
            {
                Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Add(IdempotencyMiddleware.HeaderName, key);
            return client.SendAsync(request);
        }
    }

    [Fact]
    public async Task concurrent_requests_with_one_key_have_one_effect()
    {
        var client = App.ClientAs(LedgerRoles.Portal);
        var key = Guid.NewGuid().ToString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ =>
            client.PostJson("/api/accounts", Accounts.Accounts.Opening(), key)));

        foreach (var response in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
            await response.ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.Created);
        await using var session = App.Store.QuerySession();
        Assert.Equal(1, await session.Query<AccountView>().CountAsync());
    }

    [Fact]
    public async Task a_rejected_command_does_not_use_up_its_key()
    {
        var client = App.ClientAs(LedgerRoles.Portal);
        var key = Guid.NewGuid().ToString();

        await (await client.PostJson("/api/accounts", Accounts.Accounts.Opening(country: "XX"), key)).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await client.PostJson("/api/accounts", Accounts.Accounts.Opening(country: "XX"), key)).ShouldBeProblem(HttpStatusCode.BadRequest);

        await using var session = App.Store.QuerySession();
        Assert.Equal(0, await session.Query<IdempotencyRecord>().CountAsync());
    }

    // An empty header never reaches the service through the in-memory test server: IdempotencyKeyOnTheWireTests sends one.
    [Theory]
    [InlineData("two headers")]
    [InlineData("201 characters")]
    [InlineData("a comma")]
    [InlineData("not ASCII")]
    [InlineData("a vertical bar")]
    public async Task a_key_that_is_not_one_printable_value_is_refused_and_nothing_is_written(string sent)
    {
        var client = App.ClientAs(LedgerRoles.Portal);
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts") { Content = System.Net.Http.Json.JsonContent.Create(Accounts.Accounts.Opening()) };
        string[] keys = sent switch
        {
            "two headers" => [Guid.NewGuid().ToString(), Guid.NewGuid().ToString()],
            // What a proxy may make of two headers (RFC 9110, 5.3).
            "a comma" => [$"{Guid.NewGuid()},{Guid.NewGuid()}"],
            // A client library or proxy may send it as UTF-8 or Latin-1 bytes: the retry's key would not be read as the first's.
            "not ASCII" => ["clé-ü"],
            // The row is named "<sub>|<key>": a bar in the key would let another sub cut at a bar name the same row.
            "a vertical bar" => [$"{Guid.NewGuid()}|retry"],
            _ => [new string('k', 201)],
        };
        Assert.True(request.Headers.TryAddWithoutValidation("Idempotency-Key", keys));

        var problem = await (await client.SendAsync(request)).ShouldBeProblem(HttpStatusCode.BadRequest);

        Assert.Equal("Invalid Idempotency-Key", problem.GetProperty("title").GetString());
        Assert.Equal("The Idempotency-Key header must be given once, with 1 to 200 printable ASCII characters, no comma and no vertical bar.", problem.GetProperty("detail").GetString());
        await using var session = App.Store.QuerySession();
        Assert.Equal(0, await session.Query<AccountView>().CountAsync());
        Assert.Equal(0, await session.Query<IdempotencyRecord>().CountAsync());
    }

    [Fact]
    public async Task keys_are_kept_for_the_configured_retention()
    {
        var client = App.ClientAs(LedgerRoles.Portal);
        await (await client.PostJson("/api/accounts", Accounts.Accounts.Opening(), "retained")).ShouldBe(HttpStatusCode.Created);

        await using var session = App.Store.QuerySession();
        var record = Assert.Single(await session.Query<IdempotencyRecord>().ToListAsync());
        Assert.Equal(TimeSpan.FromHours(24), record.ExpiresAt - record.CreatedAt);
        Assert.Equal(201, record.StatusCode);
    }

    [Fact]
    public async Task a_points_adjustment_retried_after_the_key_expired_is_refused_not_applied_twice()
    {
        var account = await App.OpenAccount();
        var support = App.ClientAs(LedgerRoles.Support);
        var adjustment = new { points = 50, reason = "Registration lost in the portal outage", ticketReference = "CPS-SUP-1" };
        var url = $"/api/accounts/{account}/points-adjustments";
        await (await support.PostJson(url, adjustment, "adjust-once")).ShouldBe(HttpStatusCode.Created);

        // The key and its stored response are gone after the retention; the adjustment's permanent record is not.
        App.Clock.Advance(TimeSpan.FromHours(25));
        var retry = await support.PostJson(url, adjustment, "adjust-once").ReadProblem(HttpStatusCode.Conflict);

        Assert.Equal("Already applied", retry.Title);
        await using var session = App.Store.QuerySession();
        Assert.Equal(1, await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == "points_adjusted").CountAsync());
    }

    [Fact]
    public async Task a_retry_naming_the_account_in_upper_case_is_the_same_request()
    {
        // Route ids are read in either case (RequestGate), so both spellings name one account: a retry that spells the id
        // differently is the same request and gets the first response, not a 422 "key reused for another request".
        var account = await App.OpenAccount();
        var support = App.ClientAs(LedgerRoles.Support);
        var adjustment = new { points = 50, reason = "Registration lost in the portal outage", ticketReference = "CPS-SUP-1" };
        var first = await support.PostJson($"/api/accounts/{account}/points-adjustments", adjustment, "adjust-spelled");
        var firstBody = (await first.ShouldBe(HttpStatusCode.Created)).GetRawText();

        var retry = await support.PostJson($"/api/accounts/{account.ToString().ToUpperInvariant()}/points-adjustments", adjustment, "adjust-spelled");

        Assert.Equal(firstBody, (await retry.ShouldBe(HttpStatusCode.Created)).GetRawText());
        Assert.True(retry.Headers.Contains(IdempotencyMiddleware.ReplayedHeader));
        await using var session = App.Store.QuerySession();
        Assert.Equal(1, await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == "points_adjusted").CountAsync());
    }

    [Fact]
    public async Task two_callers_may_use_the_same_key_independently()
    {
        var portal = App.ClientAs(LedgerRoles.Portal, subject: "portal-a");
        var support = App.ClientAs(LedgerRoles.Support, subject: "support-b");

        await (await portal.PostJson("/api/accounts", Accounts.Accounts.Opening(email: "a@example.ee"), "shared")).ShouldBe(HttpStatusCode.Created);
        await (await support.PostJson("/api/accounts", Support.OnBehalf.BySupport(Accounts.Accounts.Opening(email: "b@example.ee")), "shared"))
            .ShouldBe(HttpStatusCode.Created);

        await using var session = App.Store.QuerySession();
        Assert.Equal(2, await session.Query<AccountView>().CountAsync());
    }

    [Fact]
    public async Task the_portal_sending_one_key_for_two_accounts_gets_422_for_the_second_and_it_writes_nothing()
    {
        // The portal is one caller acting for every member: its keys share one key space (docs/api-behaviour.md). The path is part
        // of the request, so a key it sent for one account never replays that account's answer to another.
        await App.ListModel(points: 235);
        var (first, second) = (await App.OpenAccount(email: "first@example.ee"), await App.OpenAccount(email: "second@example.ee"));
        var portal = App.ClientAs(LedgerRoles.Portal);
        await (await portal.PostJson($"/api/accounts/{first}/products", Products.Products.Complete("11 11"), "register-1"))
            .ShouldBe(HttpStatusCode.Created);

        var problem = await (await portal.PostJson($"/api/accounts/{second}/products", Products.Products.Complete("22 22"), "register-1"))
            .ReadProblem((HttpStatusCode)422);

        Assert.Equal("Idempotency-Key reused", problem.Title);
        var products = await (await portal.GetAsync($"/api/accounts/{second}/products")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(0, products.GetArrayLength());
    }

    [Fact]
    public async Task a_retry_whose_command_now_fails_gets_the_first_response_not_the_failure()
    {
        // The key is not looked up before a registration: the retry runs into the serial its first run registered (a 409 of
        // its own), and is answered with the first response instead.
        await App.ListModel();
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var first = await member.PostJson(Products.Products.ProductsUrl(account), Products.Products.Complete(), "register-once");
        var firstBody = (await first.ShouldBe(HttpStatusCode.Created)).GetRawText();
        var eventsAfterFirst = await App.CountEvents();

        var retry = await member.PostJson(Products.Products.ProductsUrl(account), Products.Products.Complete(), "register-once");

        Assert.Equal(firstBody, (await retry.ShouldBe(HttpStatusCode.Created)).GetRawText());
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.True(retry.Headers.Contains(IdempotencyMiddleware.ReplayedHeader));
        Assert.Equal(eventsAfterFirst, await App.CountEvents());
    }

    [Fact]
    public async Task a_retry_whose_command_changes_nothing_gets_the_first_response()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var product = await member.Register(account, Products.Products.WithoutDealer());
        var first = await member.PatchJson(product.Url, new { dealer = "Photopoint" }, "complete-once");
        var firstBody = (await first.ShouldBe(HttpStatusCode.OK)).GetRawText();

        // The details are already what the retry asks for: its command commits nothing, and the key then answers.
        var retry = await member.PatchJson(product.Url, new { dealer = "Photopoint" }, "complete-once");

        Assert.Equal(firstBody, (await retry.ShouldBe(HttpStatusCode.OK)).GetRawText());
        Assert.True(retry.Headers.Contains(IdempotencyMiddleware.ReplayedHeader));
    }

    [Fact]
    public async Task a_key_past_its_retention_is_free_for_a_new_command()
    {
        var client = App.ClientAs(LedgerRoles.Portal);
        await (await client.PostJson("/api/accounts", Accounts.Accounts.Opening(email: "first@example.ee"), "reused-later")).ShouldBe(HttpStatusCode.Created);
        App.Clock.Advance(TimeSpan.FromHours(25));
        var afterRetention = App.Clock.GetUtcNow();

        // Another body under the same key: 422 within the retention, a new command after it (the expired row gives way in the
        // new command's transaction).
        var later = await client.PostJson("/api/accounts", Accounts.Accounts.Opening(email: "later@example.ee"), "reused-later");

        await later.ShouldBe(HttpStatusCode.Created);
        Assert.False(later.Headers.Contains(IdempotencyMiddleware.ReplayedHeader));
        await using var session = App.Store.QuerySession();
        Assert.Equal(2, await session.Query<AccountView>().CountAsync());
        var record = Assert.Single(await session.Query<IdempotencyRecord>().ToListAsync());
        Assert.True(record.CreatedAt >= afterRetention, "the key's row is the later command's");
    }

    [Fact]
    public async Task commands_are_checked_at_commit_except_the_one_that_calls_the_payment_provider_first()
    {
        var endpoints = App.Services.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints;
        bool CheckedAtCommit(string operationId) => endpoints
            .Single(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IEndpointNameMetadata>()?.EndpointName == operationId)
            .Metadata.GetMetadata<IdempotencyKeyCheckedAtCommit>() is not null;

        Assert.True(CheckedAtCommit("RegisterProduct"));
        Assert.True(CheckedAtCommit("OpenBusinessAccount"));
        // Saving a card at the provider happens before the commit: a retry must not do it again.
        Assert.False(CheckedAtCommit("RecordPaymentCard"));
        // Imports commit batch by batch: their key is looked up first.
        Assert.False(CheckedAtCommit("ImportLegacyAccounts"));
    }
}
