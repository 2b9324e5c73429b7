using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Benchmarks.Harness;
using Marten;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// P1: a product registered without its dealer (POST) and completed (PATCH, which allocates the points) through the whole
/// service: JWT auth, account policy, validation, idempotency key, FetchForWriting, append, inline projections (ProductView,
/// serial claim), the forwarded ReviewInvitation in the outbox. One operation = both requests. Baseline: the same three events
/// appended with raw Marten quick append (two commits, no projections, no HTTP) at the same concurrency.
/// </summary>
public static class P1RegisterAndComplete
{
    private static long _serial;

    public static async Task<IReadOnlyList<Figure>> RunAsync(Context ctx)
    {
        var levels = ctx.Scale.ConcurrencyLevels;
        var warmup = Math.Max(20, levels.Max());
        // Every operation registers its product on an account of its own (a seeded one: an account stream and two products),
        // as the portal's members would, each with a member token bound to that account. (Until 2026-11-25 each client kept
        // registering on one account, which grew to hundreds of products; the invitation review that follows every allocation
        // reads all of an account's products, so that made the background work grow with the run.)
        var needed = warmup + levels.Sum(level => Math.Max(ctx.Scale.CommandOpsPerLevel, level * 2));
        await ctx.Seeder.EnsureAccountsAsync(needed);
        var accounts = ctx.Seeder.Accounts.Take(needed).ToArray();
        var tokens = accounts.Select(a => ctx.App.TokenFor(LedgerRoles.Member, a)).ToArray();
        var clients = Enumerable.Range(0, levels.Max()).Select(_ => ctx.App.CreateClient()).ToArray();
        var raw = ctx.Raw.Store;
        var nextHttp = -1;
        var nextRaw = -1;

        async Task<string?> Http(int client, int _)
        {
            var http = clients[client];
            var index = Interlocked.Increment(ref nextHttp) % accounts.Length;
            var accountId = accounts[index];
            var token = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", tokens[index]);
            var serial = $"P1 {Interlocked.Increment(ref _serial):D9}";
            using var register = new HttpRequestMessage(HttpMethod.Post, $"/api/accounts/{accountId}/products")
            {
                Content = JsonContent.Create(new
                {
                    modelCode = "BENCH-CAM",
                    serialNumber = serial,
                    purchaseDate = "2024-03-01",
                    countryOfPurchase = "EE",
                    bestGuesses = new[] { "purchase_date" },
                }),
            };
            register.Headers.Authorization = token;
            register.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
            using var registered = await http.SendAsync(register);
            if (registered.StatusCode != HttpStatusCode.Created)
                return $"register: {(int)registered.StatusCode} {await registered.Content.ReadAsStringAsync()}";
            using var body = JsonDocument.Parse(await registered.Content.ReadAsStreamAsync());
            var url = body.RootElement.GetProperty("registration").GetProperty("url").GetString();

            using var complete = new HttpRequestMessage(HttpMethod.Patch, url) { Content = JsonContent.Create(new { dealer = "Photopoint" }) };
            complete.Headers.Authorization = token;
            complete.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
            using var completed = await http.SendAsync(complete);
            return completed.StatusCode == HttpStatusCode.OK ? null : $"complete: {(int)completed.StatusCode} {await completed.Content.ReadAsStringAsync()}";
        }

        async Task<string?> Marten(int client, int _)
        {
            var accountId = accounts[Interlocked.Increment(ref nextRaw) % accounts.Length];
            var serial = $"P1R{Interlocked.Increment(ref _serial):D9}";
            var id = Guid.CreateVersion7();
            var now = DateTimeOffset.UtcNow;
            await using (var session = raw.LightweightSession())
            {
                session.CorrelationId = "bench-p1";
                session.LastModifiedBy = "bench";
                session.Events.StartStream(id, new ProductRegistered(id, accountId, "BENCH-CAM", "Bench Camera", "camera_body", serial,
                    new DateOnly(2024, 3, 1), "EE", null, [MandatoryDetail.PurchaseDate], RegistrationSource.Registration, now));
                await session.SaveChangesAsync();
            }

            await using (var session = raw.LightweightSession())
            {
                session.CorrelationId = "bench-p1";
                session.LastModifiedBy = "bench";
                session.Events.Append(id,
                    new ProductDetailsAmended(id, accountId, "BENCH-CAM", null, null, null, null, "Photopoint", [MandatoryDetail.PurchaseDate], now),
                    new PointsAllocated(id, accountId, "BENCH-CAM", serial, 120, 1, now));
                await session.SaveChangesAsync();
            }

            return null;
        }

        // Warm-up: the first requests JIT-compile the handlers and fill the pool.
        await Load.RunAsync(warmup, levels.Max(), Http);
        await Load.RunAsync(warmup, levels.Max(), Marten);

        var figures = new List<Figure>();
        foreach (var level in levels)
        {
            var ops = Math.Max(ctx.Scale.CommandOpsPerLevel, level * 2);
            using var trips = new RoundTrips();
            var baselineCpu = CpuMeter.Start(ctx.ClusterDirectory);
            var baseline = await Load.RunAsync(ops, level, Marten);
            var (rawDotnet, rawPostgres) = baselineCpu.PerOperation(ops);
            var baselineTrips = trips.Count;
            trips.Reset();
            var httpCpu = CpuMeter.Start(ctx.ClusterDirectory);
            var http = await Load.RunAsync(ops, level, Http);
            // The invitation reviews the commands set off run in the background, in batches, and can still be waiting when the
            // clients stop: counted only once they are all handled, or a level would look cheaper by leaving them for later.
            await UntilBackgroundWorkIsDoneAsync(ctx);
            var (httpDotnet, httpPostgres) = httpCpu.PerOperation(ops);
            var httpTrips = trips.Count;
            foreach (var line in trips.Breakdown(ops))
                ctx.Log($"    {line}");
            var ratio = http.PerSecond / baseline.PerSecond;
            var p99Ratio = http.Latency.P99 / baseline.Latency.P99;
            figures.Add(Figure.Against("P1", $"register + complete over HTTP, {level} client{(level == 1 ? "" : "s")}",
                "products/s", http, "raw Marten append", baseline) with
            {
                Target = ">= 0.5x; p99 <= 2x",
                Status = Load.Status(ratio >= 0.5 && p99Ratio <= 2),
                // Round trips of the whole process while the HTTP clients ran: the requests and the background ReviewInvitation.
                Note = string.Join("; ", new[]
                {
                    $"database round trips per product: {(double)httpTrips / ops:F1} (raw: {(double)baselineTrips / ops:F1})",
                    // The service, its background work and the HTTP clients are one process, as the raw appends and their callers are.
                    $"CPU per product: .NET {httpDotnet:F2} ms, PostgreSQL {httpPostgres?.ToString("F2") ?? "?"} ms " +
                    $"(raw: .NET {rawDotnet:F2} ms, PostgreSQL {rawPostgres?.ToString("F2") ?? "?"} ms)",
                    Load.FailureNote(http, baseline),
                }.OfType<string>()),
            });
            ctx.Log($"  P1 {level} client(s): {http.PerSecond:F0} vs {baseline.PerSecond:F0} products/s, p99 {http.Latency.P99:F1} vs {baseline.Latency.P99:F1} ms, " +
                $"round trips per product {(double)httpTrips / ops:F1} vs {(double)baselineTrips / ops:F1}");
        }

        foreach (var c in clients)
            c.Dispose();
        return figures;
    }

    /// <summary>
    /// Waits until no message the service received is left unhandled (its durable inbox has no <c>Incoming</c> row), asking
    /// on a connection whose commands Npgsql does not trace, so the asking is not counted as the service's round trips.
    /// </summary>
    private static async Task UntilBackgroundWorkIsDoneAsync(Context ctx)
    {
        var builder = new Npgsql.NpgsqlDataSourceBuilder(ctx.ConnectionString);
        builder.ConfigureTracing(tracing => tracing.ConfigureCommandFilter(_ => false).ConfigureBatchFilter(_ => false));
        await using var untraced = builder.Build();
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            await using var count = untraced.CreateCommand(
                $"select count(*) from {BenchApp.Schema}.wolverine_incoming_envelopes where status = 'Incoming'");
            if ((long)(await count.ExecuteScalarAsync())! == 0)
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("The service's background work was not done within 5 minutes of the commands.");
            await Task.Delay(50);
        }
    }
}
