using System.Diagnostics;
using System.Globalization;
using System.Text;
using CpsLedger.Benchmarks.Harness;
using Marten;
using Npgsql;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// P3: the legacy import of <see cref="Scale.LegacyProducts"/> products, run as the CLI runs it: the built service dll
/// started with dotnet as a child process, <c>legacy-import &lt;file&gt;</c>, Production profile (pre-generated code,
/// AutoCreate.None) against a fresh database built from eventstore-migrations/ alone (its own database, so the schema
/// <c>cpsledger</c> the pre-generated code names disturbs nothing else); its peak RSS (VmHWM) polled while it runs. Baseline:
/// PostgreSQL COPY (CSV, through Npgsql) of the same file into a plain table in the same database.
/// </summary>
public static class P3LegacyImport
{
    private const string Database = "cpsbench_p3";
    private const string Name = "legacy import (legacy-import command, child process)";

    public static async Task<IReadOnlyList<Figure>> RunAsync(Context ctx)
    {
        var dll = O1ColdStart.ServiceDll();
        if (!File.Exists(dll))
            return [Skipped($"{dll} not built")];

        var connection = await ctx.CreateDatabase(Database);
        if (connection is null)
            return [Skipped("could not create a database for it (an external server needs CREATEDB)")];
        await O1ColdStart.ApplyMigrationsAsync(connection, Path.Combine(MachineInfo.RepositoryRoot(), "eventstore-migrations"));

        var file = Path.Combine(Path.GetTempPath(), $"cpsbench-legacy-{Guid.NewGuid():N}.csv");
        try
        {
            var (rows, products, accounts) = Generate(ctx.Scale.LegacyProducts, file);
            ctx.Log($"  P3: {file}: {rows:N0} rows ({products:N0} products, {accounts:N0} old accounts), {new FileInfo(file).Length / 1024.0 / 1024.0:F1} MB");

            var copy = await CopyAsync(connection, file);
            ctx.Log($"  P3: COPY {copy.Rows:N0} rows in {copy.Elapsed.TotalSeconds:F2} s");
            var ceilings = await CeilingsAsync(ctx, connection, file);

            // CPU of the command's process (reaped by this one) and of PostgreSQL (its backends exit with the command) over the import.
            var before = CpuMeter.ReapedSeconds(ctx.ClusterDirectory);
            var import = await ImportAsync(dll, connection, file, Path.Combine(ctx.ResultsDirectory, "p3-legacy-import.log"));
            var after = CpuMeter.ReapedSeconds(ctx.ClusterDirectory);
            var importCpu = $"CPU .NET {after.Children - before.Children:F2} s, PostgreSQL " +
                            (after.Postgres - before.Postgres is { } pg ? $"{pg:F2} s" : "n/a");
            ctx.Log($"  P3: import {(import.Error ?? "done")} in {import.Elapsed.TotalSeconds:F1} s ({importCpu}), peak RSS {import.PeakRssMb:F0} MB");

            long events;
            await using (var db = new NpgsqlConnection(connection))
            {
                await db.OpenAsync();
                await using var cmd = new NpgsqlCommand("select count(*) from cpsledger.mt_events", db);
                events = (long)(await cmd.ExecuteScalarAsync())!;
            }

            // The events expected: one LegacyAccountImported per old e-mail and one LegacyProductImported per product.
            var complete = events == accounts + products;
            var error = import.Error ?? (complete ? null : $"{events:N0} events in the ledger after the import, {accounts + products:N0} expected");
            // Events per second over the process's whole life (host start to exit), against the same events copied in binary.
            var rate = events / import.Elapsed.TotalSeconds;
            var copyRate = ceilings.Events / ceilings.PlainCopy.TotalSeconds;
            var rssMet = import.PeakRssMb is { } peak && peak < 400;
            return
            [
                ..ceilings.Figures,
                new Figure
                {
                    Scenario = "P3",
                    Name = $"{Name}, {products:N0} products",
                    Unit = "events/s",
                    Value = error is null ? rate : null,
                    BaselineName = "plain binary COPY of the same events",
                    Baseline = copyRate,
                    Target = ">= 0.3x; RSS < 400 MB",
                    Status = error is not null ? "error" : Load.Status(rate / copyRate >= 0.3 && rssMet),
                    Note = (error is null ? "" : error + $" (see {import.Log}); ") +
                           $"{rows:N0} rows ({products:N0} products, {accounts:N0} old accounts, {events:N0} events); process " +
                           $"{import.Elapsed.TotalSeconds:F1} s from start to exit, {importCpu} (the command's own figure: {import.Summary ?? "n/a"}); " +
                           $"peak RSS {(import.PeakRssMb is { } m ? $"{m:F0} MB" : "n/a")}; the file's CSV COPY into a plain table " +
                           $"{copy.Elapsed.TotalSeconds:F2} s ({copy.Rows / copy.Elapsed.TotalSeconds:N0} rows/s)",
                },
            ];
        }
        finally
        {
            File.Delete(file);
        }
    }

