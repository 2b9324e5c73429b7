using System.Net;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using JasperFx.Events.Daemon;
using Marten;
using Marten.Services;
using Npgsql;

namespace CpsLedger.Tests.Migration;

public sealed class LegacyImportTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Support => App.ClientAs(LedgerRoles.Support, subject: "maris");

    [Fact]
    public async Task Support_imports_old_accounts_with_their_products_and_whatever_details_they_had()
    {
        var report = await App.ImportLegacy(LegacyFiles.KadrisOldAccount + "juhan@old.example,CPS-OLD-0815,,,,,\n");

        Assert.Equal(new LegacyImportReport(true, Rows: 4, InvalidRows: 0, LegacyAccounts: 2, LegacyAccountsImported: 2, Products: 3,
            ProductsImported: 3, ProductsAlreadyImported: 0, Batches: report.Batches), report);
        var accounts = await App.LegacyAccounts();
        Assert.Equal(["juhan@old.example", LegacyFiles.Kadri], accounts.Select(a => a.OldEmail));
        Assert.Empty(accounts[0].Products);
        var kadri = accounts[1];
        Assert.Equal((LegacyFiles.KadriNumber, 3), (kadri.OldMembershipNumber, kadri.Products.Count));
        Assert.Equal(("EF-40-STM", "LENS-1", (string?)null), (kadri.Products[1].ModelCode, kadri.Products[1].SerialNumber, kadri.Products[1].Dealer));
        Assert.Null(kadri.Products[2].SerialNumber);
        Assert.All(kadri.Products, p => Assert.Null(p.MigratedToAccountId));

        // Who imported it is on every event.
        await using var session = App.Store.QuerySession();
        var events = await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName.StartsWith("legacy_")).ToListAsync();
        Assert.Equal(5, events.Count);
        Assert.All(events, e => Assert.Equal("maris", e.UserName));
    }

    [Fact]
    public async Task Importing_the_same_records_again_changes_nothing()
    {
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var events = await App.CountEvents();

        var again = await App.ImportLegacy(LegacyFiles.KadrisOldAccount);

        Assert.Equal((1, 0, 3, 0, 3), (again.LegacyAccounts, again.LegacyAccountsImported, again.Products, again.ProductsImported,
            again.ProductsAlreadyImported));
        Assert.Equal(events, await App.CountEvents());

        // A later file with one more product of the same account adds just that product.
        var more = await App.ImportLegacy(LegacyFiles.KadrisOldAccount + $"{LegacyFiles.Kadri},{LegacyFiles.KadriNumber},EOS-R5,9999,,,\n");
        Assert.Equal((1, 3), (more.ProductsImported, more.ProductsAlreadyImported));
        Assert.Equal(events + 1, await App.CountEvents());
        Assert.Equal(4, Assert.Single(await App.LegacyAccounts()).Products.Count);
    }

    [Fact]
    public async Task Two_imports_naming_the_same_old_accounts_in_opposite_orders_commit_one_after_the_other_without_a_deadlock()
    {
        string Row(string name, string serial) => $"{name}@old.example,N-{name},EOS-R5,{serial},2019-01-01,EE,Photopoint";
        await App.ImportThroughCommandLinePath(LegacyFiles.Csv(Row("a", "A0"), Row("b", "B0"), Row("c", "C0"), Row("d", "D0")));
        var (a, b, c, d) = (LegacyIds.AccountFor("a@old.example"), LegacyIds.AccountFor("b@old.example"), LegacyIds.AccountFor("c@old.example"),
            LegacyIds.AccountFor("d@old.example"));

        // Two files adding a product to A, C, B and to B, D, A (in the files' order). Each commit appends to its old accounts'
        // streams in turn, locking each stream's next version and row and its hash chain (an imported event names no account: the
        // chain is the legacy stream's). Holding C's and D's chains stops each commit just after its first account, so that each
        // runs into the other's only once both have locked one (A and B): PostgreSQL broke that deadlock (40P01) after
        // deadlock_timeout. In the old accounts' order, one commit waits for the other (or for the holder) and fails the version
        // check of an account both add to; importing again would add the rest.
        var (first, second) = (new Commits(), new Commits());
        await using var holder = new NpgsqlConnection(App.ConnectionString);
        await using var held = await ChainLocks.HoldChains(holder, c, d);
        var importing = new[] { Import(LegacyFiles.Csv(Row("a", "A1"), Row("c", "C1"), Row("b", "B1")), first),
            Import(LegacyFiles.Csv(Row("b", "B2"), Row("d", "D2"), Row("a", "A2")), second) };
        await App.UntilCommitsWait(2);
        await held.CommitAsync();

        var failures = (await Task.WhenAll(importing)).OfType<Exception>().ToList();
        Assert.DoesNotContain(first.Failures.Concat(second.Failures).Concat(failures), ChainLocks.IsDeadlock);
        Assert.IsAssignableFrom<JasperFx.ConcurrencyException>(Assert.Single(failures));
        Assert.Equal(4 + 3, await App.CountEvents("legacy_product_imported"));
        // Each commit appended to the streams in the old accounts' order, whatever order the files gave.
        Assert.Equal(new[] { a, b, c }.Order(), first.Appended.First(s => s.Length > 0));
        Assert.Equal(new[] { a, b, d }.Order(), second.Appended.First(s => s.Length > 0));

        Task<Exception?> Import(string csv, Commits commits) => ChainLocks.FailureOf(() => App.ImportLegacyFile(csv, commits));
    }

    [Fact]
    public async Task A_file_with_bad_rows_imports_nothing_and_reports_every_bad_row_with_its_line_and_reason()
    {
        var file = LegacyFiles.Csv(
            "a@old.example,A-1,EOS-R5,SN-1,2019-01-01,EE,Photopoint",
            "a@old.example,A-2,EOS-R5,SN-2,,,",
            "a@old.example,A-1,EOS-R5,sn-1,,,",
            "b@old.example,B-1,EOS-R5,,2999-01-01,,",
            "c@old.example,C-1,EOS-R5,,,,");

        var problem = await Support.PostLegacyFile(file).ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal(LegacyImport.RejectedTitle, problem.Title);
        Assert.Equal(["line 3", "line 4", "line 5"], problem.Errors.Keys);
        Assert.Equal("Old membership number \"A-2\" differs from the one on line 2 for the same old e-mail.", problem.Errors["line 3"][0]);
        Assert.Equal("Line 2 already lists model EOS-R5 with serial number sn-1 for this old e-mail.", problem.Errors["line 4"][0]);
        Assert.Equal("Purchase date 2999-01-01 is in the future.", problem.Errors["line 5"][0]);
        Assert.Equal(0, await App.CountEvents());
    }

    [Fact]
    public async Task An_old_email_with_an_invisible_character_is_refused_as_nobody_could_type_it()
    {
        var file = LegacyFiles.Csv("kadri\u200B.tamm@old.example,A-1,EOS-R5,SN-1,,,", "b@old.example,B-1,,,,,", "c\u00AD@old.example,C-1,,,,,");

        var problem = await Support.PostLegacyFile(file).ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal(["line 2", "line 4"], problem.Errors.Keys);
        Assert.Equal("Old e-mail \"kadri<U+200B>.tamm@old.example\" contains an invisible character (U+200B); remove it.", problem.Errors["line 2"][0]);
        Assert.Equal("Old e-mail \"c<U+00AD>@old.example\" contains an invisible character (U+00AD); remove it.", problem.Errors["line 4"][0]);
        Assert.Equal(0, await App.CountEvents());

        var (report, problems) = await App.ImportThroughCommandLinePath(file, skipInvalidRows: true);
        Assert.Equal([2, 4], problems.Select(p => p.Line));
        Assert.Equal(["b@old.example"], (await App.LegacyAccounts()).Select(a => a.OldEmail));
        Assert.Equal((2, 1), (report.InvalidRows, report.LegacyAccountsImported));
    }

    [Fact]
    public async Task A_nul_in_a_membership_number_or_a_model_code_is_a_problem_of_its_line_not_a_500()
    {
        // A NUL was taken for "no character outside the set" and reached PostgreSQL, which refuses it in JSON: a 500.
        var file = LegacyFiles.Csv("a@old.example,A-1\0,,,,,", "b@old.example,B-1,EOS-R5\0,SN-1,,,", "c@old.example,C-1,,,,,");

        var problem = await Support.PostLegacyFile(file).ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal(["line 2", "line 3"], problem.Errors.Keys);
        Assert.Equal("Old membership number \"A-1<U+0000>\" contains U+0000; it may have letters, digits, spaces and - / .", problem.Errors["line 2"][0]);
        Assert.Equal("Model code \"EOS-R5<U+0000>\" contains U+0000; a code has only letters, digits, spaces and - _ .", problem.Errors["line 3"][0]);
        Assert.Equal(0, await App.CountEvents());

        var body = await Support.PostLegacyFile(file, skipInvalidRows: true).ReadAs<LegacyImportResult>();
        Assert.Equal(["line 2", "line 3"], body.SkippedRows.Keys);
        Assert.Equal(["c@old.example"], (await App.LegacyAccounts()).Select(a => a.OldEmail));
    }

    [Fact]
    public async Task With_skip_invalid_rows_the_valid_rows_are_imported_and_the_others_reported()
    {
        var file = LegacyFiles.Csv("a@old.example,A-1,EOS-R5,SN-1,,,", "a@old.example,A-1,EOS-R5,SN-2,someday,,", "b@old.example,B-1,,,,,");

        var body = await Support.PostLegacyFile(file, skipInvalidRows: true).ReadAs<LegacyImportResult>();

        Assert.Equal((3, 1, 2, 1), (body.Report.Rows, body.Report.InvalidRows, body.Report.LegacyAccountsImported, body.Report.ProductsImported));
        Assert.Equal("Purchase date \"someday\" is not a date written yyyy-MM-dd, e.g. 2019-03-01.", body.SkippedRows["line 3"][0]);
        Assert.Equal(["SN-1"], (await App.LegacyAccounts())[0].Products.Select(p => p.SerialNumber));
    }

    [Fact]
    public async Task A_file_that_cannot_be_read_imports_nothing_even_when_skipping_invalid_rows()
    {
        var problem = await Support.PostLegacyFile("email;number\na@old.example;1\n", skipInvalidRows: true).ReadProblem(HttpStatusCode.BadRequest);
        Assert.StartsWith("Line 1: The first line must be the header row", problem.Errors["file"][0]);

        await (await Support.PostAsync("/api/legacy-imports", new StringContent("{}", System.Text.Encoding.UTF8, "application/json")))
            .ShouldBeProblem(HttpStatusCode.UnsupportedMediaType);
        Assert.Equal(0, await App.CountEvents());
    }

    [Fact]
    public async Task An_old_email_keeps_the_membership_number_it_was_imported_with()
    {
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);

        var problem = await Support.PostLegacyFile(LegacyFiles.Csv($"{LegacyFiles.Kadri},CPS-OTHER,EOS-R5,NEW-1,,,", "x@old.example,X,,,,,"))
            .ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal($"Old e-mail {LegacyFiles.Kadri} was imported before with membership number \"{LegacyFiles.KadriNumber}\"; this row gives \"CPS-OTHER\".",
            problem.Errors["line 2"][0]);
        Assert.Single(await App.LegacyAccounts());
    }

    [Fact]
    public async Task A_product_imported_before_keeps_its_details_and_a_row_giving_others_is_reported_not_applied()
    {
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var events = await App.CountEvents();
        var (kadri, number) = (LegacyFiles.Kadri, LegacyFiles.KadriNumber);
        // A "corrected" file: the camera's purchase date and the lens's country and dealer differ from the first import.
        var corrected = LegacyFiles.Csv(
            $"{kadri},{number},EOS-R5,0123 4567,2019-04-01,EE,Photopoint",
            $"{kadri},{number},EF-40-STM,LENS-1,2018-06-15,FI,Foto Oy",
            $"{kadri},{number},EOS-R5,,2020-01-10,,",
            $"{kadri},{number},EOS-R6,NEW-1,,,");

        var problem = await Support.PostLegacyFile(corrected).ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal(["line 2", "line 3"], problem.Errors.Keys);
        Assert.Equal("Model EOS-R5 with serial number 0123 4567 was imported before for this old e-mail with purchase date 2019-03-01; " +
                     "this row gives purchase date 2019-04-01. Imported details are not changed: the row is not applied.", problem.Errors["line 2"][0]);
        Assert.Equal("Model EF-40-STM with serial number LENS-1 was imported before for this old e-mail with country of purchase EE, no dealer; " +
                     "this row gives country of purchase FI, dealer \"Foto Oy\". Imported details are not changed: the row is not applied.",
            problem.Errors["line 3"][0]);
        Assert.Equal(events, await App.CountEvents());

        // Skipping invalid rows imports the new product only, lists the two rows, and the first import's details stand.
        var body = await Support.PostLegacyFile(corrected, skipInvalidRows: true).ReadAs<LegacyImportResult>();
        Assert.Equal((2, 1, 1), (body.Report.InvalidRows, body.Report.ProductsImported, body.Report.ProductsAlreadyImported));
        Assert.Equal(["line 2", "line 3"], body.SkippedRows.Keys.Order());
        Assert.Equal(problem.Errors["line 3"], body.SkippedRows["line 3"]);
        var products = Assert.Single(await App.LegacyAccounts()).Products;
        Assert.Equal(new DateOnly(2019, 3, 1), products[0].PurchaseDate);
        Assert.Equal(("EE", (string?)null), (products[1].CountryOfPurchase, products[1].Dealer));
        Assert.Equal(events + 1, await App.CountEvents());

        // The command line reports the same rows, and the same file imported again is still no problem.
        var (again, problems) = await App.ImportThroughCommandLinePath(corrected, skipInvalidRows: true);
        Assert.Equal([2, 3], problems.Select(p => p.Line));
        Assert.Equal((2, 0, 2), (again.InvalidRows, again.ProductsImported, again.ProductsAlreadyImported));
        var (same, none) = await App.ImportThroughCommandLinePath(LegacyFiles.KadrisOldAccount);
        Assert.Empty(none);
        Assert.Equal((true, 0, 3), (same.Imported, same.ProductsImported, same.ProductsAlreadyImported));
    }

    [Fact]
    public async Task Only_support_imports()
    {
        foreach (var role in new[] { LedgerRoles.Member, LedgerRoles.Portal, LedgerRoles.Auditor, LedgerRoles.Finance })
            await (await App.ClientAs(role, Guid.NewGuid()).PostLegacyFile(LegacyFiles.KadrisOldAccount)).ShouldBe(HttpStatusCode.Forbidden);
        Assert.Equal(0, await App.CountEvents());
    }

    [Fact]
    public async Task The_command_refuses_a_blank_user_and_a_batch_size_below_one_with_the_reason_and_imports_nothing()
    {
        var file = Path.Combine(Path.GetTempPath(), $"legacy-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(file, LegacyFiles.KadrisOldAccount);
        try
        {
            // The user is written on every event as who imported: a blank one would leave them without an author.
            var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "legacy-import", file, "--user", "  ");
            Assert.NotEqual(0, exit);
            Assert.Contains("--user must name who imports", output);
            Assert.DoesNotMatch(@"(?m)^\s+at ", output);

            (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "legacy-import", file, "--batch-size", "0");
            Assert.NotEqual(0, exit);
            Assert.Contains("--batch-size must be at least 1", output);
            Assert.DoesNotMatch(@"(?m)^\s+at ", output);

            Assert.Equal(0, await App.CountEvents());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task The_command_writes_its_figures_alike_whatever_the_machines_locale()
    {
        var file = Path.Combine(Path.GetTempPath(), $"legacy-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(file, LegacyFiles.KadrisOldAccount);
        try
        {
            // The process's culture follows LANG: et_EE wrote "0,4 s", as the service's texts and problem details would have.
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
                new Dictionary<string, string> { ["LANG"] = "et_EE.UTF-8", ["LC_ALL"] = "et_EE.UTF-8" }, "legacy-import", file);
            Assert.True(exit == 0, output + error);
            Assert.Matches(@"^Imported .+ in \d+\.\d s \(\d+ product rows/s, ", output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task The_command_line_path_streams_in_batches_and_the_result_is_the_same_as_in_one()
    {
        // 3 accounts' rows interleaved, so that every account's rows span batches of 2.
        var rows = Enumerable.Range(1, 9).Select(i => $"{(char)('a' + i % 3)}@old.example,N-{i % 3},M-{i},S-{i},,,").ToArray();
        rows = [.. rows, "a@old.example,N-0,LENS,,,,", "a@old.example,N-0,LENS,,,,"];

        var (report, problems) = await App.ImportThroughCommandLinePath(LegacyFiles.Csv(rows), batchSize: 2);

        Assert.Empty(problems);
        Assert.Equal(new LegacyImportReport(true, 11, 0, 3, 3, 11, 11, 0, 6), report);
        var accounts = await App.LegacyAccounts();
        Assert.Equal([5, 3, 3], accounts.Select(a => a.Products.Count));
        // Two identical rows without a serial are two products (two lenses of one model).
        Assert.Equal(2, accounts[0].Products.Count(p => p.ModelCode == "LENS"));
        Assert.Equal(accounts.Sum(a => a.EventCount), await App.CountEvents());
        Assert.Equal("Imported /tmp/l.csv in 2.0 s (6 product rows/s, 6 batches): 11 rows; 3 old accounts (3 new), 11 products (11 new, 0 imported before).",
            LegacyImportCommand.Describe("/tmp/l.csv", report, TimeSpan.FromSeconds(2), false));

        var (again, _) = await App.ImportThroughCommandLinePath(LegacyFiles.Csv(rows), batchSize: 4);
        Assert.Equal(new LegacyImportReport(true, 11, 0, 3, 0, 11, 0, 11, 3), again);
        await using var session = App.Store.QuerySession();
        Assert.All(await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName.StartsWith("legacy_")).ToListAsync(),
            e => Assert.Equal("cli-maris", e.UserName));
    }

    [Fact]
    public async Task A_batch_of_thousands_of_products_takes_a_handful_of_round_trips_not_one_per_product()
    {
        var rows = Enumerable.Range(1, 5000).Select(i => $"m{i % 1000}@old.example,N-{i % 1000},EOS-R5,SN-{i},2019-01-01,EE,Photopoint").ToArray();
        var counter = new RoundTrips();

        var problems = new List<LegacyRowProblem>();
        var report = await LegacyImport.ImportAsync(() => new StringReader(LegacyFiles.Csv(rows)), new LegacyImportOptions(false, BatchSize: 5000), () =>
            {
                var session = App.Store.LightweightSession();
                session.Logger = counter;
                return session;
            },
            problems.Add, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);

        Assert.Equal((1000, 5000, 1), (report.LegacyAccountsImported, report.ProductsImported, report.Batches));
        // The membership number check, the batch's read of the existing accounts, and the batch's writes (Marten sends the
        // 1,000 new streams with their 6,000 events and 1,000 documents in batched commands).
        Assert.True(counter.Count <= 10, $"{counter.Count} round trips");
        Assert.Equal(6000, await App.CountEvents());
    }

    [Fact]
    public async Task A_bulk_import_writes_the_views_a_rebuild_of_the_projection_writes_and_the_metadata_of_a_session()
    {
        // New old e-mails are copied in bulk (events and views); a second file adds products to one of them through Marten's append.
        var rows = Enumerable.Range(1, 40).Select(i => $"m{i % 7}@old.example,N-{i % 7},EOS-R5,SN-{i},2019-01-0{1 + i % 9},EE,Photopoint").ToArray();
        await App.ImportThroughCommandLinePath(LegacyFiles.Csv(rows), batchSize: 15);
        var report = await App.ImportLegacy(LegacyFiles.Csv([.. rows, "m3@old.example,N-3,LENS,,,,", "new@old.example,N-9,LENS,,,,"]));
        Assert.Equal((1, 2), (report.LegacyAccountsImported, report.ProductsImported));

        var stored = await ViewRows();
        Assert.Equal(8, stored.Count);
        using (var daemon = await ((DocumentStore)App.Store).BuildProjectionDaemonAsync())
            await daemon.RebuildProjectionAsync<LegacyAccountViewProjection>(TimeSpan.FromMinutes(1), CancellationToken.None);
        // The same documents, byte for byte in their JSON, with the same version and type columns.
        Assert.Equal(stored, await ViewRows());
        var verification = await App.ClientAs(LedgerRoles.Auditor).GetAsync("/api/audit/verification").ReadAs<CpsLedger.Api.Audit.VerificationReport>();
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));

        // Stream rows and event metadata are those of a session's append: versions 1..n, who and which import.
        await using var session = App.Store.QuerySession();
        var events = await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName.StartsWith("legacy_")).ToListAsync();
        Assert.Equal(50, events.Count);
        Assert.All(events.Where(e => e.UserName == "cli-maris"), e => Assert.False(string.IsNullOrEmpty(e.CorrelationId)));
        Assert.Equal(47, events.Count(e => e.UserName == "cli-maris"));
        Assert.Equal(3, events.Count(e => e.UserName == "maris"));
        foreach (var stream in events.GroupBy(e => e.StreamId))
        {
            Assert.Equal(Enumerable.Range(1, stream.Count()).Select(v => (long)v), stream.OrderBy(e => e.Sequence).Select(e => e.Version));
            var state = await session.Events.FetchStreamStateAsync(stream.Key);
            Assert.Equal((stream.LongCount(), typeof(LegacyAccountView)), (state!.Version, state.AggregateType));
        }
    }

    [Fact]
    public async Task A_bulk_start_of_a_stream_that_exists_fails_whole_as_a_stream_collision()
    {
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var existing = LegacyIds.AccountFor(LegacyFiles.Kadri);
        var fresh = Guid.NewGuid();
        var opened = new LegacyAccountImported(fresh, "fresh@old.example", "N-1", DateTimeOffset.UtcNow);
        var clash = new LegacyAccountImported(existing, LegacyFiles.Kadri, LegacyFiles.KadriNumber, DateTimeOffset.UtcNow);

        await using (var session = App.Store.LightweightSession())
        {
            await Assert.ThrowsAsync<Marten.Exceptions.ExistingStreamIdCollisionException>(() => BulkAppend.StartStreamsAsync<LegacyAccountView>(session,
                [new(fresh, [opened], LegacyAccountViewProjection.Fold([opened])), new(existing, [clash], LegacyAccountViewProjection.Fold([clash]))],
                CancellationToken.None));
        }

        await using var query = App.Store.QuerySession();
        Assert.Null(await query.Events.FetchStreamStateAsync(fresh));
        Assert.Null(await query.LoadAsync<LegacyAccountView>(fresh));
    }

    private async Task<List<string>> ViewRows()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select id::text || ' ' || data::text || ' ' || mt_version || ' ' || coalesce(mt_dotnet_type, '') from {App.SchemaName}.mt_doc_legacyaccountview order by id",
            connection);
        var rows = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows.Add(reader.GetString(0));
        return rows;
    }

    private sealed class RoundTrips : IMartenSessionLogger
    {
        private int _count;

        public int Count => _count;

        public void LogSuccess(NpgsqlCommand command) { }

        public void LogSuccess(NpgsqlBatch batch) { }

        public void LogFailure(NpgsqlCommand command, Exception ex) { }

        public void LogFailure(NpgsqlBatch batch, Exception ex) { }

        public void LogFailure(Exception ex, string message) { }

        public void RecordSavedChanges(IDocumentSession session, IChangeSet commit) { }

        public void OnBeforeExecute(NpgsqlCommand command) => Interlocked.Increment(ref _count);

        public void OnBeforeExecute(NpgsqlBatch batch) => Interlocked.Increment(ref _count);
    }
}
