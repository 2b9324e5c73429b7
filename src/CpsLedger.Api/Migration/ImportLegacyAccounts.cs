using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using Marten;
using Marten.Exceptions;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten.Publishing;

namespace CpsLedger.Api.Migration;

/// <summary>What a legacy import did, or (<see cref="Imported"/> false) why it imported nothing.</summary>
/// <param name="Rows">Data rows in the file (header, comments and blank lines aside).</param>
/// <param name="InvalidRows">Rows with a problem: all listed; imported only without them when invalid rows are skipped.</param>
/// <param name="LegacyAccounts">Old e-mails among the imported rows.</param>
/// <param name="LegacyAccountsImported">Of those, new to the ledger (the others were imported before).</param>
/// <param name="Products">Product rows among the imported rows.</param>
/// <param name="ProductsImported">Of those, new to the ledger.</param>
/// <param name="ProductsAlreadyImported">Of those, imported before (left as they were).</param>
/// <param name="Batches">Batches of the second pass, each written in one transaction (when it had anything new; two when it both
/// started new old accounts and added to existing ones).</param>
/// <param name="Imported">Whether the file was imported; always true here (a file refused is answered with 400 listing its rows'
/// problems).</param>
public sealed record LegacyImportReport(
    bool Imported,
    int Rows,
    int InvalidRows,
    int LegacyAccounts,
    int LegacyAccountsImported,
    int Products,
    int ProductsImported,
    int ProductsAlreadyImported,
    int Batches);

public sealed record LegacyImportOptions(bool SkipInvalidRows, int BatchSize = LegacyImport.DefaultBatchSize);

/// <summary>
/// Imports a legacy file in two streamed passes: the first checks every row (and, for old e-mails imported before, that the
/// membership number is the same and that a product imported before comes with the same details), the second appends the events in batches, one transaction per batch (two for a batch that
/// both starts new old accounts and adds to existing ones: <see cref="ImportBatchAsync"/>). Memory stays bounded
/// by the batch, a set of product ids for finding repeated rows, and one entry per old e-mail; the file is never held whole.
/// Importing the same records again changes nothing: streams and products have ids derived from their content, and what
/// exists is skipped.
/// </summary>
public static class LegacyImport
{
    // Products per batch: each batch is one transaction, so memory stays bounded by it (5,000 peaked at 334-361 MB on the
    // session path at 1,000,000 products; docs/api-tour.md).
    public const int DefaultBatchSize = 5_000;
    public const string RejectedTitle = "Legacy file rejected: nothing was imported";