    private sealed record Ceilings(long Events, TimeSpan PlainCopy, IReadOnlyList<Figure> Figures);

    /// <summary>
    /// The same events the import writes (one LegacyAccountImported per old e-mail, one LegacyProductImported per product), built
    /// in memory from the file, then written four ways: binary COPY into a plain table without keys (the ceiling); Marten's
    /// BulkInsertEventsAsync; and the import's own bulk path (BulkAppend: streams, events and views copied in one transaction per
    /// 10,000 events) into a bare store without and with the hash chain, which gives the chain's cost on the bulk path.
    /// </summary>
    private static async Task<Ceilings> CeilingsAsync(Context ctx, string connection, string file)
    {
        var now = DateTimeOffset.UtcNow;
        var streams = new List<Api.Platform.NewStream<Api.Migration.LegacyAccountView>>();
        using (var text = new StreamReader(file))
        {
            Guid current = Guid.Empty;
            List<object>? events = null;
            foreach (var (row, _) in Api.Migration.LegacyFile.Read(text, DateOnly.FromDateTime(DateTime.UtcNow)))
            {
                if (row is null)
                    continue;
                var id = Api.Migration.LegacyIds.AccountFor(row.OldEmail);
                if (id != current)
                {
                    if (events is not null)
                        streams.Add(new(current, events, Api.Migration.LegacyAccountViewProjection.Fold(events)));
                    current = id;
                    events = [new Api.Migration.LegacyAccountImported(id, row.OldEmail, row.OldMembershipNumber, now)];
                }

                if (row.Product is { } p)
                    events!.Add(new Api.Migration.LegacyProductImported(id, Guid.CreateVersion7(), p.ModelCode, p.SerialNumber, p.PurchaseDate,
                        p.CountryOfPurchase, p.Dealer, now));
            }

            if (events is not null)
                streams.Add(new(current, events, Api.Migration.LegacyAccountViewProjection.Fold(events)));
        }

        var count = streams.Sum(s => (long)s.Events.Count);
        var serializer = ctx.Raw.Store.Options.Serializer();

        // Plain binary COPY: the same JSON and metadata columns, no keys. The fastest of three copies into a fresh table: one
        // copy of a few hundred milliseconds moved between 79,000 and 270,000 events/s from run to run, and the ceiling is what
        // the machine can do.
        var plain = TimeSpan.MaxValue;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var clock = Stopwatch.StartNew();
            await using (var db = new NpgsqlConnection(connection))
            {
                await db.OpenAsync();
                await using (var cmd = new NpgsqlCommand("""
                    create schema if not exists cpsbench_copy;
                    drop table if exists cpsbench_copy.legacy_events;
                    create table cpsbench_copy.legacy_events (seq_id bigint, id uuid, stream_id uuid, version bigint, data jsonb, type varchar,
                        timestamp timestamptz, correlation_id varchar, user_name varchar);
                    """, db))
                    await cmd.ExecuteNonQueryAsync();
                clock.Restart();
                await using var copy = await db.BeginBinaryImportAsync(
                    "copy cpsbench_copy.legacy_events (seq_id, id, stream_id, version, data, type, timestamp, correlation_id, user_name) from stdin (format binary)");
                long seq = 0;
                foreach (var stream in streams)
                {
                    var version = 0L;
                    foreach (var e in stream.Events)
                    {
                        await copy.StartRowAsync();
                        await copy.WriteAsync(++seq, NpgsqlTypes.NpgsqlDbType.Bigint);
                        await copy.WriteAsync(Guid.CreateVersion7(), NpgsqlTypes.NpgsqlDbType.Uuid);
                        await copy.WriteAsync(stream.Id, NpgsqlTypes.NpgsqlDbType.Uuid);
                        await copy.WriteAsync(++version, NpgsqlTypes.NpgsqlDbType.Bigint);
                        await copy.WriteAsync(serializer.ToJson(e), NpgsqlTypes.NpgsqlDbType.Jsonb);
                        await copy.WriteAsync(e is Api.Migration.LegacyAccountImported ? "legacy_account_imported" : "legacy_product_imported",
                            NpgsqlTypes.NpgsqlDbType.Varchar);
                        await copy.WriteAsync(now, NpgsqlTypes.NpgsqlDbType.TimestampTz);
                        await copy.WriteAsync("bench-p3", NpgsqlTypes.NpgsqlDbType.Varchar);
                        await copy.WriteAsync("bench", NpgsqlTypes.NpgsqlDbType.Varchar);
                    }
                }

                await copy.CompleteAsync();
                clock.Stop();
            }

            if (clock.Elapsed < plain)
                plain = clock.Elapsed;
        }

