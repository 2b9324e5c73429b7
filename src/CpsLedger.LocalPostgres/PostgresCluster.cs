using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace CpsLedger.LocalPostgres;

public sealed class PostgresCluster : IAsyncDisposable
{
    private const string Host = "127.0.0.1";
    private const string SuperUser = "postgres";
    private const string MaintenanceDatabase = "postgres";
    private const string PortFileName = "cpsledger-port";
    private const string OwnerFileName = "cpsledger-owner";
    // One empty file per process using the server (named by its id), so that a process leaving it can tell whether another
    // still needs it.
    private const string UsersDirectoryName = "cpsledger-users";
    private const string LogFileName = "server.log";
    private const string PidFileName = "postmaster.pid";
    private const int LogTailLines = 30;

    // Serialises StartAsync per data directory within this process, so parallel callers reuse one server
    // instead of racing two postmasters into the same directory.
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> StartLocks = new(StringComparer.Ordinal);

    private readonly PostgresClusterOptions _options;
    private readonly PostgresBinaries _binaries;
    private readonly CommandRunner _runner;
    private readonly SemaphoreSlim _stopLock = new(1, 1);
    private readonly ConcurrentDictionary<string, byte> _issuedConnectionStrings = new(StringComparer.Ordinal);
    private bool _stopped;
    private int _left;
    private int _disposed;

    private PostgresCluster(PostgresClusterOptions options, string dataDirectory, int port, PostgresBinaries binaries, CommandRunner runner)
    {
        _options = options;
        _binaries = binaries;
        _runner = runner;
        DataDirectory = dataDirectory;
        Port = port;
        ConnectionString = BuildConnectionString(port, options.Database);
    }

    public string ConnectionString { get; }

    public int Port { get; }

    /// <summary>
    /// Whether this process owned the server when it started: it started it, or found it running with its starter gone (a
    /// crash or a failed start left it behind) and no other live process using it, and took it over. A server found running
    /// for a live process of the same checkout is not this process's. <see cref="LeaveAsync"/> decides when it is stopped.
    /// </summary>
    public bool StartedByThisProcess { get; private init; }

    public string DataDirectory { get; }

    public string ServerVersion { get; private set; } = "";

    public static Task<PostgresCluster> StartAsync(PostgresClusterOptions options, CancellationToken ct = default) =>
        StartAsync(options, log: null, ct);

    public static async Task<PostgresCluster> StartAsync(PostgresClusterOptions options, Action<string>? log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException(
                "CpsLedger.LocalPostgres supports Linux and macOS only. Give a connection string in ConnectionStrings:Marten to use an existing server.");
        }

