using CpsLedger.Api.Products;
using CpsLedger.Benchmarks.Harness;
using Marten;
using NpgsqlTypes;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// P2: one event appended to a new stream through Marten (quick append, one commit per event), against a plain single-row
/// INSERT through Npgsql of the same JSON (the same bytes Marten stores) with the same metadata columns.
/// </summary>
public static class P2RawAppend
{
    public static async Task<IReadOnlyList<Figure>> RunAsync(Context ctx)
    {
        var raw = ctx.Raw;
        var serializer = raw.Store.Options.Serializer();
        var accountId = Guid.CreateVersion7();
        ProductRegistered Event(int i) => new(Guid.CreateVersion7(), accountId, "BENCH-CAM", "Bench Camera", "camera_body",
            $"P2SN{i:D9}", new DateOnly(2024, 3, 1), "EE", "Photopoint", [], RegistrationSource.Registration, DateTimeOffset.UtcNow);

        async Task<string?> Marten(int _, int i)
        {
            await using var session = raw.Store.LightweightSession();
            session.CorrelationId = "bench-p2";
            session.LastModifiedBy = "bench";
            var e = Event(i);
            session.Events.StartStream(e.RegistrationId, e);
            await session.SaveChangesAsync();
            return null;
        }

        async Task<string?> Insert(int _, int i)
        {
            var e = Event(i);
            await using var cmd = raw.DataSource.CreateCommand(
                $"insert into {RawStore.Schema}.plain_events (stream_id, type, data, correlation_id, user_name) values ($1, $2, $3, $4, $5)");
            cmd.Parameters.AddWithValue(e.RegistrationId);
            cmd.Parameters.AddWithValue("product_registered");
            cmd.Parameters.AddWithValue(NpgsqlDbType.Jsonb, serializer.ToJson(e));
            cmd.Parameters.AddWithValue("bench-p2");
            cmd.Parameters.AddWithValue("bench");
            await cmd.ExecuteNonQueryAsync();
            return null;
        }

        var ops = ctx.Scale.AppendOps;
        await Load.RunAsync(Math.Min(100, ops), 1, Marten);
        await Load.RunAsync(Math.Min(100, ops), 1, Insert);
        var figures = new List<Figure>();
        foreach (var clients in new[] { 1, 8 })
        {
            // Alternate which goes first so neither always gets the warmer cache.
            var insert = await Load.RunAsync(ops, clients, Insert);
            var marten = await Load.RunAsync(ops, clients, Marten);
            var ratio = marten.PerSecond / insert.PerSecond;
            figures.Add(new Figure
            {
                Scenario = "P2",
                Name = $"Marten quick append, {clients} client{(clients == 1 ? "" : "s")}",
                Unit = "events/s",
                Value = marten.PerSecond,
                BaselineName = "Npgsql INSERT",
                Baseline = insert.PerSecond,
                Latency = marten.Latency,
                BaselineLatency = insert.Latency,
                Target = ">= 0.5x",
                Status = Load.Status(ratio >= 0.5),
                Note = Load.FailureNote(marten, insert),
            });
            ctx.Log($"  P2 {clients} client(s): {marten.PerSecond:F0} vs {insert.PerSecond:F0} events/s");
        }

        return figures;
    }
}
