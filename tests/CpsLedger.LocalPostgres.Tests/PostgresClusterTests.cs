using Npgsql;

namespace CpsLedger.LocalPostgres.Tests;

public sealed class ThrowawayClusterTests
{
    [Fact]
    public async Task Throwaway_cluster_answers_queries_and_is_deleted_on_dispose()
    {
        using var temp = new TestDirectory();
        var dataDirectory = temp.Sub("data");
        var messages = new List<string>();

        var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { DataDirectory = dataDirectory, Throwaway = true }, messages.Add);
        await using (cluster)
        {
            Assert.Equal(dataDirectory, cluster.DataDirectory);
            Assert.Matches(@"^\d+(\.\d+)?$", cluster.ServerVersion);
            Assert.Contains($"Port={cluster.Port}", cluster.ConnectionString, StringComparison.Ordinal);
            Assert.Contains("Database=cpsledger", cluster.ConnectionString, StringComparison.Ordinal);

            await using var connection = new NpgsqlConnection(cluster.ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("select version()", connection);
            var version = (string?)await command.ExecuteScalarAsync();
            Assert.StartsWith("PostgreSQL " + cluster.ServerVersion, version, StringComparison.Ordinal);

            await using var fsync = new NpgsqlCommand("show fsync", connection);
            Assert.Equal("off", await fsync.ExecuteScalarAsync());
            await using var maxConnections = new NpgsqlCommand("show max_connections", connection);
            Assert.Equal("200", await maxConnections.ExecuteScalarAsync());
        }

        Assert.False(Directory.Exists(dataDirectory));
        Assert.Contains(messages, m => m.StartsWith("initialising PostgreSQL cluster in ", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith($"started PostgreSQL {cluster.ServerVersion} on 127.0.0.1:{cluster.Port}", StringComparison.Ordinal));

        // Dispose is idempotent.
        await cluster.DisposeAsync();
    }

    [Fact]
    public async Task CreateDatabaseAsync_creates_the_database_once_and_returns_its_connection_string()
    {
        using var temp = new TestDirectory();
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { DataDirectory = temp.Sub("data"), Throwaway = true, Database = "main_db" });

        var connectionString = await cluster.CreateDatabaseAsync("Other-Db");
        Assert.Equal(connectionString, await cluster.CreateDatabaseAsync("Other-Db"));
        Assert.Contains("Database=Other-Db", connectionString, StringComparison.Ordinal);

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select current_database()", connection);
        Assert.Equal("Other-Db", await command.ExecuteScalarAsync());

        await using var main = new NpgsqlConnection(cluster.ConnectionString);
        await main.OpenAsync();
        Assert.Equal("main_db", main.Database);
    }

