using System.Net.Http.Headers;
using CpsLedger.Api.Platform;
using JasperFx.CommandLine;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Wolverine;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// The real service in-process (WebApplicationFactory, Development environment, as the tests host it) on the benchmark
/// database, schema <see cref="Schema"/>, listening on a loopback port (Kestrel): every request of the scenarios goes over a
/// real socket (until 2026-12 through the in-memory TestServer).
/// </summary>
public sealed class BenchApp(string connectionString, string mailFolder) : WebApplicationFactory<Program>
{
    public const string Schema = "cpsbench";

    static BenchApp() => JasperFxEnvironment.AutoStartHost = true;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // The service's own folder (its appsettings files), wherever this program runs from.
        builder.UseContentRoot(Path.Combine(MachineInfo.RepositoryRoot(), "src", "CpsLedger.Api"));
        builder.UseEnvironment("Development");
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

    public IDocumentStore Store => Services.GetRequiredService<IDocumentStore>();

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
    public HttpClient SocketClient(int connections) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = TimeSpan.FromMinutes(10) }) { BaseAddress = BaseUrl };

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
