using System.Net.Http.Headers;
using CpsLedger.Api.Platform;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using CpsLedger.Tests.Harness;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Wolverine;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// The real service in-process (WebApplicationFactory) on the benchmark database, schema <see cref="Schema"/>, listening on a
/// loopback port (Kestrel): every request of the scenarios goes over a real socket (until 2026-12 through the in-memory
/// TestServer). In the Production environment, as deployed (the pre-generated handlers, JSON logs, the daemon's hot/cold
/// election, no schema changes: <see cref="BuildSchemaAsync"/> first), with the settings Production requires
/// (<see cref="ProductionSettings"/>); until 2026-12-03 12:06 in Development, as the tests host it.
/// </summary>
public sealed class BenchApp(string connectionString, string mailFolder, string environment = "Production") : WebApplicationFactory<Program>
{
    public const string Schema = "cpsbench";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // The service's own folder (its appsettings files), wherever this program runs from.
        builder.UseContentRoot(Path.Combine(MachineInfo.RepositoryRoot(), "src", "CpsLedger.Api"));
        builder.UseEnvironment(environment);
        foreach (var (key, value) in ProductionSettings.All)
            builder.UseSetting(key, value);
        builder.UseSetting("ConnectionStrings:Marten", connectionString);
        builder.UseSetting("LocalPostgres:Enabled", "false");
        builder.UseSetting("Ledger:SchemaName", Schema);
        builder.UseSetting("Catalogue:LoadDemoOnFirstStart", "false");
        builder.UseSetting("Mail:PickupDirectory", mailFolder);
        builder.ConfigureServices(services =>
        {
            services.RunWolverineInSoloMode();
            services.DisableAllExternalWolverineTransports();
        });
    }

    /// <summary>The host, stopped once when the factory is disposed (see <see cref="StoppedOnceHost"/>).</summary>
    protected override IHost CreateHost(IHostBuilder builder) => new StoppedOnceHost(base.CreateHost(builder));

    public IDocumentStore Store => Services.GetRequiredService<IDocumentStore>();

    /// <summary>
    /// Builds the service's schema (Marten's and Wolverine's tables, the hash chain) in <see cref="Schema"/>, as a
    /// Development start does; Production changes no schema.
    /// </summary>
    public static async Task BuildSchemaAsync(string connectionString, string mailFolder)
    {
        await using var development = new BenchApp(connectionString, mailFolder, "Development");
        // A Development start applies every database change (on a free port, not the configured one).
        development.StartOnLoopback();
    }

    /// <summary>Where the service listens, once <see cref="StartOnLoopback"/> has run.</summary>
    public Uri BaseUrl { get; private set; } = new("http://127.0.0.1/");

    /// <summary>Starts the service with Kestrel on a free loopback port; CreateClient() then talks to it over sockets.</summary>
    public void StartOnLoopback()
    {
        UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, 0));
        StartServer();
        var addresses = Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses;
        BaseUrl = new Uri(addresses.First());
    }

    /// <summary>A client of its own connection pool, at most <paramref name="connections"/> sockets to the service.</summary>
    public HttpClient SocketClient(int connections) => SocketClient(BaseUrl, connections);

    /// <summary>A client of its own connection pool to <paramref name="baseUrl"/>, at most <paramref name="connections"/> sockets.</summary>
    public static HttpClient SocketClient(Uri baseUrl, int connections) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = TimeSpan.FromMinutes(10) }) { BaseAddress = baseUrl };

    public string TokenFor(string role, Guid? accountId = null) =>
        new DevTokenIssuer(Services.GetRequiredService<IOptions<AuthOptions>>(), TimeProvider.System)
            .Issue($"bench-{role}", [role], accountId);

    public HttpClient ClientAs(string role, Guid? accountId = null)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TokenFor(role, accountId));
        return client;
    }
}
