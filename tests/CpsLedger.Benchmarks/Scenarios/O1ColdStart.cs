using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using CpsLedger.Api.Platform;
using CpsLedger.Benchmarks.Harness;
using Microsoft.Extensions.Options;
using Npgsql;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// O1: the built service (its dll, run with dotnet as a child process) in the Production profile (pre-generated code,
/// AutoCreate.None) against a database built from eventstore-migrations/ alone: time from process start to the first
/// 201 of POST /api/accounts, polled every 20 ms; then the process's RSS.
/// </summary>
public static class O1ColdStart
{
    public static async Task<IReadOnlyList<Figure>> RunAsync(Context ctx)
    {
        var root = MachineInfo.RepositoryRoot();
        var built = ServiceDll();
        if (!File.Exists(built))
            return [Skipped(BuildOutput, $"{built} not built")];

        var connection = await ctx.CreateDatabase("cpsbench_o1");
        if (connection is null)
            return [Skipped(BuildOutput, "could not create a database for it (an external server needs CREATEDB)")];
        var applied = await ApplyMigrationsAsync(connection, Path.Combine(root, "eventstore-migrations"));
        var token = new DevTokenIssuer(Options.Create(new AuthOptions { SigningKey = ProductionSettings.SigningKey }), TimeProvider.System)
            .Issue("bench-portal", [LedgerRoles.Portal]);

        // What a deployment runs is the ReadyToRun publish (docs/operations.md), so the target is its figure; the build output
        // (the JIT compiles everything at start) is beside it. Publishing takes minutes: the smoke run starts the build output only.
        Figure published;
        if (ctx.Scale == Scale.Smoke)
            published = Skipped(Published, "the smoke run does not publish (it takes minutes)");
        else
        {
            var folder = Path.Combine(Path.GetTempPath(), $"cpsbench-o1-publish-{Environment.ProcessId}");
            try
            {
                var (dll, failure) = await PublishAsync(ctx, folder);
                published = dll is null
                    ? Skipped(Published, failure!)
                    : await StartRunsAsync(ctx, dll, Published, connection, token, applied, "o1-published", target: true);
            }
            finally
            {
                if (Directory.Exists(folder))
                    Directory.Delete(folder, recursive: true);
            }
        }

        var buildOutput = await StartRunsAsync(ctx, built, BuildOutput, connection, token, applied, "o1-built", target: false);
        return [published, buildOutput];
    }

    private const string Published = "process start to first 201, Production profile, ReadyToRun publish";
    private const string BuildOutput = "process start to first 201, Production profile, build output";

    private static async Task<Figure> StartRunsAsync(Context ctx, string dll, string name, string connection, string token, int applied,
        string logPrefix, bool target)
    {
        var samples = new List<double>();
        var rss = new List<double>();
        string? error = null;
        for (var run = 0; run < ctx.Scale.StartRuns && error is null; run++)
        {
            var (elapsed, memory, failure) = await StartOnceAsync(dll, connection, token, Path.Combine(ctx.ResultsDirectory, $"{logPrefix}-{run}.log"));
            if (failure is not null)
                error = failure;
            else
            {
                samples.Add(elapsed);
                if (memory is { } m)
                    rss.Add(m);
            }
        }

        var latency = Latency.Of(samples);
        ctx.Log($"  O1 ({name[(name.LastIndexOf(',') + 2)..]}): {string.Join(", ", samples.Select(s => $"{s:F0} ms"))}{(error is null ? "" : " " + error)}");
        return new Figure
        {
            Scenario = "O1",
            Name = name,
            Unit = "ms (median)",
            Value = samples.Count == 0 ? null : latency.P50,
            Latency = samples.Count == 0 ? null : latency,
            Target = target ? "<= 2000 ms" : null,
            Status = samples.Count == 0 ? "error" : target ? Load.Status(latency.Max <= 2000) : null,
            Note = (error is null ? "" : error + "; ") +
                   $"{samples.Count} run(s), slowest {Report.Number(latency.Max)} ms; RSS after the first request " +
                   $"{(rss.Count == 0 ? "n/a" : $"{rss.Average():F0} MB")}; schema from {applied} migration scripts; includes the dotnet host start",
        };
    }

    private static Figure Skipped(string name, string why) => new()
    {
        Scenario = "O1",
        Name = name,
        Unit = "ms",
        Status = "skipped",
        Note = why,
    };

