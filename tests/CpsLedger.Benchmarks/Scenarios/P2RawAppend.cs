using CpsLedger.Api.Products;
using CpsLedger.Benchmarks.Harness;
using Marten;
using Npgsql;
using NpgsqlTypes;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// P2: one event appended to a new stream through Marten (quick append, one commit per event), against a plain single-row
/// INSERT through Npgsql of the same JSON (the same bytes Marten stores) with the same metadata columns, and against the two
/// rows Marten writes (a stream row and an event row with the stream's keys: primary key, foreign key, unique stream and
/// version) inserted in one round trip: the first ratio is Marten and the schema together, the second Marten alone. Then the
/// same append into a store whose event table carries the ledger's hash chain, the two taking turns: the chain's cost on single
/// appends.
/// </summary>
public static class P2RawAppend
{
    public static async Task<IReadOnlyList<Figure>> RunAsync(Context ctx)
    {
        var raw = ctx.Raw;
        var serializer = raw.Store.Options.Serializer();
        // Each event of an account of its own, as appends from many members are (the hash chain serialises appends to one account).
        ProductRegistered Event(int i) => new(Guid.CreateVersion7(), Guid.CreateVersion7(), "BENCH-CAM", "Bench Camera", "camera_body",
            $"P2SN{i:D9}", new DateOnly(2024, 3, 1), "EE", "Photopoint", [], RegistrationSource.Registration, DateTimeOffset.UtcNow);

        Task<string?> Marten(int _, int i) => AppendAsync(raw.Store, i);
        Task<string?> Chained(int _, int i) => AppendAsync(ctx.Chained.Store, i);

        async Task<string?> AppendAsync(DocumentStore store, int i)
        {
            await using var session = store.LightweightSession();
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

        async Task<string?> TwoRows(int _, int i)
        {
            var e = Event(i);
            await using var batch = raw.DataSource.CreateBatch();
            var stream = new NpgsqlBatchCommand($"insert into {RawStore.Schema}.plain_streams (id, type, version) values ($1, 'product_registration', 1)");
            stream.Parameters.Add(new NpgsqlParameter { Value = e.RegistrationId });
            var row = new NpgsqlBatchCommand($"insert into {RawStore.Schema}.plain_keyed_events (stream_id, version, type, data, correlation_id, user_name) " +
                                             "values ($1, 1, $2, $3, $4, $5)");
            row.Parameters.Add(new NpgsqlParameter { Value = e.RegistrationId });
            row.Parameters.Add(new NpgsqlParameter { Value = "product_registered" });
            row.Parameters.Add(new NpgsqlParameter { Value = serializer.ToJson(e), NpgsqlDbType = NpgsqlDbType.Jsonb });
            row.Parameters.Add(new NpgsqlParameter { Value = "bench-p2" });
            row.Parameters.Add(new NpgsqlParameter { Value = "bench" });
            batch.BatchCommands.Add(stream);
            batch.BatchCommands.Add(row);
            await batch.ExecuteNonQueryAsync();
            return null;
        }

        var ops = ctx.Scale.AppendOps;
        await Load.RunAsync(Math.Min(100, ops), 1, Marten);
        await Load.RunAsync(Math.Min(100, ops), 1, Insert);
        await Load.RunAsync(Math.Min(100, ops), 1, TwoRows);
        await Load.RunAsync(Math.Min(100, ops), 1, Chained);
        var figures = new List<Figure>();
        foreach (var clients in new[] { 1, 8 })
        {
            var insert = await Load.RunAsync(ops, clients, Insert);
            var twoRows = await Load.RunAsync(ops, clients, TwoRows);
            // The chain's cost is a difference of a few tens of percent between two runs of a couple of seconds: measured in
            // turns, since a single run of each put the chain anywhere between -23 % and +12 % at 1 client (2026-12-03).
            var (marten, chained) = await Load.TakingTurnsAsync(4, ops, clients, Marten, Chained);
            var ratio = marten.PerSecond / insert.PerSecond;
            var plural = clients == 1 ? "" : "s";
            figures.Add(Figure.Against("P2", $"Marten quick append, {clients} client{plural}", "events/s", marten, "Npgsql INSERT", insert) with
            {
                Target = ">= 0.5x",
                Status = Load.Status(ratio >= 0.5),
                Note = Load.FailureNote(marten, insert),
            });
            figures.Add(Figure.Against("P2", $"Marten quick append against its two rows, {clients} client{plural}",
                "events/s", marten, "stream + event INSERT, one round trip", twoRows) with
            {
                Note = Load.FailureNote(twoRows),
            });
            var chainCost = 1 - chained.PerSecond / marten.PerSecond;
            figures.Add(Figure.Against("P2", $"Marten quick append with the hash chain, {clients} client{plural}",
                "events/s", chained, "the same without the chain", marten) with
            {
                Target = "chain costs <= 15%",
                Status = Load.Status(chainCost <= 0.15),
                Note = $"the chain costs {chainCost:P0} of the append's throughput" + (Load.FailureNote(chained) is { } f ? $"; {f}" : ""),
            });
            ctx.Log($"  P2 {clients} client(s): {marten.PerSecond:F0} vs INSERT {insert.PerSecond:F0}, two rows {twoRows.PerSecond:F0}, " +
                    $"chained {chained.PerSecond:F0} events/s");
        }

        return figures;
    }
}
