using System.Diagnostics;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using CpsLedger.Benchmarks.Harness;
using CpsLedger.Benchmarks.Scenarios;
using CpsLedger.LocalPostgres;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace CpsLedger.Benchmarks;

/// <summary>The benchmark command line (a class of its own: the service's top-level Program is referenced by WebApplicationFactory).</summary>
public static class BenchmarkProgram
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(BenchOptions.Usage);
            return 0;
        }

        if (args.Length > 0 && args[0] == "--micro")
        {
            var rest = args[1..].Where(a => a != "--short").ToArray();
            // In-process: no separate project to generate and build (the repository's build settings would apply to it).
            // --short: BenchmarkDotNet's ShortRun job (3 iterations), for a quick look.
            var job = args.Contains("--short") ? Job.ShortRun : Job.Default;
            var config = DefaultConfig.Instance.AddJob(job.WithToolchain(InProcessEmitToolchain.Instance))
                .WithArtifactsPath(Path.Combine(MachineInfo.RepositoryRoot(), "tests", "CpsLedger.Benchmarks", "results", "micro"));
            BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(rest.Length == 0 ? ["--filter", "*"] : rest, config);
            return 0;
        }

        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(BenchOptions.Usage);
            return 2;
        }

        // The service logs every request to the console; that cost stays in the measurement, but the lines go to a file so the
        // table stays readable.
        var output = Console.Out;
        void Log(string line)
        {
            lock (output)
                output.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");
        }

        var resultsDirectory = Path.GetFullPath(options.ResultsDirectory
                                                ?? Path.Combine(MachineInfo.RepositoryRoot(), "tests", "CpsLedger.Benchmarks", "results"));
        Directory.CreateDirectory(resultsDirectory);
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();

        PostgresCluster? cluster = null;
        string connectionString;
        string databaseName;
        if (options.ConnectionString is null)
        {
            Log("starting a throwaway PostgreSQL cluster");
            cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions
            {
                DataDirectory = Path.Combine(Path.GetTempPath(), $"cpsledger-bench-{Guid.NewGuid():N}"),
                Throwaway = true,
                Database = "cpsbench",
            });
            connectionString = cluster.ConnectionString;
            databaseName = "throwaway cluster, tuned for tests";
        }
        else
        {
            connectionString = options.ConnectionString;
            databaseName = "CPSLEDGER_BENCH_DATABASE";
        }

        var serviceLog = Path.Combine(resultsDirectory, "service.log");
        var mailFolder = Path.Combine(Path.GetTempPath(), $"cpsledger-bench-mail-{Guid.NewGuid():N}");
        var figures = new List<Figure>();
        var pending = new List<string>();
        try
        {
            await using (var connection = new NpgsqlConnection(connectionString))
            {
                await connection.OpenAsync();
                await using var drop = new NpgsqlCommand($"drop schema if exists {BenchApp.Schema} cascade; drop schema if exists {RawStore.Schema} cascade; " +
                                                       $"drop schema if exists {RawStore.ChainedSchema} cascade", connection);
                await drop.ExecuteNonQueryAsync();
            }

            var machine = await MachineInfo.ReadAsync(connectionString, databaseName);
            Log($"machine: {Report.MachineLine(machine)}");

            await using var serviceLogWriter = new StreamWriter(serviceLog) { AutoFlush = false };
            Console.SetOut(TextWriter.Synchronized(serviceLogWriter));

            Log("building the service's schema (a Development start), then starting it in-process (Production, on a loopback port) and the raw Marten stores");
            await BenchApp.BuildSchemaAsync(connectionString, mailFolder);
            await using var app = new BenchApp(connectionString, mailFolder);
            app.StartOnLoopback();
            await using var raw = await RawStore.CreateAsync(connectionString);
            await using var chained = await RawStore.CreateAsync(connectionString, RawStore.ChainedSchema, chained: true);
            using (var support = app.ClientAs(CpsLedger.Api.Platform.LedgerRoles.Support))
            {
                using var csv = new StringContent(Seeder.CatalogueCsv, System.Text.Encoding.UTF8, "text/csv");
                var imported = await support.PostAsync("/api/catalogue/imports", csv);
                if (!imported.IsSuccessStatusCode)
                    throw new InvalidOperationException($"Catalogue import failed: {(int)imported.StatusCode} {await imported.Content.ReadAsStringAsync()}");
            }

            var ctx = new Context
            {
                Options = options,
                ConnectionString = connectionString,
                App = app,
                Raw = raw,
                Chained = chained,
                Seeder = new Seeder(app.Store, app.Services.GetRequiredService<NpgsqlDataSource>(), Log),
                Log = Log,
                ResultsDirectory = resultsDirectory,
                ClusterDirectory = cluster?.DataDirectory,
                CreateDatabase = async name =>
                {
                    try
                    {
                        if (cluster is not null)
                            return await cluster.CreateDatabaseAsync(name);
                        await using var connection = new NpgsqlConnection(connectionString);
                        await connection.OpenAsync();
                        await using (var cmd = new NpgsqlCommand($"drop database if exists {name} with (force)", connection))
                            await cmd.ExecuteNonQueryAsync();
                        await using (var cmd = new NpgsqlCommand($"create database {name}", connection))
                            await cmd.ExecuteNonQueryAsync();
                        return new NpgsqlConnectionStringBuilder(connectionString) { Database = name }.ConnectionString;
                    }
                    catch (PostgresException)
                    {
                        return null;
                    }
                },
            };

            var scenarios = new (string Id, Func<Context, Task<IReadOnlyList<Figure>>> Run)[]
            {
                ("P2", P2RawAppend.RunAsync),
                ("P1", P1RegisterAndComplete.RunAsync),
                ("P5", P5AccountReads.RunAsync),
                ("P6", P6InvoiceList.RunAsync),
                ("H1", H1HttpLoad.RunAsync),
                ("P4", P4Rebuild.RunAsync),
                ("O1", O1ColdStart.RunAsync),
                ("P3", P3LegacyImport.RunAsync),
            };
            foreach (var (id, run) in scenarios.Where(s => options.Runs(s.Id)))
            {
                Log($"{id} ...");
                var scenarioClock = Stopwatch.StartNew();
                try
                {
                    figures.AddRange(await run(ctx));
                }
                catch (Exception e)
                {
                    // Benchmarks report, they do not fail: a broken scenario is a line in the table.
                    figures.Add(new Figure { Scenario = id, Name = "(scenario failed)", Unit = "", Status = "error", Note = $"{e.GetType().Name}: {e.Message}" });
                    Log($"{id} failed: {e}");
                }

                Log($"{id} done in {scenarioClock.Elapsed.TotalSeconds:F1} s");
                await serviceLogWriter.FlushAsync();
            }

            var result = new RunResult(started, clock.Elapsed, options.Scale.Name, machine, figures, pending);
            var (json, markdown) = Report.Write(result, resultsDirectory);
            output.WriteLine();
            output.WriteLine(Report.Console(result));
            output.WriteLine($"Results: {json}");
            output.WriteLine($"         {markdown}");
            output.WriteLine($"Service log: {serviceLog}");
            // Every figure is written first; then a scenario that broke (an exception, not a number) fails the run, so that CI's
            // smoke run catches a harness or a service that no longer works under load.
            var broken = figures.Where(f => f.Status == "error").Select(f => f.Scenario).ToList();
            if (broken.Count > 0)
            {
                output.WriteLine($"Scenarios that broke: {string.Join(", ", broken)} (the service log and the lines above say why)");
                return 1;
            }
        }
        finally
        {
            Console.SetOut(output);
            if (cluster is not null)
                await cluster.DisposeAsync();
            if (Directory.Exists(mailFolder))
                Directory.Delete(mailFolder, recursive: true);
        }

        return 0;
    }
}
