using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Marten;

namespace CpsLedger.Tests.Platform;

public sealed class TraceabilityTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task the_callers_correlation_id_is_echoed_and_stored_on_the_event_with_the_user()
    {
        var client = App.ClientAs(LedgerRoles.Portal, subject: "portal-service");
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts")
        {
            Content = System.Net.Http.Json.JsonContent.Create(Accounts.Accounts.Opening()),
        };
        request.Headers.Add("X-Correlation-Id", "signup-7f3a");

        var response = await client.SendAsync(request);

        var id = (await response.ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;
        Assert.Equal("signup-7f3a", response.Headers.GetValues("X-Correlation-Id").Single());
        await using var session = App.Store.QuerySession();
        var opened = Assert.Single(await session.Events.FetchStreamAsync(id));
        Assert.Equal("signup-7f3a", opened.CorrelationId);
        Assert.Equal("portal-service", opened.UserName);
    }

    [Fact]
    public async Task without_a_header_the_trace_id_is_the_correlation_id_everywhere()
    {
        var response = await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Accounts.Accounts.Opening());

        var id = (await response.ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;
        var echoed = response.Headers.GetValues("X-Correlation-Id").Single();
        Assert.Matches("^[0-9a-f]{32}$", echoed);
        await using var session = App.Store.QuerySession();
        Assert.Equal(echoed, Assert.Single(await session.Events.FetchStreamAsync(id)).CorrelationId);
    }

    [Fact]
    public async Task errors_carry_the_correlation_id_too()
    {
        var response = await App.Anonymous().GetAsync($"/api/accounts/{Guid.NewGuid()}");
        var problem = await response.ReadProblem(HttpStatusCode.Unauthorized);
        Assert.Equal(response.Headers.GetValues("X-Correlation-Id").Single(), problem.Extension("correlationId"));
    }
}