    /// <param name="openFile">Opens the file; called once per pass.</param>
    /// <param name="openSession">Opens the session of one batch (the caller decides who is recorded on the events).</param>
    /// <param name="onProblem">Every problem found, as found (first pass in file order, then any membership number or product
    /// details that differ from an earlier import, in file order).</param>
    public static async Task<LegacyImportReport> ImportAsync(Func<TextReader> openFile, LegacyImportOptions options,
        Func<IDocumentSession> openSession, Action<LegacyRowProblem> onProblem, TimeProvider clock, ILogger logger, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        var now = clock.GetUtcNow();
        var latestPurchaseDate = MandatoryDetailRules.LatestPossiblePurchaseDate(clock);
        var started = Stopwatch.GetTimestamp();
        var startedCpu = ProcessCpu();

        // ---- pass 1: check every row -------------------------------------------------------------------------------
        var accounts = new Dictionary<Guid, AccountEntry>();
        var productLines = new Dictionary<Guid, int>();
        var invalidLines = new HashSet<int>();
        var rows = 0;
        var fileRejected = false;

        void Invalid(LegacyRowProblem problem)
        {
            if (problem.Line == 0)
                fileRejected = true;
            else
                invalidLines.Add(problem.Line);
            onProblem(problem);
        }

        using (var text = openFile())
        {
            foreach (var (row, problems) in LegacyFile.Read(text, latestPurchaseDate))
            {
                if (problems.Count > 0 && problems[0].Line == 0)
                {
                    foreach (var problem in problems)
                        Invalid(problem);
                    break;
                }

                rows++;
                if (row is null)
                {
                    foreach (var problem in problems)
                        Invalid(problem);
                    continue;
                }

                var numberHash = Fnv1a(row.OldMembershipNumber);
                ref var account = ref CollectionsMarshal.GetValueRefOrAddDefault(accounts, LegacyIds.AccountFor(row.OldEmail), out var known);
                if (!known)
                {
                    account = new AccountEntry { NumberHash = numberHash, FirstLine = row.Line };
                }
                else if (account.NumberHash != numberHash)
                {
                    Invalid(new LegacyRowProblem(row.Line, $"Old membership number \"{row.OldMembershipNumber}\" differs from the one on " +
                                                           $"line {account.FirstLine} for the same old e-mail."));
                    continue;
                }

                if (row.Product is { SerialNumber: not null } product)
                {
                    ref var first = ref CollectionsMarshal.GetValueRefOrAddDefault(productLines, LegacyIds.ProductFor(row.OldEmail, product, 0), out var repeated);
                    if (repeated)
                        Invalid(new LegacyRowProblem(row.Line, $"Line {first} already lists model {product.ModelCode} with serial number " +
                                                               $"{product.SerialNumber} for this old e-mail."));
                    else
                        first = row.Line;
                }
            }
        }

        productLines.Clear();
        productLines.TrimExcess();

        // An old e-mail imported before keeps its membership number, and a product imported before its details (events are not
        // rewritten): a file giving another one is wrong somewhere, or a correction that cannot be applied. Either way the row is
        // reported. The products are compared a chunk of rows at a time, so memory stays bounded by the chunk.
        if (!fileRejected && accounts.Count > 0)
        {
            var (stored, differing) = await StoredAccountsAsync(openSession, accounts, ct);
            if (stored.Count > 0)
            {
                var pending = new List<LegacyRow>();
                using (var text = openFile())
                {
                    foreach (var (row, _) in LegacyFile.Read(text, latestPurchaseDate))
                    {
                        if (row is null || invalidLines.Contains(row.Line) || !stored.Contains(LegacyIds.AccountFor(row.OldEmail)))
                            continue;
                        if (!differing.ContainsKey(LegacyIds.AccountFor(row.OldEmail)) && row.Product is not { SerialNumber: not null })
                            continue;
                        pending.Add(row);
                        if (pending.Count >= CompareChunk)
                            await ReportDifferencesAsync(pending, differing, openSession, Invalid, ct);
                    }
                }

                if (pending.Count > 0)
                    await ReportDifferencesAsync(pending, differing, openSession, Invalid, ct);
            }
        }

        if (fileRejected || (invalidLines.Count > 0 && !options.SkipInvalidRows))
        {
            logger.LogInformation("Legacy file rejected: {Rows} rows, {InvalidRows} with problems{FileProblem}", rows, invalidLines.Count,
                fileRejected ? " (and a problem with the file as a whole)" : "");
            return new LegacyImportReport(false, rows, invalidLines.Count, 0, 0, 0, 0, 0, 0);
        }

        // ---- pass 2: import the valid rows in batches --------------------------------------------------------------
        var checking = Stopwatch.GetElapsedTime(started);
        var checkingCpu = ProcessCpu() - startedCpu;
        var counts = new ImportCounts();
        var occurrences = new Dictionary<Guid, int>();
        var batch = new List<BatchItem>(Math.Min(options.BatchSize, 100_000));
        using (var text = openFile())
        {
            foreach (var (row, _) in LegacyFile.Read(text, latestPurchaseDate))
            {
                if (row is null || invalidLines.Contains(row.Line))
                    continue;

                var accountId = LegacyIds.AccountFor(row.OldEmail);
                ref var account = ref CollectionsMarshal.GetValueRefOrNullRef(accounts, accountId);
                if (!account.Seen)
                {
                    account.Seen = true;
                    counts.LegacyAccounts++;
                }

                Guid? productId = null;
                if (row.Product is { } product)
                {
                    counts.Products++;
                    if (product.SerialNumber is not null)
                    {
                        productId = LegacyIds.ProductFor(row.OldEmail, product, 0);
                    }
                    else
                    {
                        // Identical rows without a serial are distinct products (two lenses of one model): numbered in file order.
                        ref var seen = ref CollectionsMarshal.GetValueRefOrAddDefault(occurrences, LegacyIds.ProductFor(row.OldEmail, product, 0), out _);
                        productId = LegacyIds.ProductFor(row.OldEmail, product, ++seen);
                    }
                }

                batch.Add(new BatchItem(row, accountId, productId));
                if (batch.Count >= options.BatchSize)
                    await ImportBatchAsync(batch, openSession, counts, now, logger, ct);
            }
        }

        if (batch.Count > 0)
            await ImportBatchAsync(batch, openSession, counts, now, logger, ct);

        var report = new LegacyImportReport(true, rows, invalidLines.Count, counts.LegacyAccounts, counts.LegacyAccountsImported, counts.Products,
            counts.ProductsImported, counts.ProductsAlreadyImported, counts.Batches);
        logger.LogInformation("Legacy import: {@Report}", report);
        // Where the time went (pass 2's remainder is reading the file and grouping rows): the benchmark's P3 profile reads it.
        // The process's CPU beside the wall time: on a shared machine the wall time moves with the neighbours, the CPU much less.
        var writing = Stopwatch.GetElapsedTime(started) - checking;
        var writingCpu = ProcessCpu() - startedCpu - checkingCpu;
        logger.LogInformation("Legacy import timings: pass 1 (check) {Check:F1} s (CPU {CheckCpu:F2} s); pass 2 {Write:F1} s (CPU {WriteCpu:F2} s), " +
                              "of which loading views {Load:F1} s, building events {Build:F1} s, saving {Save:F1} s (CPU {SaveCpu:F2} s)",
            checking.TotalSeconds, checkingCpu.TotalSeconds, writing.TotalSeconds, writingCpu.TotalSeconds,
            counts.Loading.TotalSeconds, counts.Building.TotalSeconds, counts.Saving.TotalSeconds, counts.SavingCpu.TotalSeconds);
        return report;
    }