        // Marten's own bulk event insert (fresh stream ids: the bare store is shared with the bulk path below).
        var martenBulk = Stopwatch.StartNew();
        var graph = (Marten.Events.EventGraph)ctx.Raw.Store.Options.Events;
        foreach (var chunk in streams.Chunk(2_000))
        {
            var actions = chunk.Select(s => JasperFx.Events.StreamAction.Start(graph, Guid.CreateVersion7(), [.. s.Events])).ToList();
            await ctx.Raw.Store.BulkInsertEventsAsync(actions, 10_000);
        }

        martenBulk.Stop();

        // The bulk path into the bare store without and with the chain, the same batches taking turns (which store goes first
        // alternates), so that the shared machine's changing load weighs on both alike: run one whole pass after the other,
        // the chain's cost moved between -25 % and 41 % from run to run.
        var batches = new List<List<Api.Platform.NewStream<Api.Migration.LegacyAccountView>>>();
        var inBatch = 0;
        foreach (var stream in streams)
        {
            if (batches.Count == 0 || inBatch >= 10_000)
            {
                batches.Add([]);
                inBatch = 0;
            }

            batches[^1].Add(stream);
            inBatch += stream.Events.Count;
        }

        // CPU per flush: this process (the service hosted beside it idles) and PostgreSQL's backends, in milliseconds.
        async Task<(TimeSpan Wall, double Dotnet, double Postgres)> FlushAsync(DocumentStore store, List<Api.Platform.NewStream<Api.Migration.LegacyAccountView>> batch)
        {
            var cpu = CpuMeter.Start(ctx.ClusterDirectory);
            var clock = Stopwatch.StartNew();
            await using (var session = store.LightweightSession())
            {
                session.CorrelationId = "bench-p3";
                session.LastModifiedBy = "bench";
                await Api.Platform.BulkAppend.StartStreamsAsync(session, batch, CancellationToken.None);
                await session.SaveChangesAsync();
            }

            var wall = clock.Elapsed;
            var (dotnet, postgres) = cpu.PerOperation(1);
            return (wall, dotnet, postgres ?? 0);
        }

        var bulkPath = TimeSpan.Zero;
        var chained = TimeSpan.Zero;
        double bulkDotnet = 0, bulkPostgres = 0, chainedDotnet = 0, chainedPostgres = 0;
        async Task Raw(List<Api.Platform.NewStream<Api.Migration.LegacyAccountView>> batch)
        {
            var (wall, dotnet, postgres) = await FlushAsync(ctx.Raw.Store, batch);
            (bulkPath, bulkDotnet, bulkPostgres) = (bulkPath + wall, bulkDotnet + dotnet, bulkPostgres + postgres);
        }

        async Task Chained(List<Api.Platform.NewStream<Api.Migration.LegacyAccountView>> batch)
        {
            var (wall, dotnet, postgres) = await FlushAsync(ctx.Chained.Store, batch);
            (chained, chainedDotnet, chainedPostgres) = (chained + wall, chainedDotnet + dotnet, chainedPostgres + postgres);
        }

        for (var i = 0; i < batches.Count; i++)
        {
            if (i % 2 == 0)
            {
                await Raw(batches[i]);
                await Chained(batches[i]);
            }
            else
            {
                await Chained(batches[i]);
                await Raw(batches[i]);
            }
        }

