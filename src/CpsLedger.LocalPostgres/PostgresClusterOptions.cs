namespace CpsLedger.LocalPostgres;

public sealed record PostgresClusterOptions
{
    // Where the cluster lives (created if missing).
    public required string DataDirectory { get; init; }

    // True: tuned for tests (fsync, synchronous_commit and full_page_writes off) and deleted on dispose.
    public bool Throwaway { get; init; }

    // With Throwaway: keep synchronous_commit on, so that a committed transaction survives the server being killed
    // (pg_ctl restart -m immediate in the fault tests; with it off the last commits before the kill are lost). fsync stays
    // off: commits survive a killed server, not a machine crash, and cost a write, not a flush.
    public bool KeepCommitsThroughServerCrash { get; init; }

    // Folder holding initdb, pg_ctl and postgres; null: newest /usr/lib/postgresql/*/bin, then PATH.
    public string? BinDirectory { get; init; }

    // Created if missing.
    public string Database { get; init; } = "cpsledger";

    // Null: reuse the port remembered in the data directory if it is free, else pick a free loopback port.
    public int? Port { get; init; }

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    // Variables the server is started with, over this process's (a test's LANGUAGE, for messages in another language).
    public IReadOnlyDictionary<string, string>? ServerEnvironment { get; init; }
}
