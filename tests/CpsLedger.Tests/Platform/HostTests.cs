using System.Net;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Platform;

public sealed class HostTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task health_endpoints_are_public_and_ready_checks_database_and_message_store()
    {
        var client = App.Anonymous();
        await (await client.GetAsync("/health/live")).ShouldBe(HttpStatusCode.OK);

        var ready = await (await client.GetAsync("/health/ready")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal("Healthy", ready.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
        Assert.Equal("Healthy", ready.GetProperty("checks").GetProperty("message-store").GetProperty("status").GetString());
    }

    [Fact]
    public async Task the_openapi_document_is_public_openapi_3_1_and_reviewed_as_a_snapshot()
    {
        var response = await App.Anonymous().GetAsync("/openapi/v1.json");
        var document = await response.ShouldBe(HttpStatusCode.OK);
        Assert.StartsWith("3.1", document.GetProperty("openapi").GetString());
        Snapshots.MatchJson(await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task the_interactive_docs_page_is_served()
    {
        var response = await App.Anonymous().GetAsync("/scalar");
        var html = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("CpsLedger API", html);
    }

    [Fact]
    public async Task an_unknown_route_is_a_404_problem_for_an_authenticated_caller()
    {
        var response = await App.ClientAs(Api.Platform.LedgerRoles.Support).GetAsync("/api/nothing-here");
        await response.ShouldBeProblem(HttpStatusCode.NotFound);
    }
}