        ctx.Log($"  P3 ceilings over {count:N0} events: plain COPY {plain.TotalSeconds:F1} s (fastest of three), Marten bulk insert {martenBulk.Elapsed.TotalSeconds:F1} s, " +
                $"bulk path {bulkPath.TotalSeconds:F1} s (CPU .NET {bulkDotnet / 1000:F2} s, PostgreSQL {bulkPostgres / 1000:F2} s), " +
                $"with the chain {chained.TotalSeconds:F1} s (CPU .NET {chainedDotnet / 1000:F2} s, PostgreSQL {chainedPostgres / 1000:F2} s)");
        double Rate(TimeSpan t) => count / t.TotalSeconds;
        var chainCost = 1 - Rate(chained) / Rate(bulkPath);
        return new Ceilings(count, plain,
        [
            new Figure
            {
                Scenario = "P3", Name = $"Marten BulkInsertEventsAsync, {count:N0} legacy events", Unit = "events/s", Value = Rate(martenBulk.Elapsed),
                BaselineName = "plain binary COPY", Baseline = Rate(plain),
                Note = "2,000 streams a call; no views, no chain (a bare store)",
            },
            new Figure
            {
                Scenario = "P3", Name = $"the import's bulk path (BulkAppend), {count:N0} legacy events", Unit = "events/s", Value = Rate(bulkPath),
                BaselineName = "plain binary COPY", Baseline = Rate(plain),
                Note = "streams, events and LegacyAccountView documents copied in one transaction per 10,000 events; a bare store without the chain; its batches take turns with the chained store's; " +
                       $"CPU .NET {bulkDotnet / 1000:F2} s, PostgreSQL {bulkPostgres / 1000:F2} s",
            },
            new Figure
            {
                Scenario = "P3", Name = $"the same with the hash chain, {count:N0} legacy events", Unit = "events/s", Value = Rate(chained),
                BaselineName = "the bulk path without the chain", Baseline = Rate(bulkPath),
                Target = "chain costs <= 15%", Status = Load.Status(chainCost <= 0.15),
                Note = $"the chain (v4, linked per statement) costs {chainCost:P0} of the bulk path's throughput; CPU .NET {chainedDotnet / 1000:F2} s, " +
                       $"PostgreSQL {chainedPostgres / 1000:F2} s",
            },
        ]);
    }

    private static Figure Skipped(string why) => new() { Scenario = "P3", Name = Name, Unit = "rows/s", Status = "skipped", Note = why };

    /// <summary>
    /// Writes a legacy file of <paramref name="products"/> products, the shape tests/CpsLedger.Tests/Migration/generate-legacy-file.py
    /// writes (seeded; old accounts of 1 to 9 products, about 70% with every detail, one old account in fifty without products),
    /// ported so that the benchmark needs no Python. Returns the data rows, products and old accounts written.
    /// </summary>
    internal static (int Rows, int Products, int Accounts) Generate(int products, string path)
    {
        string[] models = ["EOS-R5", "EOS-R6-MKII", "EOS-1DX", "EF-40-STM", "RF-24-70-F28", "RF-70-200-F28", "EOS-C70", "SPEEDLITE-EL1"];
        string[] countries = ["EE", "FI", "LV", "LT", "SE", "DE", "PL", "NL"];
        string[] dealers = ["Photopoint", "Foto Pood", "Kamerakauppa", "Scandinavian Photo", "Calumet", "\"Foto, Video & Co\""];
        var rnd = new Random(4711);
        var written = 0;
        var account = 0;
        var rows = 0;
        using var output = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16) { NewLine = "\n" };
        output.WriteLine("old_email,old_membership_number,model_code,serial_number,purchase_date,country_of_purchase,dealer");
        var line = new StringBuilder(128);
        while (written < products)
        {
            account++;
            var email = $"member{account:D7}@old-cps.example";
            var number = $"CPS-OLD-{account:D7}";
            if (account % 50 == 0)
            {
                output.WriteLine($"{email},{number},,,,,");
                rows++;
                continue;
            }

            for (var n = Math.Min(rnd.Next(1, 10), products - written); n > 0; n--)
            {
                written++;
                rows++;
                var complete = rnd.NextDouble() < 0.7;
                var serial = !complete && rnd.NextDouble() < 0.5 ? "" : $"{rnd.Next(0, 100):D2}{written:D10}";
                var date = complete || rnd.NextDouble() < 0.5
                    ? $"{rnd.Next(2005, 2024)}-{rnd.Next(1, 13):D2}-{rnd.Next(1, 29):D2}"
                    : "";
                var country = complete || rnd.NextDouble() < 0.5 ? countries[rnd.Next(countries.Length)] : "";
                var dealer = complete || rnd.NextDouble() < 0.3 ? dealers[rnd.Next(dealers.Length)] : "";
                line.Clear().Append(CultureInfo.InvariantCulture,
                    $"{email},{number},{models[rnd.Next(models.Length)]},{serial},{date},{country},{dealer}");
                output.WriteLine(line);
            }
        }

        return (rows, written, account);
    }

    private static async Task<(long Rows, TimeSpan Elapsed)> CopyAsync(string connectionString, string file)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var cmd = new NpgsqlCommand("""
            create schema if not exists cpsbench_copy;
            drop table if exists cpsbench_copy.legacy_rows;
            create table cpsbench_copy.legacy_rows (
                old_email text not null,
                old_membership_number text not null,
                model_code text,
                serial_number text,
                purchase_date date,
                country_of_purchase text,
                dealer text);
            """, connection))
            await cmd.ExecuteNonQueryAsync();

        var clock = Stopwatch.StartNew();
        await using (var writer = await connection.BeginTextImportAsync(
                         "copy cpsbench_copy.legacy_rows from stdin (format csv, header true)"))
        {
            using var reader = new StreamReader(file, Encoding.UTF8);
            var buffer = new char[1 << 16];
            int read;
            while ((read = await reader.ReadAsync(buffer)) > 0)
                await writer.WriteAsync(buffer.AsMemory(0, read));
        }

        clock.Stop();
        await using var count = new NpgsqlCommand("select count(*) from cpsbench_copy.legacy_rows", connection);
        return ((long)(await count.ExecuteScalarAsync())!, clock.Elapsed);
    }

    private sealed record ImportRun(TimeSpan Elapsed, double? PeakRssMb, string? Summary, string? Error, string Log);

    private static async Task<ImportRun> ImportAsync(string dll, string connection, string file, string logFile)
    {
        var info = O1ColdStart.PublishedService(dll, ["legacy-import", file], connection, "cpsbench-p3-mail");

        string? summary = null;
        string? timings = null;
        await using var log = new StreamWriter(logFile);
        void Line(string? text)
        {
            if (text is null)
                return;
            lock (log)
            {
                log.WriteLine(text);
                if (text.StartsWith("Imported ", StringComparison.Ordinal) || text.StartsWith(Api.Migration.LegacyImport.RejectedTitle, StringComparison.Ordinal))
                    summary = text;
                else if (text.Contains("Legacy import timings", StringComparison.Ordinal))
                    timings = RenderedMessage(text);
            }
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        double? peak = null;
        var exited = process.WaitForExitAsync();
        var limit = TimeSpan.FromMinutes(30);
        while (!exited.IsCompleted && clock.Elapsed < limit)
        {
            // VmHWM is the peak so far, so polling misses nothing but the last moments before the exit.
            if (MachineInfo.PeakRssMb(process.Id) is { } hwm)
                peak = Math.Max(peak ?? 0, hwm);
            await Task.WhenAny(exited, Task.Delay(50));
        }

        if (!exited.IsCompleted)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return new ImportRun(clock.Elapsed, peak, summary, $"killed after {limit.TotalMinutes:F0} minutes", logFile);
        }

        clock.Stop();
        await process.WaitForExitAsync(); // the output handlers have had every line
        // The command's own line, shortened to its timing: "in 12.3 s (81234 product rows/s, ...".
        var timing = summary is not null && summary.IndexOf(" in ", StringComparison.Ordinal) is var at and >= 0 && summary.IndexOf(')', at) is var end and > 0
            ? summary[(at + 4)..(end + 1)]
            : summary;
        var error = process.ExitCode != 0 ? $"legacy-import exited with {process.ExitCode}: {summary ?? "no summary line"}" : null;
        return new ImportRun(clock.Elapsed, peak, timings is null ? timing : $"{timing}; {timings}", error, logFile);
    }

    // The Production profile logs compact JSON: the rendered message is "@m".
    private static string RenderedMessage(string line)
    {
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(line);
            return json.RootElement.TryGetProperty("@m", out var m) ? m.GetString() ?? line : line;
        }
        catch (System.Text.Json.JsonException)
        {
            return line;
        }
    }
}
