using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>Latency percentiles in milliseconds over <see cref="Count"/> samples.</summary>
public sealed record Latency(int Count, double P50, double P95, double P99, double Max)
{
    public static Latency Of(IReadOnlyCollection<double> samplesMs)
    {
        if (samplesMs.Count == 0)
            return new Latency(0, double.NaN, double.NaN, double.NaN, double.NaN);
        var sorted = samplesMs.Order().ToArray();
        // Nearest-rank percentiles: with few samples p99 is the slowest sample or close to it.
        double P(double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new Latency(sorted.Length, P(0.50), P(0.95), P(0.99), sorted[^1]);
    }
}

/// <summary>One line of the results table: a figure next to its baseline from the same run, and the target.</summary>
public sealed record Figure
{
    public required string Scenario { get; init; }
    public required string Name { get; init; }
    public required string Unit { get; init; }
    public double? Value { get; init; }
    public string? BaselineName { get; init; }
    public double? Baseline { get; init; }
    public Latency? Latency { get; init; }
    public Latency? BaselineLatency { get; init; }
    public string? Target { get; init; }

    /// <summary>met, missed, or null when the figure has no target of its own.</summary>
    public string? Status { get; init; }

    public string? Note { get; init; }

    /// <summary>A run measured against its baseline run: each one's throughput and latencies.</summary>
    public static Figure Against(string scenario, string name, string unit, LoadResult result, string baselineName, LoadResult baseline) => new()
    {
        Scenario = scenario,
        Name = name,
        Unit = unit,
        Value = result.PerSecond,
        BaselineName = baselineName,
        Baseline = baseline.PerSecond,
        Latency = result.Latency,
        BaselineLatency = baseline.Latency,
    };

    public double? Ratio => Value is { } v && Baseline is { } b && b != 0 ? v / b : null;

    /// <summary>p99 over the baseline's p99 (the P1 latency target).</summary>
    public double? P99Ratio => Latency is { Count: > 0 } l && BaselineLatency is { Count: > 0 } b && b.P99 > 0 ? l.P99 / b.P99 : null;
}

public sealed record Machine(
    string Host,
    int Cores,
    double MemoryGiB,
    string Os,
    string Runtime,
    string BuildConfiguration,
    string PostgresVersion,
    string SynchronousCommit,
    string Fsync,
    string Database);

public sealed record RunResult(DateTimeOffset StartedAt, TimeSpan Elapsed, string Scale, Machine Machine, IReadOnlyList<Figure> Figures,
    IReadOnlyList<string> Pending);

public static class Report
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Number(double? value) => value switch
    {
        null => "",
        { } v when double.IsNaN(v) => "",
        { } v when Math.Abs(v) >= 1000 => v.ToString("N0", CultureInfo.InvariantCulture),
        { } v when Math.Abs(v) >= 100 => v.ToString("F0", CultureInfo.InvariantCulture),
        { } v when Math.Abs(v) >= 10 => v.ToString("F1", CultureInfo.InvariantCulture),
        { } v => v.ToString("F2", CultureInfo.InvariantCulture),
    };

    private static string Ratio(Figure f)
    {
        var parts = new List<string>();
        if (f.Ratio is { } r) parts.Add(r.ToString("F2", CultureInfo.InvariantCulture) + "x");
        if (f.P99Ratio is { } p) parts.Add("p99 " + p.ToString("F2", CultureInfo.InvariantCulture) + "x");
        return string.Join(", ", parts);
    }

    private static string Percentiles(Latency? l) => l is { Count: > 0 } ? $"{Number(l.P50)} / {Number(l.P95)} / {Number(l.P99)}" : "";

    private static readonly string[] Header =
        ["id", "figure", "value", "unit", "baseline", "ratio", "p50 / p95 / p99 ms", "baseline p50 / p95 / p99 ms", "target", "status"];

    private static string[] Row(Figure f) =>
    [
        f.Scenario, f.Name, Number(f.Value), f.Unit,
        f.BaselineName is null ? "" : $"{Number(f.Baseline)} ({f.BaselineName})",
        Ratio(f), Percentiles(f.Latency), Percentiles(f.BaselineLatency), f.Target ?? "", f.Status ?? "",
    ];

    public static string MachineLine(Machine m) =>
        $"{m.Cores} cores, {m.MemoryGiB:F1} GiB, {m.Os}, {m.Runtime} ({m.BuildConfiguration}); PostgreSQL {m.PostgresVersion}, " +
        $"synchronous_commit={m.SynchronousCommit}, fsync={m.Fsync} ({m.Database})";

    public static string Console(RunResult run)
    {
        var rows = run.Figures.Select(Row).ToList();
        var widths = Header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        sb.AppendLine($"Machine: {MachineLine(run.Machine)}");
        sb.AppendLine($"Scale: {run.Scale}; started {run.StartedAt:yyyy-MM-dd HH:mm} UTC; took {run.Elapsed.TotalSeconds:F0} s");
        sb.AppendLine(string.Join(" | ", Header.Select((h, i) => h.PadRight(widths[i]))));
        sb.AppendLine(string.Join("-+-", widths.Select(w => new string('-', w))));
        foreach (var r in rows)
            sb.AppendLine(string.Join(" | ", r.Select((c, i) => c.PadRight(widths[i]))));
        foreach (var f in run.Figures.Where(f => f.Note is not null))
            sb.AppendLine($"  {f.Scenario} {f.Name}: {f.Note}");
        foreach (var p in run.Pending)
            sb.AppendLine($"  pending: {p}");
        return sb.ToString();
    }

    public static string Markdown(RunResult run)
    {
        static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);
        var sb = new StringBuilder();
        sb.AppendLine($"Run of {run.StartedAt:yyyy-MM-dd HH:mm} UTC, scale `{run.Scale}`, {run.Elapsed.TotalSeconds:F0} s.");
        sb.AppendLine();
        sb.AppendLine($"Machine: {MachineLine(run.Machine)}.");
        sb.AppendLine();
        sb.AppendLine("| " + string.Join(" | ", Header) + " |");
        sb.AppendLine("|" + string.Concat(Header.Select(_ => "---|")));
        foreach (var f in run.Figures)
            sb.AppendLine("| " + string.Join(" | ", Row(f).Select(Cell)) + " |");
        var notes = run.Figures.Where(f => f.Note is not null).ToList();
        if (notes.Count > 0 || run.Pending.Count > 0)
        {
            sb.AppendLine();
            foreach (var f in notes)
                sb.AppendLine($"- {f.Scenario} {Cell(f.Name)}: {f.Note}");
            foreach (var p in run.Pending)
                sb.AppendLine($"- pending: {p}");
        }

        return sb.ToString();
    }

    public static (string Json, string Markdown) Write(RunResult run, string directory)
    {
        Directory.CreateDirectory(directory);
        var stamp = $"{run.StartedAt:yyyyMMdd-HHmmss}-{run.Scale}";
        var json = Path.Combine(directory, stamp + ".json");
        var md = Path.Combine(directory, stamp + ".md");
        File.WriteAllText(json, JsonSerializer.Serialize(run, Json));
        var markdown = Markdown(run);
        File.WriteAllText(md, markdown);
        // The smoke run (CI) must not replace the figures a real run left.
        if (run.Scale != Scale.Smoke.Name)
            File.WriteAllText(Path.Combine(directory, "latest.md"), markdown);
        return (json, md);
    }
}
