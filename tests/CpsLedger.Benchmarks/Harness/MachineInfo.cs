using System.Globalization;
using System.Runtime.InteropServices;
using Npgsql;

namespace CpsLedger.Benchmarks.Harness;

public static class MachineInfo
{
    public static async Task<Machine> ReadAsync(string connectionString, string database)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        async Task<string> Show(string setting)
        {
            await using var cmd = new NpgsqlCommand($"show {setting}", connection);
            return (string)(await cmd.ExecuteScalarAsync())!;
        }

        return new Machine(
            Environment.MachineName,
            Environment.ProcessorCount,
            MemoryGiB(),
            RuntimeInformation.OSDescription,
            RuntimeInformation.FrameworkDescription,
#if DEBUG
            "Debug: figures not meaningful",
#else
            "Release",
#endif
            await Show("server_version"),
            await Show("synchronous_commit"),
            await Show("fsync"),
            database);
    }

    private static double MemoryGiB()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null)
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0 / 1024.0;
        }
        catch (IOException)
        {
        }

        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1024.0 / 1024.0 / 1024.0;
    }

    /// <summary>Resident set size of a process in MB (Linux), or null.</summary>
    public static double? RssMb(int pid) => StatusMb(pid, "VmRSS:");

    /// <summary>Peak resident set size of a process so far in MB (Linux: VmHWM), or null (not Linux, or the process is gone).</summary>
    public static double? PeakRssMb(int pid) => StatusMb(pid, "VmHWM:");

    private static double? StatusMb(int pid, string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The repository root (the folder with CpsLedger.sln), found upwards from the binaries.</summary>
    public static string RepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "CpsLedger.sln")))
                    return dir.FullName;
        }

        throw new InvalidOperationException("CpsLedger.sln not found above the benchmark binaries.");
    }
}
