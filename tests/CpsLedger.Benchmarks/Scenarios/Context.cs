using CpsLedger.Benchmarks.Harness;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>What every scenario shares in one run.</summary>
public sealed class Context
{
    public required BenchOptions Options { get; init; }
    public required string ConnectionString { get; init; }
    public required BenchApp App { get; init; }
    public required RawStore Raw { get; init; }

    /// <summary>The same bare store with the hash chain on its event table.</summary>
    public required RawStore Chained { get; init; }
    public required Seeder Seeder { get; init; }
    public required Action<string> Log { get; init; }
    public required string ResultsDirectory { get; init; }

    /// <summary>Creates a database next to the benchmark one (null when the server refuses, e.g. an external server without the right).</summary>
    public Func<string, Task<string?>> CreateDatabase { get; init; } = _ => Task.FromResult<string?>(null);

    /// <summary>The throwaway cluster's data directory (null for an external server): where <see cref="CpuMeter"/> finds PostgreSQL.</summary>
    public string? ClusterDirectory { get; init; }

    public Scale Scale => Options.Scale;
}