    [Fact]
    public async Task Missing_binaries_throw_with_install_hint()
    {
        using var temp = new TestDirectory();
        var emptyBin = temp.Sub("bin");
        Directory.CreateDirectory(emptyBin);

        var ex = await Assert.ThrowsAsync<PostgresBinariesNotFoundException>(() =>
            PostgresCluster.StartAsync(new PostgresClusterOptions { DataDirectory = temp.Sub("data"), Throwaway = true, BinDirectory = emptyBin }));

        Assert.Contains("apt-get install postgresql", ex.Message, StringComparison.Ordinal);
        Assert.Contains(emptyBin, ex.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings__Marten", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp.Sub("data")));
    }

    [Fact]
    public void Default_missing_binaries_message_names_the_searched_locations()
    {
        var ex = new PostgresBinariesNotFoundException();
        Assert.Equal(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in /usr/lib/postgresql/*/bin or on PATH. Install them (Debian/Ubuntu: `apt-get install postgresql`), set LocalPostgres:BinDirectory to the folder that holds them, or give a connection string in ConnectionStrings:Marten (environment variable ConnectionStrings__Marten) to use an existing server.",
            ex.Message);
    }

    [Fact]
    public async Task Data_directory_unreachable_for_the_postgres_user_is_reported_when_running_as_root()
    {
        if (OperatingSystem.IsWindows() || Environment.UserName != "root")
        {
            return; // Only root hands the server to the postgres user.
        }

        using var temp = new TestDirectory();
        var locked = temp.Sub("locked");
        Directory.CreateDirectory(locked);
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var dataDirectory = Path.Combine(locked, "nested", "data");

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            PostgresCluster.StartAsync(new PostgresClusterOptions { DataDirectory = dataDirectory }));

        Assert.Contains($"cannot reach the folder {locked}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("LocalPostgres:DataDirectory", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(locked, "nested")));
    }
}

public sealed class PersistentClusterTests
{
    [Fact]
    public async Task Restart_keeps_data_and_port()
    {
        using var temp = new TestDirectory();
        var options = new PostgresClusterOptions { DataDirectory = temp.Sub("data") };

        int port;
        await using (var first = await PostgresCluster.StartAsync(options))
        {
            port = first.Port;
            await ExecuteAsync(first.ConnectionString, "create table kept (id int primary key); insert into kept values (42);");
            await first.StopAsync();
            await first.StopAsync(); // idempotent
        }

        await using var second = await PostgresCluster.StartAsync(options);
        Assert.Equal(port, second.Port);
        Assert.Equal(42, await ScalarAsync<int>(second.ConnectionString, "select id from kept"));
        await using (var connection = new NpgsqlConnection(second.ConnectionString))
        {
            await connection.OpenAsync();
            await using var fsync = new NpgsqlCommand("show fsync", connection);
            Assert.Equal("on", await fsync.ExecuteScalarAsync());
        }

        await second.DisposeAsync();
        Assert.True(File.Exists(Path.Combine(options.DataDirectory, "PG_VERSION")));
    }

    [Fact]
    public async Task Starting_an_already_running_cluster_reuses_it()
    {
        using var temp = new TestDirectory();
        var options = new PostgresClusterOptions { DataDirectory = temp.Sub("data") };

        await using var first = await PostgresCluster.StartAsync(options);
        var messages = new List<string>();
        await using var second = await PostgresCluster.StartAsync(options, messages.Add);

        Assert.Equal(first.Port, second.Port);
        Assert.Equal(first.ConnectionString, second.ConnectionString);
        Assert.Contains(messages, m => m.StartsWith("reusing PostgreSQL", StringComparison.Ordinal));
        Assert.Equal(1, await ScalarAsync<int>(second.ConnectionString, "select 1"));
        // Only the starter should stop it: the service's shutdown checks this before stopping a shared dev cluster.
        Assert.True(first.StartedByThisProcess);
        Assert.False(second.StartedByThisProcess);
    }

    [Fact]
    public async Task A_cluster_left_running_by_a_process_that_has_exited_is_taken_over_and_stopped_by_the_next()
    {
        using var temp = new TestDirectory();
        var options = new PostgresClusterOptions { DataDirectory = temp.Sub("data") };
        await using var first = await PostgresCluster.StartAsync(options);

        // As if the process that started it had crashed: its owner file names a process that no longer exists.
        using var exited = System.Diagnostics.Process.Start("true")!;
        await exited.WaitForExitAsync();
        await File.WriteAllTextAsync(Path.Combine(first.DataDirectory, "cpsledger-owner"), exited.Id + "\n");

        var messages = new List<string>();
        var second = await PostgresCluster.StartAsync(options, messages.Add);
        Assert.True(second.StartedByThisProcess);
        Assert.Contains(messages, m => m.StartsWith("taking over PostgreSQL", StringComparison.Ordinal) && m.Contains($"process {exited.Id}"));
        await second.StopAsync();
        Assert.False(File.Exists(Path.Combine(first.DataDirectory, "postmaster.pid")));
    }

    [Fact]
    public async Task A_cluster_a_second_node_still_uses_keeps_running_when_its_starter_has_exited_and_a_command_comes_and_goes()
    {
        using var temp = new TestDirectory();
        var options = new PostgresClusterOptions { DataDirectory = temp.Sub("data") };
        await using var starter = await PostgresCluster.StartAsync(options);
        using var secondNode = StartSecondNode(starter.DataDirectory);
        try
        {
            // The starter was killed (its owner file names a process that no longer exists); the second node serves on.
            using var exited = System.Diagnostics.Process.Start("true")!;
            await exited.WaitForExitAsync();
            await File.WriteAllTextAsync(Path.Combine(starter.DataDirectory, "cpsledger-owner"), exited.Id + "\n");

            // An operator's command (verify, dead-letters list, ...) uses the server and ends: it must not stop it under the node.
            var messages = new List<string>();
            var command = await PostgresCluster.StartAsync(options, messages.Add);
            Assert.Contains(messages, m => m.StartsWith("reusing PostgreSQL", StringComparison.Ordinal));
            await command.LeaveAsync();
            Assert.Equal(1, await ScalarAsync<int>(starter.ConnectionString, "select 1"));

            // Once the second node is gone too, the next process takes the server over and, the last to leave, stops it.
            secondNode.Kill();
            await secondNode.WaitForExitAsync();
            messages.Clear();
            var last = await PostgresCluster.StartAsync(options, messages.Add);
            Assert.Contains(messages, m => m.StartsWith("taking over PostgreSQL", StringComparison.Ordinal));
            await last.LeaveAsync();
            Assert.False(File.Exists(Path.Combine(starter.DataDirectory, "postmaster.pid")));
        }
        finally
        {
            if (!secondNode.HasExited)
                secondNode.Kill();
        }
    }

    [Fact]
    public async Task A_starter_leaving_while_a_second_node_uses_the_cluster_hands_it_over_instead_of_stopping_it()
    {
        using var temp = new TestDirectory();
        var options = new PostgresClusterOptions { DataDirectory = temp.Sub("data") };
        await using var starter = await PostgresCluster.StartAsync(options);
        using var secondNode = StartSecondNode(starter.DataDirectory);
        try
        {
            await starter.LeaveAsync();

            Assert.Equal(1, await ScalarAsync<int>(starter.ConnectionString, "select 1"));
            Assert.Equal(secondNode.Id.ToString(), (await File.ReadAllTextAsync(Path.Combine(starter.DataDirectory, "cpsledger-owner"))).Trim());
        }
        finally
        {
            secondNode.Kill();
        }
    }

    // Another live process of the checkout using the server, as a second `dotnet run` registers itself: a stand-in process.
    private static System.Diagnostics.Process StartSecondNode(string dataDirectory)
    {
        var node = System.Diagnostics.Process.Start("sleep", "300")!;
        var users = Directory.CreateDirectory(Path.Combine(dataDirectory, "cpsledger-users"));
        File.WriteAllText(Path.Combine(users.FullName, node.Id.ToString()), "");
        return node;
    }

    [Fact]
    public async Task Stale_pid_file_is_removed()
    {
        using var temp = new TestDirectory();
        var options = new PostgresClusterOptions { DataDirectory = temp.Sub("data") };

        int port;
        await using (var first = await PostgresCluster.StartAsync(options))
        {
            port = first.Port;
        }

        // As if the machine had crashed: a pid file whose process no longer exists.
        var pidFile = Path.Combine(options.DataDirectory, "postmaster.pid");
        await File.WriteAllTextAsync(pidFile, $"{int.MaxValue - 1}\n{options.DataDirectory}\n0\n{port}\n\n127.0.0.1\n0 0\nready\n");

        await using var second = await PostgresCluster.StartAsync(options);
        Assert.Equal(port, second.Port);
        Assert.Equal(1, await ScalarAsync<int>(second.ConnectionString, "select 1"));
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
