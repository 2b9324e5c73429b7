using System.Net;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using JasperFx;
using Marten;
using Microsoft.Extensions.DependencyInjection;

namespace CpsLedger.Tests.Catalogue;

public sealed class ImportCatalogueTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task The_command_refuses_a_blank_user_with_the_reason_and_imports_nothing()
    {
        var file = Path.Combine(Path.GetTempPath(), $"catalogue-{Guid.NewGuid():N}.csv");
        await File.WriteAllTextAsync(file, "code,name,category,points\nEOS-R8,EOS R8,camera_body,130\n");
        try
        {
            // The user is written on every catalogue event as who imported: a blank one would leave them without an author.
            var (exit, output) = await ServiceProcess.RunCommandAsync(App, App.SchemaName, "catalogue-import", file, "--user", " ");
            Assert.NotEqual(0, exit);
            Assert.Contains("--user must name who imports", output);
            Assert.DoesNotMatch(@"(?m)^\s+at ", output);
            await (await App.ClientAs(LedgerRoles.Support).GetAsync("/api/catalogue/models/EOS-R8")).ShouldBe(HttpStatusCode.NotFound);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Support_imports_a_csv_file_and_every_model_is_in_the_catalogue()
    {
        var result = await App.Import();

        Assert.Equal((5, 5, 0, 0, 0, 1, 0), result.Counts());
        await using var session = App.Store.QuerySession();
        var models = await session.Query<ProductModelView>().OrderBy(m => m.Code).ToListAsync();
        Assert.Equal(["EF-40-STM", "EOS-1DX", "EOS-R5", "EOS-R6-MKII", "PRO-1000"], models.Select(m => m.Code));
        var lens = models[0];
        Assert.Equal(("EF 40mm f/2.8 STM", "lens", 15, false, 1L), (lens.Name, lens.Category, lens.Points, lens.Withdrawn, lens.CatalogueVersion));
        Assert.True(models[1].Withdrawn);
        // One listing per model, plus the withdrawal of the model new to the catalogue that the file lists as withdrawn.
        Assert.Equal(6, await App.EventCount());
    }

    [Fact]
    public async Task Importing_the_same_file_again_changes_nothing_and_stores_no_event()
    {
        await App.Import();
        var events = await App.EventCount();

        var again = await App.Import();

        Assert.Equal((5, 0, 0, 0, 0, 0, 5), again.Counts());
        Assert.Equal(events, await App.EventCount());
    }

    [Fact]
    public async Task A_changed_file_changes_points_descriptions_and_listings_and_leaves_absent_models_alone()
    {
        await App.Import();

        var result = await App.Import("""
            code,name,category,points,status
            eos-r5,EOS R5,camera_body,360,
            EF-40-STM,EF 40mm f/2.8 STM pancake,lens,15,
            PRO-1000,imagePROGRAF PRO-1000,printer,100,withdrawn
            EOS-1DX,EOS-1D X,camera_body,450,listed
            RF-50-F1.8-STM,RF 50mm F1.8 STM,lens,18,
            """);

        Assert.Equal((5, 1, 1, 1, 1, 1, 0), result.Counts());
        await using var session = App.Store.QuerySession();
        var r5 = await session.LoadAsync<ProductModelView>(ProductModelCode.StreamIdFor("EOS-R5"));
        Assert.Equal((360, 2L), (r5!.Points, r5.CatalogueVersion));
        Assert.Equal([340, 360], r5.PointsHistory.Select(p => p.Points));
        var untouched = await session.LoadAsync<ProductModelView>(ProductModelCode.StreamIdFor("EOS-R6-MKII"));
        Assert.Equal((225, false, 1L), (untouched!.Points, untouched.Withdrawn, untouched.CatalogueVersion));
        Assert.True((await session.LoadAsync<ProductModelView>(ProductModelCode.StreamIdFor("PRO-1000")))!.Withdrawn);
        Assert.False((await session.LoadAsync<ProductModelView>(ProductModelCode.StreamIdFor("EOS-1DX")))!.Withdrawn);
    }

    [Fact]
    public async Task A_json_file_imports_like_a_csv_file()
    {
        var result = await App.Import("""
            [
              { "code": "EOS-R5", "name": "EOS R5", "category": "camera_body", "points": 340 },
              { "code": "EF-40-STM", "name": "EF 40mm f/2.8 STM", "category": "lens", "points": 15, "status": "listed" }
            ]
            """, "application/json");

        Assert.Equal((2, 2, 0, 0, 0, 0, 0), result.Counts());
        var again = await App.Import("""[{ "code": "ef-40-stm", "name": "EF 40mm f/2.8 STM", "category": "lens", "points": 15 }]""",
            "application/vnd.catalogue+json");
        Assert.Equal((1, 0, 0, 0, 0, 0, 1), again.Counts());
    }

    [Fact]
    public async Task A_file_with_bad_rows_is_400_naming_every_bad_line_and_imports_nothing()
    {
        var response = await App.ClientAs(LedgerRoles.Support).PostCatalogue("""
            code,name,category,points,status
            EOS-R5,EOS R5,camera_body,340,
            EOS-R6,EOS R6,cameras,225,
            EF-40-STM,EF 40mm f/2.8 STM,lens,fifteen,
            eos-r5,EOS R5 again,camera_body,340,
            """);

        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(CatalogueImport.RejectedTitle, problem.Title);
        Assert.Equal("Problems on 3 lines of the file (all listed under errors). Correct the file and import it again.", problem.Detail);
        Assert.Equal(["line 3", "line 4", "line 5"], problem.Errors.Keys);
        Assert.StartsWith("Category \"cameras\" is not one of", problem.Errors["line 3"][0]);
        Assert.Equal("Points must be a whole number from 0 to 100000, not \"fifteen\".", problem.Errors["line 4"][0]);
        Assert.Equal("Code \"EOS-R5\" is already on line 2; a code may appear only once in a file.", problem.Errors["line 5"][0]);
        Assert.Equal(0, await App.EventCount());
    }

    [Fact]
    public async Task A_bad_json_file_names_the_items()
    {
        var response = await App.ClientAs(LedgerRoles.Support).PostCatalogue("""
            [{ "code": "EOS-R5", "name": "EOS R5", "category": "camera_body", "points": 340 }, { "code": "X", "points": 1 }]
            """, "application/json");

        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["item 2"], problem.Errors.Keys);
        Assert.Equal(0, await App.EventCount());
    }

    [Theory]
    [InlineData("text/csv", "line 2")]
    [InlineData("application/json", "item 1")]
    public async Task A_code_with_a_nul_is_400_naming_its_line_and_imports_nothing(string contentType, string location)
    {
        // A NUL was taken for "no character outside the set" and reached PostgreSQL, which refuses it in JSON: a 500.
        var content = contentType == "text/csv"
            ? "code,name,category,points\nEOS-R5\0,EOS R5,camera_body,340\n"
            : """[{"code":"EOS-R5\u0000","name":"EOS R5","category":"camera_body","points":340}]""";
        var response = await App.ClientAs(LedgerRoles.Support).PostCatalogue(content, contentType);

        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal([location], problem.Errors.Keys);
        Assert.Equal(
            "Code \"EOS-R5<U+0000>\" contains U+0000; a code has only letters, digits, spaces and - _ .", Assert.Single(problem.Errors[location]));
        Assert.Equal(0, await App.EventCount());
    }

    [Theory]
    [InlineData("")]
    [InlineData("# just a comment\n")]
    [InlineData("code,name,category,points\n")]
    public async Task An_empty_file_is_400_for_the_whole_file(string content)
    {
        var response = await App.ClientAs(LedgerRoles.Support).PostCatalogue(content);
        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal("The file cannot be read as a catalogue. Correct the file and import it again.", problem.Detail);
        Assert.True(problem.Errors.ContainsKey("file"));
    }

    [Fact]
    public async Task A_file_in_another_encoding_is_400()
    {
        var content = new ByteArrayContent(System.Text.Encoding.Latin1.GetBytes("code,name,category,points\nA1,Objectif \u00e9tanche,lens,1\n"));
        content.Headers.ContentType = new("text/csv");
        var response = await App.ClientAs(LedgerRoles.Support).PostAsync(CatalogueFiles.ImportsUrl, content);

        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.StartsWith("The file is not UTF-8 text: line 2 has a byte that is not UTF-8 after \"A1,Objectif \"", problem.Errors["file"][0]);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task A_body_that_is_neither_csv_nor_json_is_415(string contentType)
    {
        var response = await App.ClientAs(LedgerRoles.Support).PostCatalogue(CatalogueFiles.Small, contentType);
        await response.ShouldBeProblem(HttpStatusCode.UnsupportedMediaType);
        Assert.Equal(0, await App.EventCount());
    }

    [Theory]
    [InlineData(LedgerRoles.Member)]
    [InlineData(LedgerRoles.Portal)]
    [InlineData(LedgerRoles.Auditor)]
    [InlineData(LedgerRoles.Finance)]
    public async Task Only_support_may_import(string role)
    {
        var response = await App.ClientAs(role, Guid.NewGuid()).PostCatalogue(CatalogueFiles.Small);
        await response.ShouldBeProblem(HttpStatusCode.Forbidden);
        Assert.Equal(0, await App.EventCount());
    }

    [Fact]
    public async Task Without_a_token_it_is_401()
    {
        var response = await App.Anonymous().PostCatalogue(CatalogueFiles.Small);
        await response.ShouldBeProblem(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task The_events_record_who_imported_and_which_request()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, CatalogueFiles.ImportsUrl)
        {
            Content = new StringContent(CatalogueFiles.Small, System.Text.Encoding.UTF8, "text/csv"),
        };
        request.Headers.Add("X-Correlation-Id", "catalogue-import-1");
        await (await App.ClientAs(LedgerRoles.Support, subject: "maris").SendAsync(request)).ShouldBe(HttpStatusCode.OK);

        var events = await App.CatalogueEvents();
        Assert.Equal(6, events.Count);
        Assert.All(events, e => Assert.Equal(("maris", "catalogue-import-1"), (e.UserName, e.CorrelationId)));
    }

    [Fact]
    public async Task A_retry_with_the_same_idempotency_key_answers_the_first_result_without_a_second_import()
    {
        var client = App.ClientAs(LedgerRoles.Support);
        HttpRequestMessage Request()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, CatalogueFiles.ImportsUrl)
            {
                Content = new StringContent(CatalogueFiles.Small, System.Text.Encoding.UTF8, "text/csv"),
            };
            request.Headers.Add("Idempotency-Key", "import-2026-11-25");
            return request;
        }

        var first = await (await client.SendAsync(Request())).ShouldBe(HttpStatusCode.OK);
        var retry = await client.SendAsync(Request());

        Assert.Equal(first.GetRawText(), (await retry.ShouldBe(HttpStatusCode.OK)).GetRawText());
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(6, await App.EventCount());
    }

    [Fact]
    public async Task Concurrent_imports_of_one_new_file_list_each_model_once_and_the_losers_get_409_never_500()
    {
        var client = App.ClientAs(LedgerRoles.Support);
        for (var round = 0; round < 3; round++)
        {
            var file = $"code,name,category,points\nRACE-{round},Race {round},lens,{round}\nRACE-{round}-B,Race {round} B,lens,1\n";
            var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.PostCatalogue(file)));

            Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, r.StatusCode.ToString()));
            Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.OK);
            foreach (var conflict in responses.Where(r => r.StatusCode == HttpStatusCode.Conflict))
                await conflict.ShouldBeProblem(HttpStatusCode.Conflict);
        }

        Assert.Equal(6, await App.EventCount());
    }

    // ---- the shared import path (the API, the catalogue-import command and the demo loader all go through it) ----

    private CatalogueImporter Importer => App.Services.GetRequiredService<CatalogueImporter>();

    private static CatalogueFileReading Read(string csv) => CatalogueFile.Read(csv, CatalogueFileFormat.Csv);

    [Fact]
    public async Task Two_imports_changing_the_same_models_in_opposite_orders_commit_one_after_the_other_without_a_deadlock()
    {
        static string File(int points, params string[] codes) =>
            "code,name,category,points\n" + string.Concat(codes.Select(code => $"{code},{code},lens,{points}\n"));
        await Importer.ImportAsync(App.Store, Read(File(10, "A", "B", "C", "D")), "cli-maris", CancellationToken.None);
        var (a, b, c, d) = (ProductModelCode.StreamIdFor("A"), ProductModelCode.StreamIdFor("B"), ProductModelCode.StreamIdFor("C"),
            ProductModelCode.StreamIdFor("D"));

        // Two files changing the points of A, C, B and of B, D, A (in the files' order). Each commit appends to its models' streams in
        // turn, locking each stream's next version and row and its hash chain (a catalogue event names no account: the chain is the
        // model's stream). Holding C's and D's chains stops each commit just after its first model, so that each runs into the
        // other's only once both have locked one (A and B): PostgreSQL broke that deadlock (40P01) after deadlock_timeout. In the
        // models' order, one commit waits for the other (or for the holder) and fails the version check of a model both change.
        var (first, second) = (new Commits(), new Commits());
        await using var holder = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await using var held = await ChainLocks.HoldChains(holder, c, d);
        var importing = new[] { Import(File(20, "A", "C", "B"), first), Import(File(30, "B", "D", "A"), second) };
        await App.UntilCommitsWait(2);
        await held.CommitAsync();

        var failures = (await Task.WhenAll(importing)).OfType<Exception>().ToList();
        Assert.DoesNotContain(first.Failures.Concat(second.Failures).Concat(failures), ChainLocks.IsDeadlock);
        Assert.IsAssignableFrom<ConcurrencyException>(Assert.Single(failures));
        Assert.Equal(4 + 3, await App.EventCount());
        // Each commit appended to the streams in the models' order, whatever order the files gave.
        Assert.Equal(new[] { a, b, c }.Order(), first.Appended.First(s => s.Length > 0));
        Assert.Equal(new[] { a, b, d }.Order(), second.Appended.First(s => s.Length > 0));

        async Task<Exception?> Import(string csv, Commits commits)
        {
            await using var session = App.Store.LightweightSession();
            await Importer.StageAsync(session, Read(csv), CancellationToken.None);
            session.Logger = commits;
            return await ChainLocks.FailureOf(() => session.SaveChangesAsync());
        }
    }

    [Fact]
    public async Task The_command_line_path_imports_in_one_commit_and_describes_the_result()
    {
        var outcome = await Importer.ImportAsync(App.Store, Read(CatalogueFiles.Small), "cli-maris", CancellationToken.None);

        Assert.Equal(new CatalogueImportResult(5, 5, 0, 0, 0, 1, 0), outcome.Result);
        Assert.Equal("Imported /tmp/c.csv: 5 models: 5 listed, 0 relisted, 0 points changed, 0 description changed, 1 withdrawn, 0 unchanged.",
            CatalogueImportCommand.Describe("/tmp/c.csv", outcome));
        var events = await App.CatalogueEvents();
        Assert.Equal(6, events.Count);
        Assert.All(events, e => Assert.Equal("cli-maris", e.UserName));
        Assert.Single(events.Select(e => e.CorrelationId).Distinct());
    }

    [Fact]
    public async Task The_command_line_path_lists_every_problem_of_a_rejected_file_and_stores_nothing()
    {
        var outcome = await Importer.ImportAsync(App.Store, Read("code,name,category,points\nA1,,lens,1\nA2,Two,lens,-2\n"), "cli", CancellationToken.None);

        Assert.True(outcome.Rejected);
        Assert.Equal("""
            Catalogue file rejected: nothing was imported.
            /tmp/c.csv:
              line 2: Name is missing.
              line 3: Points must be a whole number from 0 to 100000, not "-2".
            """.ReplaceLineEndings("\n"), CatalogueImportCommand.Describe("/tmp/c.csv", outcome));
        Assert.Equal(0, await App.EventCount());
    }

    [Fact]
    public async Task A_model_changed_between_reading_and_committing_makes_the_whole_import_fail()
    {
        await App.Import();
        await using var session = App.Store.LightweightSession();
        var outcome = await Importer.StageAsync(session,
            Read("code,name,category,points\nEOS-R5,EOS R5,camera_body,360\nNEW-1,New,lens,1\n"), CancellationToken.None);
        Assert.Equal(1, outcome.Result!.PointsChanged);

        // Someone else changes EOS-R5 before this import commits.
        await App.Import(CatalogueFiles.Small.Replace("EOS-R5,EOS R5,camera_body,340", "EOS-R5,EOS R5,camera_body,350"));
        var before = await App.EventCount();

        await Assert.ThrowsAnyAsync<ConcurrencyException>(() => session.SaveChangesAsync());
        Assert.Equal(before, await App.EventCount());
    }

    [Fact]
    public async Task Two_imports_listing_one_new_code_at_once_give_one_listing_and_a_conflict()
    {
        var file = Read("code,name,category,points\nNEW-1,New,lens,1\n");
        await using var first = App.Store.LightweightSession();
        await using var second = App.Store.LightweightSession();
        await Importer.StageAsync(first, file, CancellationToken.None);
        await Importer.StageAsync(second, file, CancellationToken.None);

        await first.SaveChangesAsync();
        var failure = await Record.ExceptionAsync(() => second.SaveChangesAsync());

        Assert.True(failure is Marten.Exceptions.ExistingStreamIdCollisionException or ConcurrencyException, failure?.ToString());
        Assert.Equal(1, await App.EventCount());
    }
}
