using System.Net.Http.Json;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Benchmarks.Harness;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// P5: GET summary and GET points-explanation of random accounts through the service (one client, support token), at two
/// ledger sizes. The issue sets no baseline; the same read done in process (the endpoint's own method on the store, no HTTP)
/// is shown as one, to tell the reads' share from the HTTP pipeline's. Also support's account search
/// (GET /api/accounts?q=, the console's search box, which came after the issue), by a part of a company name, a serial number
/// or a contact e-mail in turn, held to the same target. And time travel (GET .../as-of, an auditor's read, not in the issue): an
/// account with <see cref="TimeTravelProducts"/> products and <see cref="TimeTravelInvoices"/> invoices as of now, beside the same
/// read in process (<c>TimeTravel.AsOfAsync</c>), with its database round trips and CPU time per read; no target. The same
/// account's history and verification are measured beside it.
/// </summary>
public static class P5AccountReads
{
    public static async Task<IReadOnlyList<Figure>> RunAsync(Context ctx)
    {
        var figures = new List<Figure>();
        using var http = ctx.App.ClientAs(LedgerRoles.Support);
        // The reader the HTTP calls are made as, for the direct calls too (the explanation shows support's reasons to support).
        var supportAgent = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(
            [new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.Role, LedgerRoles.Support)], "benchmark"));
        var store = ctx.App.Store;
        var membershipYear = ctx.App.Services.GetRequiredService<IOptions<Api.Membership.MembershipYearOptions>>();
        var previous = new Dictionary<string, double>();
        foreach (var size in ctx.Scale.ReadAccounts)
        {
            var seeding = await ctx.Seeder.EnsureAccountsAsync(size);
            ctx.Log($"  P5 seeded to {size:N0} accounts in {seeding.TotalSeconds:F1} s");
            await Analyze(ctx.ConnectionString);
            var accounts = ctx.Seeder.Accounts;
            var reads = ctx.Scale.ReadsPerLevel;

            foreach (var (name, path) in new[] { ("summary", "summary"), ("points explanation", "points-explanation"), ("account search", null) })
            {
                var random = new Random(size);
                Guid Pick() => accounts[random.Next(Math.Min(size, accounts.Count))];

                // What support types for the seeded account number n (see Seeder): a part of its name, a serial, the e-mail.
                var searches = 0;
                string SearchText()
                {
                    var n = random.Next(Math.Min(size, accounts.Count));
                    return (Interlocked.Increment(ref searches) % 3) switch
                    {
                        0 => $"Studio {n}",
                        1 => $"SN{n:D9}A",
                        _ => $"owner{n}@bench.example",
                    };
                }

                var viaHttp = Load.Get(http, () => path is null
                    ? $"/api/accounts?q={Uri.EscapeDataString(SearchText())}"
                    : $"/api/accounts/{Pick()}/{path}");

                // The endpoint's own method, called as its generated handler calls it: every read it makes (until 2026-12-03 13:30
                // only the products and adjustments, not the account's existence, membership and invoices the summary also reads).
                async Task<string?> Direct(int _, int __)
                {
                    if (path is null)
                    {
                        await using var session = store.QuerySession();
                        var found = await Api.Accounts.AccountSearch.FindAsync(session, SearchText(), CancellationToken.None);
                        return found.Items.Count > 0 ? null : "nothing found";
                    }

                    if (path == "summary")
                        await GetAccountSummaryEndpoint.Get(Pick(), store, TimeProvider.System, CancellationToken.None);
                    else
                        await GetPointsExplanationEndpoint.Get(Pick(), null, null, store, membershipYear, supportAgent,
                            new Microsoft.AspNetCore.Http.DefaultHttpContext(), CancellationToken.None);
                    return null;
                }

                await Load.RunAsync(Math.Min(50, reads), 1, viaHttp);
                await Load.RunAsync(Math.Min(50, reads), 1, Direct);
                var direct = await Load.RunAsync(reads, 1, Direct);
                var result = await Load.RunAsync(reads, 1, viaHttp);
                figures.Add(AtSize(ctx, previous, "P5", name, $"{name} read, {size:N0} accounts", result, direct, Load.FailureNote(result), null));
                ctx.Log($"  P5 {name} at {size:N0}: p50 {result.Latency.P50:F2} p99 {result.Latency.P99:F2} ms");
            }
        }

        figures.AddRange(await AuditReadsAsync(ctx));
        return figures;
    }

    /// <summary>
    /// A read measured at one of the ledger sizes against the same read in process, held to P5's target (P6's reads are too): p99 at
    /// most 10 ms, and at a larger size no more than 1.5x the same read's p99 at the smaller. <paramref name="previous"/> holds each
    /// read's p99 at the size before (this one's is put in); the note is the failure, else the detail and the growth.
    /// </summary>
    public static Figure AtSize(Context ctx, Dictionary<string, double> previous, string scenario, string read, string name, LoadResult result,
        LoadResult inProcess, string? failure, string? detail)
    {
        var growth = previous.TryGetValue(read, out var p99Before) ? result.Latency.P99 / p99Before : (double?)null;
        previous[read] = result.Latency.P99;
        var grown = growth is { } g ? $"p99 {g:F2}x the p99 at {ctx.Scale.ReadAccounts[0]:N0} accounts" : null;
        return Figure.Against(scenario, name, "reads/s", result, "store read, no HTTP", inProcess) with
        {
            Target = growth is null ? "p99 <= 10 ms" : "p99 <= 10 ms; <= 1.5x p99 of the smaller size",
            Status = Load.Status(result.Latency.P99 <= 10 && (growth is null || growth <= 1.5)),
            Note = failure ?? (detail is null ? grown : grown is null ? detail : $"{detail}; {grown}"),
        };
    }

    public const int TimeTravelProducts = 50;
    public const int TimeTravelInvoices = 10;

    /// <summary>
    /// Time travel replays every stream of the account up to the moment asked for, so its cost grows with the account's products
    /// and invoices; the seeded accounts have two products and no invoice. This one is opened and its products registered through
    /// the service (each complete, so each allocates points); its invoices, which the service issues only hours after a join,
    /// are appended as the issue handler appends them (a session of the service's store, one commit each), every other one paid.
    /// The same account's history (its first page, 100 events) and its verification are measured the same way: they read
    /// every stream of the account too.
    /// </summary>
    private static async Task<IReadOnlyList<Figure>> AuditReadsAsync(Context ctx)
    {
        var account = await SeedManyProductsAndInvoicesAsync(ctx);
        var store = ctx.App.Store;
        var services = ctx.App.Services;
        var membershipYear = services.GetRequiredService<IOptions<Api.Membership.MembershipYearOptions>>().Value;
        var auditor = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(
            [new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.Role, LedgerRoles.Auditor)], "benchmark"));
        var json = services.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>();
        var chains = services.GetRequiredService<Api.Audit.ChainVerification>();
        var verification = services.GetRequiredService<Api.Audit.Verification>();

        var reads = new (string Name, Func<string> Url, Func<Task<string?>> Direct)[]
        {
            ("time travel", () => $"/api/accounts/{account}/as-of?timestamp={Uri.EscapeDataString(DateTimeOffset.UtcNow.ToString("O"))}",
                // The endpoint's method as its generated handler calls it (a query session of its own per request).
                async () =>
                {
                    await using var session = store.QuerySession();
                    var asOf = await Api.Audit.TimeTravel.AsOfAsync(session, chains, account, DateTimeOffset.UtcNow, null, CancellationToken.None, membershipYear);
                    return asOf?.Summary.Products == TimeTravelProducts ? null : $"{asOf?.Summary.Products} products";
                }),
            ("history", () => $"/api/accounts/{account}/history",
                async () =>
                {
                    await using var session = store.QuerySession();
                    var page = await Api.Audit.GetAccountHistoryEndpoint.Get(account, null, null, null, null, null, null, session, chains, auditor, json,
                        new Microsoft.AspNetCore.Http.DefaultHttpContext(), CancellationToken.None);
                    return page.Items.Count == 100 ? null : $"{page.Items.Count} events";
                }),
            ("verification", () => $"/api/audit/verification?accountId={account}",
                async () =>
                {
                    var report = await verification.RunAsync(account, CancellationToken.None);
                    return report.Agrees ? null : $"{report.Differences.Count} differences, {report.ChainBreaks.Count} chain breaks";
                }),
        };

        var figures = new List<Figure>();
        using var http = ctx.App.ClientAs(LedgerRoles.Auditor);
        var count = Math.Max(100, ctx.Scale.ReadsPerLevel / 5);
        foreach (var (name, url, direct) in reads)
        {
            var viaHttp = Load.Get(http, url);

            Task<string?> Direct(int _, int __) => direct();

            await Load.RunAsync(10, 1, viaHttp);
            await Load.RunAsync(10, 1, Direct);
            long trips;
            using (var counter = new RoundTrips())
            {
                await Load.RunAsync(10, 1, Direct);
                trips = counter.Count;
            }

            // CPU per read steadies what the loaded host's wall times do not (the in-process read: this process and PostgreSQL).
            var cpu = CpuMeter.Start(ctx.ClusterDirectory);
            await Load.RunAsync(20, 1, Direct);
            var (dotnetCpu, postgresCpu) = cpu.PerOperation(20);
            var cpuNote = $"CPU per in-process read: .NET {dotnetCpu:F1} ms" + (postgresCpu is { } pg ? $", PostgreSQL {pg:F1} ms" : "");

            var (inProcess, result) = await Load.TakingTurnsAsync(4, count, 1, Direct, viaHttp);
            ctx.Log($"  P5 {name}: p50 {result.Latency.P50:F2} p99 {result.Latency.P99:F2} ms; in process p50 {inProcess.Latency.P50:F2} " +
                    $"p99 {inProcess.Latency.P99:F2} ms, {trips / 10.0:F1} round trips per read; {cpuNote}");
            figures.Add(Figure.Against("P5", $"{name} read, {TimeTravelProducts} products and {TimeTravelInvoices} invoices",
                "reads/s", result, "store read, no HTTP", inProcess) with
            {
                Note = Load.FailureNote(result, inProcess) ?? $"{trips / 10.0:F1} database round trips per read (in process); {cpuNote}",
            });
        }

        return figures;
    }

    private static async Task<Guid> SeedManyProductsAndInvoicesAsync(Context ctx)
    {
        using var portal = ctx.App.ClientAs(LedgerRoles.Portal);
        using var opened = await portal.PostAsJsonAsync("/api/accounts",
            new { companyName = "Time Travel Studio OU", contactEmail = "owner@timetravel.example", country = "EE", oldCpsEmails = Array.Empty<string>() });
        var account = (await opened.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<CpsLedger.Api.Accounts.BusinessAccountCreated>())!.AccountId;
        using var member = ctx.App.ClientAs(LedgerRoles.Member, account);
        var camera = Seeder.Models[0];
        for (var i = 0; i < TimeTravelProducts; i++)
        {
            using var registered = await member.PostAsJsonAsync($"/api/accounts/{account}/products", new
            {
                modelCode = camera.Code,
                serialNumber = $"TT{i:D6}",
                purchaseDate = "2024-03-01",
                countryOfPurchase = "EE",
                dealer = "Photopoint",
            });
            registered.EnsureSuccessStatusCode();
        }

        var issuedAt = DateTimeOffset.UtcNow.AddDays(-30);
        for (var i = 0; i < TimeTravelInvoices; i++)
        {
            await using var session = ctx.App.Store.LightweightSession();
            var id = Guid.CreateVersion7();
            var number = $"INV-TT-{i + 1:D6}";
            var day = DateOnly.FromDateTime(issuedAt.UtcDateTime);
            session.Events.StartStream<Api.Invoicing.Invoice>(id, new Api.Invoicing.InvoiceIssued(id, number, account, Guid.CreateVersion7(), "CPS-TT-1",
                "Time Travel Studio OU", "EE", Api.Membership.PaymentMethod.BankTransfer, "EUR", [new Api.Invoicing.InvoiceLine("CPS Gold, 12 months", 200m)],
                200m, 0.24m, 48m, 248m, day, day.AddDays(14), issuedAt));
            // With its number's claim, as the issue writes it: the account's verification compares the claims with the events.
            session.Insert(new Api.Invoicing.InvoiceNumberClaim { Id = number, InvoiceId = id, AccountId = account });
            if (i % 2 == 0)
                session.Events.Append(id,
                    new Api.Invoicing.PaymentReceived(id, number, account, Guid.CreateVersion7(), Api.Membership.PaymentMethod.BankTransfer, 248m, "EUR", day,
                        number, $"B-TT-{i}", Api.Invoicing.PaymentKind.Full, 248m, 0m, 0m, issuedAt),
                    new Api.Invoicing.InvoicePaid(id, number, account, 248m, issuedAt));
            await session.SaveChangesAsync();
        }

        return account;
    }

    // Bulk-loaded tables have no statistics until autovacuum gets to them; a real ledger of this size would have them.
    private static async Task Analyze(string connectionString)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand($"analyze {BenchApp.Schema}.mt_doc_productview; analyze {BenchApp.Schema}.mt_doc_accountview; " +
            $"analyze {BenchApp.Schema}.mt_doc_serialownership; analyze {BenchApp.Schema}.mt_doc_accountmembership", connection);
        await cmd.ExecuteNonQueryAsync();
    }
}
