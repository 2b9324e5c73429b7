using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;

namespace CpsLedger.Tests.Platform;

/// <summary>The cases the edge issue found from outside: each is a 400 naming its field, before anything is written.</summary>
public sealed class RequestGateTests(LedgerApp app) : LedgerTest(app)
{
    private const string Nil = "00000000-0000-0000-0000-000000000000";

    private HttpClient Support => App.ClientAs(LedgerRoles.Support);

    private async Task<(Guid Account, Guid Registration)> AccountWithProduct()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var registration = await Support.Register(account, Products.Products.BySupport(Products.Products.Complete()));
        return (account, registration.RegistrationId);
    }

    private static async Task<JsonElement> Field(HttpResponseMessage response, string field)
    {
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest);
        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out var messages), $"No error for '{field}': {problem}");
        var text = problem.ToString();
        foreach (var leak in new[] { "System.", "CpsLedger.", "Wolverine.", "could not be converted" })
            Assert.DoesNotContain(leak, text);
        return messages;
    }

    private Task<HttpResponseMessage> Send(HttpMethod method, string url, string body, string contentType = "application/json") =>
        Support.SendAsync(new HttpRequestMessage(method, url) { Content = new StringContent(body, Encoding.UTF8, contentType) });

    [Theory]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("42")]
    [InlineData("")]
    [InlineData("{\"companyName\":")]
    public async Task a_body_that_is_not_a_json_object_is_a_400_naming_the_body(string body)
    {
        var messages = await Field(await Send(HttpMethod.Post, "/api/accounts", body), RequestGate.BodyKey);
        Assert.NotEmpty(messages.EnumerateArray());
    }

    // Bytes that are not UTF-8 (a client sending Latin-1, or a probe): in a member's name, in a value, in a value of the wrong type.
    [Theory]
    [InlineData("{\"\xff\xfe\":1}")]
    [InlineData("{\"companyName\":\"Valgus \xe4\",\"contactEmail\":\"a@example.ee\",\"country\":\"EE\"}")]
    [InlineData("{\"companyName\":1,\"contactEmail\":\"\xc3\",\"country\":\"EE\"}")]
    public async Task a_body_that_is_not_utf8_is_a_400_naming_the_body_never_a_500(string latin1)
    {
        var before = await EventCount();
        var body = new ByteArrayContent(latin1.Select(c => (byte)c).ToArray());
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        var response = await Support.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/accounts") { Content = body });

        Assert.Equal([RequestGate.NotUtf8], (await Field(response, RequestGate.BodyKey)).EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(before, await EventCount());
    }

    // A percent-encoded value whose bytes are not UTF-8 was decoded to replacement characters and searched for: 200, no rows, as
    // if the member had typed U+FFFD. A genuine U+FFFD, sent in UTF-8, is text like any other.
    [Theory]
    [InlineData("/api/accounts?q=%FF%FE", "q")]
    [InlineData("/api/accounts?q=M%FCller", "q")]
    [InlineData("/api/catalogue/models?search=EOS%C3", "search")]
    [InlineData("/api/catalogue/models?page=1&search=%E4", "search")]
    public async Task a_query_value_that_is_not_utf8_is_a_400_naming_it(string url, string field)
    {
        Assert.Equal([RequestGate.QueryNotUtf8], (await Field(await Support.GetAsync(url), field)).EnumerateArray().Select(m => m.GetString()));
        await (await Support.GetAsync("/api/accounts?q=M%C3%BCller%EF%BF%BD")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_nul_or_control_character_in_text_is_a_400_naming_the_field()
    {
        var before = await EventCount();
        await Field(await Send(HttpMethod.Post, "/api/accounts",
            """{"companyName":"Valgus\u0000 OÜ","contactEmail":"a@example.ee","country":"EE"}"""), "companyName");
        await Field(await Send(HttpMethod.Post, "/api/accounts",
            """{"companyName":"Valgus\nOÜ","contactEmail":"a@example.ee","country":"EE"}"""), "companyName");
        await Field(await Send(HttpMethod.Post, "/api/accounts",
            """{"companyName":"Valgus \u202Eevil","contactEmail":"a@example.ee","country":"EE"}"""), "companyName");
        await Field(await Send(HttpMethod.Post, "/api/accounts",
            """{"companyName":"Valgus","contactEmail":"a@example.ee","country":"EE","oldCpsEmails":["x\u0001@example.ee"]}"""), "oldCpsEmails[0]");
        await Field(await Support.GetAsync("/api/catalogue/models?search=a%00b"), "search");
        await Field(await Support.GetAsync("/api/accounts?q=a%00b"), "q");
        Assert.Equal(before, await EventCount());
    }

    [Fact]
    public async Task multi_line_text_is_accepted_where_a_field_allows_it()
    {
        var (account, registration) = await AccountWithProduct();
        var response = await Send(HttpMethod.Post, $"/api/accounts/{account}/products/{registration}/deregistration",
            """{"reason":"sold","note":"Sold to a colleague.\nInvoice 17.\tPaid.","supportReason":"Member called.\nChecked the sale.","ticketReference":"CPS-SUP-1"}""");
        await response.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task an_all_zero_id_in_a_route_or_a_body_is_a_400_naming_it()
    {
        var (account, _) = await AccountWithProduct();
        var before = await EventCount();
        await Field(await Support.PatchJson($"/api/accounts/{account}/products/{Nil}", new { dealer = "X" }), "registrationId");
        await Field(await Support.PostJson($"/api/accounts/{Nil}/points-adjustments",
            new { points = 5, reason = "Goodwill gesture", ticketReference = "CPS-1" }), "accountId");
        await Field(await Support.GetAsync($"/api/support/overrides?accountId={Nil}"), "accountId");
        await Field(await Support.GetAsync($"/api/accounts/not-a-uuid/summary"), "accountId");
        Assert.Equal(before, await EventCount());
    }

    [Fact]
    public async Task an_id_in_a_route_or_a_query_is_read_in_its_documented_form_only_as_in_a_body()
    {
        // A body's id is read only as 8-4-4-4-12 hex digits; the route and the query took any form .NET parses (no hyphens, in
        // braces or parentheses, with spaces around), so the same account had several URLs, and a retry's Idempotency-Key
        // met a different request under another spelling of the same path.
        var (account, _) = await AccountWithProduct();
        var before = await EventCount();
        foreach (var form in new[] { account.ToString("N"), account.ToString("B"), account.ToString("P"), $"{account}%20", $"%20{account}" })
        {
            await Field(await Support.GetAsync($"/api/accounts/{form}/summary"), "accountId");
            await Field(await Support.PostJson($"/api/accounts/{form}/points-adjustments",
                new { points = 5, reason = "Goodwill gesture", ticketReference = "CPS-1" }), "accountId");
            await Field(await Support.GetAsync($"/api/support/overrides?accountId={form}"), "accountId");
        }

        Assert.Equal(before, await EventCount());
        // Letter case is no other form: UUIDs are read in either case.
        await (await Support.GetAsync($"/api/accounts/{account.ToString().ToUpperInvariant()}/summary")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_tier_table_with_tiers_null_missing_or_holding_null_is_a_400_naming_tiers()
    {
        var finance = App.ClientAs(LedgerRoles.Finance);
        async Task<JsonElement> Put(string body) =>
            await Field(await finance.SendAsync(new HttpRequestMessage(HttpMethod.Put, "/api/tiers")
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
            }), body.Contains("[null]") ? "tiers[0]" : "tiers");

        await Put("""{"invitationThreshold":100,"enterpriseAbovePoints":5000,"tiers":null,"reason":"New prices"}""");
        await Put("""{"invitationThreshold":100,"enterpriseAbovePoints":5000,"reason":"New prices"}""");
        await Put("""{"invitationThreshold":100,"enterpriseAbovePoints":5000,"tiers":[null],"reason":"New prices"}""");
        var missingNumber = await finance.SendAsync(new HttpRequestMessage(HttpMethod.Put, "/api/tiers")
        {
            Content = new StringContent("""{"invitationThreshold":100,"tiers":[],"reason":"New prices"}""", Encoding.UTF8, "application/json"),
        });
        Assert.Equal("Required.", (await Field(missingNumber, "enterpriseAbovePoints"))[0].GetString());
    }

    [Fact]
    public async Task no_default_is_invented_for_a_missing_enum_and_enums_bind_by_name_only()
    {
        var (account, registration) = await AccountWithProduct();
        var url = $"/api/accounts/{account}/products/{registration}/deregistration";
        Assert.Equal("Required.", (await Field(await Send(HttpMethod.Post, url, """{"note":"gone"}"""), "reason"))[0].GetString());
        await Field(await Send(HttpMethod.Post, url, """{"reason":0}"""), "reason");
        await Field(await Send(HttpMethod.Post, url, """{"reason":"0"}"""), "reason");
        await Field(await Send(HttpMethod.Post, url, """{"reason":"RegisteredInError"}"""), "reason");
        var join = $"/api/accounts/{account}/membership";
        Assert.Equal("Required.", (await Field(await Send(HttpMethod.Post, join, """{"tier":"gold"}"""), "paymentMethod"))[0].GetString());
        await Field(await Send(HttpMethod.Post, ProductsUrl(account), """{"modelCode":"EOS-R5","serialNumber":"9","bestGuesses":[1]}"""),
            "bestGuesses[0]");

        // By name in any letter case.
        await (await Send(HttpMethod.Post, url, """{"reason":"Registered_In_Error","supportReason":"Wrong model","ticketReference":"CPS-SUP-1"}"""))
            .ShouldBe(HttpStatusCode.OK);
    }

    private static string ProductsUrl(Guid account) => Products.Products.ProductsUrl(account);

    [Fact]
    public async Task a_value_of_the_wrong_shape_gets_a_field_error_in_the_request_casing_without_type_names()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var before = await EventCount();
        var date = await Field(await Send(HttpMethod.Post, ProductsUrl(account), """{"modelCode":"EOS-R5","purchaseDate":"01.03.2024"}"""),
            "purchaseDate");
        Assert.Contains("YYYY-MM-DD", date[0].GetString());
        var method = await Field(await Send(HttpMethod.Post, $"/api/accounts/{account}/membership", """{"tier":"gold","paymentMethod":"cash"}"""),
            "paymentMethod");
        Assert.Equal("Must be one of: card, bank_transfer.", method[0].GetString());
        await Field(await Send(HttpMethod.Post, ProductsUrl(account), """{"modelCode":"EOS-R5","PurchaseDate":"soon"}"""), "PurchaseDate");
        await Field(await Send(HttpMethod.Post, ProductsUrl(account), """{"modelCode":"EOS-R5","modelCode":"EOS-R6"}"""), "modelCode");
        await Field(await Send(HttpMethod.Post, ProductsUrl(account), """{"modelCode":"EOS-R5","colour":"black"}"""), "colour");
        await Field(await Send(HttpMethod.Post, $"/api/accounts/{account}/points-adjustments",
            """{"points":1e309,"reason":"Goodwill gesture","ticketReference":"CPS-1"}"""), "points");
        Assert.Equal(before, await EventCount());
    }

    [Fact]
    public async Task a_member_name_in_another_letter_case_is_not_a_field_of_the_request()
    {
        var account = await App.OpenAccount();
        var before = await EventCount();
        const string Spelled = "Not a field of this request: member names are case-sensitive, this one is spelled ";

        var capital = await Field(await Send(HttpMethod.Post, "/api/accounts",
            """{"CompanyName":"Valgus OÜ","contactEmail":"a@example.ee","country":"EE","oldCpsEmails":[]}"""), "CompanyName");
        Assert.Equal(Spelled + "companyName.", Assert.Single(capital.EnumerateArray()).GetString());
        // Beside the exact spelling it is still another member, not the same one given twice.
        var both = await Field(await Send(HttpMethod.Post, "/api/accounts",
            """{"companyName":"Valgus OÜ","CompanyName":"Valgus","contactEmail":"a@example.ee","country":"EE"}"""), "CompanyName");
        Assert.Equal(Spelled + "companyName.", Assert.Single(both.EnumerateArray()).GetString());
        var nested = await Field(await Send(HttpMethod.Put, $"/api/accounts/{account}/billing-details",
            """{"address":{"STREET":"Pikk 1","postalCode":"10123","city":"Tallinn","country":"EE"}}"""), "address.STREET");
        Assert.Equal(Spelled + "street.", Assert.Single(nested.EnumerateArray()).GetString());
        var unknown = await Field(await Send(HttpMethod.Post, "/api/accounts",
            """{"companyName":"Valgus OÜ","contactEmail":"a@example.ee","country":"EE","fax":"1"}"""), "fax");
        Assert.Equal("Not a field of this request.", Assert.Single(unknown.EnumerateArray()).GetString());

        Assert.Equal(before, await EventCount());
        // Spelled as documented, the same address is taken (enum values stay readable in any letter case, above); support gives
        // its reason and ticket as for every change on a member's behalf.
        await (await Send(HttpMethod.Put, $"/api/accounts/{account}/billing-details",
            """{"address":{"street":"Pikk 1","postalCode":"10123","city":"Tallinn","country":"EE"},"supportReason":"Member called: new office","ticketReference":"CPS-SUP-2"}"""))
            .ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task an_unreadable_query_value_is_a_400_naming_it_and_never_widens_the_filter()
    {
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        await Field(await auditor.GetAsync("/api/audit/verification?accountId=not-a-uuid"), "accountId");
        var account = await App.OpenAccount();
        await Field(await Support.GetAsync($"/api/accounts/{account}/products?includeDeregistered=maybe"), "includeDeregistered");
        await Field(await Support.GetAsync("/api/support/overrides?from=yesterday"), "from");
        await Field(await Support.GetAsync("/api/support/overrides?page=abc"), "page");
        await Field(await Support.GetAsync("/api/support/overrides?page=0"), "page");
        await Field(await Support.GetAsync("/api/support/overrides?pageSize=100000"), "pageSize");
        await Field(await Support.GetAsync("/api/support/overrides?acountId=" + account), "acountId");
        await Field(await Support.GetAsync($"/api/accounts/{account}/history?page=1&page=2"), "page");
    }

    // Every paged list: page runs from 1 to Paging.MaxPage, so page x pageSize always fits the database's offset.
    [Theory]
    [InlineData("/api/catalogue/models", 200)]
    [InlineData("/api/accounts/{account}/history", 500)]
    [InlineData("/api/support/overrides", 200)]
    [InlineData("/api/operations/dead-letters", 200)]
    public async Task a_page_past_the_largest_is_a_400_naming_page_that_says_what_is_accepted_never_a_500(string path, int? largestPageSize)
    {
        var url = path.Replace("{account}", (await App.OpenAccount()).ToString());
        var size = largestPageSize is { } largest ? $"&pageSize={largest}" : "";
        var accepted = $"Must be a whole number from 1 to {Paging.MaxPage}.";

        foreach (var page in new[] { "2147483647", $"{Paging.MaxPage + 1}", "99999999999", "abc", "0", "-1" })
        {
            var messages = await Field(await Support.GetAsync($"{url}?page={page}{size}"), "page");
            Assert.Equal([accepted], messages.EnumerateArray().Select(m => m.GetString()));
        }

        // The largest page is a page like any other past the end: empty.
        var last = await (await Support.GetAsync($"{url}?page={Paging.MaxPage}{size}")).ShouldBe(HttpStatusCode.OK);
        // The page's list: "items", or the one list a page without that name holds (the history's chainBreaks are not its list).
        var listed = last.TryGetProperty("items", out var items) ? items
            : last.EnumerateObject().Single(p => p.Value.ValueKind == JsonValueKind.Array).Value;
        Assert.Equal(0, listed.GetArrayLength());
    }

    // The overrides, the history and time travel once checked these bounds again in their own code, after the gate; that code was
    // removed on the strength of this test: whatever the generated endpoint code would read as a number out of these bounds (int and
    // long parsing also take spaces around, a sign, any letter case of the name) the gate refuses first, with its own words.
    [Theory]
    [InlineData("/api/support/overrides", "page", Paging.MaxPage)]
    [InlineData("/api/support/overrides", "pageSize", 200)]
    [InlineData("/api/accounts/{account}/history", "page", Paging.MaxPage)]
    [InlineData("/api/accounts/{account}/history", "pageSize", 500)]
    [InlineData("/api/accounts/{account}/as-of", "sequence", long.MaxValue)]
    public async Task a_whole_number_out_of_its_range_is_refused_by_the_gate_before_the_endpoint_reads_it(string path, string name, long largest)
    {
        var url = path.Replace("{account}", (await App.OpenAccount()).ToString());
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        var words = name == "sequence" ? GetAccountAsOfEndpoint.NotASequence : $"Must be a whole number from 1 to {largest}.";
        var outside = new List<string> { "0", "-0", "+0", "00", "-1", "%200", "0%20", "%2B0", "-2147483648", "-2147483649",
            "-9223372036854775808", "9223372036854775808" };
        if (largest < long.MaxValue)
            outside.AddRange([$"{largest + 1}", $"+{largest + 1}", $"%20{largest + 1}%20", "2147483647", "2147483648"]);

        var spellings = new[] { name, name.ToUpperInvariant(), char.ToUpperInvariant(name[0]) + name[1..] };
        foreach (var (value, spelled) in outside.SelectMany(value => spellings.Select(spelled => (value, spelled))))
        {
            var problem = await auditor.GetAsync($"{url}?{spelled}={value}").ReadProblem(HttpStatusCode.BadRequest);
            Assert.Equal([name], problem.Errors.Keys);
            // A sequence too large for a long is told the range it is out of, the gate's words for any whole number.
            var expected = name == "sequence" && value == "9223372036854775808" ? $"Must be a whole number from 1 to {largest}." : words;
            Assert.True(problem.Errors[name] is [var said] && said == expected, $"{spelled}={value}: {string.Join(" | ", problem.Errors[name])}");
        }
    }

    [Theory]
    [InlineData("history?from={0}")]
    [InlineData("history?to={0}")]
    [InlineData("history?through={0}")]
    [InlineData("as-of?timestamp={0}")]
    public async Task a_timestamp_without_its_offset_is_refused_not_read_as_utc(string query)
    {
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        var account = await App.OpenAccount();
        var field = query[(query.IndexOf('?') + 1)..query.IndexOf('=')];
        const string Wanted = "Must be a date and time in ISO 8601 form with its offset, e.g. 2024-03-01T09:30:00Z.";

        foreach (var local in new[] { "2026-12-03T10:00:00", "2026-12-03", "2026-12-03T14:25:20.5", "03.12.2026 10:00 +02:00" })
        {
            var url = $"/api/accounts/{account}/" + string.Format(CultureInfo.InvariantCulture, query, Uri.EscapeDataString(local));
            Assert.Equal([Wanted], (await Field(await auditor.GetAsync(url), field)).EnumerateArray().Select(m => m.GetString()));
        }

        // With its offset, in UTC or local time, the moment is known.
        foreach (var known in new[] { "2030-01-01T00:00:00Z", "2030-01-01T02:00:00+02:00", "2030-01-01T00:00:00.123z" })
            await (await auditor.GetAsync($"/api/accounts/{account}/" + string.Format(CultureInfo.InvariantCulture, query, Uri.EscapeDataString(known))))
                .ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("history?from=")]
    [InlineData("as-of?timestamp=")]
    public async Task a_plus_offset_left_unescaped_in_the_url_is_told_to_escape_it(string query)
    {
        // A query string reads + as a space, so "+02:00" typed into a URL arrives as " 02:00": the caller did give an offset,
        // and "with its offset" alone sent a portal developer looking for one (seen walking the API tour).
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        var account = await App.OpenAccount();
        var field = query[(query.IndexOf('?') + 1)..^1];

        var refused = await Field(await auditor.GetAsync($"/api/accounts/{account}/{query}2026-12-03T10:00:00+02:00"), field);

        Assert.Equal(["Must be a date and time in ISO 8601 form with its offset, e.g. 2024-03-01T09:30:00Z. A + in a URL's query " +
                      "is read as a space: write the offset's + as %2B (2026-12-03T10:00:00%2B02:00)."],
            refused.EnumerateArray().Select(m => m.GetString()));
        await (await auditor.GetAsync($"/api/accounts/{account}/{query}2030-12-03T10:00:00%2B02:00")).ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("history?from=")]
    [InlineData("as-of?timestamp=")]
    public async Task a_moment_to_the_nanosecond_is_told_its_precision(string query)
    {
        // `date +%N` and many clocks give nine digits after the seconds; a moment is read to 100 ns (seven). Until 2026-12-07 the
        // refusal asked for ISO 8601 with an offset, which the value was (seen by an auditor walking time travel).
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        var account = await App.OpenAccount();
        var field = query[(query.IndexOf('?') + 1)..^1];

        var refused = await Field(await auditor.GetAsync($"/api/accounts/{account}/{query}2030-12-07T09:32:59.527209123Z"), field);

        Assert.Equal(["Must be a date and time in ISO 8601 form with its offset, e.g. 2024-03-01T09:30:00Z. Give at most 7 digits " +
                      "after the seconds (100 ns): 2030-12-07T09:32:59.5272091Z."],
            refused.EnumerateArray().Select(m => m.GetString()));
        await (await auditor.GetAsync($"/api/accounts/{account}/{query}2030-12-07T09:32:59.5272091Z")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task the_support_overrides_range_needs_offsets_too()
    {
        await Field(await Support.GetAsync("/api/support/overrides?from=2026-12-03T10:00:00"), "from");
        await Field(await Support.GetAsync("/api/support/overrides?to=2026-12-03"), "to");
        await Field(await Support.GetAsync("/api/support/overrides?through=2026-12-03T10:00:00"), "through");
        await (await Support.GetAsync("/api/support/overrides?from=2026-12-03T10:00:00%2B02:00")).ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("/api/accounts/{0}/history")]
    [InlineData("/api/support/overrides")]
    public async Task a_time_range_that_ends_before_it_starts_is_refused_not_answered_empty(string path)
    {
        var account = await App.OpenAccount();
        var url = string.Format(CultureInfo.InvariantCulture, path, account);
        var auditor = App.ClientAs(LedgerRoles.Auditor);

        var messages = await Field(await auditor.GetAsync($"{url}?from=2026-12-04T10:00:00%2B02:00&to=2026-12-04T07:59:59Z"), "from");
        var message = Assert.Single(messages.EnumerateArray()).GetString();
        Assert.Contains("2026-12-04T08:00:00", message);
        Assert.Contains("2026-12-04T07:59:59", message);

        // One end alone, or a range that is in order (an empty one included: to is exclusive), is read as before.
        await (await auditor.GetAsync($"{url}?from=2026-12-04T10:00:00Z")).ShouldBe(HttpStatusCode.OK);
        await (await auditor.GetAsync($"{url}?to=2026-12-04T10:00:00Z")).ShouldBe(HttpStatusCode.OK);
        await (await auditor.GetAsync($"{url}?from=2026-12-04T10:00:00Z&to=2026-12-04T10:00:00Z")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task an_optional_body_may_be_left_out_or_null_and_is_otherwise_read_as_strictly_as_any()
    {
        // A migration is a member's call without a body (support's carries its reason); the account has nothing to migrate, so a
        // body the gate lets through is answered by the endpoint's 409.
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var url = $"/api/accounts/{account}/migration";
        await (await member.PostAsync(url, null)).ShouldBeProblem(HttpStatusCode.Conflict);
        await (await member.PostRaw(url, "null")).ShouldBeProblem(HttpStatusCode.Conflict);
        await (await member.PostRaw(url, "{}")).ShouldBeProblem(HttpStatusCode.Conflict);

        await Field(await member.PostRaw(url, "[]"), RequestGate.BodyKey);
        await Field(await member.PostRaw(url, "{\"supportreason\":\"x\"}"), "supportreason");
        await (await member.PostRaw(url, "reason=x", "text/plain")).ShouldBeProblem(HttpStatusCode.UnsupportedMediaType);
    }

    // One round trip: every field problem of a body in one 400, the shape's (the strict reader's) and the validator's together.
    private static async Task<string> AllErrors(HttpResponseMessage response)
    {
        var problem = await response.ShouldBeProblem(HttpStatusCode.BadRequest);
        return string.Join("\n", problem.GetProperty("errors").EnumerateObject().OrderBy(e => e.Name, StringComparer.Ordinal)
            .Select(e => $"{e.Name}: {string.Join(" | ", e.Value.EnumerateArray().Select(m => m.GetString()))}"));
    }

    private static string Expect(params string[] lines) => string.Join("\n", lines.Order(StringComparer.Ordinal));

    [Fact]
    public async Task a_missing_member_and_a_blank_field_are_named_in_one_400_without_a_rule_error_for_the_missing_one()
    {
        var before = await EventCount();
        // The validator, run on the body read with a stand-in for country, says country must not be empty and must be a code:
        // only the reader's "Required." is the client's to fix there.
        Assert.Equal(Expect("companyName: Must not be empty or blank.", "country: Required."),
            await AllErrors(await Send(HttpMethod.Post, "/api/accounts", """{"companyName":"  ","contactEmail":"a@example.ee","oldCpsEmails":[]}""")));
        Assert.Equal(Expect("contactEmail: Contact e-mail must be a valid e-mail address.", "country: Required.", "oldCpsEmails[0]: Must not be null: a list holds values only."),
            await AllErrors(await Send(HttpMethod.Post, "/api/accounts", """{"companyName":"Valgus OÜ","contactEmail":"not-an-address","oldCpsEmails":[null]}""")));
        Assert.Equal(before, await EventCount());
    }

    [Fact]
    public async Task two_shape_errors_in_one_body_are_both_named()
    {
        var account = await App.OpenAccount();
        var before = await EventCount();
        // A wrong type and a missing member; an unknown member and a missing one; a control character and a repeated member.
        Assert.Equal(Expect("companyName: Must be text.", "country: Required."),
            await AllErrors(await Send(HttpMethod.Post, "/api/accounts", """{"companyName":42,"contactEmail":"a@example.ee"}""")));
        Assert.Equal(Expect("country: Required.", "fax: Not a field of this request."),
            await AllErrors(await Send(HttpMethod.Post, "/api/accounts", """{"companyName":"Valgus OÜ","contactEmail":"a@example.ee","fax":"1"}""")));
        Assert.Equal(Expect("companyName: Must not contain control characters (found U+0000 at position 7).", "contactEmail: Given more than once."),
            await AllErrors(await Send(HttpMethod.Post, "/api/accounts",
                """{"companyName":"Valgus\u0000","contactEmail":"a@example.ee","contactEmail":"b@example.ee","country":"EE"}""")));
        // Null where not allowed and an enum name that is not one.
        Assert.Equal(Expect("paymentMethod: Must be one of: card, bank_transfer.", "tier: Must not be null."),
            await AllErrors(await Send(HttpMethod.Post, $"/api/accounts/{account}/membership", """{"tier":null,"paymentMethod":"cash"}""")));
        // Two missing members in two objects, the body and a tier in its list.
        var finance = App.ClientAs(LedgerRoles.Finance);
        Assert.Equal(Expect("enterpriseAbovePoints: Required.", "tiers[0].code: Required."),
            await AllErrors(await finance.SendAsync(new HttpRequestMessage(HttpMethod.Put, "/api/tiers")
            {
                Content = new StringContent("""{"invitationThreshold":500,"tiers":[{"name":"Gold","kind":"standard","pointsRequired":500,"annualFee":100,"currency":"EUR"}],"reason":"New prices"}""",
                    Encoding.UTF8, "application/json"),
            })));
        Assert.Equal(before, await EventCount());
    }

    [Fact]
    public async Task an_unknown_member_is_named_once_by_its_own_name()
    {
        var before = await EventCount();
        // A null item in a list of a member the request does not have: the member is what to fix, named once (until 2026-12-06
        // its item was named too, "fax[0]").
        Assert.Equal(Expect("fax: Not a field of this request."),
            await AllErrors(await Send(HttpMethod.Post, "/api/accounts",
                """{"companyName":"Valgus OÜ","contactEmail":"a@example.ee","country":"EE","fax":[null]}""")));
        Assert.Equal(Expect("oldCpsEmails[0]: Must not be null: a list holds values only.", "tiers: Not a field of this request."),
            await AllErrors(await Send(HttpMethod.Post, "/api/accounts",
                """{"companyName":"Valgus OÜ","contactEmail":"a@example.ee","country":"EE","oldCpsEmails":[null],"tiers":[{"x":[null]}]}""")));
        // A name the JSON path writes in brackets is keyed by the name itself, as every other member (until 2026-12-06 "['odd name']").
        Assert.Equal(Expect("odd name: Not a field of this request."),
            await AllErrors(await Send(HttpMethod.Post, "/api/accounts",
                """{"companyName":"Valgus OÜ","contactEmail":"a@example.ee","country":"EE","odd name":1}""")));
        Assert.Equal(before, await EventCount());
    }

    [Fact]
    public async Task a_cross_field_rule_does_not_fire_on_a_stand_in_for_a_missing_or_unreadable_member()
    {
        // Renewal: "leave tier out when renew is false" would fire on renew's stand-in false; renew is missing, not false.
        var account = await App.OpenAccount();
        var longTicket = new string('T', 61);
        Assert.Equal(Expect("renew: Required.", "ticketReference: Must be at most 60 characters long."),
            await AllErrors(await Send(HttpMethod.Put, $"/api/accounts/{account}/membership/renewal",
                $$"""{"tier":"gold","ticketReference":"{{longTicket}}"}""")));
        // A bank transfer: "give the invoice number, the creditor reference or the transfer's reference" would fire on the
        // unreadable invoice number's stand-in (none); the invoice number is there, only not as text.
        var finance = App.ClientAs(LedgerRoles.Finance);
        Assert.Equal(Expect("bankReference: Must not be empty or blank.", "invoiceNumber: Must be text."),
            await AllErrors(await finance.PostRaw("/api/payments/bank-transfers",
                """{"invoiceNumber":42,"amount":10,"currency":"EUR","valueDate":"2026-01-01","bankReference":""}""")));
        // A rule on a well-formed field that holds whatever the missing member is still answers.
        Assert.Equal(Expect("renew: Required.", "tier: Must be at most 40 characters long."),
            await AllErrors(await Send(HttpMethod.Put, $"/api/accounts/{account}/membership/renewal", $$"""{"tier":"{{new string('g', 41)}}"}""")));
        // A tier of no kind: an enterprise tier's rules (no points, a number of products) would fire on one stand-in, a standard
        // tier's on none; neither is said. The threshold's rule holds whatever the kind: silver's 200 points are above it.
        Assert.Equal(Expect("invitationThreshold: Must be at least the points of the lowest standard tier (200): an invited account must have a tier it can join.",
                "tiers[0].kind: Must be one of: standard, enterprise.", "tiers[1].name: Must not be empty or blank."),
            await AllErrors(await finance.SendAsync(new HttpRequestMessage(HttpMethod.Put, "/api/tiers")
            {
                Content = new StringContent("""
                    {"invitationThreshold":100,"enterpriseAbovePoints":5000,"reason":"New prices","tiers":[
                    {"code":"gold","name":"Gold","kind":"platinum","pointsRequired":500,"annualFee":100,"currency":"EUR"},
                    {"code":"silver","name":"","kind":"standard","pointsRequired":200,"annualFee":50,"currency":"EUR"}]}
                    """, Encoding.UTF8, "application/json"),
            })));
    }

    [Fact]
    public async Task a_route_error_does_not_hide_the_body_s_problems()
    {
        const string NotAnId = "accountId: Must be a UUID, e.g. 3f2504e0-4f89-41d3-9a0c-0305e82c3301.";
        Assert.Equal(Expect(NotAnId, "points: Must not be 0."),
            await AllErrors(await Support.PostJson("/api/accounts/not-a-uuid/points-adjustments",
                new { points = 0, reason = "Goodwill gesture", ticketReference = "CPS-1" })));
        Assert.Equal(Expect(NotAnId, "points: Required."),
            await AllErrors(await Support.PostJson("/api/accounts/not-a-uuid/points-adjustments",
                new { reason = "Goodwill gesture", ticketReference = "CPS-1" })));
    }

    [Fact]
    public async Task a_body_that_is_not_json_is_a_415_problem()
    {
        var response = await Send(HttpMethod.Post, "/api/accounts", "companyName=x", "application/x-www-form-urlencoded");
        await response.ShouldBeProblem(HttpStatusCode.UnsupportedMediaType);
    }

    [Theory]
    [InlineData("gzip", true)]
    [InlineData("gzip", false)]
    [InlineData("br", false)]
    public async Task a_compressed_body_is_a_415_saying_to_send_it_uncompressed_and_writes_nothing(string coding, bool compressed)
    {
        // Bodies are read as they come: a gzip body was a 400 "not valid JSON", and a plain one labelled gzip was taken as it was.
        var json = JsonSerializer.SerializeToUtf8Bytes(Accounts.Accounts.Opening($"{Guid.NewGuid():N}@example.ee"));
        if (compressed)
        {
            using var zipped = new MemoryStream();
            await using (var gzip = new System.IO.Compression.GZipStream(zipped, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
                await gzip.WriteAsync(json);
            json = zipped.ToArray();
        }

        var content = new ByteArrayContent(json);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        content.Headers.ContentEncoding.Add(coding);
        var before = await EventCount();
        var response = await App.ClientAs(LedgerRoles.Portal).SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/accounts") { Content = content });

        var problem = await response.ShouldBeProblem(HttpStatusCode.UnsupportedMediaType);
        Assert.Contains($"Content-Encoding: {coding}", problem.GetProperty("detail").GetString());
        // RFC 9110 12.5.3: a 415 for a content coding says which codings are read.
        Assert.Equal(["identity"], response.Headers.GetValues("Accept-Encoding"));
        Assert.Equal(before, await EventCount());
    }

    [Fact]
    public async Task a_body_whose_content_coding_is_identity_is_read_as_any_other()
    {
        var content = new StringContent(JsonSerializer.Serialize(Accounts.Accounts.Opening($"{Guid.NewGuid():N}@example.ee")),
            Encoding.UTF8, "application/json");
        content.Headers.ContentEncoding.Add("identity");
        var response = await App.ClientAs(LedgerRoles.Portal).SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/accounts") { Content = content });
        await response.ShouldBe(HttpStatusCode.Created);
    }

    private async Task<long> EventCount()
    {
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand($"select count(*) from {App.SchemaName}.mt_events where type <> 'tombstone'", connection);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    // A whole number too large for its type was told the range's own words ("a positive number"), which it is: the range it takes.
    [Fact]
    public async Task a_sequence_too_large_for_a_whole_number_is_told_the_range_it_takes()
    {
        var auditor = App.ClientAs(LedgerRoles.Auditor);

        var messages = await Field(await auditor.GetAsync($"/api/accounts/{Guid.NewGuid()}/as-of?sequence=99999999999999999999"), "sequence");

        Assert.Equal(["Must be a whole number from 1 to 9223372036854775807."], messages.EnumerateArray().Select(m => m.GetString()));
    }

    // System.Text.Json stops at 64 levels: a deeper body was "not valid JSON", though every byte of it was.
    [Fact]
    public async Task a_body_nested_deeper_than_the_limit_is_told_the_limit()
    {
        var body = new string('[', 100) + new string(']', 100);

        var messages = await Field(await Send(HttpMethod.Post, "/api/accounts", $"{{\"companyName\":{body}}}"), RequestGate.BodyKey);

        Assert.Equal([RequestGate.TooDeep], messages.EnumerateArray().Select(m => m.GetString()));
        Assert.Contains($"{RequestGate.MaxDepth}", RequestGate.TooDeep);
    }

    // Routing refuses another Content-Type (the endpoint's accepted types) before the gate runs: its 415 said nothing.
    [Fact]
    public async Task routings_415_says_the_body_must_be_json()
    {
        var problem = await (await Send(HttpMethod.Post, "/api/accounts", "companyName=x", "text/plain"))
            .ShouldBeProblem(HttpStatusCode.UnsupportedMediaType);

        Assert.Equal(RequestGate.JsonOnly, problem.GetProperty("detail").GetString());
    }
}
