using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using CpsLedger.Api.Audit;
using Marten;
using Npgsql;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// The whole ledger's verification as <c>verify</c> runs it (every projection replayed and compared, the claims, the invoices' running
/// totals and number claims, the hash chains), timed, and the baseline it is measured against: one ordered scan of the whole event
/// table with each event deserialized to its type. P4 verifies after its rebuilds; P6 verifies the ledger its invoices were seeded into.
/// </summary>
public static class LedgerVerification
{
    /// <summary>How the scans read the events' JSON: as the service stores it (enums in snake case).</summary>
    public static readonly JsonSerializerOptions EventJson = new()
    {
        PropertyNameCaseInsensitive = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Every event of the ledger read in order and deserialized to its type; how many, and how long it took.</summary>
    public static async Task<(long Events, TimeSpan Elapsed)> ScanAllEventsAsync(string connectionString)
    {
        var types = new Dictionary<string, Type>();
        var scan = Stopwatch.StartNew();
        long scanned = 0;
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"select mt_dotnet_type, data from {BenchApp.Schema}.mt_events order by seq_id", connection);
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var name = reader.GetString(0);
            if (!types.TryGetValue(name, out var type))
                types[name] = type = Type.GetType(name) ?? throw new InvalidOperationException($"unknown event type {name}");
            _ = JsonSerializer.Deserialize(reader.GetString(1), type, EventJson) ?? throw new InvalidOperationException("null event");
            scanned++;
        }

        return (scanned, scan.Elapsed);
    }

    /// <summary>
    /// Verifies the whole ledger. A verification that throws or finds a difference or a broken link is an error, which names the first
    /// of them: the figure then carries no time (a benchmark of a check that failed measures nothing), and the run exits 1.
    /// </summary>
    public static async Task<(TimeSpan Elapsed, VerificationReport? Report, string? Error)> RunAsync(IDocumentStore store)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var report = await new Verification(store, new ChainVerification(store)).RunAsync(null, CancellationToken.None);
            clock.Stop();
            if (report.Agrees)
                return (clock.Elapsed, report, null);
            var first = report.Differences.Take(3).Select(d => $"{d.Document} {d.Id} {d.Field}: stored {d.Stored ?? "none"}, replayed {d.Replayed ?? "none"}")
                .Concat(report.ChainBreaks.Take(3).Select(b => b.ToString()));
            return (clock.Elapsed, report, $"verification disagrees: {report.Differences.Count:N0} differences, {report.ChainBreaks.Count:N0} chain breaks " +
                                          $"(first: {string.Join("; ", first)})");
        }
        catch (Exception e)
        {
            return (clock.Elapsed, null, $"verification failed: {e.GetType().Name}: {e.Message}");
        }
    }
}
