using System.Net;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Serilog.Events;

namespace CpsLedger.Tests.Platform;

public sealed class RequestLogTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task a_conflict_mapped_by_the_exception_handler_is_logged_as_the_409_it_was_without_an_error_or_a_stack_trace()
    {
        await App.ListModel();
        var first = await App.OpenAccount("a@example.ee");
        var second = await App.OpenAccount("b@example.ee");
        await App.Member(first).Register(first, Products.Products.Complete("SN-LOG"));

        // The serial's claim row refuses the second owner in the database: an exception the global handler maps to 409.
        var request = new HttpRequestMessage(HttpMethod.Post, Products.Products.ProductsUrl(second))
        {
            Content = System.Net.Http.Json.JsonContent.Create(Products.Products.Complete("SN-LOG")),
        };
        request.Headers.Add("X-Correlation-Id", "log-test-conflict");
        var response = await App.Member(second).SendAsync(request);
        await response.ShouldBeProblem(HttpStatusCode.Conflict);

        var events = App.Logs.For("log-test-conflict");
        var requestLine = Assert.Single(events, e => e.MessageTemplate.Text.StartsWith("HTTP {RequestMethod}", StringComparison.Ordinal));
        Assert.Equal(409, (int)((ScalarValue)requestLine.Properties["StatusCode"]).Value!);
        Assert.Equal(LogEventLevel.Information, requestLine.Level);
        Assert.DoesNotContain(events, e => e.Level >= LogEventLevel.Error);
        Assert.DoesNotContain(events, e => e.Exception is not null);
    }

    [Fact]
    public async Task a_refused_request_is_logged_at_information_with_its_status()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/audit/verification?accountId=not-a-uuid");
        request.Headers.Add("X-Correlation-Id", "log-test-400");
        await (await App.ClientAs(Api.Platform.LedgerRoles.Auditor).SendAsync(request)).ShouldBeProblem(HttpStatusCode.BadRequest);

        var events = App.Logs.For("log-test-400");
        var requestLine = Assert.Single(events, e => e.MessageTemplate.Text.StartsWith("HTTP {RequestMethod}", StringComparison.Ordinal));
        Assert.Equal(400, (int)((ScalarValue)requestLine.Properties["StatusCode"]).Value!);
        Assert.Equal(LogEventLevel.Information, requestLine.Level);
        Assert.DoesNotContain(events, e => e.Level >= LogEventLevel.Warning);
    }
}
