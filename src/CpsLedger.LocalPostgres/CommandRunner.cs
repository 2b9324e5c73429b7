namespace CpsLedger.LocalPostgres;

// Runs the PostgreSQL tools either directly or, when this process is root, as the postgres OS user:
// initdb and postgres refuse to run as root.
internal sealed class CommandRunner
{
    public const string PostgresUser = "postgres";

    private readonly string? _runuser;
    private readonly string? _su;

    private CommandRunner(bool runsAsPostgresUser, string? runuser, string? su)
    {
        RunsAsPostgresUser = runsAsPostgresUser;
        _runuser = runuser;
        _su = su;
    }

    public bool RunsAsPostgresUser { get; }

    public static async Task<CommandRunner> CreateAsync(CancellationToken ct)
    {
        if (!IsRoot())
        {
            return new CommandRunner(runsAsPostgresUser: false, runuser: null, su: null);
        }

        var id = await ProcessRunner.RunAsync(FindExecutable("id") ?? "id", [PostgresUser], ct).ConfigureAwait(false);
        if (!id.Succeeded)
        {
            throw new InvalidOperationException(
                $"This process runs as root, and the PostgreSQL server refuses to run as root, so it is started as the '{PostgresUser}' OS user, " +
                $"but that user does not exist ({id.Output}). Create it (Debian/Ubuntu: `apt-get install postgresql` creates it) or run as a non-root user.");
        }

        var runuser = FindExecutable("runuser", "/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser");
        var su = runuser is null ? FindExecutable("su", "/usr/bin/su", "/bin/su") : null;
        if (runuser is null && su is null)
        {
            throw new InvalidOperationException(
                $"This process runs as root and must start PostgreSQL as the '{PostgresUser}' OS user, but neither runuser nor su was found. " +
                "Install util-linux (runuser) or run as a non-root user.");
        }

        return new CommandRunner(runsAsPostgresUser: true, runuser, su);
    }

    // Runs a PostgreSQL tool, as the postgres user when this process is root.
    // With environment: variables over this process's (runuser and su keep them).
    public Task<ProcessResult> RunAsync(
        string executable, IReadOnlyList<string> arguments, CancellationToken ct, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (!RunsAsPostgresUser)
        {
            return ProcessRunner.RunAsync(executable, arguments, ct, environment);
        }

        if (_runuser is not null)
        {
            return ProcessRunner.RunAsync(_runuser, ["-u", PostgresUser, "--", executable, .. arguments], ct, environment);
        }

        // su only takes a shell command line, so this is the one place where a command string is built.
        var commandLine = "exec " + string.Join(' ', new[] { executable }.Concat(arguments).Select(ProcessRunner.ShellQuote));
        return ProcessRunner.RunAsync(_su!, [PostgresUser, "-s", "/bin/sh", "-c", commandLine], ct, environment);
    }

    public Task<ProcessResult> ChownToPostgresAsync(IReadOnlyList<string> paths, CancellationToken ct) =>
        ProcessRunner.RunAsync(FindExecutable("chown") ?? "chown", [$"{PostgresUser}:", "--", .. paths], ct);

    public async Task<bool> PostgresUserCanTraverseAsync(string directory, CancellationToken ct)
    {
        var test = FindExecutable("test", "/usr/bin/test", "/bin/test") ?? "test";
        var result = await RunAsync(test, ["-x", directory], ct).ConfigureAwait(false);
        return result.Succeeded;
    }

    private static bool IsRoot()
    {
        try
        {
            // "Uid:\t<real>\t<effective>\t<saved>\t<fs>"
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("Uid:", StringComparison.Ordinal))
                {
                    var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                    return fields.Length > 2 && fields[2] == "0";
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return Environment.UserName == "root";
    }

    private static string? FindExecutable(string name, params string[] wellKnownPaths)
    {
        foreach (var path in wellKnownPaths)
        {
            if (File.Exists(path))
            {
                return path;
            }
        }

        return SearchPath(name);
    }

    internal static string? SearchPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