    private static async Task ImportBatchAsync(List<BatchItem> batch, Func<IDocumentSession> openSession, ImportCounts counts,
        DateTimeOffset now, ILogger logger, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        await using var session = openSession();
        var ids = batch.Select(b => b.AccountId).Distinct().ToArray();
        var views = (await session.LoadManyAsync<LegacyAccountView>(ct, ids)).ToDictionary(v => v.Id);
        var loaded = Stopwatch.GetTimestamp();
        counts.Loading += Stopwatch.GetElapsedTime(started, loaded);

        var newStreams = new List<NewStream<LegacyAccountView>>();
        // In the old accounts' order, not the file's: the copy inserts the new streams' rows and Marten appends to the existing
        // streams in the order given, each append locking the stream (its row, its next version) and its hash chain until the
        // commit, so two imports naming the same old accounts in opposite orders deadlocked. In one order, one waits for the other
        // and then fails its version check (or collides on a new stream), as any concurrent import does (ARCHITECTURE.md, "Lock order
        // across accounts").
        foreach (var group in batch.GroupBy(b => b.AccountId).OrderBy(g => g.Key))
        {
            var view = views.GetValueOrDefault(group.Key);
            var known = view?.Products.Select(p => p.Id).ToHashSet();
            var events = new List<object>();
            if (view is null)
            {
                var first = group.First().Row;
                events.Add(new LegacyAccountImported(group.Key, first.OldEmail, first.OldMembershipNumber, now));
                counts.LegacyAccountsImported++;
            }

            foreach (var item in group)
            {
                if (item.Row.Product is not { } product)
                    continue;
                if (known?.Contains(item.ProductId!.Value) ?? false)
                {
                    counts.ProductsAlreadyImported++;
                    continue;
                }

                events.Add(new LegacyProductImported(group.Key, item.ProductId!.Value, product.ModelCode, product.SerialNumber,
                    product.PurchaseDate, product.CountryOfPurchase, product.Dealer, now));
                counts.ProductsImported++;
            }

            if (events.Count == 0)
                continue;
            // A new old e-mail starts its stream, copied in bulk with the view its inline projection would write (two imports
            // racing collide on the stream id); an existing one is appended through Marten, expecting the version read, so a
            // concurrent import of the same e-mail fails instead of adding a product twice.
            if (view is null)
                newStreams.Add(new NewStream<LegacyAccountView>(group.Key, events, LegacyAccountViewProjection.Fold(events)));
            else
                session.Events.Append(group.Key, view.EventCount + events.Count, [.. events]);
        }

        var built = Stopwatch.GetTimestamp();
        var builtCpu = ProcessCpu();
        counts.Building += Stopwatch.GetElapsedTime(loaded, built);
        // Saving: the copies, committed on their own, then Marten's appends in a second transaction. A copy of more than 64 new
        // streams takes the hash chain's table lock (HashChainSchema), which makes every other chain writer wait at its next event;
        // an append after it in the same transaction then waited for one of those in turn (a migration that had inserted its event
        // on the same old account before it stopped to link it), a deadlock whatever the order. The copy's own transaction holds
        // nothing another writer waits for, and an interrupted batch is completed by importing again, as an interrupted import is.
        if (newStreams.Count > 0)
        {
            await using var copying = openSession();
            await BulkAppend.StartStreamsAsync(copying, newStreams, ct);
            await copying.SaveChangesAsync(ct);
        }

        await session.SaveChangesAsync(ct);
        counts.Saving += Stopwatch.GetElapsedTime(built);
        counts.SavingCpu += ProcessCpu() - builtCpu;
        counts.Batches++;
        if (counts.Batches % 20 == 0)
            logger.LogInformation("Legacy import: {Products} product rows done, {Imported} new", counts.ProductsImported + counts.ProductsAlreadyImported,
                counts.ProductsImported);
        batch.Clear();
    }

