using System.Collections.Concurrent;
using System.Diagnostics;

namespace CpsLedger.Benchmarks.Harness;

public sealed record LoadResult(int Ops, int Failures, TimeSpan Elapsed, Latency Latency, string? FirstError)
{
    public double PerSecond => Ops / Elapsed.TotalSeconds;
}

/// <summary>Runs an operation a number of times from a number of concurrent clients, timing each call.</summary>
public static class Load
{
    /// <param name="operation">Called with (client index, operation index); returns null on success, else what went wrong.</param>
    public static async Task<LoadResult> RunAsync(int ops, int clients, Func<int, int, Task<string?>> operation)
    {
        var samples = new ConcurrentBag<double>();
        var failures = 0;
        string? firstError = null;
        var next = -1;
        var total = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < ops)
            {
                var started = Stopwatch.GetTimestamp();
                string? error;
                try
                {
                    error = await operation(client, i);
                }
                catch (Exception e)
                {
                    error = $"{e.GetType().Name}: {e.Message}";
                }

                samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (error is not null)
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstError, error, null);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        total.Stop();
        return new LoadResult(ops, failures, total.Elapsed, Latency.Of(samples.ToArray()), firstError);
    }

    public static string? FailureNote(params LoadResult[] results)
    {
        var failed = results.Where(r => r.Failures > 0).ToList();
        return failed.Count == 0 ? null : string.Join("; ", failed.Select(r => $"{r.Failures} of {r.Ops} failed, first: {r.FirstError}"));
    }

    public static string Status(bool met) => met ? "met" : "missed";
}
