namespace CpsLedger.Benchmarks.Harness;

/// <summary>How big a run is. Smoke keeps the harness working in CI; small is a quick look; full is the issue's sizes.</summary>
public sealed record Scale(
    string Name,
    int AppendOps,
    int CommandOpsPerLevel,
    IReadOnlyList<int> ConcurrencyLevels,
    IReadOnlyList<int> ReadAccounts,
    int ReadsPerLevel,
    int RebuildEvents,
    int StartRuns,
    int LegacyProducts)
{
    public static readonly Scale Smoke = new("smoke", 200, 48, [1, 8, 32], [200, 1_000], 60, 4_000, 1, 3_000);
    public static readonly Scale Small = new("small", 3_000, 600, [1, 8, 32], [10_000, 100_000], 1_000, 400_000, 3, 100_000);
    public static readonly Scale Full = new("full", 20_000, 3_000, [1, 8, 32], [10_000, 100_000], 5_000, 1_000_000, 5, 1_000_000);

    public static Scale Parse(string name) => name.ToLowerInvariant() switch
    {
        "smoke" => Smoke,
        "small" => Small,
        "full" => Full,
        _ => throw new ArgumentException($"Unknown scale \"{name}\": smoke, small or full."),
    };
}

public sealed record BenchOptions(Scale Scale, IReadOnlySet<string> Scenarios, string? ConnectionString, string? ResultsDirectory)
{
    public const string DatabaseVariable = "CPSLEDGER_BENCH_DATABASE";
    public static readonly IReadOnlyList<string> AllScenarios = ["P2", "P1", "P5", "P6", "H1", "P4", "O1", "P3"];

    public bool Runs(string id) => Scenarios.Contains(id);

    public static string Usage => """
        CpsLedger benchmarks (issue #8). Every figure is reported next to a baseline measured in the same run.

          dotnet run -c Release --project tests/CpsLedger.Benchmarks -- [--scale smoke|small|full] [--scenarios P2,P1,P5,P6,H1,P4,O1,P3]
                                                                          [--results <folder>]
          dotnet run -c Release --project tests/CpsLedger.Benchmarks -- --micro [BenchmarkDotNet options, e.g. --filter '*Decide*']

          --scale       smoke (tiny: about 2 minutes on CI's 2 cores), small (default), full (the issue's sizes: 100k accounts, 1M events, 1M legacy products)
          --scenarios   comma-separated subset, in any order (default: all)
          --results     where the JSON and Markdown go (default: tests/CpsLedger.Benchmarks/results)
          --micro       BenchmarkDotNet micro-benchmarks of pure code instead (in-process); then --short for a quick
                        look, and any BenchmarkDotNet option (--filter '*Explain*', --list flat)

        Database: a throwaway PostgreSQL cluster from the machine's binaries, unless CPSLEDGER_BENCH_DATABASE holds a
        connection string (the schemas cpsbench and cpsbench_raw there are dropped and recreated).
        """;

    public static BenchOptions Parse(string[] args)
    {
        var scale = Scale.Small;
        IReadOnlySet<string> scenarios = new HashSet<string>(AllScenarios, StringComparer.OrdinalIgnoreCase);
        string? results = null;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--scale": scale = Scale.Parse(Next()); break;
                case "--scenarios":
                    var list = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(s => s.ToUpperInvariant()).ToList();
                    var unknown = list.Where(s => !AllScenarios.Contains(s)).ToList();
                    if (unknown.Count > 0)
                        throw new ArgumentException($"Unknown scenario(s) {string.Join(", ", unknown)}: {string.Join(", ", AllScenarios)}.");
                    scenarios = new HashSet<string>(list, StringComparer.OrdinalIgnoreCase);
                    break;
                case "--results": results = Next(); break;
                default: throw new ArgumentException($"Unknown option \"{args[i]}\".");
            }
        }

        var connection = Environment.GetEnvironmentVariable(DatabaseVariable);
        return new BenchOptions(scale, scenarios, string.IsNullOrWhiteSpace(connection) ? null : connection, results);
    }
}
