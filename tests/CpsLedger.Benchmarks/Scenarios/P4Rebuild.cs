using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Products;
using CpsLedger.Benchmarks.Harness;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Marten;
using Npgsql;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// P4: a full rebuild of the ProductView projection (Marten's projection daemon, rebuild mode) over every product event in the
/// ledger, against reading the same events with Npgsql (one ordered scan of mt_events) and deserializing each to its type; then
/// every stored projection rebuilt one after the other, against the same scan of the whole event table.
/// </summary>
public static class P4Rebuild
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static async Task<IReadOnlyList<Figure>> RunAsync(Context ctx)
    {
        var accounts = ctx.Scale.RebuildEvents / Seeder.EventsPerAccount;
        var seeding = await ctx.Seeder.EnsureAccountsAsync(accounts);
        if (seeding > TimeSpan.Zero)
            ctx.Log($"  P4 seeded to {accounts:N0} accounts in {seeding.TotalSeconds:F1} s");

        var store = (DocumentStore)ctx.App.Store;
        // Marten's event type names: the type name in snake case (product_registered, ...).
        var types = new[] { typeof(ProductRegistered), typeof(ProductDetailsAmended), typeof(PointsAllocated), typeof(PointsRemoved), typeof(ProductDeregistered) }
            .ToDictionary(t => JsonNamingPolicy.SnakeCaseLower.ConvertName(t.Name));

        // Baseline first: it also warms the table into PostgreSQL's cache for the rebuild.
        var scan = Stopwatch.StartNew();
        long scanned = 0;
        await using (var connection = new NpgsqlConnection(ctx.ConnectionString))
        {
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                $"select type, data from {BenchApp.Schema}.mt_events where type = any($1) order by seq_id", connection);
            cmd.Parameters.AddWithValue(types.Keys.ToArray());
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var type = types[reader.GetString(0)];
                _ = JsonSerializer.Deserialize(reader.GetString(1), type, Json) ?? throw new InvalidOperationException("null event");
                scanned++;
            }
        }

        scan.Stop();

        var rebuild = Stopwatch.StartNew();
        string? error = null;
        try
        {
            using var daemon = await store.BuildProjectionDaemonAsync();
            await daemon.RebuildProjectionAsync<ProductViewProjection>(TimeSpan.FromMinutes(30), CancellationToken.None);
        }
        catch (Exception e)
        {
            error = $"rebuild failed: {e.GetType().Name}: {e.Message}";
        }

        rebuild.Stop();
        await using var session = store.QuerySession();
        var views = await session.Query<ProductView>().CountAsync();

        var perSecond = scanned / rebuild.Elapsed.TotalSeconds;
        var baseline = scanned / scan.Elapsed.TotalSeconds;
        ctx.Log($"  P4 {scanned:N0} events: rebuild {rebuild.Elapsed.TotalSeconds:F1} s, scan {scan.Elapsed.TotalSeconds:F1} s");
        var figures = new List<Figure>
        {
            new()
            {
                Scenario = "P4",
                Name = $"rebuild ProductView from {scanned:N0} events",
                Unit = "events/s",
                Value = error is null ? perSecond : null,
                BaselineName = "Npgsql scan + deserialize",
                Baseline = baseline,
                Target = ">= 0.3x",
                Status = error is null ? Load.Status(perSecond / baseline >= 0.3) : "error",
                Note = error ?? $"rebuild {rebuild.Elapsed.TotalSeconds:F1} s, scan {scan.Elapsed.TotalSeconds:F1} s; {views:N0} ProductView documents after",
            },
        };
        figures.Add(await RebuildAllAsync(ctx, store));
        return figures;
    }

    /// <summary>
    /// The issue's P4: every projection the store has, rebuilt one after the other (as an operator would after a change), against
    /// one ordered scan of the whole event table with each event deserialized to its type.
    /// </summary>
    private static async Task<Figure> RebuildAllAsync(Context ctx, DocumentStore store)
    {
        var types = new Dictionary<string, Type>();
        var scan = Stopwatch.StartNew();
        long scanned = 0;
        await using (var connection = new NpgsqlConnection(ctx.ConnectionString))
        {
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand($"select mt_dotnet_type, data from {BenchApp.Schema}.mt_events order by seq_id", connection);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var name = reader.GetString(0);
                if (!types.TryGetValue(name, out var type))
                    types[name] = type = Type.GetType(name) ?? throw new InvalidOperationException($"unknown event type {name}");
                _ = JsonSerializer.Deserialize(reader.GetString(1), type, Json) ?? throw new InvalidOperationException("null event");
                scanned++;
            }
        }

        scan.Stop();

        // Live aggregations (BusinessAccount, ProductRegistration) store nothing, so there is nothing of theirs to rebuild (a rebuild
        // of one would write documents nobody reads).
        var names = store.Options.Projections.All.Where(p => p.Lifecycle != ProjectionLifecycle.Live).Select(p => p.Name).ToList();
        var timings = new List<string>();
        var before = await DocumentCountsAsync(store);
        var rebuild = Stopwatch.StartNew();
        string? error = null;
        try
        {
            using var daemon = await store.BuildProjectionDaemonAsync();
            foreach (var name in names)
            {
                var one = Stopwatch.StartNew();
                await daemon.RebuildProjectionAsync(name, TimeSpan.FromMinutes(30), CancellationToken.None);
                timings.Add($"{name} {one.Elapsed.TotalSeconds:F1} s");
            }
        }
        catch (Exception e)
        {
            error = $"rebuild failed: {e.GetType().Name}: {e.Message}";
        }

        rebuild.Stop();
        // A fast rebuild that writes something else is no rebuild: the documents must come back as they were.
        var after = await DocumentCountsAsync(store);
        if (error is null && after != before)
            error = $"rebuild changed the documents: before {before}; after {after}";
        var perSecond = scanned / rebuild.Elapsed.TotalSeconds;
        var baseline = scanned / scan.Elapsed.TotalSeconds;
        ctx.Log($"  P4 all {names.Count} projections over {scanned:N0} events: rebuild {rebuild.Elapsed.TotalSeconds:F1} s ({string.Join(", ", timings)}), " +
                $"scan {scan.Elapsed.TotalSeconds:F1} s");
        return new Figure
        {
            Scenario = "P4",
            Name = $"rebuild all {names.Count} projections from {scanned:N0} events",
            Unit = "events/s",
            Value = error is null ? perSecond : null,
            BaselineName = "Npgsql scan + deserialize",
            Baseline = baseline,
            Target = ">= 0.3x",
            Status = error is null ? Load.Status(perSecond / baseline >= 0.3) : "error",
            Note = error ?? $"rebuild {rebuild.Elapsed.TotalSeconds:F1} s ({string.Join(", ", timings)}), scan {scan.Elapsed.TotalSeconds:F1} s; " +
                $"documents before and after: {after}",
        };
    }

    private static async Task<string> DocumentCountsAsync(DocumentStore store)
    {
        await using var session = store.QuerySession();
        var products = await session.Query<ProductView>().CountAsync();
        var claims = await session.Query<SerialOwnership>().CountAsync();
        var accounts = await session.Query<AccountView>().CountAsync();
        return $"{products:N0} ProductView, {claims:N0} SerialOwnership, {accounts:N0} AccountView";
    }
}
