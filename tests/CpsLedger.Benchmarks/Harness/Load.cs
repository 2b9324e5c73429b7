using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

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
        var (result, _) = await RunWithSamplesAsync(ops, clients, operation);
        return result;
    }

    /// <summary>
    /// Two operations measured taking turns: <paramref name="rounds"/> rounds of <paramref name="ops"/> / rounds calls each,
    /// the second going first in every other round, and each one's rounds added up (its calls over its summed time, the
    /// latencies of all its calls). Neither always runs on the warmer cache or the fuller table, and a passing disturbance
    /// of the shared machine falls on both. Operation indexes run on across rounds.
    /// </summary>
    public static async Task<(LoadResult First, LoadResult Second)> TakingTurnsAsync(int rounds, int ops, int clients,
        Func<int, int, Task<string?>> first, Func<int, int, Task<string?>> second)
    {
        var perRound = Math.Max(1, ops / rounds);
        var runs = new[] { new List<(LoadResult Result, double[] Samples)>(), new List<(LoadResult Result, double[] Samples)>() };
        var operations = new[] { first, second };
        for (var round = 0; round < rounds; round++)
        {
            var offset = round * perRound;
            foreach (var which in round % 2 == 0 ? new[] { 0, 1 } : [1, 0])
                runs[which].Add(await RunWithSamplesAsync(perRound, clients, (client, i) => operations[which](client, offset + i)));
        }

        return (Sum(runs[0]), Sum(runs[1]));

        static LoadResult Sum(List<(LoadResult Result, double[] Samples)> parts) => new(
            parts.Sum(p => p.Result.Ops), parts.Sum(p => p.Result.Failures),
            TimeSpan.FromTicks(parts.Sum(p => p.Result.Elapsed.Ticks)),
            Latency.Of([.. parts.SelectMany(p => p.Samples)]),
            parts.Select(p => p.Result.FirstError).FirstOrDefault(e => e is not null));
    }

    private static async Task<(LoadResult Result, double[] Samples)> RunWithSamplesAsync(int ops, int clients, Func<int, int, Task<string?>> operation)
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
        var all = samples.ToArray();
        return (new LoadResult(ops, failures, total.Elapsed, Latency.Of(all), firstError), all);
    }

    public static string? FailureNote(params LoadResult[] results)
    {
        var failed = results.Where(r => r.Failures > 0).ToList();
        return failed.Count == 0 ? null : string.Join("; ", failed.Select(r => $"{r.Failures} of {r.Ops} failed, first: {r.FirstError}"));
    }

    public static string Status(bool met) => met ? "met" : "missed";

    /// <summary>A GET of the path's next value, its body read to the end: null when answered 200, else the status.</summary>
    public static Func<int, int, Task<string?>> Get(HttpClient http, Func<string> path) => async (_, _) =>
    {
        using var response = await http.GetAsync(path());
        await response.Content.ReadAsByteArrayAsync();
        return response.StatusCode == HttpStatusCode.OK ? null : $"{(int)response.StatusCode}";
    };
}
