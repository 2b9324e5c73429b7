using CpsLedger.Tests.Harness;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CpsLedger.Tests.Platform;

/// <summary>How the tests' own hosts stop: each service once, as the service stops in production.</summary>
public sealed class TestHostTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task Disposing_a_test_host_stops_each_of_its_services_once_not_twice_at_the_same_moment()
    {
        // Program's own app.RunAsync() stops the host once it is told to stop; the factory's dispose used to stop it a second time,
        // at the same moment. Marten's projection coordinator does not survive two concurrent stops: CI failed on its
        // ObjectDisposedException at 99964dd.
        var probe = new StopProbe();
        var schema = $"cpsledger_stop_{Guid.NewGuid():N}"[..30];
        try
        {
            var host = App.WithWebHostBuilder(b =>
            {
                b.UseSetting("Ledger:SchemaName", schema);
                b.ConfigureServices(services => services.AddSingleton<IHostedService>(probe));
            });
            _ = host.Services;

            await host.DisposeAsync();

            Assert.Equal((1, 1), (probe.Stops, probe.MostAtOnce));
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    /// <summary>Counts its stops, and how many overlapped (each takes a moment, as the coordinator's does).</summary>
    private sealed class StopProbe : IHostedService
    {
        private int _stopping;
        private int _stops;
        private int _mostAtOnce;

        public int Stops => Volatile.Read(ref _stops);

        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _stops);
            var now = Interlocked.Increment(ref _stopping);
            InterlockedMax(ref _mostAtOnce, now);
            await Task.Delay(TimeSpan.FromMilliseconds(300), CancellationToken.None);
            Interlocked.Decrement(ref _stopping);
        }

        private static void InterlockedMax(ref int location, int value)
        {
            int seen;
            while ((seen = Volatile.Read(ref location)) < value && Interlocked.CompareExchange(ref location, value, seen) != seen)
            {
            }
        }
    }
}
