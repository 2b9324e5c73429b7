using System.Net;
using System.Net.Http.Headers;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// A host's first requests arrive together: in Development each endpoint's handler is built by its first request, and nothing
/// else may read the endpoint's description while that build changes it.
/// </summary>
public sealed class FirstRequestTests(LedgerApp app) : LedgerTest(app)
{
    // Reads any of these roles may make, so that every request passes authorization and reaches its endpoint.
    private static readonly string[] Reads =
    [
        "/api/accounts/{0}", "/api/accounts/{0}/billing-details", "/api/accounts/{0}/products", "/api/accounts/{0}/points-explanation",
        "/api/accounts/{0}/summary", "/api/accounts/{0}/eligible-tiers", "/api/accounts/{0}/membership", "/api/accounts/{0}/invoices",
        "/api/accounts/{0}/migration", "/api/accounts/{0}/hash-chain", "/api/accounts/{0}/history", "/api/catalogue/categories",
        "/api/catalogue/models", "/api/tiers", "/api/vat-rates", "/api/support/overrides", "/openapi/v1.json",
    ];

    private static readonly (HttpMethod Method, string Route, string? Body)[] Commands =
    [
        (HttpMethod.Post, "/api/accounts/{0}/old-cps-emails", """{"email":"old@old.example","reason":"Asked for on the phone","ticketReference":"CPS-SUP-1"}"""),
        (HttpMethod.Post, "/api/accounts/{0}/points-adjustments", """{"points":50,"reason":"Asked for on the phone","ticketReference":"CPS-SUP-1"}"""),
        (HttpMethod.Post, "/api/accounts/{0}/invitation/resend", """{"reason":"Asked for on the phone","ticketReference":"CPS-SUP-1"}"""),
    ];

    [Fact]
    public async Task A_fresh_hosts_first_requests_at_once_never_meet_an_endpoint_half_built()
    {
        // CI failed once on a link's first request: the request gate read the endpoint's description while another request's
        // handler build was adding to it ("Collection was modified", a 500). A fresh host each round, every endpoint asked at once.
        var account = await App.OpenAccount();
        var token = App.TokenFor([LedgerRoles.Support, LedgerRoles.Auditor, LedgerRoles.Finance], "test-first-requests");
        var failures = new List<string>();
        // As many requests in flight at once as were sent: the pool's default (one thread per core) would queue them.
        ThreadPool.GetMinThreads(out var workers, out var completions);
        ThreadPool.SetMinThreads(64, completions);
        try
        {
            for (var round = 0; round < 3 && failures.Count == 0; round++)
            {
                await using var host = App.WithWebHostBuilder(_ => { });
                using var client = host.CreateDefaultClient();
                client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var start = new SemaphoreSlim(0);
                var requests = Reads.Select(route => (Method: HttpMethod.Get, Route: route, Body: (string?)null)).Concat(Commands)
                    .SelectMany(request => Enumerable.Range(0, 6).Select(async _ =>
                    {
                        await start.WaitAsync();
                        // Commands name an account that does not exist: their handlers are built and answer 404, nothing is written.
                        var url = string.Format(System.Globalization.CultureInfo.InvariantCulture, request.Route,
                            request.Body is null ? account : Guid.NewGuid());
                        using var message = new HttpRequestMessage(request.Method, url);
                        if (request.Body is { } body)
                        {
                            message.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
                            message.Headers.Add("Idempotency-Key", $"first-{Guid.NewGuid():N}");
                        }

                        using var response = await client.SendAsync(message);
                        return (url, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
                    })).ToList();
                start.Release(requests.Count);
                foreach (var (url, status, body) in await Task.WhenAll(requests))
                    if (status >= HttpStatusCode.InternalServerError)
                        failures.Add($"round {round}: {url} answered {(int)status}: {body}");
            }
        }
        finally
        {
            ThreadPool.SetMinThreads(workers, completions);
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
