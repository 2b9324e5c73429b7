using System.Net.Http.Headers;
using CpsLedger.Api.Platform;
using CpsLedger.LocalPostgres;
using JasperFx.CommandLine;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;
using Wolverine.Runtime;

namespace CpsLedger.Tests.Support;

/// <summary>
/// The real service (WebApplicationFactory) on a real PostgreSQL: the one in <c>CPSLEDGER_TEST_DATABASE</c> when
/// set, otherwise a throwaway cluster this test run starts from the machine's binaries and removes afterwards.
/// </summary>
public sealed class LedgerApp : WebApplicationFactory<Program>, IAsyncLifetime
{
    public const string DatabaseVariable = "CPSLEDGER_TEST_DATABASE";

    private PostgresCluster? _cluster;

    // The host is started by WebApplicationFactory, not by the JasperFx command line it would otherwise reject.
    static LedgerApp() => JasperFxEnvironment.AutoStartHost = true;

    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var external = Environment.GetEnvironmentVariable(DatabaseVariable);
        if (string.IsNullOrWhiteSpace(external))
        {
            _cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions
            {
                DataDirectory = Path.Combine(Path.GetTempPath(), $"cpsledger-tests-{Guid.NewGuid():N}"),
                Throwaway = true,
            });
            ConnectionString = _cluster.ConnectionString;
        }
        else
        {
            ConnectionString = external;
        }

        _ = Server;
        await ResetAsync();
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        await base.DisposeAsync();
        if (_cluster is not null)
            await _cluster.DisposeAsync();
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("ConnectionStrings:Marten", ConnectionString);
        builder.UseSetting("LocalPostgres:Enabled", "false");
        builder.UseSetting("Ledger:SchemaName", "cpsledger_tests");
        builder.ConfigureServices(services =>
        {
            services.RunWolverineInSoloMode();
            services.DisableAllExternalWolverineTransports();
        });
    }

    /// <summary>Every test starts from an empty ledger: no events, documents, keys or scheduled messages.</summary>
    public async Task ResetAsync()
    {
        await Services.ResetAllMartenDataAsync();
        await Services.GetRequiredService<IWolverineRuntime>().Storage.Admin.ClearAllAsync();
    }

    public IDocumentStore Store => Services.GetRequiredService<IDocumentStore>();

    public string TokenFor(string role, Guid? accountId = null, string? subject = null) =>
        Services.GetRequiredService<DevTokenIssuer>().Issue(subject ?? $"test-{role}", [role], accountId);

    public HttpClient ClientAs(string role, Guid? accountId = null, string? subject = null)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TokenFor(role, accountId, subject));
        return client;
    }

    public HttpClient Anonymous() => CreateClient();
}

[CollectionDefinition(Name)]
public sealed class LedgerCollection : ICollectionFixture<LedgerApp>
{
    public const string Name = "ledger";
}

/// <summary>Base for integration tests: one shared host, a clean ledger before each test.</summary>
[Collection(LedgerCollection.Name)]
public abstract class LedgerTest(LedgerApp app) : IAsyncLifetime
{
    protected LedgerApp App { get; } = app;

    public Task InitializeAsync() => App.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;
}