    // Rows of old e-mails imported before compared at a time (their views loaded in one round trip).
    private const int CompareChunk = 1_000;

    /// <summary>The file's old e-mails imported before, and of those the ones whose membership number differs (with the stored one).</summary>
    private static async Task<(HashSet<Guid> Stored, Dictionary<Guid, string> Differing)> StoredAccountsAsync(Func<IDocumentSession> openSession,
        Dictionary<Guid, AccountEntry> accounts, CancellationToken ct)
    {
        var stored = new HashSet<Guid>();
        var differing = new Dictionary<Guid, string>();
        await using var session = openSession();
        foreach (var chunk in accounts.Keys.Chunk(1000))
        {
            var found = await session.Query<LegacyAccountView>()
                .Where(v => v.Id.IsOneOf(chunk))
                .Select(v => new { v.Id, v.OldMembershipNumber })
                .ToListAsync(ct);
            foreach (var account in found)
            {
                stored.Add(account.Id);
                if (Fnv1a(account.OldMembershipNumber) != accounts[account.Id].NumberHash)
                    differing[account.Id] = account.OldMembershipNumber;
            }
        }

        return (stored, differing);
    }

    /// <summary>
    /// Reports, in file order, each pending row whose old e-mail was imported before with another membership number, or whose
    /// product (by model and serial) was imported before with other details; then clears the rows.
    /// </summary>
    private static async Task ReportDifferencesAsync(List<LegacyRow> pending, Dictionary<Guid, string> differing,
        Func<IDocumentSession> openSession, Action<LegacyRowProblem> report, CancellationToken ct)
    {
        var ids = pending.Select(r => LegacyIds.AccountFor(r.OldEmail)).Where(id => !differing.ContainsKey(id)).Distinct().ToArray();
        Dictionary<Guid, LegacyAccountView> views = [];
        if (ids.Length > 0)
        {
            await using var session = openSession();
            views = (await session.LoadManyAsync<LegacyAccountView>(ct, ids)).ToDictionary(v => v.Id);
        }

        foreach (var row in pending)
        {
            var accountId = LegacyIds.AccountFor(row.OldEmail);
            if (differing.TryGetValue(accountId, out var number))
            {
                report(new LegacyRowProblem(row.Line, $"Old e-mail {row.OldEmail} was imported before with membership number " +
                                                      $"\"{number}\"; this row gives \"{row.OldMembershipNumber}\"."));
                continue;
            }

            var product = row.Product!;
            var productId = LegacyIds.ProductFor(row.OldEmail, product, 0);
            if (views.GetValueOrDefault(accountId)?.Products.Find(p => p.Id == productId) is { } imported
                && DetailsDiffer(imported, product) is { } difference)
            {
                report(new LegacyRowProblem(row.Line, $"Model {imported.ModelCode} with serial number {imported.SerialNumber} was imported " +
                                                      $"before for this old e-mail with {difference.Stored}; this row gives {difference.Given}. " +
                                                      "Imported details are not changed: the row is not applied."));
            }
        }

        pending.Clear();
    }

