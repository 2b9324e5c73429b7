namespace CpsLedger.LocalPostgres;

public sealed class PostgresBinariesNotFoundException : Exception
{
    private const string Remedy =
        "Install them (Debian/Ubuntu: `apt-get install postgresql`), set LocalPostgres:BinDirectory to the folder that holds them, " +
        "or give a connection string in ConnectionStrings:Marten (environment variable ConnectionStrings__Marten) to use an existing server.";

    public PostgresBinariesNotFoundException()
        : base("PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in /usr/lib/postgresql/*/bin or on PATH. " + Remedy)
    {
    }

    // Used when an explicit BinDirectory was configured, so the message names the folder that was actually searched.
    internal PostgresBinariesNotFoundException(string binDirectory)
        : base($"PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in {binDirectory} (the configured LocalPostgres:BinDirectory). " + Remedy)
    {
        BinDirectory = binDirectory;
    }

    public string? BinDirectory { get; }
}
