using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace CpsLedger.LocalPostgres.Tests;

/// <summary>
/// A server whose messages are in another language (lc_messages, or LANGUAGE over it: Debian's PostgreSQL and glibc ship their
/// German translations, the machine needs no German locale) starts as one in English does. Until 2026-12-07 a failed start was
/// told apart by English lines of the server's log: "lock file "postmaster.pid" already exists" (another process started the
/// cluster at the same moment: share it) and "Address already in use" (the free port was taken before the server bound it: try
/// another); in German neither was found, and the start failed.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LocalisedServerTests
{
    private static readonly IReadOnlyDictionary<string, string> German = new Dictionary<string, string> { ["LANGUAGE"] = "de" };

    [Fact]
    public async Task A_cluster_another_process_starts_at_the_same_moment_is_shared_when_the_server_speaks_german()
    {
        using var temp = new TestDirectory();
        var data = temp.Sub("data");
        var other = FreePort();
        // pg_ctl as the machine's, except that its first start brings the cluster up first on another port, as another process
        // starting it at the same moment would: the start asked for then fails on the lock file.
        var bin = WrappedBinaries(temp, $$"""
            if [ "${@: -1}" = start ] && [ ! -e '{{data}}/postmaster.pid' ]; then
              "$real" -D '{{data}}' -l '{{data}}/server.log' -w -o "-p {{other}} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null
            fi
            """);

        var messages = new List<string>();
        await using var cluster = await PostgresCluster.StartAsync(
            new PostgresClusterOptions { DataDirectory = data, BinDirectory = bin, Throwaway = true, ServerEnvironment = German }, messages.Add);

        Assert.Equal(other, cluster.Port);
        Assert.False(cluster.StartedByThisProcess);
        Assert.Contains(messages, m => m.StartsWith("reusing PostgreSQL", StringComparison.Ordinal));
        Assert.Contains("existiert bereits", await File.ReadAllTextAsync(Path.Combine(data, "server.log")));
        Assert.Equal(1, await ScalarAsync<int>(cluster.ConnectionString, "select 1"));
    }

    [Fact]
    public async Task A_port_taken_before_the_server_binds_it_is_given_up_for_another_when_the_server_speaks_german()
    {
        using var temp = new TestDirectory();
        var data = temp.Sub("data");
        var taken = FreePort();
        Directory.CreateDirectory(data);
        // The port the cluster remembers is free when it is chosen; pg_ctl's first start takes it first (a listener for 20 s).
        var bin = WrappedBinaries(temp, $$"""
            if [ "${@: -1}" = start ] && [ ! -e '{{temp.Path}}/taken' ]; then
              : > '{{temp.Path}}/taken'
              python3 -c 'import socket, time; s = socket.socket(); s.bind(("127.0.0.1", {{taken}})); s.listen(); time.sleep(20)' &
              sleep 0.5
            fi
            """);

        var messages = new List<string>();
        var options = new PostgresClusterOptions { DataDirectory = data, BinDirectory = bin, ServerEnvironment = German };
        // The data directory as a first start leaves it, with the port to use again.
        await using (await PostgresCluster.StartAsync(options with { BinDirectory = null }))
        {
        }

        await File.WriteAllTextAsync(Path.Combine(data, "cpsledger-port"), $"{taken}\n");
        await using var cluster = await PostgresCluster.StartAsync(options, messages.Add);

        Assert.NotEqual(taken, cluster.Port);
        Assert.Contains(messages, m => m.StartsWith($"port {taken} was taken", StringComparison.Ordinal));
        Assert.Contains("bereits verwendet", await File.ReadAllTextAsync(Path.Combine(data, "server.log")));
        Assert.Equal(1, await ScalarAsync<int>(cluster.ConnectionString, "select 1"));
    }

    // A folder with the machine's initdb and postgres, and a pg_ctl that runs `script` (bash; $real is the machine's pg_ctl) before
    // the machine's.
    private static string WrappedBinaries(TestDirectory temp, string script)
    {
        var machine = Path.GetDirectoryName(Directory.GetFiles("/usr/lib/postgresql", "pg_ctl", SearchOption.AllDirectories).Order().Last())!;
        var bin = Directory.CreateDirectory(temp.Sub("bin")).FullName;
        File.CreateSymbolicLink(Path.Combine(bin, "initdb"), Path.Combine(machine, "initdb"));
        File.CreateSymbolicLink(Path.Combine(bin, "postgres"), Path.Combine(machine, "postgres"));
        var pgCtl = Path.Combine(bin, "pg_ctl");
        File.WriteAllText(pgCtl, $"#!/bin/bash\nreal='{machine}/pg_ctl'\n{script}\nexec \"$real\" \"$@\"\n");
        File.SetUnixFileMode(pgCtl, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        // The postgres OS user (the tests as root) writes the marker beside the data.
        File.SetUnixFileMode(temp.Path, (UnixFileMode)0b111_111_111);
        return bin;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
