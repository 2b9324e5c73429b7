using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CpsLedger.Tests.Invoicing;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// The real service as a child process (<c>dotnet CpsLedger.Api.dll</c>, the build next to this test run), in the Production
/// profile (pre-generated code, no schema changes: the schema must exist) on a loopback port, so that a test can kill it
/// with SIGKILL as a crash would.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private ServiceProcess(Process process, Uri baseUrl)
    {
        _process = process;
        BaseUrl = baseUrl;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri BaseUrl { get; }

    public int ProcessId => _process.Id;

    public string Output => string.Join('\n', _output);

    /// <summary>
    /// Starts the service; with <paramref name="arguments"/> (given its address) it is started with those arguments and told its
    /// address by them alone (no <c>Urls</c> setting).
    /// </summary>
    public static async Task<ServiceProcess> StartAsync(LedgerApp app, string schema, IDictionary<string, string>? settings = null,
        Func<string, string[]>? arguments = null)
    {
        var dll = ServiceDll();
        var port = FreePort();
        var url = $"http://127.0.0.1:{port}";
        var start = new ProcessStartInfo("dotnet", [dll, .. arguments?.Invoke(url) ?? []])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var environment = ProductionSettings(app, schema);
        if (arguments is null)
            environment["Urls"] = url;
        // The reconciliation's schedule stays on (as in production): its first run is minutes away.
        environment["Serilog__MinimumLevel__Default"] = "Warning";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            environment[key] = value;
        foreach (var (key, value) in environment)
            start.Environment[key] = value;

        var service = new ServiceProcess(Process.Start(start)!, new Uri($"http://127.0.0.1:{port}"));
        try
        {
            await service.WaitUntilLiveAsync(TimeSpan.FromSeconds(90));
        }
        catch
        {
            // One that never answered (on another address than the one asked) is not left serving after the test.
            await service.DisposeAsync();
            throw;
        }

        return service;
    }

    /// <summary>
    /// What the Production profile requires and the test host has: its database and schema, its signing key, its mail folder,
    /// the old-e-mail code key and the seller (copied from the test host's own configuration, so both issue the same invoices).
    /// </summary>
    private static Dictionary<string, string> ProductionSettings(LedgerApp app, string schema)
    {
        var settings = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ConnectionStrings__Marten"] = app.ConnectionString,
            ["Ledger__SchemaName"] = schema,
            ["Auth__SigningKey"] = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CpsLedger.Api.Platform.AuthOptions>>().Value.SigningKey!,
            ["Mail__PickupDirectory"] = app.MailFolder,
            ["OldEmailVerification__CodeKey"] = "test-only-old-email-code-key-0000000000",
        };
        foreach (var (key, value) in app.Services.GetRequiredService<IConfiguration>().GetSection("Seller")
                     .AsEnumerable())
        {
            if (value is not null)
                settings[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        return settings;
    }

    /// <summary>
    /// A schema of its own for a child process, created by an in-process host (the Production profile never changes the
    /// schema) with the thousand-point model listed. Drop it with <see cref="DropSchemaAsync"/>.
    /// </summary>
    public static async Task<string> CreateSchemaAsync(LedgerApp app)
    {
        var schema = $"cpsledger_child_{Guid.NewGuid():N}"[..30];
        await using var host = app.WithWebHostBuilder(b => b.UseSetting("Ledger:SchemaName", schema));
        await Billing.ListThousandPointModel(host.Services.GetRequiredService<IDocumentStore>());
        return schema;
    }

    public static async Task DropSchemaAsync(LedgerApp app, string schema)
    {
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"drop schema if exists {schema} cascade", connection);
        await drop.ExecuteNonQueryAsync();
    }

    /// <summary>Runs one of the service's command-line commands (Production profile) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunCommandAsync(LedgerApp app, string schema, params string[] arguments)
    {
        var (exit, output, error) = await RunCommandApartAsync(app, schema, arguments);
        return (exit, output + error);
    }

    /// <summary>As <see cref="RunCommandAsync"/>, with standard output and standard error apart.</summary>
    public static Task<(int ExitCode, string Output, string Error)> RunCommandApartAsync(LedgerApp app, string schema, params string[] arguments) =>
        RunCommandApartAsync(app, schema, new Dictionary<string, string>(), arguments);

    /// <summary>As <see cref="RunCommandAsync"/>, with these settings over the Production profile's, and standard output and error apart.</summary>
    public static Task<(int ExitCode, string Output, string Error)> RunCommandApartAsync(
        LedgerApp app, string schema, IDictionary<string, string> settings, params string[] arguments)
    {
        var environment = ProductionSettings(app, schema);
        environment["Reconciliation__Enabled"] = "false";
        foreach (var (key, value) in settings)
            environment[key] = value;
        return RunAsync(Path.GetDirectoryName(ServiceDll())!, environment, arguments);
    }

    /// <summary>
    /// Runs the built service (<c>dotnet CpsLedger.Api.dll</c>) with these arguments in <paramref name="workingDirectory"/>, with
    /// <paramref name="environment"/> over this process's variables less any the test run may have that choose settings
    /// (content root, signing key): its exit code, standard output and standard error apart.
    /// </summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(
        string workingDirectory, IDictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", [ServiceDll(), .. arguments])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var variable in new[] { "ASPNETCORE_CONTENTROOT", "DOTNET_CONTENTROOT", "Auth__SigningKey", "Auth__Authority" })
            start.Environment.Remove(variable);
        foreach (var (key, value) in environment)
            start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    public HttpClient Client(LedgerApp app, string role, Guid? accountId = null)
    {
        var client = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", app.TokenFor(role, accountId));
        return client;
    }

    /// <summary>Waits for a line of the service's output (its log, or a test seam's report).</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_output.Any(line => line.Contains(text, StringComparison.Ordinal)))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
                throw new TimeoutException($"The service did not print \"{text}\" (exited: {_process.HasExited}). Output:\n{Output}");
            await Task.Delay(20);
        }
    }

    /// <summary>SIGKILL: the process gets no chance to finish anything.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    private async Task WaitUntilLiveAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"The service exited with {_process.ExitCode} while starting. Output:\n{Output}");
            try
            {
                if ((await client.GetAsync("/health/live")).StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"The service did not answer on {BaseUrl} within {timeout}. Output:\n{Output}");
            await Task.Delay(100);
        }
    }

    private static string ServiceDll()
    {
        // The service's own build output (its appsettings and console files are there), same configuration as this test run.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var root = CpsLedger.Api.Platform.Database.FindRepositoryRoot(AppContext.BaseDirectory);
        var dll = Path.Combine(root, "src", "CpsLedger.Api", "bin", configuration, "net10.0", "CpsLedger.Api.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the solution first: the service's build output is missing.", dll);
    }

    /// <summary>A loopback port nothing listens on as this returns.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            await KillAsync();
        _process.Dispose();
    }
}
