using System.Diagnostics;
using JasperFx.CommandLine;
using CpsLedger.Api.Platform;
using Marten;

namespace CpsLedger.Api.Migration;

public sealed class LegacyImportInput : LedgerInput
{
    [Description("The legacy CSV file (a relative path is resolved from the current directory)")]
    public string File { get; set; } = "";

    [Description("Import the valid rows and report the others, instead of importing nothing when a row has a problem")]
    public bool SkipInvalidRowsFlag { get; set; }

    [Description("Products per batch, one transaction each (default 5000)")]
    public int? BatchSizeFlag { get; set; }

    [Description("User name recorded on the legacy events (default: cli-<operating system user>)")]
    public string? UserFlag { get; set; }
}

[Description("Imports old CPS accounts and their products from a CSV file, streamed in batches; prints every bad row, then what was imported",
    Name = "legacy-import")]
public sealed class LegacyImportCommand : JasperFxAsyncCommand<LegacyImportInput>
{
    public override async Task<bool> Execute(LegacyImportInput input)
    {
        // The output is this command's answer, for a person or a script (like the catalogue-import command's).
        var output = Console.Out;
        var path = CommandLineFiles.Resolve(input.File);
        if (!System.IO.File.Exists(path))
        {
            await output.WriteLineAsync(CommandLineFiles.NotFound("Legacy file", input.File));
            return false;
        }

        // Checked before anything is read or written.
        if (CommandLineUser.Refusal(input.UserFlag) is { } refusal)
        {
            await output.WriteLineAsync(refusal);
            return false;
        }

        if (input.BatchSizeFlag is < 1)
        {
            await output.WriteLineAsync($"--batch-size must be at least 1 (products per batch), not {input.BatchSizeFlag}.");
            return false;
        }

        using var host = await input.BuildLedgerHostAsync();
        var store = host.Services.GetRequiredService<IDocumentStore>();
        var clock = host.Services.GetRequiredService<TimeProvider>();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(LegacyImport));
        var user = CommandLineUser.Of(input.UserFlag);
        var importId = Guid.CreateVersion7().ToString();

        var invalid = 0;
        var watch = Stopwatch.StartNew();
        var report = await LegacyImport.ImportAsync(
            () => LegacyFile.OpenText(System.IO.File.OpenRead(path)),
            new LegacyImportOptions(input.SkipInvalidRowsFlag, input.BatchSizeFlag ?? LegacyImport.DefaultBatchSize),
            () =>
            {
                var session = store.LightweightSession();
                ActorRoles.StampOperator(session, user);
                session.CorrelationId = importId;
                return session;
            },
            problem =>
            {
                invalid++;
                output.WriteLine($"  {problem.Location}: {problem.Problem}");
            },
            clock, logger, CancellationToken.None);
        watch.Stop();

        await output.WriteLineAsync(Describe(path, report, watch.Elapsed, input.SkipInvalidRowsFlag));
        return report.Imported;
    }

    public static string Describe(string path, LegacyImportReport r, TimeSpan elapsed, bool skipInvalidRows)
    {
        if (!r.Imported)
        {
            return $"{LegacyImport.RejectedTitle}. {path}: {r.InvalidRows} of {r.Rows} rows have problems (listed above)" +
                   (skipInvalidRows ? "; the file as a whole cannot be read." : ". Correct them, or import with --skip-invalid-rows.");
        }

        var perSecond = elapsed.TotalSeconds > 0 ? r.Products / elapsed.TotalSeconds : 0;
        return $"Imported {path} in {elapsed.TotalSeconds:0.0} s ({perSecond:0} product rows/s, {r.Batches} batches): {r.Rows} rows" +
               (r.InvalidRows > 0 ? $", {r.InvalidRows} invalid and skipped (listed above)" : "") +
               $"; {r.LegacyAccounts} old accounts ({r.LegacyAccountsImported} new), {r.Products} products ({r.ProductsImported} new, " +
               $"{r.ProductsAlreadyImported} imported before).";
    }
}
