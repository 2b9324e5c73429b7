using System.Diagnostics;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// Counts database round trips in this process: Npgsql starts one activity per command or batch it sends (BEGIN and the
/// pool's DISCARD ALL ride along with the next command, so they are not round trips of their own).
/// </summary>
public sealed class RoundTrips : IDisposable
{
    private readonly ActivityListener _listener;
    private long _count;

    public RoundTrips()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
            ActivityStarted = _ => Interlocked.Increment(ref _count),
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public long Count => Interlocked.Read(ref _count);

    public void Dispose() => _listener.Dispose();
}