        var dataDirectory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.DataDirectory));
        var binaries = PostgresBinaries.Locate(options.BinDirectory);
        var runner = await CommandRunner.CreateAsync(ct).ConfigureAwait(false);

        var startLock = StartLocks.GetOrAdd(dataDirectory, _ => new SemaphoreSlim(1, 1));
        await startLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await StartCoreAsync(options, dataDirectory, binaries, runner, log, ct).ConfigureAwait(false);
        }
        finally
        {
            startLock.Release();
        }
    }

    public async Task<string> CreateDatabaseAsync(string name, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

        await using (var connection = await OpenMaintenanceConnectionAsync(ct).ConfigureAwait(false))
        {
            await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = $1", connection);
            exists.Parameters.Add(new NpgsqlParameter { Value = name });
            if (await exists.ExecuteScalarAsync(ct).ConfigureAwait(false) is null)
            {
                await using var create = new NpgsqlCommand($"create database {QuoteIdentifier(name)}", connection);
                try
                {
                    await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation)
                {
                    // Someone else created it between the check and the create.
                }
            }
        }

        return IssueConnectionString(name);
    }

    /// <summary>
    /// This process no longer uses the server. The last live process using it stops it, if it owns it (started it, took it
    /// over, or was handed it) or its owner has exited; while another live process still uses it, it keeps running, and an
    /// owner leaving hands it to that process. So a command run beside a service, or a second node, never stops the server
    /// under a service that is still running. Once per instance; a throwaway cluster is left to <see cref="DisposeAsync"/>.
    /// </summary>
    public async Task LeaveAsync(CancellationToken ct = default)
    {
        if (_options.Throwaway || Interlocked.Exchange(ref _left, 1) != 0)
        {
            return;
        }

        var me = Environment.ProcessId;
        TryDeleteFile(Path.Combine(DataDirectory, UsersDirectoryName, me.ToString(CultureInfo.InvariantCulture)));
        var owner = ReadOwner(DataDirectory);
        var owned = owner == me || (owner is null ? StartedByThisProcess : !IsAlive(owner.Value));
        if (OtherLiveUser(DataDirectory) is { } other)
        {
            if (owned)
            {
                await WriteOwnerAsync(DataDirectory, other, ct).ConfigureAwait(false);
            }

            return;
        }

        if (owned)
        {
            await StopAsync(ct).ConfigureAwait(false);
        }
    }

    // Stops the server (pg_ctl stop -m fast). Note that a cluster reused from an earlier StartAsync shares the server,
    // so stopping either instance stops it for both.
    public Task StopAsync(CancellationToken ct = default) => StopCoreAsync("fast", ct);

    /// <summary>
    /// Restarts the server as a fault would (<c>pg_ctl restart -m immediate</c> by default: every connection is cut, open
    /// transactions are lost, the server recovers from its log) and waits until it accepts connections again. Connection pools
    /// are left alone on purpose: a test of a fault wants the application to find its dead connections itself.
    /// </summary>
    public async Task RestartAsync(string mode = "immediate", TimeSpan? timeout = null, CancellationToken ct = default)
    {
        // Crash recovery replays the log written since the last checkpoint: on a loaded machine, after a whole test run, that
        // took more than 30 s. A checkpoint first keeps the replay to what was written since.
        await using (var connection = await OpenMaintenanceConnectionAsync(ct).ConfigureAwait(false))
        await using (var checkpoint = new NpgsqlCommand("CHECKPOINT", connection))
        {
            await checkpoint.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        var wait = timeout ?? TimeSpan.FromSeconds(Math.Max(120, _options.StartTimeout.TotalSeconds));
        await _stopLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_stopped)
            {
                throw new InvalidOperationException($"PostgreSQL in {DataDirectory} was stopped; start it instead.");
            }

            var seconds = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            var result = await _runner.RunAsync(_binaries.PgCtl,
                ["-D", DataDirectory, "-l", Path.Combine(DataDirectory, LogFileName), "-m", mode, "-w", "-t", seconds, "restart"], ct,
                _options.ServerEnvironment).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"PostgreSQL in {DataDirectory} did not restart. {result.Describe()}{LogTail(DataDirectory)}");
            }
        }
        finally
        {
            _stopLock.Release();
        }

        await WaitForConnectionAsync(wait, ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // A throwaway cluster's data is deleted anyway, so there is nothing to shut down cleanly.
        await StopCoreAsync(_options.Throwaway ? "immediate" : "fast", CancellationToken.None).ConfigureAwait(false);
        if (_options.Throwaway)
        {
            DeleteDirectory(DataDirectory);
        }
    }

    private static async Task<PostgresCluster> StartCoreAsync(
        PostgresClusterOptions options,
        string dataDirectory,
        PostgresBinaries binaries,
        CommandRunner runner,
        Action<string>? log,
        CancellationToken ct)
    {
        var directoryExisted = Directory.Exists(dataDirectory);
        var startedByUs = false;
        try
        {
            await PrepareDataDirectoryAsync(dataDirectory, runner, ct).ConfigureAwait(false);
            if (!File.Exists(Path.Combine(dataDirectory, "PG_VERSION")))
            {
                log?.Invoke($"initialising PostgreSQL cluster in {dataDirectory}");
                await InitDbAsync(dataDirectory, binaries, runner, log, ct).ConfigureAwait(false);
            }

            int port;
            int? orphanedBy = null;
            if (FindRunningPostmaster(dataDirectory) is { } running)
            {
                port = running.Port;
                // Left running by a process that has exited, and used by no other live process (a second node): nobody would stop
                // it, so this process takes it over. While another uses it, the last to leave stops it (LeaveAsync).
                if (!options.Throwaway && ReadOwner(dataDirectory) is { } owner && !IsAlive(owner) && OtherLiveUser(dataDirectory) is null)
                {
                    orphanedBy = owner;
                    startedByUs = true;
                }
            }
            else
            {
                (port, startedByUs) = await StartServerAsync(options, dataDirectory, binaries, runner, log, ct).ConfigureAwait(false);
            }

            var cluster = new PostgresCluster(options, dataDirectory, port, binaries, runner) { StartedByThisProcess = startedByUs };
            cluster.ServerVersion = await cluster.WaitForConnectionAsync(ct).ConfigureAwait(false);
            log?.Invoke(orphanedBy is { } exited
                ? $"taking over PostgreSQL {cluster.ServerVersion} on {Host}:{port}, left running by process {exited}, which has exited; it stops with this process"
                : startedByUs
                    ? $"started PostgreSQL {cluster.ServerVersion} on {Host}:{port}"
                    : $"reusing PostgreSQL {cluster.ServerVersion} already running on {Host}:{port} ({dataDirectory})");

            await cluster.CreateDatabaseAsync(options.Database, ct).ConfigureAwait(false);
            if (!options.Throwaway)
            {
                await File.WriteAllTextAsync(Path.Combine(dataDirectory, PortFileName), port.ToString(CultureInfo.InvariantCulture) + "\n", ct)
                    .ConfigureAwait(false);
                if (startedByUs)
                {
                    await WriteOwnerAsync(dataDirectory, Environment.ProcessId, ct).ConfigureAwait(false);
                }

                var users = Directory.CreateDirectory(Path.Combine(dataDirectory, UsersDirectoryName));
                await File.WriteAllTextAsync(Path.Combine(users.FullName, Environment.ProcessId.ToString(CultureInfo.InvariantCulture)), "", ct)
                    .ConfigureAwait(false);
            }

            return cluster;
        }
        catch
        {
            // Leave nothing behind that this call brought up; a server we merely reused keeps running.
            if (startedByUs)
            {
                await TryStopAsync(dataDirectory, binaries, runner).ConfigureAwait(false);
            }

            // Never delete a folder that held something other than a cluster before this call.
            if (options.Throwaway
                && (!directoryExisted || File.Exists(Path.Combine(dataDirectory, "PG_VERSION")))
                && FindRunningPostmaster(dataDirectory) is null)
            {
                TryDeleteDirectory(dataDirectory);
            }

            throw;
        }
    }

    private static void Validate(PostgresClusterOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            throw new ArgumentException("PostgresClusterOptions.DataDirectory is required.", nameof(options));
        }

        if (string.IsNullOrWhiteSpace(options.Database))
        {
            throw new ArgumentException("PostgresClusterOptions.Database must not be empty.", nameof(options));
        }

        if (options.Port is < 1 or > 65535)
        {
            throw new ArgumentException($"PostgresClusterOptions.Port must be between 1 and 65535 (was {options.Port}).", nameof(options));
        }

        if (options.StartTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("PostgresClusterOptions.StartTimeout must be positive.", nameof(options));
        }
    }

    private static async Task PrepareDataDirectoryAsync(string dataDirectory, CommandRunner runner, CancellationToken ct)
    {
        if (!runner.RunsAsPostgresUser)
        {
            Directory.CreateDirectory(dataDirectory);
            return;
        }

        var existing = dataDirectory;
        var created = new List<string>();
        while (!Directory.Exists(existing))
        {
            created.Add(existing);
            existing = Path.GetDirectoryName(existing)
                ?? throw new InvalidOperationException($"No part of the data directory path {dataDirectory} exists.");
        }

        // access(2) fails when any ancestor is not searchable, so one check on the deepest existing folder covers them all.
        if (!await runner.PostgresUserCanTraverseAsync(existing, ct).ConfigureAwait(false))
        {
            var blocked = await FindFirstUnreachableAncestorAsync(existing, runner, ct).ConfigureAwait(false);
            throw new InvalidOperationException(
                $"The PostgreSQL server runs as the '{CommandRunner.PostgresUser}' OS user (it refuses to run as root), but that user cannot reach " +
                $"the folder {blocked}, so it cannot use the data directory {dataDirectory}. Set LocalPostgres:DataDirectory " +
                $"(environment variable LocalPostgres__DataDirectory) to a folder the {CommandRunner.PostgresUser} user can reach, e.g. /var/tmp/cpsledger.");
        }

        Directory.CreateDirectory(dataDirectory);
        created.Reverse();
        if (created.Count == 0 && !Directory.EnumerateFileSystemEntries(dataDirectory).Any())
        {
            // An empty folder prepared by someone else: initdb needs to own it.
            created.Add(dataDirectory);
        }

        if (created.Count > 0)
        {
            var chown = await runner.ChownToPostgresAsync(created, ct).ConfigureAwait(false);
            if (!chown.Succeeded)
            {
                throw new InvalidOperationException($"Could not hand {dataDirectory} to the {CommandRunner.PostgresUser} user. {chown.Describe()}");
            }
        }
    }

    private static async Task<string> FindFirstUnreachableAncestorAsync(string directory, CommandRunner runner, CancellationToken ct)
    {
        var chain = new List<string>();
        for (var current = directory; current is not null; current = Path.GetDirectoryName(current))
        {
            chain.Add(current);
        }

        chain.Reverse();
        foreach (var folder in chain)
        {
            if (!await runner.PostgresUserCanTraverseAsync(folder, ct).ConfigureAwait(false))
            {
                return folder;
            }
        }

        return directory;
    }

    private static async Task InitDbAsync(string dataDirectory, PostgresBinaries binaries, CommandRunner runner, Action<string>? log, CancellationToken ct)
    {
        // Trust authentication is acceptable only because the server listens on 127.0.0.1 alone and has no unix socket.
        string[] Arguments(string locale) =>
            ["-D", dataDirectory, "-U", SuperUser, "--auth=trust", "--encoding=UTF8", $"--locale={locale}"];

        // initdb's messages in English, whatever the machine's LANG and LANGUAGE, as its output is read below; the cluster's locale
        // (and so the server's lc_messages) is the one given.
        var english = new Dictionary<string, string> { ["LC_ALL"] = "C", ["LANGUAGE"] = "" };
        var result = await runner.RunAsync(binaries.InitDb, Arguments("C.UTF-8"), ct, english).ConfigureAwait(false);
        if (!result.Succeeded && result.Output.Contains("locale", StringComparison.OrdinalIgnoreCase))
        {
            log?.Invoke("locale C.UTF-8 is not available; initialising with locale C");
            result = await runner.RunAsync(binaries.InitDb, Arguments("C"), ct, english).ConfigureAwait(false);
        }

        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"initdb could not create a PostgreSQL cluster in {dataDirectory}. {result.Describe()}");
        }
    }

    private static async Task<(int Port, bool StartedByUs)> StartServerAsync(
        PostgresClusterOptions options,
        string dataDirectory,
        PostgresBinaries binaries,
        CommandRunner runner,
        Action<string>? log,
        CancellationToken ct)
    {
        var logFile = Path.Combine(dataDirectory, LogFileName);
        var timeoutSeconds = (int)Math.Ceiling(options.StartTimeout.TotalSeconds);
        for (var attempt = 1; ; attempt++)
        {
            var port = ChoosePort(options, dataDirectory, firstAttempt: attempt == 1);
            var settings = new List<string>
            {
                $"-p {port}",
                $"-c listen_addresses={Host}",
                // No unix socket, so /var/run/postgresql need not exist or be writable.
                "-c unix_socket_directories=''",
                "-c max_connections=200",
            };
            if (options.Throwaway)
            {
                settings.Add(options.KeepCommitsThroughServerCrash
                    ? "-c fsync=off -c full_page_writes=off"
                    : "-c fsync=off -c synchronous_commit=off -c full_page_writes=off");
            }

            var clock = Stopwatch.StartNew();
            var result = await runner.RunAsync(
                binaries.PgCtl,
                ["-D", dataDirectory, "-l", logFile, "-w", "-t", timeoutSeconds.ToString(CultureInfo.InvariantCulture), "-o", string.Join(' ', settings), "start"],
                ct,
                options.ServerEnvironment).ConfigureAwait(false);
            if (result.Succeeded)
            {
                return (port, true);
            }

            // Why it failed is told from what is there, not from the server's log, whose language is the server's (lc_messages, or
            // LANGUAGE over it): until 2026-12-07 its English lines were looked for, and a server speaking German failed to start.
            // pg_ctl -w waits for the postmaster it started, by its pid: it ends before its -t only once that one has exited.
            var timedOut = clock.Elapsed >= TimeSpan.FromSeconds(timeoutSeconds);
            if (!timedOut && FindRunningPostmaster(dataDirectory) is { } running)
            {
                // So a postmaster running in the folder now is another process's, which started this cluster at the same moment
                // (the one started here stopped on its lock file): share it.
                return (running.Port, false);
            }

            // pg_ctl gives up after -t seconds but leaves a slow postmaster running.
            await TryStopAsync(dataDirectory, binaries, runner).ConfigureAwait(false);

            // The port found free was taken before the server could bind it (it is held now): once, another.
            if (attempt == 1 && options.Port is null && !timedOut && !IsPortFree(port))
            {
                log?.Invoke($"port {port} was taken before PostgreSQL could bind it; retrying with another port");
                continue;
            }

            throw new InvalidOperationException(
                $"PostgreSQL did not start from {dataDirectory} on {Host}:{port}. {result.Describe()}{LogTail(dataDirectory)}");
        }
    }

    private static int ChoosePort(PostgresClusterOptions options, string dataDirectory, bool firstAttempt)
    {
        if (options.Port is { } configured)
        {
            return configured;
        }

        // Keep a developer's connection string stable across restarts.
        if (firstAttempt && !options.Throwaway && ReadRememberedPort(dataDirectory) is { } remembered && IsPortFree(remembered))
        {
            return remembered;
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The process that owns the running server, as it wrote when it started or took it over; null when unknown.</summary>
    private static int? ReadOwner(string dataDirectory)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(dataDirectory, OwnerFileName)).Trim();
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Task WriteOwnerAsync(string dataDirectory, int pid, CancellationToken ct) =>
        File.WriteAllTextAsync(Path.Combine(dataDirectory, OwnerFileName), pid.ToString(CultureInfo.InvariantCulture) + "\n", ct);

    /// <summary>Another live process that uses the server, or null; the files of processes that have exited are removed.</summary>
    private static int? OtherLiveUser(string dataDirectory)
    {
        string[] files;
        try
        {
            files = Directory.GetFiles(Path.Combine(dataDirectory, UsersDirectoryName));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        foreach (var file in files)
        {
            if (!int.TryParse(Path.GetFileName(file), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            if (IsAlive(pid))
            {
                return pid;
            }

            TryDeleteFile(file);
        }

        return null;
    }

    private static void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a file left behind names a process that has exited, which is skipped.
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static int? ReadRememberedPort(string dataDirectory)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(dataDirectory, PortFileName)).Trim();
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536 ? port : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool IsPortFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private sealed record RunningPostmaster(int Pid, int Port);

    // postmaster.pid: line 1 PID, line 2 data directory, line 3 start time, line 4 port.
    // A pid file whose process is gone (crash, reboot) is stale and removed so pg_ctl start can proceed.
    private static RunningPostmaster? FindRunningPostmaster(string dataDirectory)
    {
        var pidFile = Path.Combine(dataDirectory, PidFileName);
        string[] lines;
        try
        {
            lines = File.ReadAllLines(pidFile);
        }
        catch (IOException)
        {
            return null;
        }

        if (lines.Length > 0
            && int.TryParse(lines[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            && IsPostgresProcessAlive(pid))
        {
            // Without a port line the postmaster is still writing the file; pg_ctl will report the clash if we start anyway.
            return lines.Length >= 4 && int.TryParse(lines[3].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
                ? new RunningPostmaster(pid, port)
                : null;
        }

        try
        {
            File.Delete(pidFile);
        }
        catch (IOException)
        {
        }

        return null;
    }

    private static bool IsPostgresProcessAlive(int pid)
    {
        if (pid <= 0)
        {
            return false;
        }

        if (Directory.Exists("/proc/self"))
        {
            try
            {
                // The PID may have been recycled by an unrelated process after a reboot.
                var name = File.ReadAllText($"/proc/{pid}/comm").Trim();
                return name is "postgres" or "postmaster";
            }
            catch (IOException)
            {
                return false;
            }
            catch (UnauthorizedAccessException)
            {
                return true;
            }
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private Task<string> WaitForConnectionAsync(CancellationToken ct) => WaitForConnectionAsync(_options.StartTimeout, ct);

    private async Task<string> WaitForConnectionAsync(TimeSpan timeout, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = await OpenMaintenanceConnectionAsync(ct).ConfigureAwait(false);
                await using var command = new NpgsqlCommand("select 1", connection);
                await command.ExecuteScalarAsync(ct).ConfigureAwait(false);

                // "15.18 (Debian 15.18-0+deb12u1)" -> "15.18"
                return connection.ServerVersion.Split(' ', 2)[0];
            }
            catch (Exception ex) when (ex is NpgsqlException or SocketException or TimeoutException && !ct.IsCancellationRequested)
            {
                if (clock.Elapsed >= timeout)
                {
                    throw new InvalidOperationException(
                        $"PostgreSQL in {DataDirectory} did not accept connections on {Host}:{Port} within {timeout.TotalSeconds:0.#} s: {ex.Message}{LogTail(DataDirectory)}",
                        ex);
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false);
        }
    }

    private async Task<NpgsqlConnection> OpenMaintenanceConnectionAsync(CancellationToken ct)
    {
        // Unpooled: administrative connections must not linger, or they would hold the server open on stop.
        var builder = new NpgsqlConnectionStringBuilder(BuildConnectionString(Port, MaintenanceDatabase))
        {
            Pooling = false,
            Timeout = 5,
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StopCoreAsync(string mode, CancellationToken ct)
    {
        await _stopLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_stopped)
            {
                return;
            }

            if (FindRunningPostmaster(DataDirectory) is not null)
            {
                var result = await _runner.RunAsync(_binaries.PgCtl, StopArguments(DataDirectory, mode, _options.StartTimeout), ct).ConfigureAwait(false);
                if (!result.Succeeded && FindRunningPostmaster(DataDirectory) is not null)
                {
                    throw new InvalidOperationException($"PostgreSQL in {DataDirectory} did not stop. {result.Describe()}{LogTail(DataDirectory)}");
                }
            }

            _stopped = true;
            ClearPools();
        }
        finally
        {
            _stopLock.Release();
        }
    }

    private static async Task TryStopAsync(string dataDirectory, PostgresBinaries binaries, CommandRunner runner)
    {
        if (FindRunningPostmaster(dataDirectory) is null)
        {
            return;
        }

        try
        {
            await runner.RunAsync(binaries.PgCtl, StopArguments(dataDirectory, "immediate", TimeSpan.FromSeconds(30)), CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Best effort while already reporting another failure.
        }
    }

    private static string[] StopArguments(string dataDirectory, string mode, TimeSpan timeout) =>
        ["-D", dataDirectory, "-m", mode, "-w", "-t", ((int)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture), "stop"];

    // Pooled connections to a stopped server are dead; drop them so a restarted server on the same port works at once.
    private void ClearPools()
    {
        foreach (var connectionString in _issuedConnectionStrings.Keys.Append(ConnectionString))
        {
            using var connection = new NpgsqlConnection(connectionString);
            NpgsqlConnection.ClearPool(connection);
        }
    }

    private string IssueConnectionString(string database)
    {
        var connectionString = BuildConnectionString(Port, database);
        _issuedConnectionStrings.TryAdd(connectionString, 0);
        return connectionString;
    }

    private static string BuildConnectionString(int port, string database) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = port,
            Username = SuperUser,
            Database = database,
            KeepAlive = 30,
            TcpKeepAlive = true,
            IncludeErrorDetail = true,
        }.ConnectionString;

    private static string QuoteIdentifier(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string ReadLogSince(string logFile, long offset)
    {
        try
        {
            using var stream = new FileStream(logFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static string LogTail(string dataDirectory)
    {
        var logFile = Path.Combine(dataDirectory, LogFileName);
        var lines = ReadLogSince(logFile, 0).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return lines.Length == 0
            ? ""
            : $"\n--- last lines of {logFile} ---\n" + string.Join('\n', lines.TakeLast(LogTailLines));
    }

    private static void DeleteDirectory(string directory)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }

                return;
            }
            catch (IOException) when (attempt < 5)
            {
                // A backend that is still exiting may create or remove a file while the tree is walked.
                Thread.Sleep(100 * attempt);
            }
        }
    }

    private static void TryDeleteDirectory(string directory)
    {
        try
        {
            DeleteDirectory(directory);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