    /// <summary>The details a row gives that differ from the product's imported ones, both ways in words; null when none differ.</summary>
    private static (string Stored, string Given)? DetailsDiffer(LegacyProduct imported, LegacyProductDetails row)
    {
        var stored = new List<string>();
        var given = new List<string>();
        void Compare(string name, string? before, string? now)
        {
            if (before == now)
                return;
            stored.Add(before is null ? $"no {name}" : $"{name} {before}");
            given.Add(now is null ? $"no {name}" : $"{name} {now}");
        }

        Compare("purchase date", imported.PurchaseDate?.ToString("yyyy-MM-dd"), row.PurchaseDate?.ToString("yyyy-MM-dd"));
        Compare("country of purchase", imported.CountryOfPurchase, row.CountryOfPurchase);
        Compare("dealer", imported.Dealer is null ? null : $"\"{imported.Dealer}\"", row.Dealer is null ? null : $"\"{row.Dealer}\"");
        return stored.Count == 0 ? null : (string.Join(", ", stored), string.Join(", ", given));
    }

    // 64-bit FNV-1a: the file's membership number per e-mail is kept as a hash, not a string (a million e-mails stay small).
    private static ulong Fnv1a(string value)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in value)
        {
            hash ^= c;
            hash *= 1099511628211UL;
        }

        return hash;
    }

    private struct AccountEntry
    {
        public ulong NumberHash;
        public int FirstLine;
        public bool Seen;
    }

    private sealed record BatchItem(LegacyRow Row, Guid AccountId, Guid? ProductId);

    private sealed class ImportCounts
    {
        public int LegacyAccounts;
        public int LegacyAccountsImported;
        public int Products;
        public int ProductsImported;
        public int ProductsAlreadyImported;
        public int Batches;
        public TimeSpan Loading;
        public TimeSpan Building;
        public TimeSpan Saving;
        public TimeSpan SavingCpu;
    }

    // User and system time of the whole process (every thread, the collector's included).
    private static TimeSpan ProcessCpu()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }
}

/// <summary>The import's answer over HTTP: the report, and the rows that were skipped with their problems.</summary>
/// <param name="Report">What the import did, or why it imported nothing.</param>
/// <param name="SkippedRows">The rows skipped for a problem (with skipInvalidRows), keyed by where in the file they are, each
/// with its problems; empty when none.</param>
public sealed record LegacyImportResult(LegacyImportReport Report, IReadOnlyDictionary<string, string[]> SkippedRows);

public static class ImportLegacyAccountsEndpoint
{
    public const string OperationId = "ImportLegacyAccounts";

    public const string CsvExample =
        $"{LegacyFile.Header}\nkadri.tamm@old.example,CPS-OLD-4711,EOS-5D4,012345678901,2019-03-01,EE,Photopoint\n" +
        "kadri.tamm@old.example,CPS-OLD-4711,EF-70-200-L,,2018-06-15,,\n";

