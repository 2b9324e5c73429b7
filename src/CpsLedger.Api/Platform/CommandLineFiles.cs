namespace CpsLedger.Api.Platform;

/// <summary>Files named on the command line, and the explanation when one is not there.</summary>
public static class CommandLineFiles
{
    /// <summary>The absolute path of <paramref name="given"/>: relative paths resolve from the current directory.</summary>
    public static string Resolve(string given) => Path.GetFullPath(given, Environment.CurrentDirectory);

    // `dotnet run --project` starts the program in the project folder, not in the shell's folder (which PWD still names).
    public static string NotFound(string what, string given)
    {
        var path = Resolve(given);
        var message = $"{what} not found: {path}. A relative path is resolved from the current directory, {Environment.CurrentDirectory}";
        var shell = Environment.GetEnvironmentVariable("PWD");
        if (Path.IsPathRooted(given) || string.IsNullOrEmpty(shell) || Path.GetFullPath(shell) == Path.GetFullPath(Environment.CurrentDirectory))
            return message + ".";

        var fromShell = Path.GetFullPath(given, shell);
        return message + $" (under `dotnet run` that is the project folder, not your shell's {shell}). Give an absolute path" +
               (File.Exists(fromShell) ? $": {fromShell}" : ".");
    }
}

/// <summary>Who an import command records on every event it writes: <c>--user</c>, trimmed, or <c>cli-</c> and the operating system's user.</summary>
public static class CommandLineUser
{
    /// <summary>Why <c>--user</c> cannot be recorded (given blank: the events would have no author), or null.</summary>
    public static string? Refusal(string? flag) => flag is not null && string.IsNullOrWhiteSpace(flag)
        ? "--user must name who imports: it is recorded on every event. Leave it out for cli-<operating system user>."
        : null;

    public static string Of(string? flag) => flag?.Trim() ?? $"cli-{Environment.UserName}";
}
