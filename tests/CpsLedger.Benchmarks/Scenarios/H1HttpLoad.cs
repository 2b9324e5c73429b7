using System.Net.Http.Headers;
using CpsLedger.Api.Platform;
using CpsLedger.Benchmarks.Harness;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// H1: the service over real sockets (Kestrel on a loopback port, HttpClient with a pool of as many connections as clients) at
/// 1, 8 and 32 connections: the account summary, points explanation and eligible tiers of random seeded accounts, each beside
/// <c>GET /api/me</c> measured at the same level just before (authentication and the pipeline, no database: the HTTP ceiling).
/// Before those, the floor of a read (<see cref="BareHttp"/>): a bare app's token-only answer and its one primary-key read,
/// whose difference says how far any read that goes to the database once could come to <c>/api/me</c> (the summary's target
/// is 0.5x). Commands over the same sockets are P1.
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
        // The scale's reads lasted a fraction of a second at 32 connections (1,000 answers of /api/me in about 50 ms), too short for
        // the CPU meter's 10 ms ticks and for a passing neighbour: five times as many reads, ten times as many answers that
        // read nothing (since 2026-12-03 13:07).
        var reads = ctx.Scale.ReadsPerLevel * 5;
        var answers = ctx.Scale.ReadsPerLevel * 10;
        var figures = new List<Figure>();
        await using var bare = await BareHttp.StartAsync(ctx.App.Services, ctx.ConnectionString);
        foreach (var connections in ctx.Scale.ConcurrencyLevels)
        {
            var floor = await MeasureFloorAsync(ctx, bare, token, connections, accounts, size, answers, reads);
            figures.AddRange(floor.Figures);
            using var http = ctx.App.SocketClient(connections);
            http.DefaultRequestHeaders.Authorization = token;
            var account = RandomAccount(accounts, size, connections);
            var me = Load.Get(http, () => "/api/me");
            await Load.RunAsync(Math.Min(200, reads), connections, me);
            var meCpu = CpuMeter.Start(ctx.ClusterDirectory);
            var ceiling = await Load.RunAsync(answers, connections, me);
            var (meDotnet, _) = meCpu.PerOperation(answers);
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
            // Per request, a read costs at least /api/me's time plus what one round trip adds in the bare app; at this level of
            // concurrency the time per request is 1 / throughput whether the clients wait on latency or on the two cores.
            var bound = 1 / (1 + ceiling.PerSecond * (1 / floor.OneRead - 1 / floor.TokenOnly));
            figures.Add(new Figure
            {
                Scenario = "H1",
                Name = $"the most a read with one round trip could reach, {connections} connection{plural}",
                Unit = "x of /api/me",
                Value = bound,
                Note = $"/api/me's time per request ({1000 / ceiling.PerSecond:F3} ms) plus what one primary-key read adds in the bare app " +
                       $"({1000 / floor.OneRead - 1000 / floor.TokenOnly:F3} ms)",
            });
            ctx.Log($"  H1 the most a one-round-trip read could reach at {connections}: {bound:F2}x of /api/me");
            foreach (var (name, path) in new[] { ("summary", "summary"), ("points explanation", "points-explanation"), ("eligible tiers", "eligible-tiers") })
            {
                var read = Load.Get(http, () => $"/api/accounts/{account()}/{path}");
                await Load.RunAsync(Math.Min(100, reads), connections, read);
                using var trips = new RoundTrips();
                var cpu = CpuMeter.Start(ctx.ClusterDirectory);
                var result = await Load.RunAsync(reads, connections, read);
                var perRequest = (double)trips.Count / reads;
                var (dotnetCpu, postgresCpu) = cpu.PerOperation(reads);
                var cpuNote = $"CPU per request: .NET {dotnetCpu:F2} ms (service and client)" + (postgresCpu is { } pg ? $", PostgreSQL {pg:F2} ms" : "");
                var ratio = result.PerSecond / ceiling.PerSecond;
                var isSummary = name == "summary";
                figures.Add(Figure.Against("H1", $"GET {name}, {size:N0} accounts, {connections} connection{plural}",
                    "req/s", result, "GET /api/me", ceiling) with
                {
                    Target = isSummary ? ">= 0.5x; p99 <= 10 ms" : null,
                    Status = isSummary ? Load.Status(ratio >= 0.5 && result.Latency.P99 <= 10) : null,
                    Note = string.Join("; ", new[] { $"database round trips per request: {perRequest:F1}", cpuNote, Load.FailureNote(result) }.OfType<string>()),
                });
                ctx.Log($"  H1 {name} at {connections}: {result.PerSecond:F0} vs /api/me {ceiling.PerSecond:F0} req/s, p99 {result.Latency.P99:F1} ms; {cpuNote}");
            }
        }

        return figures;
    }

    private sealed record Floor(double TokenOnly, double OneRead, IReadOnlyList<Figure> Figures);

    /// <summary>The bare app's token-only answer, then its one primary-key read, at <paramref name="connections"/>.</summary>
    private static async Task<Floor> MeasureFloorAsync(Context ctx, BareHttp bare, AuthenticationHeaderValue token, int connections,
        IReadOnlyList<Guid> accounts, int size, int answers, int reads)
    {
        using var http = bare.SocketClient(connections);
        http.DefaultRequestHeaders.Authorization = token;
        var account = RandomAccount(accounts, size, connections + 1);
        var plural = connections == 1 ? "" : "s";
        var me = Load.Get(http, () => "/me");
        var read = Load.Get(http, () => $"/accounts/{account()}");
        await Load.RunAsync(Math.Min(200, reads), connections, me);
        await Load.RunAsync(Math.Min(200, reads), connections, read);
        var meCpu = CpuMeter.Start(ctx.ClusterDirectory);
        var tokenOnly = await Load.RunAsync(answers, connections, me);
        var (meDotnet, _) = meCpu.PerOperation(answers);
        var readCpu = CpuMeter.Start(ctx.ClusterDirectory);
        var oneRead = await Load.RunAsync(reads, connections, read);
        var (readDotnet, readPostgres) = readCpu.PerOperation(reads);
        var readCpuNote = $"CPU per request: .NET {readDotnet:F2} ms (app and client)" + (readPostgres is { } pg ? $", PostgreSQL {pg:F2} ms" : "");
        ctx.Log($"  H1 bare app at {connections}: token only {tokenOnly.PerSecond:F0} req/s (.NET {meDotnet:F2} ms), " +
                $"one primary-key read {oneRead.PerSecond:F0} req/s ({readCpuNote})");
        return new Floor(tokenOnly.PerSecond, oneRead.PerSecond,
        [
            new Figure
            {
                Scenario = "H1",
                Name = $"bare ASP.NET Core, token only (GET /me), {connections} connection{plural}",
                Unit = "req/s",
                Value = tokenOnly.PerSecond,
                Latency = tokenOnly.Latency,
                Note = string.Join("; ", new[] { $"CPU per request: .NET {meDotnet:F2} ms (app and client)", Load.FailureNote(tokenOnly) }.OfType<string>()),
            },
            Figure.Against("H1", $"bare ASP.NET Core, one primary-key read, {size:N0} accounts, {connections} connection{plural}",
                "req/s", oneRead, "bare GET /me", tokenOnly) with
            {
                Note = string.Join("; ", new[] { readCpuNote, Load.FailureNote(oneRead) }.OfType<string>()),
            },
        ]);
    }

    /// <summary>One of the first <paramref name="size"/> seeded accounts at random, from a generator the clients share.</summary>
    private static Func<string> RandomAccount(IReadOnlyList<Guid> accounts, int size, int seed)
    {
        var random = new Random(seed);
        return () =>
        {
            lock (random)
                return accounts[random.Next(Math.Min(size, accounts.Count))].ToString();
        };
    }
}