    /// <summary>
    /// Publishes the service as docs/operations.md deploys it (framework-dependent, for this machine's runtime identifier, which
    /// makes it ReadyToRun: the project's setting) into <paramref name="output"/>; returns its dll, or why there is none.
    /// </summary>
    private static async Task<(string? Dll, string? Error)> PublishAsync(Context ctx, string output)
    {
        var project = Path.Combine(MachineInfo.RepositoryRoot(), "src", "CpsLedger.Api", "CpsLedger.Api.csproj");
        var info = new ProcessStartInfo(DotnetHost(),
            ["publish", project, "-c", Configuration, "-r", RuntimeInformation.RuntimeIdentifier, "--self-contained", "false", "-o", output])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var log = await stdout + await stderr;
        await File.WriteAllTextAsync(Path.Combine(ctx.ResultsDirectory, "o1-publish.log"), log);
        ctx.Log($"  O1: published with ReadyToRun in {clock.Elapsed.TotalSeconds:F0} s (exit {process.ExitCode})");
        var dll = Path.Combine(output, "CpsLedger.Api.dll");
        return process.ExitCode == 0 && File.Exists(dll)
            ? (dll, null)
            : (null, $"dotnet publish failed with {process.ExitCode} (see o1-publish.log)");
    }

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    /// <summary>The built service dll of this program's configuration (built with it: the project reference).</summary>
    internal static string ServiceDll() =>
        Path.Combine(MachineInfo.RepositoryRoot(), "src", "CpsLedger.Api", "bin", Configuration, "net10.0", "CpsLedger.Api.dll");

    /// <summary>The dotnet host this program runs under when known (dotnet run sets DOTNET_HOST_PATH), else dotnet from the PATH.</summary>
    internal static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>
    /// The published service run as production runs it, with <paramref name="arguments"/> after the dll (none: the service; a
    /// command's name and its input): the Production environment, the database, <see cref="ProductionSettings"/>, e-mails dropped in
    /// <paramref name="mailFolder"/> under the temporary folder; its output redirected for the caller to read.
    /// </summary>
    internal static ProcessStartInfo PublishedService(string dll, IEnumerable<string> arguments, string connection, string mailFolder)
    {
        var info = new ProcessStartInfo(DotnetHost(), [dll, .. arguments])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["ConnectionStrings__Marten"] = connection;
        info.Environment["Mail__PickupDirectory"] = Path.Combine(Path.GetTempPath(), mailFolder);
        ProductionSettings.AddTo(info);
        return info;
    }

    /// <summary>Builds the schema of a fresh database from eventstore-migrations/ alone (what a deployment does).</summary>
    internal static async Task<int> ApplyMigrationsAsync(string connectionString, string folder)
    {
        var scripts = Directory.GetFiles(folder, "*.sql")
            .Where(f => char.IsDigit(Path.GetFileName(f)[0]) && !f.EndsWith(".drop.sql", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        foreach (var script in scripts)
        {
            await using var cmd = new NpgsqlCommand(await File.ReadAllTextAsync(script), connection);
            await cmd.ExecuteNonQueryAsync();
        }

        return scripts.Count;
    }

    private static async Task<(double Ms, double? RssMb, string? Error)> StartOnceAsync(string dll, string connection, string token, string logFile)
    {
        var port = FreePort();
        var info = PublishedService(dll, [], connection, "cpsbench-o1-mail");
        info.Environment["Urls"] = $"http://127.0.0.1:{port}";

        await using var log = new StreamWriter(logFile);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string? last = null;
        try
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                if (process.HasExited)
                    return (0, null, $"the service exited with {process.ExitCode} (see {logFile})");
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/api/accounts")
                    {
                        Content = JsonContent.Create(new
                        {
                            companyName = "Cold Start OU",
                            contactEmail = $"o1-{Guid.NewGuid():N}@bench.example",
                            country = "EE",
                            oldCpsEmails = Array.Empty<string>(),
                        }),
                    };
                    request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
                    using var response = await http.SendAsync(request);
                    if (response.StatusCode == HttpStatusCode.Created)
                    {
                        var ms = clock.Elapsed.TotalMilliseconds;
                        return (ms, MachineInfo.RssMb(process.Id), null);
                    }

                    last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                    // Listening but refusing: waiting longer will not help.
                    if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
                        return (0, null, $"first answer was {last[..Math.Min(300, last.Length)]} (see {logFile})");
                }
                catch (HttpRequestException e)
                {
                    last = e.Message;
                }
                catch (TaskCanceledException)
                {
                    last = "request timed out";
                }

                await Task.Delay(20);
            }

            return (0, null, $"no 201 within 30 s; last answer: {last} (see {logFile})");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
