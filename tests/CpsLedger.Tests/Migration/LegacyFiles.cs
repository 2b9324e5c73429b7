using System.Net;
using System.Text;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Marten;
using Microsoft.Extensions.Logging.Abstractions;

namespace CpsLedger.Tests.Migration;

/// <summary>Legacy files for the tests, and the calls that import and migrate them.</summary>
public static class LegacyFiles
{
    public const string Kadri = "kadri.tamm@old.example";
    public const string KadriNumber = "CPS-OLD-4711";

    /// <summary>Kadri's old account: a camera with every detail, a lens without a dealer, a flash without a serial.</summary>
    public static readonly string KadrisOldAccount = Csv(
        $"{Kadri},{KadriNumber},EOS-R5,0123 4567,2019-03-01,EE,Photopoint",
        $"{Kadri},{KadriNumber},EF-40-STM,LENS-1,2018-06-15,EE,",
        $"{Kadri},{KadriNumber},EOS-R5,,2020-01-10,,");

    public static string Csv(params string[] rows) => string.Join('\n', [LegacyFile.Header, .. rows]) + "\n";

    public static async Task<HttpResponseMessage> PostLegacyFile(this HttpClient client, string csv, bool? skipInvalidRows = null) =>
        await client.PostAsync("/api/legacy-imports" + (skipInvalidRows is { } skip ? $"?skipInvalidRows={skip.ToString().ToLowerInvariant()}" : ""),
            new StringContent(csv, Encoding.UTF8, "text/csv"));

    public static async Task<LegacyImportReport> ImportLegacy(this LedgerApp app, string csv) =>
        (await app.ClientAs(LedgerRoles.Support, subject: "maris").PostLegacyFile(csv).ReadAs<LegacyImportResult>()).Report;

    /// <summary>The command line's path: batches of <paramref name="batchSize"/>, the given user on the events.</summary>
    public static async Task<(LegacyImportReport Report, List<LegacyRowProblem> Problems)> ImportThroughCommandLinePath(this LedgerApp app,
        string csv, bool skipInvalidRows = false, int batchSize = LegacyImport.DefaultBatchSize, string user = "cli-maris")
    {
        var problems = new List<LegacyRowProblem>();
        var report = await LegacyImport.ImportAsync(() => new StringReader(csv), new LegacyImportOptions(skipInvalidRows, batchSize), () =>
            {
                var session = app.Store.LightweightSession();
                ActorRoles.StampOperator(session, user);
                session.CorrelationId = $"cli-import-{Guid.NewGuid():N}";
                return session;
            },
            problems.Add, TimeProvider.System, NullLogger.Instance, CancellationToken.None);
        return (report, problems);
    }

    public static string MigrationUrl(Guid accountId) => $"/api/accounts/{accountId}/migration";

    public static Task<MigrationStatus> MigrationStatus(this HttpClient client, Guid accountId) =>
        client.GetAsync(MigrationUrl(accountId)).ReadAs<MigrationStatus>();

    /// <summary>A member's or the portal's migration has no body; support's carries its reason and ticket (<see cref="Support.OnBehalf"/>).</summary>
    public static Task<MigrationResult> Migrate(this HttpClient client, Guid accountId, object? body = null) =>
        (body is null ? client.PostAsync(MigrationUrl(accountId), null) : client.PostJson(MigrationUrl(accountId), body)).ReadAs<MigrationResult>();

    public static async Task<List<LegacyAccountView>> LegacyAccounts(this LedgerApp app)
    {
        await using var session = app.Store.QuerySession();
        return [.. await session.Query<LegacyAccountView>().OrderBy(v => v.OldEmail).ToListAsync()];
    }

    /// <summary>Events of one type; without a type, the legacy streams' events.</summary>
    public static async Task<int> CountEvents(this LedgerApp app, string? type = null)
    {
        await using var session = app.Store.QuerySession();
        var events = session.Events.QueryAllRawEvents();
        return type is null
            ? await events.Where(e => e.EventTypeName.StartsWith("legacy_")).CountAsync()
            : await events.Where(e => e.EventTypeName == type).CountAsync();
    }
}
