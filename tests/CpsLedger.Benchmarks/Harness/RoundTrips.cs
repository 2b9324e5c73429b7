using System.Collections.Concurrent;
using System.Diagnostics;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// Counts database round trips in this process: Npgsql starts one activity per command or batch it sends (BEGIN and the
/// pool's DISCARD ALL ride along with the next command, so they are not round trips of their own). With
/// <c>CPSLEDGER_BENCH_STATEMENTS=1</c> it also groups them by statement text, for finding what a request sends.
/// </summary>
public sealed class RoundTrips : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentDictionary<string, int>? _byStatement;
    private long _count;

    public RoundTrips()
    {
        if (Environment.GetEnvironmentVariable("CPSLEDGER_BENCH_STATEMENTS") == "1")
            _byStatement = new ConcurrentDictionary<string, int>();
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            // The statement text is a tag, which only a fully recorded activity carries.
            Sample = (ref ActivityCreationOptions<ActivityContext> _) =>
                _byStatement is null ? ActivitySamplingResult.PropagationData : ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = _ => Interlocked.Increment(ref _count),
            ActivityStopped = activity =>
            {
                if (_byStatement is null)
                    return;
                var text = activity.GetTagItem("db.query.text") ?? activity.GetTagItem("db.statement") ?? activity.DisplayName;
                var key = Shorten(text?.ToString() ?? "?");
                _byStatement.AddOrUpdate(key, 1, (_, n) => n + 1);
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public long Count => Interlocked.Read(ref _count);

    /// <summary>The statements seen so far, most frequent first, each with its count divided by <paramref name="per"/>.</summary>
    public IEnumerable<string> Breakdown(int per) => _byStatement is null
        ? []
        : _byStatement.OrderByDescending(s => s.Value).Select(s => $"{(double)s.Value / per,6:F2}  {s.Key}");

    public void Reset()
    {
        Interlocked.Exchange(ref _count, 0);
        _byStatement?.Clear();
    }

    private static string Shorten(string sql)
    {
        var oneLine = string.Join(' ', sql.Split((char[])['\n', '\r', '\t', ' '], StringSplitOptions.RemoveEmptyEntries));
        return oneLine.Length <= 160 ? oneLine : oneLine[..160] + "…";
    }

    public void Dispose() => _listener.Dispose();
}
