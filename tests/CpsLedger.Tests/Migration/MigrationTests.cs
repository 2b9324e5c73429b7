using System.Net;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using JasperFx;
using Marten;

namespace CpsLedger.Tests.Migration;

public sealed class MigrationTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Support => App.ClientAs(LedgerRoles.Support, subject: "maris");

    private async Task ListModels()
    {
        await App.ListModel(Products.Products.R5, "EOS R5", "camera_body", 235);
        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
    }

    private async Task<List<ProductView>> ProductsOf(Guid account)
    {
        await using var session = App.Store.QuerySession();
        return [.. await session.Query<ProductView>().Where(p => p.AccountId == account).ToListAsync()];
    }

    private static HttpRequestMessage Unlink(Guid account, string email, string? reason) =>
        new(HttpMethod.Delete, $"/api/accounts/{account}/old-cps-emails/{Uri.EscapeDataString(email)}" +
                               (reason is null ? "?ticketReference=CPS-SUP-5" : $"?reason={Uri.EscapeDataString(reason)}&ticketReference=CPS-SUP-5"));

    // ---- the guide's three situations --------------------------------------------------------------------------------

    [Fact]
    public async Task An_old_account_without_products_says_only_its_membership_number_can_be_migrated()
    {
        await App.ImportLegacy(LegacyFiles.Csv("juhan@old.example,CPS-OLD-0815,,,,,"));
        var account = await App.OpenAccount(oldEmails: ["juhan@old.example"]);
        var member = App.Member(account);
        await App.VerifyOldEmail(account, "juhan@old.example");

        var status = await member.MigrationStatus(account);

        Assert.Equal((true, 0), (status.Available, status.ProductsToMigrate));
        Assert.Equal("Only the old membership number from juhan@old.example can be migrated: there are no products to migrate.", status.Explanation);
    }

    [Fact]
    public async Task Old_email_given_the_button_shows_migration_moves_every_product_and_complete_ones_get_green_ticks()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: ["Kadri.Tamm@Old.Example"]);
        var member = App.Member(account);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);

        var status = await member.MigrationStatus(account);
        Assert.True(status.Available);
        Assert.Null(status.Reason);
        Assert.Equal(3, status.ProductsToMigrate);
        Assert.Equal(LegacyFiles.KadriNumber, status.LegacyAccounts[0].OldMembershipNumber);

        var response = await member.PostAsync(LegacyFiles.MigrationUrl(account), null);
        var result = await response.ReadAs<MigrationResult>();

        Assert.Equal((3, 1, 2, 235, 0), (result.Migrated, result.MigratedWithGreenTick, result.MigratedAwaitingDetails, result.PointsAllocated,
            result.NotMigrated));
        Assert.Equal([LegacyFiles.KadriNumber], result.MembershipNumbersRecorded);
        Assert.Equal(MigrationUnavailableReason.EverythingMigrated, result.Status.Reason);
        Snapshots.MatchJson(await response.Content.ReadAsStringAsync());

        var products = await ProductsOf(account);
        Assert.Equal(3, products.Count);
        Assert.All(products, p => Assert.Equal(RegistrationSource.Migration, p.Source));
        var camera = Assert.Single(products, p => p.GreenTick);
        Assert.Equal(("0123 4567", 235), (camera.SerialNumber, camera.Points));
        Assert.Equal([MandatoryDetail.Dealer], products.Single(p => p.ModelCode == Products.Products.Lens).MissingDetails);
        Assert.Equal(235, (await member.Summary(account)).PointsTotal);

        var after = await member.MigrationStatus(account);
        Assert.Equal((false, MigrationUnavailableReason.EverythingMigrated, 0), (after.Available, after.Reason, after.ProductsToMigrate));

        // The history lists the migration's events on the old account's stream too: every event on the account's hash chain.
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        var history = await auditor.GetAsync($"/api/accounts/{account}/history?pageSize=500").ReadAs<Api.Audit.HistoryPage>();
        var migrated = history.Items.Where(e => e.Type == "legacy_product_migrated").ToList();
        Assert.Equal(3, migrated.Count);
        Assert.All(migrated, e => Assert.Equal((Api.Audit.AccountStreamKind.OldCpsAccount, LegacyIds.AccountFor(LegacyFiles.Kadri)), (e.Stream, e.StreamId)));
        // Each names the product it moved, as its registration recorded it, also on a page without the registrations' events.
        var onlyMigrated = await auditor.GetAsync($"/api/accounts/{account}/history?types=legacy_product_migrated").ReadAs<Api.Audit.HistoryPage>();
        Assert.Equal(3, onlyMigrated.Total);
        foreach (var page in new[] { migrated, onlyMigrated.Items.ToList() })
            Assert.Equal(
            [
                "Old CPS product EF 40mm f/2.8 STM (EF-40-STM), serial LENS-1, migrated into the account as registration",
                "Old CPS product EOS R5 (EOS-R5), no serial number, migrated into the account as registration",
                "Old CPS product EOS R5 (EOS-R5), serial 0123 4567, migrated into the account as registration",
            ], page.Select(e => e.Description[..e.Description.LastIndexOf(' ')]).Order(StringComparer.Ordinal));
        var chain = await auditor.GetAsync($"/api/accounts/{account}/hash-chain").ReadAs<Api.Audit.AccountChainStatus>();
        Assert.Equal(chain.Chains.Single(c => c.ChainId == account).Links, history.Total);

        // A second click migrates nothing and says so.
        var again = await member.Migrate(account);
        Assert.Equal((0, 3), (again.Migrated, again.AlreadyMigrated));
        Assert.Equal(3, (await ProductsOf(account)).Count);
        Assert.Equal(1, await App.CountEvents("points_allocated"));
    }

    [Fact]
    public async Task Each_explanation_line_of_a_migrated_product_says_it_came_from_the_old_cps_account()
    {
        // Support explains the total on the phone from the explanation alone: a migrated product's line says so, and from which old
        // account, not only the products table.
        var account = await KadriReadyToMigrate();
        var member = App.Member(account);
        await member.Migrate(account);
        var lens = (await ProductsOf(account)).Single(p => p.ModelCode == Products.Products.Lens);
        await (await member.PatchJson($"{Products.Products.ProductsUrl(account)}/{lens.Id}", new { dealer = "Photopoint" })).ShouldBe(HttpStatusCode.OK);
        await member.Register(account, Products.Products.Complete("NEW-1"));

        foreach (var reader in new[] { member, Support })
        {
            var lines = (await reader.Explanation(account)).Lines;
            Assert.Equal([true, true, false], lines.Select(l => l.Migrated));
            Assert.Equal([LegacyFiles.Kadri, LegacyFiles.Kadri, null], lines.Select(l => l.MigratedFromOldEmail));
            Assert.All(lines.Take(2), l => Assert.EndsWith($" Migrated from the old CPS account {LegacyFiles.Kadri}.", l.InWords));
            Assert.DoesNotContain("igrated", lines[2].InWords);
        }

        // Time travel's explanation says it too.
        var now = await App.ClientAs(LedgerRoles.Auditor)
            .GetAsync($"/api/accounts/{account}/as-of?timestamp={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"))}")
            .ReadAs<Api.Audit.AccountAsOf>();
        Assert.Equal([LegacyFiles.Kadri, LegacyFiles.Kadri, null], now.Explanation.Lines.Select(l => l.MigratedFromOldEmail));

        // The old CPS accounts are read by their ids (those of the account's old e-mails), never searched for among every old
        // account's products: the table holds every old CPS account there was, and the explanation is the portal's read (as My
        // Products is, whose lines say the same).
        foreach (var url in new[]
                 {
                     $"/api/accounts/{account}/points-explanation", $"/api/accounts/{account}/as-of?sequence={now.LastSequenceIncluded}",
                     Products.Products.ProductsUrl(account),
                 })
        {
            var reads = (await SentStatements.OfGet(Support, url, length: 100_000)).SelectMany(sql => sql.Split(';'))
                .Where(sql => sql.Contains("mt_doc_legacyaccountview")).ToList();
            Assert.NotEmpty(reads);
            Assert.All(reads, sql => Assert.Matches(@"where (d\.)?id = ANY\(\$\d+\)\s*$", sql));
        }
    }

    [Fact]
    public async Task A_products_own_points_lines_say_what_its_lines_in_the_explanation_say_migrated_or_registered()
    {
        // My Products and the product read showed the same lines without migrated, the old e-mail and the words: support reading
        // a product's page and the member reading the explanation would each see half the story.
        var account = await KadriReadyToMigrate();
        var member = App.Member(account);
        await member.Migrate(account);
        await member.Register(account, Products.Products.Complete("NEW-1"));

        foreach (var reader in new[] { member, Support })
        {
            var explained = (await reader.Explanation(account)).Lines.ToLookup(l => l.RegistrationId);
            var listed = await reader.GetAsync(Products.Products.ProductsUrl(account)).ReadAs<List<ProductView>>();
            Assert.Contains(listed, p => p.Source == RegistrationSource.Migration && p.PointsLines.Count > 0);
            Assert.Contains(listed, p => p.Source == RegistrationSource.Registration && p.PointsLines.Count > 0);
            foreach (var product in listed)
            {
                var read = await reader.GetAsync($"{Products.Products.ProductsUrl(account)}/{product.Id}").ReadAs<ProductView>();
                foreach (var lines in new[] { product.PointsLines, read.PointsLines })
                {
                    Assert.Equal(explained[product.Id].OrderBy(l => (l.At, l.EventId)), lines.OrderBy(l => (l.At, l.EventId)));
                    Assert.All(lines, l => Assert.NotNull(l.InWords));
                    Assert.All(lines, l => Assert.Equal(product.Source == RegistrationSource.Migration, l.Migrated));
                    Assert.All(lines, l => Assert.Equal(product.Source == RegistrationSource.Migration ? LegacyFiles.Kadri : null, l.MigratedFromOldEmail));
                }
            }
        }
    }

    [Fact]
    public async Task Old_email_not_given_no_button_and_registering_the_products_again_works()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount();
        var member = App.Member(account);

        var status = await member.MigrationStatus(account);
        Assert.Equal((false, MigrationUnavailableReason.NoOldEmail), (status.Available, status.Reason));
        Assert.Contains("ask CPS support to link", status.Explanation);
        var refused = await member.PostAsync(LegacyFiles.MigrationUrl(account), null).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("no_old_email", refused.Extension("reason"));

        var registered = await member.Register(account, Products.Products.Complete());
        Assert.True(registered.GreenTick);

        // An old e-mail no old account has: no button either, and the reason says which.
        var other = await App.OpenAccount("other@example.ee", ["never.imported@old.example"]);
        await App.VerifyOldEmail(other, "never.imported@old.example");
        var otherStatus = await App.Member(other).MigrationStatus(other);
        Assert.Equal(MigrationUnavailableReason.NoLegacyAccount, otherStatus.Reason);
        Assert.Equal(["never.imported@old.example"], otherStatus.OldEmailsWithoutLegacyAccount);
    }

    [Fact]
    public async Task Support_links_the_old_email_with_a_reason_the_button_appears_and_what_was_registered_again_is_not_duplicated()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        // Before support linked the e-mail, the member registered the camera again by hand.
        var byHand = await member.Register(account, Products.Products.Complete("01234567"));

        await (await member.PostJson($"/api/accounts/{account}/old-cps-emails", new { email = LegacyFiles.Kadri, reason = "mine", ticketReference = "CPS-SUP-1" }))
            .ShouldBe(HttpStatusCode.Forbidden);
        var linked = await Support.PostJson($"/api/accounts/{account}/old-cps-emails",
            new { email = " KADRI.TAMM@old.example", reason = "Ticket 4711: invoice of the old account shown", ticketReference = "CPS-SUP-1" }).ReadAs<OldCpsEmails>();
        Assert.Equal([LegacyFiles.Kadri], linked.Emails);

        await using (var session = App.Store.QuerySession())
        {
            var events = await session.Events.FetchStreamAsync(account);
            var link = Assert.IsType<OldCpsEmailLinked>(events[^2].Data);
            Assert.Equal((LegacyFiles.Kadri, "Ticket 4711: invoice of the old account shown"), (link.Email, link.Reason));
            // Linking by support is the account's proof of ownership, and the history says so.
            var verified = Assert.IsType<OldCpsEmailVerified>(events[^1].Data);
            Assert.Equal((OldCpsEmailVerificationMethod.SupportLink, link.Reason), (verified.Method, verified.Reason));
            Assert.All(events.TakeLast(2), e => Assert.Equal("maris", e.UserName));
        }

        var status = await member.MigrationStatus(account);
        Assert.True(status.Available);

        var result = await member.Migrate(account);
        Assert.Equal((2, 1), (result.Migrated, result.AlreadyRegistered));
        Assert.Equal(byHand.RegistrationId, result.AlreadyRegisteredProducts[0].RegistrationId);
        Assert.Equal(3, (await ProductsOf(account)).Count);
        Assert.Equal(235, (await member.Summary(account)).PointsTotal);
        // Linking it again changes nothing.
        await (await Support.PostJson($"/api/accounts/{account}/old-cps-emails", new { email = LegacyFiles.Kadri, reason = "again", ticketReference = "CPS-SUP-1" }))
            .ShouldBe(HttpStatusCode.OK);
        Assert.Single(await App.Store.QuerySession().Events.FetchStreamAsync(account), e => e.Data is OldCpsEmailLinked);
    }

    // The migration matches a serial as "one serial, one owner" compares it (no whitespace, any case), so the serial the account
    // registered can read differently from the old file's, or have been added later by an amendment.
    [Theory]
    [InlineData("typed")]
    [InlineData("amended")]
    public async Task The_history_names_a_product_the_account_had_registered_by_the_old_files_serial_and_the_registrations(string how)
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount); // EOS-R5 "0123 4567"
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        var member = App.Member(account);
        var byHand = await member.Register(account, how == "typed"
            ? Products.Products.Complete("01234567")
            : new { modelCode = Products.Products.R5, purchaseDate = "2024-03-01", countryOfPurchase = "EE", dealer = "Photopoint" });
        if (how == "amended")
            await (await member.PatchJson(byHand.Url, new { serialNumber = "01234567" })).ShouldBe(HttpStatusCode.OK);

        var result = await member.Migrate(account);
        var linked = Assert.Single(result.AlreadyRegisteredProducts);
        Assert.Equal(("0123 4567", byHand.RegistrationId), (linked.SerialNumber, linked.RegistrationId));

        var history = await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types=legacy_product_migrated")
            .ReadAs<Api.Audit.HistoryPage>();
        var entry = Assert.Single(history.Items, e => e.Description.Contains("linked to the registration"));
        Assert.Equal($"Old CPS product EOS R5 (EOS-R5), serial 0123 4567, linked to the registration the account had made already " +
                     $"({byHand.RegistrationId}, registered as serial 01234567)", entry.Description);
        // Migrated fresh, the registration records the old file's serial: said once.
        Assert.Contains(history.Items, e => e.Description.StartsWith("Old CPS product EF 40mm f/2.8 STM (EF-40-STM), serial LENS-1, migrated into " +
                                                                     "the account as registration ", StringComparison.Ordinal) && !e.Description.Contains("registered as"));
    }

    // ---- failures and races -----------------------------------------------------------------------------------------

    private static string ManyProducts(int count, string email = "many@old.example") => LegacyFiles.Csv(Enumerable.Range(1, count)
        .Select(i => i % 2 == 0
            ? $"{email},M-1,{Products.Products.R5},SN-{i},2019-01-01,EE,Photopoint"
            : $"{email},M-1,{Products.Products.Lens},SN-{i},,,")
        .ToArray());

    [Fact]
    public async Task A_crash_after_some_products_then_a_retry_loses_nothing_and_duplicates_nothing()
    {
        await ListModels();
        await App.ImportLegacy(ManyProducts(7));
        var account = await App.OpenAccount(oldEmails: ["many@old.example"]);
        await App.VerifyOldEmail(account, "many@old.example");
        var member = App.Member(account);

        App.Seam<MigrationTestSeam>().BatchSize = 2;
        App.Seam<MigrationTestSeam>().AfterBatchCommitted = batch => batch == 2 ? throw new InvalidOperationException("Simulated crash") : Task.CompletedTask;
        try
        {
            var crashing = App.UncheckedClientAs(LedgerRoles.Member, account, "kadri");
            await (await crashing.PostAsync(LegacyFiles.MigrationUrl(account), null)).ShouldBe(HttpStatusCode.InternalServerError);
            Assert.Equal(4, (await ProductsOf(account)).Count);
            Assert.Equal(3, (await member.MigrationStatus(account)).ProductsToMigrate);

            App.Seam<MigrationTestSeam>().AfterBatchCommitted = null;
            var retry = await member.Migrate(account);

            Assert.Equal((3, 4), (retry.Migrated, retry.AlreadyMigrated));
        }
        finally
        {
            App.Seam<MigrationTestSeam>().BatchSize = null;
            App.Seam<MigrationTestSeam>().AfterBatchCommitted = null;
        }

        var products = await ProductsOf(account);
        Assert.Equal(Enumerable.Range(1, 7).Select(i => $"SN-{i}"), products.Select(p => p.SerialNumber!).Order());
        Assert.Equal(3, await App.CountEvents("points_allocated"));
        Assert.Equal(3 * 235, (await member.Summary(account)).PointsTotal);
        Assert.Equal(MigrationUnavailableReason.EverythingMigrated, (await member.MigrationStatus(account)).Reason);
    }

    [Fact]
    public async Task Concurrent_migrate_calls_have_one_effect()
    {
        await ListModels();
        await App.ImportLegacy(ManyProducts(20));
        var account = await App.OpenAccount(oldEmails: ["many@old.example"]);
        await App.VerifyOldEmail(account, "many@old.example");
        // Support migrates on the member's behalf with its reason and ticket; the others send no body.
        (HttpClient Client, object? Body)[] clients =
        [
            (App.Member(account), null), (App.Member(account), null), (App.ClientAs(LedgerRoles.Portal), null),
            (App.ClientAs(LedgerRoles.Support), Tests.Support.OnBehalf.BySupport(new { })),
        ];

        App.Seam<MigrationTestSeam>().BatchSize = 3;
        HttpResponseMessage[] responses;
        try
        {
            responses = await Task.WhenAll(clients.Select(c => c.Body is null
                ? c.Client.PostAsync(LegacyFiles.MigrationUrl(account), null)
                : c.Client.PostJson(LegacyFiles.MigrationUrl(account), c.Body)));
        }
        finally
        {
            App.Seam<MigrationTestSeam>().BatchSize = null;
        }

        // Never a 500; a caller that kept losing races gets 409 and may simply migrate again.
        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, r.StatusCode.ToString()));
        var migrated = 0;
        foreach (var response in responses.Where(r => r.StatusCode == HttpStatusCode.OK))
            migrated += (await response.ReadAs<MigrationResult>()).Migrated;
        if (responses.All(r => r.StatusCode == HttpStatusCode.OK))
            Assert.Equal(20, migrated);
        var last = await App.Member(account).Migrate(account);
        Assert.Equal(20, migrated + last.Migrated);

        var products = await ProductsOf(account);
        Assert.Equal(20, products.Count);
        Assert.Equal(20, products.Select(p => p.SerialNumber).Distinct().Count());
        Assert.Equal(10, await App.CountEvents("points_allocated"));
        Assert.Equal(20, await App.CountEvents("legacy_product_migrated"));
        Assert.Equal(1, await App.CountEvents("legacy_membership_number_recorded"));
    }

    [Fact]
    public async Task An_import_copying_many_new_old_accounts_and_adding_to_one_being_migrated_meets_no_deadlock()
    {
        var account = await KadriReadyToMigrate();
        var member = App.Member(account);
        await member.Migrate(account);
        string Kadris(string serial) => $"{LegacyFiles.Kadri},{LegacyFiles.KadriNumber},EOS-R5,{serial},2019-03-01,EE,Photopoint";
        await App.ImportLegacy(LegacyFiles.Csv(Kadris("P2")));

        // The migration of P2 inserts its event on Kadri's old account and stops before linking it: its hash chain (the account's:
        // a migrated product names it) is held. Then an import copies 65 new old accounts, more than the 64 chains a statement locks
        // one by one, so it takes the chain's table lock, which stops every other chain writer at its next link; and it adds P3 to
        // Kadri's old account, whose next version the migration holds. In one transaction the import waited for the migration while
        // holding the table lock the migration then waited for, and PostgreSQL broke that deadlock (40P01) after deadlock_timeout.
        // The copy commits first on its own: the migration goes on, and the import's append fails its version check.
        var logs = App.Logs.Mark();
        var commits = new Commits();
        await using var holder = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await using var held = await ChainLocks.HoldChains(holder, account);
        var migrating = member.Migrate(account);
        await App.UntilCommitsWait(1);
        var newcomers = Enumerable.Range(1, 65).Select(i => $"new{i}@old.example,N-{i},EOS-R5,SN-{i},2019-01-01,EE,Photopoint");
        var importing = Import(LegacyFiles.Csv([.. newcomers, Kadris("P3")]));
        await App.UntilCommitsWait(2);
        await held.CommitAsync();

        var (migrated, failure) = (await migrating, await importing);
        Assert.DoesNotContain(commits.Failures.Concat(failure is null ? [] : [failure]), ChainLocks.IsDeadlock);
        Assert.Empty(App.Logs.DeadlocksSince(logs));
        Assert.Equal(1, migrated.Migrated);
        Assert.IsAssignableFrom<ConcurrencyException>(failure);
        // The new old accounts were committed; importing again adds P3.
        Assert.Equal(66, (await App.LegacyAccounts()).Count);
        var (again, _) = await App.ImportThroughCommandLinePath(LegacyFiles.Csv([.. newcomers, Kadris("P3")]));
        Assert.Equal((0, 1), (again.LegacyAccountsImported, again.ProductsImported));

        Task<Exception?> Import(string csv) => ChainLocks.FailureOf(() => App.ImportLegacyFile(csv, commits));
    }

    private async Task<Guid> KadriReadyToMigrate()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        return account;
    }

    // Between a batch's read and its commit, support links another old e-mail: the account's version moves, so the batch's commit
    // (which asserts the version it read, a plain read when it commits) fails.
    private Func<int, Task> LinkingMeanwhile(Guid account, List<int> attempts, Func<int, bool> when) => async attempt =>
    {
        attempts.Add(attempt);
        if (when(attempt))
            await (await Support.PostJson($"/api/accounts/{account}/old-cps-emails",
                new { email = $"meanwhile-{attempt}@old.example", reason = "Ticket 4712", ticketReference = "CPS-SUP-1" })).ShouldBe(HttpStatusCode.OK);
    };

    [Fact]
    public async Task A_batch_that_loses_a_race_is_retried_by_wolverine_from_a_fresh_read()
    {
        var account = await KadriReadyToMigrate();
        var attempts = new List<int>();
        App.Seam<MigrationTestSeam>().BeforeBatchCommits = LinkingMeanwhile(account, attempts, attempt => attempt == 1);
        MigrationResult result;
        try
        {
            result = await App.Member(account).Migrate(account);
        }
        finally
        {
            App.Seam<MigrationTestSeam>().BeforeBatchCommits = null;
        }

        // The batch is a message invoked inline (IMessageBus.InvokeAsync): Wolverine applied its chain's retry policy, counting
        // the attempts on the envelope, and the second attempt read the account again and committed.
        Assert.Equal([1, 2], attempts);
        Assert.Equal((3, 0), (result.Migrated, result.NotMigrated));
        Assert.Equal(3, (await ProductsOf(account)).Count);
        Assert.Equal(3, await App.CountEvents("legacy_product_migrated"));
    }

    [Fact]
    public async Task A_batch_that_keeps_losing_races_stops_after_six_attempts_with_409_and_nothing_half_done()
    {
        var account = await KadriReadyToMigrate();
        var attempts = new List<int>();
        App.Seam<MigrationTestSeam>().BeforeBatchCommits = LinkingMeanwhile(account, attempts, _ => true);
        try
        {
            var refused = await App.Member(account).PostAsync(LegacyFiles.MigrationUrl(account), null).ReadProblem(HttpStatusCode.Conflict);
            Assert.Equal("Concurrent change", refused.Title);
        }
        finally
        {
            App.Seam<MigrationTestSeam>().BeforeBatchCommits = null;
        }

        // One attempt and the five retries the handler chain declares (MigrationRetries), then the exception reached the endpoint.
        Assert.Equal([1, 2, 3, 4, 5, 6], attempts);
        Assert.Empty(await ProductsOf(account));
        Assert.Equal(0, await App.CountEvents("legacy_product_migrated"));
        // The step before the batches committed: the old membership number is in the history.
        Assert.Equal(1, await App.CountEvents("legacy_membership_number_recorded"));
    }

    [Fact]
    public async Task A_serial_owned_by_another_account_is_a_conflict_the_rest_migrates_and_it_follows_once_freed()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var buyer = await App.OpenAccount("buyer@example.ee");
        var sold = await App.Member(buyer).Register(buyer, Products.Products.Complete("0123-4567".Replace("-", " ")));
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var member = App.Member(account);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);

        var result = await member.Migrate(account);

        Assert.Equal((2, 1), (result.Migrated, result.NotMigrated));
        var conflict = result.NotMigratedProducts[0];
        Assert.Equal((NotMigratedReason.SerialOwnedByAnotherAccount, "0123 4567"), (conflict.Reason, conflict.SerialNumber));
        Assert.DoesNotContain("buyer", conflict.Detail);
        // The conflict waits: MIGRATE PRODUCTS is not offered for it (until 2026-12-07 it was, and moved nothing), and the product
        // says why.
        var status = await member.MigrationStatus(account);
        Assert.Equal((false, MigrationUnavailableReason.ProductsWaiting, 1), (status.Available, status.Reason, status.ProductsToMigrate));
        Assert.Equal(NotMigratedReason.SerialOwnedByAnotherAccount,
            Assert.Single(status.LegacyAccounts.Single().Products, p => p.WaitingReason is not null).WaitingReason);

        await (await App.Member(buyer).PostJson($"{sold.Url}/deregistration", new { reason = "registered_in_error" }))
            .ShouldBe(HttpStatusCode.OK);
        Assert.True((await member.MigrationStatus(account)).Available);
        var later = await member.Migrate(account);
        Assert.Equal((1, 2, 235), (later.Migrated, later.AlreadyMigrated, later.PointsAllocated));
    }

    [Fact]
    public async Task An_unknown_model_waits_for_the_catalogue_and_a_withdrawn_one_migrates_with_its_points()
    {
        await App.ListModel(Products.Products.R5, "EOS R5", "camera_body", 235);
        await App.WithdrawModel(Products.Products.R5);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var member = App.Member(account);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);

        // Before: the status says what will move and what waits, and why.
        var before = await member.MigrationStatus(account);
        Assert.Equal((true, 3), (before.Available, before.ProductsToMigrate));
        Assert.StartsWith($"2 products from {LegacyFiles.Kadri} can be migrated, with the old membership number. 1 product waits", before.Explanation);
        var lens = Assert.Single(before.LegacyAccounts.Single().Products, p => p.WaitingReason is not null);
        Assert.Equal((Products.Products.Lens, NotMigratedReason.UnknownModel), (lens.ModelCode, lens.WaitingReason));
        Assert.Contains("the product migrates once the model is listed", lens.WaitingDetail);

        var result = await member.Migrate(account);
        Assert.Equal((2, 235, 1), (result.Migrated, result.PointsAllocated, result.NotMigrated));
        Assert.Equal(NotMigratedReason.UnknownModel, result.NotMigratedProducts[0].Reason);

        // What is left waits: MIGRATE PRODUCTS is not offered (it was, and each press moved nothing), and the status says why.
        var waiting = await member.MigrationStatus(account);
        Assert.Equal((false, MigrationUnavailableReason.ProductsWaiting, 1), (waiting.Available, waiting.Reason, waiting.ProductsToMigrate));
        Assert.Equal("Nothing can be migrated now. 1 product waits: the product says why, and it migrates once that changes.", waiting.Explanation);

        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        Assert.True((await member.MigrationStatus(account)).Available);
        var later = await member.Migrate(account);
        Assert.Equal(1, later.Migrated);
        Assert.Equal(3, (await ProductsOf(account)).Count);
    }

    [Fact]
    public async Task The_old_membership_number_stays_in_the_history_and_joining_later_gives_a_new_one()
    {
        await App.ListModel("M-500", "Model 500", "cinema_camera", 500);
        await App.ImportLegacy(LegacyFiles.Csv($"{LegacyFiles.Kadri},{LegacyFiles.KadriNumber},M-500,C-1,2020-02-02,EE,Photopoint"));
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var member = App.Member(account);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);

        // The migration's points are reviewed by the invitation policy (a forwarded event): tracked until it is handled.
        await App.Tracked(() => member.Migrate(account));

        var membership = await member.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();
        Assert.Equal([LegacyFiles.KadriNumber], membership.MembershipNumbers);
        Assert.Equal(500, membership.Invitation!.Points);

        var joined = await member.PostJson($"/api/accounts/{account}/membership", new { tier = "silver", paymentMethod = "card" })
            .ReadAs<MembershipConfirmation>(HttpStatusCode.Created);
        Assert.NotEqual(LegacyFiles.KadriNumber, joined.MembershipNumber);
        Assert.Equal([LegacyFiles.KadriNumber], joined.PreviousMembershipNumbers);
        membership = await member.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();
        Assert.Equal([LegacyFiles.KadriNumber, joined.MembershipNumber], membership.MembershipNumbers);
    }

    // ---- linking and unlinking ----------------------------------------------------------------------------------------

    [Fact]
    public async Task A_wrongly_linked_email_can_be_unlinked_before_migration_but_not_after()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await (await Support.PostJson($"/api/accounts/{account}/old-cps-emails", new { email = "wrong@old.example", reason = "typo in ticket", ticketReference = "CPS-SUP-1" }))
            .ShouldBe(HttpStatusCode.OK);

        await (await Support.SendAsync(Unlink(account, "wrong@old.example", null))).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await Support.SendAsync(Unlink(account, "nobody@old.example", "not theirs"))).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.Member(account).SendAsync(Unlink(account, "wrong@old.example", "x"))).ShouldBe(HttpStatusCode.Forbidden);
        var unlinked = await Support.SendAsync(Unlink(account, "wrong@old.example", "linked to the wrong account")).ReadAs<OldCpsEmails>();
        Assert.Equal([LegacyFiles.Kadri], unlinked.Emails);
        await using (var session = App.Store.QuerySession())
        {
            var events = await session.Events.FetchStreamAsync(account);
            Assert.Equal("linked to the wrong account", Assert.IsType<OldCpsEmailUnlinked>(events[^1].Data).Reason);
            Assert.Equal("maris", events[^1].UserName);
            Assert.Equal([LegacyFiles.Kadri], (await session.LoadAsync<AccountView>(account))!.OldCpsEmails);
        }

        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        await App.Member(account).Migrate(account);
        var refused = await Support.SendAsync(Unlink(account, LegacyFiles.Kadri, "changed my mind")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Contains("3 products were migrated", refused.Detail);
    }

    [Fact]
    public async Task A_member_migrates_only_its_own_account_and_an_auditor_only_reads()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        var other = await App.OpenAccount("other@example.ee");

        await (await App.Member(other).PostAsync(LegacyFiles.MigrationUrl(account), null)).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await App.ClientAs(LedgerRoles.Auditor).PostAsync(LegacyFiles.MigrationUrl(account), null)).ShouldBe(HttpStatusCode.Forbidden);
        await App.ClientAs(LedgerRoles.Auditor).MigrationStatus(account);
        await (await Support.PostAsync(LegacyFiles.MigrationUrl(Guid.NewGuid()), null)).ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.Empty(await ProductsOf(account));

        // Support migrates on the member's behalf, and is recorded as the one who did, with its reason.
        await Support.Migrate(account, Tests.Support.OnBehalf.BySupport(new { }, "Member called: the button does nothing"));
        await using var session = App.Store.QuerySession();
        var moved = await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == "legacy_product_migrated").ToListAsync();
        Assert.Equal(3, moved.Count);
        Assert.All(moved, e => Assert.Equal(("maris", "Member called: the button does nothing"), (e.UserName, Api.Support.SupportReason.Of(e).Reason)));
    }

    [Fact]
    public async Task A_write_that_only_read_the_account_fails_when_the_account_changed_meanwhile()
    {
        // A migration batch asserts the account's version it read: a change committed before its commit fails it. (One still in
        // flight does not: the assertion is a plain read. What keeps a batch and an unlink from both committing is the old account's
        // row, which both lock before they read: UnlinkMigrationLockTests.)
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await using var migration = App.Store.LightweightSession();
        var read = await migration.Events.FetchForWriting<BusinessAccount>(account);
        read.AlwaysEnforceConsistency = true;

        await using (var support = App.Store.LightweightSession())
        {
            support.Events.Append(account, new OldCpsEmailUnlinked(account, LegacyFiles.Kadri, "wrong", DateTimeOffset.UtcNow));
            await support.SaveChangesAsync();
        }

        migration.Events.StartStream<LegacyAccountView>(Guid.NewGuid(), new LegacyAccountImported(Guid.NewGuid(), "x@old.example", "1", DateTimeOffset.UtcNow));
        await Assert.ThrowsAnyAsync<ConcurrencyException>(() => migration.SaveChangesAsync());
    }

    // A blank e-mail named no e-mail: it was a 404 saying "" is not linked to the account.
    [Fact]
    public async Task A_blank_email_in_the_unlink_path_is_a_400_saying_so()
    {
        var account = await App.OpenAccount(oldEmails: ["juhan@old.example"]);

        var problem = await (await Support.SendAsync(Unlink(account, " ", "Linked to the wrong account"))).ReadProblem(HttpStatusCode.BadRequest);

        Assert.Equal([UnlinkOldCpsEmailEndpoint.BlankEmail], problem.Errors["email"]);
    }
}
