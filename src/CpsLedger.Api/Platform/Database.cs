using CpsLedger.LocalPostgres;
using Npgsql;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Where the ledger's PostgreSQL comes from: <c>ConnectionStrings:Marten</c> when given, otherwise (in Development,
/// or with <c>LocalPostgres:Enabled=true</c>) a persistent local cluster started from the machine's server binaries.
/// </summary>
public static class Database
{
    public const string ConnectionStringName = "Marten";

    // Commands that never touch the database must not start one (a token is minted offline).
    private static readonly HashSet<string> CommandsWithoutDatabase =
        new(StringComparer.OrdinalIgnoreCase) { "token", "help", "codegen", "describe", "?" };

    public static async Task AddLedgerDatabaseAsync(this WebApplicationBuilder builder, string[] args)
    {
        var configured = builder.Configuration.GetConnectionString(ConnectionStringName);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            RefuseAutomaticPreparation(configured);
            return;
        }

        // The command as the service decides it runs one (settings alone serve, and need the database).
        var command = Program.CommandOf(args);
        if (command is not null && CommandsWithoutDatabase.Contains(command))
        {
            // Marten needs a syntactically valid connection string to build its model; nothing connects to it.
            builder.Configuration[$"ConnectionStrings:{ConnectionStringName}"] = "Host=127.0.0.1;Port=1;Database=none;Username=none";
            return;
        }

        if (!builder.Configuration.GetValue("LocalPostgres:Enabled", false))
        {
            throw new SettingRefusedException(
                "No database configured. Set ConnectionStrings:Marten (environment variable ConnectionStrings__Marten) " +
                "to a PostgreSQL connection string, or set LocalPostgres:Enabled=true to start a local PostgreSQL " +
                "from the machine's server binaries (the Development default).");
        }

        var dataDirectory = builder.Configuration["LocalPostgres:DataDirectory"]
                            ?? Path.Combine(FindRepositoryRoot(builder.Environment.ContentRootPath), ".local", "postgres");
        var log = Serilog.Log.ForContext(typeof(Database));
        var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions
        {
            DataDirectory = dataDirectory,
            BinDirectory = builder.Configuration["LocalPostgres:BinDirectory"],
            Database = builder.Configuration["LocalPostgres:Database"] ?? "cpsledger",
        }, log: message => log.Information("Local PostgreSQL: {Message}", message));

        builder.Configuration[$"ConnectionStrings:{ConnectionStringName}"] = cluster.ConnectionString;
        builder.Services.AddSingleton(cluster);
        builder.Services.AddHostedService<LocalPostgresShutdown>();
        // Command-line commands (db-apply, catalogue-import, ...) never run hosted services: stop the cluster when the
        // process ends too, also when it ends on an exception (a port already in use), which skips ProcessExit. The cluster
        // keeps running while another live process of this checkout (a second node, the service beside a command) uses it.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Leave(cluster);
        AppDomain.CurrentDomain.UnhandledException += (_, _) => Leave(cluster);
    }

    /// <summary>
    /// The connection pool Marten and Wolverine share. Every physical connection prepares one statement of its own when it
    /// opens, and Npgsql then resets a connection going back to the pool with <c>RESET ALL</c>, <c>CLOSE ALL</c>,
    /// <c>UNLISTEN *</c>, <c>pg_advisory_unlock_all()</c>, <c>DISCARD SEQUENCES</c> and <c>DISCARD TEMP</c> instead of
    /// <c>DISCARD ALL</c>: the same session state is cleared, but not the server's cached plans. <c>DISCARD ALL</c> dropped
    /// them on every checkout, so every statement of Marten's append function and of the hash-chain trigger was planned again
    /// for every command (BENCHMARKS.md, "The pool's reset").
    /// </summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString)
    {
        RefuseAutomaticPreparation(connectionString);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UsePhysicalConnectionInitializer(
            connection =>
            {
                using var command = KeepPlansCommand(connection);
                command.Prepare();
            },
            async connection =>
            {
                await using var command = KeepPlansCommand(connection);
                await command.PrepareAsync();
            });
        return builder.Build();
    }

    /// <summary>
    /// Npgsql's automatic preparation desynchronises a connection: after a statement's failed first use in a rolled-back
    /// transaction, the next command on that connection fails (npgsql#6391, still so in Npgsql 9.0.4, 9.0.5 and 10.0.3), and after a
    /// database restart statements are sent as prepared on connections that never had them (npgsql#6432, fixed in 10.0.3). Either
    /// loses a command or a handler, so the setting is refused at start rather than left to fail under load.
    /// </summary>
    private static void RefuseAutomaticPreparation(string connectionString)
    {
        if (new NpgsqlConnectionStringBuilder(connectionString).MaxAutoPrepare > 0)
        {
            throw new SettingRefusedException(
                $"ConnectionStrings:{ConnectionStringName} sets Max Auto Prepare: remove it (or set it to 0). Npgsql's automatic " +
                "preparation leaves a connection out of step with the server after a statement's first use fails in a transaction " +
                "(npgsql#6391) and after a database restart (npgsql#6432), and the next command on that connection fails.");
        }
    }

    // Never executed, only prepared (disposing the command leaves the statement prepared on the connection): a prepared
    // statement is what Npgsql looks for before choosing the lighter reset.
    private static NpgsqlCommand KeepPlansCommand(NpgsqlConnection connection) =>
        new("select 'cpsledger: keeps the server''s plans across pool resets'", connection);

    // The dev cluster lives in the checkout's git-ignored .local folder, whatever folder `dotnet run` starts in.
    public static string FindRepositoryRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CpsLedger.sln")))
                return dir.FullName;
        }

        return start;
    }

    private static void Leave(PostgresCluster cluster) => cluster.LeaveAsync().GetAwaiter().GetResult();

    /// <summary>
    /// Stops the development cluster when the service stops, unless another process still uses it (<see cref="PostgresCluster.LeaveAsync"/>);
    /// its data stays for the next start.
    /// </summary>
    private sealed class LocalPostgresShutdown(PostgresCluster cluster) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => cluster.LeaveAsync(cancellationToken);
    }
}
