using System.Diagnostics;

namespace CpsLedger.Benchmarks.Harness;

/// <summary>
/// CPU time spent while a load ran: this process (the service and the load client together) and, for a throwaway cluster,
/// every PostgreSQL process of it (from /proc). On a shared, busy machine throughput moves with the neighbours; CPU time per
/// request moves much less, so it is what tells two builds apart.
/// </summary>
public sealed class CpuMeter
{
    private readonly int? _postmaster;
    private readonly TimeSpan _process;
    private readonly double _postgresSeconds;

    private CpuMeter(int? postmaster)
    {
        _postmaster = postmaster;
        _process = Process.GetCurrentProcess().TotalProcessorTime;
        _postgresSeconds = PostgresSeconds(postmaster);
    }

    /// <param name="dataDirectory">The throwaway cluster's data directory (its postmaster.pid names the server); null for an external server.</param>
    public static CpuMeter Start(string? dataDirectory) => new(Postmaster(dataDirectory));

    /// <summary>Milliseconds of CPU per operation: (.NET process, PostgreSQL or null when not measurable).</summary>
    public (double Dotnet, double? Postgres) PerOperation(int operations)
    {
        var dotnet = (Process.GetCurrentProcess().TotalProcessorTime - _process).TotalMilliseconds / operations;
        double? postgres = _postmaster is null ? null : (PostgresSeconds(_postmaster) - _postgresSeconds) * 1000 / operations;
        return (dotnet, postgres);
    }

    /// <summary>
    /// Seconds of CPU (user + system) of the children this process has waited for, and of the whole PostgreSQL cluster including
    /// the backends that exited (the postmaster's reaped children): what a child process such as the legacy-import command and the
    /// backends it opened cost, read before it starts and after it is waited for. The cluster's is null for an external server.
    /// </summary>
    public static (double Children, double? Postgres) ReapedSeconds(string? dataDirectory)
    {
        var self = StatFields("/proc/self/stat");
        var children = self is null ? 0 : (long.Parse(self[13]) + long.Parse(self[14])) / 100.0;
        var postmaster = Postmaster(dataDirectory);
        if (postmaster is null)
            return (children, null);
        var reaped = StatFields($"/proc/{postmaster}/stat") is { } p ? (long.Parse(p[13]) + long.Parse(p[14])) / 100.0 : 0;
        return (children, PostgresSeconds(postmaster) + reaped);
    }

    // The fields after the command name (which may contain spaces) closed by ')': state(0) ppid(1) ... utime(11) stime(12)
    // cutime(13) cstime(14).
    private static string[]? StatFields(string file)
    {
        try
        {
            var stat = File.ReadAllText(file);
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static int? Postmaster(string? dataDirectory)
    {
        var file = dataDirectory is null ? null : Path.Combine(dataDirectory, "postmaster.pid");
        return file is not null && File.Exists(file) && int.TryParse(File.ReadLines(file).FirstOrDefault(), out var pid) ? pid : null;
    }

    // utime + stime of the postmaster and its children (backends, WAL writer, ...), in seconds. A backend that exited during the
    // load is missed, which the pooled connections of a run make rare.
    private static double PostgresSeconds(int? postmaster)
    {
        if (postmaster is null)
            return 0;
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue; // gone meanwhile
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            // Fields after the command name (which may contain spaces) closed by ')': state ppid ... utime(14) stime(15).
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (pid == postmaster || (int.TryParse(fields[1], out var parent) && parent == postmaster))
                ticks += long.Parse(fields[11]) + long.Parse(fields[12]);
        }

        return ticks / 100.0; // USER_HZ is 100 on Linux
    }
}
