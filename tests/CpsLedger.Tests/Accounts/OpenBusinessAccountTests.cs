using System.Net;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Marten;

namespace CpsLedger.Tests.Accounts;

public sealed class OpenBusinessAccountTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task the_portal_opens_an_account_and_its_owner_reads_it_back()
    {
        var response = await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts",
            Accounts.Opening(email: " Studio@Example.ee ", oldEmails: ["Old.Studio@Example.ee"]));

        var created = await response.ShouldBe(HttpStatusCode.Created);
        var id = created.GetProperty("accountId").GetGuid();
        Assert.Equal($"/api/accounts/{id}", response.Headers.Location?.ToString());
        Assert.Equal($"/api/accounts/{id}", created.GetProperty("url").GetString());
        // Deprecated, still sent: callers written before accountId read the id from it.
        Assert.Equal(id, created.GetProperty("value").GetGuid());

        var read = await App.ClientAs(LedgerRoles.Member, id).GetAsync($"/api/accounts/{id}");
        await read.ShouldBe(HttpStatusCode.OK);
        Snapshots.MatchJson(await read.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(LedgerRoles.Support)]
    [InlineData(LedgerRoles.Auditor)]
    [InlineData(LedgerRoles.Portal)]
    public async Task staff_roles_read_any_account(string role)
    {
        var id = await App.OpenAccount();
        await (await App.ClientAs(role).GetAsync($"/api/accounts/{id}")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task support_may_open_an_account_too_with_its_reason_and_ticket()
    {
        // Support speaks for a company that has not signed up itself (Support/SupportOnBehalfTests.cs has the rest).
        var response = await App.ClientAs(LedgerRoles.Support).PostJson("/api/accounts", Support.OnBehalf.BySupport(Accounts.Opening()));
        await response.ShouldBe(HttpStatusCode.Created);
    }

    [Theory]
    [InlineData(LedgerRoles.Member)]
    [InlineData(LedgerRoles.Auditor)]
    [InlineData(LedgerRoles.Finance)]
    public async Task other_roles_may_not_open_accounts(string role)
    {
        var response = await App.ClientAs(role, Guid.NewGuid()).PostJson("/api/accounts", Accounts.Opening());
        var problem = await response.ShouldBeProblem(HttpStatusCode.Forbidden);
        // Says which roles may, so a portal developer or an operator with the wrong token knows what to ask for.
        Assert.Equal("This operation is for the roles portal or support; the token's roles are " + role + ".",
            problem.GetProperty("detail").GetString());
        await AssertNoEvents();
    }

    [Fact]
    public async Task a_second_account_with_the_same_contact_email_in_other_case_is_a_conflict()
    {
        await App.OpenAccount("studio@example.ee");

        var response = await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Accounts.Opening(email: "STUDIO@example.EE"));

        var problem = await response.ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Contact e-mail already in use", problem.Title);
        Assert.DoesNotContain("studio@", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        // The refused account was never created: no Location points at it.
        Assert.Null(response.Headers.Location);
    }

    [Fact]
    public async Task concurrent_openings_with_one_contact_email_give_one_account_and_conflicts_never_a_500()
    {
        var client = App.ClientAs(LedgerRoles.Portal);
        for (var round = 0; round < 5; round++)
        {
            var email = $"race{round}@example.ee";
            var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
                client.PostJson("/api/accounts", Accounts.Opening(email: email))));

            Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
            Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.Created),
                r => Assert.Equal((HttpStatusCode.Conflict, null), (r.StatusCode, r.Headers.Location)));
        }

        await using var session = App.Store.QuerySession();
        Assert.Equal(5, await session.Query<AccountView>().CountAsync());
    }

    [Fact]
    public async Task a_member_cannot_read_another_account()
    {
        var mine = await App.OpenAccount("mine@example.ee");
        var theirs = await App.OpenAccount("theirs@example.ee");

        var response = await App.ClientAs(LedgerRoles.Member, mine).GetAsync($"/api/accounts/{theirs}");

        var problem = await response.ShouldBeProblem(HttpStatusCode.Forbidden);
        Assert.Equal("A member's token reaches only the account it names.", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task a_missing_account_is_404()
    {
        var response = await App.ClientAs(LedgerRoles.Support).GetAsync($"/api/accounts/{Guid.NewGuid()}");
        await response.ShouldBeProblem(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task a_missing_token_is_401()
    {
        var response = await App.Anonymous().PostJson("/api/accounts", Accounts.Opening());
        await response.ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task a_token_signed_with_another_key_is_401()
    {
        var client = App.Anonymous();
        client.DefaultRequestHeaders.Authorization = new("Bearer",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtYWxsb3J5Iiwicm9sZSI6InN1cHBvcnQiLCJhdWQiOiJjcHNsZWRnZXItYXBpIn0.c2lnbmVkLXdpdGgtYW5vdGhlci1rZXk");
        var response = await client.GetAsync($"/api/accounts/{Guid.NewGuid()}");
        await response.ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("companyName", "", "studio@example.ee", "EE")]
    [InlineData("companyName", "   ", "studio@example.ee", "EE")]
    [InlineData("contactEmail", "Studio", "", "EE")]
    [InlineData("contactEmail", "Studio", "not-an-email", "EE")]
    [InlineData("contactEmail", "Studio", "studio@localhost", "EE")]
    [InlineData("contactEmail", "Studio", "studio\u200B@example.ee", "EE")]
    [InlineData("country", "Studio", "studio@example.ee", "")]
    [InlineData("country", "Studio", "studio@example.ee", "ee")]
    [InlineData("country", "Studio", "studio@example.ee", "XX")]
    [InlineData("country", "Studio", "studio@example.ee", "EST")]
    public async Task invalid_details_are_400_with_the_field_named_and_nothing_written(string field, string company, string email, string country)
    {
        var response = await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts",
            new { companyName = company, contactEmail = email, country });

        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(problem.Errors.ContainsKey(field), string.Join(", ", problem.Errors.Keys));
        await AssertNoEvents();
    }

    [Fact]
    public async Task invalid_or_repeated_old_cps_emails_are_400()
    {
        var client = App.ClientAs(LedgerRoles.Portal);

        var invalid = await client.PostJson("/api/accounts", Accounts.Opening(oldEmails: ["ok@example.ee", "nope", "old\u200B@example.ee"]));
        var problem = await invalid.ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(problem.Errors.ContainsKey("oldCpsEmails[1]"), string.Join(", ", problem.Errors.Keys));
        // Each item's sentence is about that item, as a portal shows it beside the field (until 2026-12-08 "Each old CPS e-mail
        // contains an invisible character", said of one address).
        Assert.Equal(["Old CPS e-mail must be a valid e-mail address."], problem.Errors["oldCpsEmails[1]"]);
        Assert.Equal(["Old CPS e-mail contains an invisible character (U+200B); remove it."], problem.Errors["oldCpsEmails[2]"]);

        var repeated = await client.PostJson("/api/accounts", Accounts.Opening(oldEmails: ["a@example.ee", "A@example.ee"]));
        await repeated.ShouldBeProblem(HttpStatusCode.BadRequest);

        var tooMany = await client.PostJson("/api/accounts",
            Accounts.Opening(oldEmails: Enumerable.Range(0, 21).Select(i => $"old{i}@example.ee").ToArray()));
        await tooMany.ShouldBeProblem(HttpStatusCode.BadRequest);
        await AssertNoEvents();
    }

    [Theory]
    [InlineData("{\"companyName\": \"Studio\", ")]
    [InlineData("not json at all")]
    [InlineData("{\"companyName\": 42, \"contactEmail\": \"a@example.ee\", \"country\": \"EE\"}")]
    [InlineData("{\"companyName\": \"Studio\", \"contactEmail\": \"a@example.ee\", \"country\": \"EE\", \"oldCpsEmails\": \"x@example.ee\"}")]
    public async Task malformed_json_or_wrong_types_are_400_problem_details(string body)
    {
        var response = await App.ClientAs(LedgerRoles.Portal).PostRaw("/api/accounts", body);
        await response.ShouldBeProblem(HttpStatusCode.BadRequest);
        await AssertNoEvents();
    }

    [Fact]
    public async Task an_oversized_body_is_413()
    {
        var huge = new string('x', 2 * 1024 * 1024);
        var response = await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Accounts.Opening(company: huge));
        await response.ShouldBeProblem(HttpStatusCode.RequestEntityTooLarge);
        await AssertNoEvents();
    }

    private async Task AssertNoEvents()
    {
        await using var session = App.Store.QuerySession();
        // Reference data loaded on start (the tier table, the VAT rates) is not a trace of the rejected command.
        var events = await session.Events.QueryAllRawEvents()
            .Where(e => e.EventTypeName != "tombstone" && e.StreamId != CpsLedger.Api.Tiers.TierTableStream.Id
                        && e.StreamId != CpsLedger.Api.Invoicing.VatTableStream.Id).CountAsync();
        Assert.Equal(0, events);
    }
}
