using System.Net;
using System.Net.Http.Headers;
using CpsLedger.Api.Platform;
using CpsLedger.Benchmarks.Harness;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// H1: the service over real sockets (Kestrel on a loopback port, HttpClient with a pool of as many connections as clients) at
/// 1, 8 and 32 connections: the account summary, points explanation and eligible tiers of random seeded accounts, each beside
/// <c>GET /api/me</c> measured at the same level just before (authentication and the pipeline, no database: the HTTP ceiling).
/// Commands over the same sockets are P1.
/// </summary>
public static class H1HttpLoad
{
    public static async Task<IReadOnlyList<Figure>> RunAsync(Context ctx)
    {
        var size = ctx.Scale.ReadAccounts[^1];
        var seeding = await ctx.Seeder.EnsureAccountsAsync(size);
        if (seeding > TimeSpan.Zero)
            ctx.Log($"  H1 seeded to {size:N0} accounts in {seeding.TotalSeconds:F1} s");
        var accounts = ctx.Seeder.Accounts;
        var token = new AuthenticationHeaderValue("Bearer", ctx.App.TokenFor(LedgerRoles.Support));
        var reads = ctx.Scale.ReadsPerLevel;
        var figures = new List<Figure>();
        foreach (var connections in ctx.Scale.ConcurrencyLevels)
        {
            using var http = ctx.App.SocketClient(connections);
            http.DefaultRequestHeaders.Authorization = token;
            var random = new Random(connections);

            Func<int, int, Task<string?>> Get(Func<string> path) => async (_, _) =>
            {
                using var response = await http.GetAsync(path());
                await response.Content.ReadAsByteArrayAsync();
                return response.StatusCode == HttpStatusCode.OK ? null : $"{(int)response.StatusCode}";
            };

            string Account()
            {
                lock (random)
                    return accounts[random.Next(Math.Min(size, accounts.Count))].ToString();
            }

            var me = Get(() => "/api/me");
            await Load.RunAsync(Math.Min(200, reads), connections, me);
            var meCpu = CpuMeter.Start(ctx.ClusterDirectory);
            var ceiling = await Load.RunAsync(reads, connections, me);
            var (meDotnet, _) = meCpu.PerOperation(reads);
            var plural = connections == 1 ? "" : "s";
            figures.Add(new Figure
            {
                Scenario = "H1",
                Name = $"GET /api/me (no database), {connections} connection{plural}",
                Unit = "req/s",
                Value = ceiling.PerSecond,
                Latency = ceiling.Latency,
                Note = string.Join("; ", new[] { $"CPU per request: .NET {meDotnet:F2} ms (service and client)", Load.FailureNote(ceiling) }.OfType<string>()),
            });
            ctx.Log($"  H1 /api/me at {connections}: {ceiling.PerSecond:F0} req/s; CPU per request: .NET {meDotnet:F2} ms");
            foreach (var (name, path) in new[] { ("summary", "summary"), ("points explanation", "points-explanation"), ("eligible tiers", "eligible-tiers") })
            {
                var read = Get(() => $"/api/accounts/{Account()}/{path}");
                await Load.RunAsync(Math.Min(100, reads), connections, read);
                using var trips = new RoundTrips();
                var cpu = CpuMeter.Start(ctx.ClusterDirectory);
                var result = await Load.RunAsync(reads, connections, read);
                var perRequest = (double)trips.Count / reads;
                var (dotnetCpu, postgresCpu) = cpu.PerOperation(reads);
                var cpuNote = $"CPU per request: .NET {dotnetCpu:F2} ms (service and client)" + (postgresCpu is { } pg ? $", PostgreSQL {pg:F2} ms" : "");
                var ratio = result.PerSecond / ceiling.PerSecond;
                var isSummary = name == "summary";
                figures.Add(new Figure
                {
                    Scenario = "H1",
                    Name = $"GET {name}, {size:N0} accounts, {connections} connection{plural}",
                    Unit = "req/s",
                    Value = result.PerSecond,
                    BaselineName = "GET /api/me",
                    Baseline = ceiling.PerSecond,
                    Latency = result.Latency,
                    BaselineLatency = ceiling.Latency,
                    Target = isSummary ? ">= 0.5x; p99 <= 10 ms" : null,
                    Status = isSummary ? Load.Status(ratio >= 0.5 && result.Latency.P99 <= 10) : null,
                    Note = string.Join("; ", new[] { $"database round trips per request: {perRequest:F1}", cpuNote, Load.FailureNote(result) }.OfType<string>()),
                });
                ctx.Log($"  H1 {name} at {connections}: {result.PerSecond:F0} vs /api/me {ceiling.PerSecond:F0} req/s, p99 {result.Latency.P99:F1} ms; {cpuNote}");
            }
        }

        return figures;
    }
}
