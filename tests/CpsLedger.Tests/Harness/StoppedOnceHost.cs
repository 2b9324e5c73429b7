using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// The test host as the factory holds it, stopped once. Program starts the host itself (<c>app.RunAsync()</c>, minimal hosting)
/// and stops it when the application is told to stop; the factory's own stop would stop it a second time at the same moment
/// (it tells the application to stop first), and Marten's projection coordinator does not survive two concurrent stops. So this
/// stop tells the application to stop and waits for Program's stop to finish, as a signal does in production.
/// </summary>
internal sealed class StoppedOnceHost(IHost host) : IHost, IAsyncDisposable
{
    // Program's stop waits up to the host's own shutdown timeout (30 s) for the services; past this, it is not coming.
    private static readonly TimeSpan ProgramStopWait = TimeSpan.FromSeconds(60);

    public IServiceProvider Services => host.Services;

    public Task StartAsync(CancellationToken cancellationToken = default) => host.StartAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStopped.Register(() => stopped.TrySetResult()))
        {
            lifetime.StopApplication();
            try
            {
                await stopped.Task.WaitAsync(ProgramStopWait, cancellationToken);
                return;
            }
            catch (TimeoutException)
            {
            }
        }

        // Program is not running the host (its start failed, say): stop it here.
        await host.StopAsync(cancellationToken);
    }

    public void Dispose() => host.Dispose();

    public ValueTask DisposeAsync() => host is IAsyncDisposable disposable ? disposable.DisposeAsync() : DisposeSynchronously();

    private ValueTask DisposeSynchronously()
    {
        host.Dispose();
        return ValueTask.CompletedTask;
    }
}
