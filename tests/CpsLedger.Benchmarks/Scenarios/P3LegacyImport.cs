namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>P3 (legacy import of 1,000,000 products vs COPY of the same rows): waits for the legacy-import feature.</summary>
public static class P3LegacyImport
{
    public const string Pending =
        "P3 legacy import (1,000,000 products vs PostgreSQL COPY of the same rows; RSS < 400 MB): not built yet; the " +
        "legacy-import feature (src/CpsLedger.Api/Migration) was still being finished when the harness was written.";
}