    // No [Consumes]: routing would refuse another Content-Type with a bare 415 before this endpoint could say what to send.
    [WolverinePost("/api/legacy-imports", OperationId = OperationId)]
    [Authorize(Roles = LedgerRoles.Support)]
    [EndpointSummary("Import old CPS accounts and their products from a CSV file (all or nothing, unless invalid rows are skipped)")]
    [EndpointDescription("The request body is the CSV file (Content-Type text/csv), at most Ledger:MaxRequestBodyBytes (1 MiB by default); " +
                         "larger files go through the `legacy-import` command. Header: " + LegacyFile.Header + ". Every row is checked " +
                         "first; with problems nothing is imported (400 listing each line and why) unless skipInvalidRows=true, which " +
                         "imports the valid rows and lists the others. Importing the same records again changes nothing.")]
    [ProducesResponseType<LegacyImportResult>(StatusCodes.Status200OK)]
    [ProducesResponseType<HttpValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    [ProducesResponseType(StatusCodes.Status415UnsupportedMediaType)]
    public static async Task<IResult> Post(HttpRequest request,
        [Description("true: import the valid rows and list the others (skippedRows). Left out or false: a file with any invalid row imports " +
                     "nothing (a 400 listing each line and why).")] bool? skipInvalidRows,
        OutboxedSessionFactory sessions, IMessageBus bus,
        TimeProvider clock, ILoggerFactory loggers, CancellationToken ct)
    {
        if (!IsCsv(request.ContentType))
        {
            return Results.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported legacy file type",
                detail: "Send the legacy file as the request body with Content-Type text/csv.");
        }

        // Within the request size limit: read both passes from memory (large files go through the command line).
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body, ct);
        var bytes = body.ToArray();

        var problems = new List<LegacyRowProblem>();
        var report = await LegacyImport.ImportAsync(() => LegacyFile.OpenText(new MemoryStream(bytes, writable: false)),
            new LegacyImportOptions(skipInvalidRows ?? false), () => Session(sessions, bus), problems.Add, clock,
            loggers.CreateLogger(typeof(LegacyImport)), ct);

        var byLocation = problems.OrderBy(p => p.Line).GroupBy(p => p.Location).ToDictionary(g => g.Key, g => g.Select(p => p.Problem).ToArray());
        if (!report.Imported)
        {
            return Results.ValidationProblem(byLocation, title: LegacyImport.RejectedTitle,
                detail: byLocation.ContainsKey(LegacyFile.WholeFile)
                    ? "The file cannot be read as a legacy file."
                    : $"{report.InvalidRows} of {report.Rows} rows have problems (all listed under errors). Correct them and import " +
                      "the file again, or import with skipInvalidRows=true to import the valid rows only.");
        }

        return Results.Ok(new LegacyImportResult(report, byLocation));
    }

    // Each batch's own session records the caller's role, as Wolverine's session does for other commands (ActorRolePolicy).
    private static IDocumentSession Session(OutboxedSessionFactory sessions, IMessageBus bus)
    {
        var session = sessions.OpenSession(bus);
        ActorRoles.Record(session, bus is IMessageContext request ? ActorRoles.OfRequest(request) : null);
        return session;
    }

    // Another import wrote one of this file's old e-mails at the same moment. What was committed stays; importing again
    // completes the rest without duplicating anything.
    public static ProblemDetails OnException(ExistingStreamIdCollisionException _) => Problems.Conflict("Concurrent legacy import",
        "Another import wrote some of the same old accounts at the same moment. Import the file again: what is already imported is skipped.");

    private static bool IsCsv(string? contentType) =>
        contentType is not null && contentType.Split(';')[0].Trim().Equals("text/csv", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// Documents the import's request body, which the endpoint reads raw (so the OpenAPI document would otherwise show none, and a
/// client generated from it had no way to send the file).
/// </summary>
internal sealed class ImportLegacyAccountsRequestBody : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.OperationId != ImportLegacyAccountsEndpoint.OperationId)
            return Task.CompletedTask;

        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = $"The legacy file: CSV (UTF-8, header row {LegacyFile.Header}).",
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["text/csv"] = new()
                {
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                    Example = JsonValue.Create(ImportLegacyAccountsEndpoint.CsvExample),
                },
            },
        };
        return Task.CompletedTask;
    }
}
