namespace CpsLedger.LocalPostgres;

internal sealed record PostgresBinaries(string BinDirectory)
{
    private const string DebianRoot = "/usr/lib/postgresql";
    private static readonly string[] RequiredTools = ["initdb", "pg_ctl", "postgres"];

    public string InitDb => Path.Combine(BinDirectory, "initdb");

    public string PgCtl => Path.Combine(BinDirectory, "pg_ctl");

    public static PostgresBinaries Locate(string? configuredBinDirectory)
    {
        if (!string.IsNullOrWhiteSpace(configuredBinDirectory))
        {
            var configured = Path.GetFullPath(configuredBinDirectory);
            return HasAllTools(configured)
                ? new PostgresBinaries(configured)
                : throw new PostgresBinariesNotFoundException(configured);
        }

        foreach (var candidate in DebianBinDirectoriesNewestFirst().Concat(PathDirectories()))
        {
            if (HasAllTools(candidate))
            {
                return new PostgresBinaries(candidate);
            }
        }

        throw new PostgresBinariesNotFoundException();
    }

    private static bool HasAllTools(string directory) =>
        RequiredTools.All(tool => File.Exists(Path.Combine(directory, tool)));

    private static IEnumerable<string> DebianBinDirectoriesNewestFirst()
    {
        if (!Directory.Exists(DebianRoot))
        {
            return [];
        }

        return Directory.EnumerateDirectories(DebianRoot)
            .Select(directory => (Directory: directory, Version: ParseVersion(Path.GetFileName(directory))))
            .Where(entry => entry.Version is not null)
            .OrderByDescending(entry => entry.Version)
            .Select(entry => Path.Combine(entry.Directory, "bin"));
    }

    // Debian names the folders "15", "16" (older releases: "9.6").
    private static Version? ParseVersion(string name) =>
        Version.TryParse(name.Contains('.', StringComparison.Ordinal) ? name : name + ".0", out var version) ? version : null;

    private static IEnumerable<string> PathDirectories() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(Path.IsPathRooted);
}
