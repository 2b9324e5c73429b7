using System.Net;
using System.Text.Json;
using CpsLedger.Api.Accounts;
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
                               (reason is null ? "" : $"?reason={Uri.EscapeDataString(reason)}"));

    // ---- the guide's three situations --------------------------------------------------------------------------------

    [Fact]
    public async Task Old_email_given_the_button_shows_migration_moves_every_product_and_complete_ones_get_green_ticks()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: ["Kadri.Tamm@Old.Example"]);
        var member = App.Member(account);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);

        var status = await member.MigrationStatus(account);
        Assert.True(status.GetProperty("available").GetBoolean());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("reason").ValueKind);
        Assert.Equal(3, status.GetProperty("productsToMigrate").GetInt32());
        Assert.Equal(LegacyFiles.KadriNumber, status.GetProperty("legacyAccounts")[0].GetProperty("oldMembershipNumber").GetString());

        var result = await member.Migrate(account);

        Assert.Equal((3, 1, 2, 235, 0), (result.GetProperty("migrated").GetInt32(), result.GetProperty("migratedWithGreenTick").GetInt32(),
            result.GetProperty("migratedAwaitingDetails").GetInt32(), result.GetProperty("pointsAllocated").GetInt32(),
            result.GetProperty("notMigrated").GetInt32()));
        Assert.Equal([LegacyFiles.KadriNumber], result.GetProperty("membershipNumbersRecorded").Strings());
        Assert.Equal("everything_migrated", result.GetProperty("status").GetProperty("reason").GetString());
        Snapshots.MatchJson(result.GetRawText());

        var products = await ProductsOf(account);
        Assert.Equal(3, products.Count);
        Assert.All(products, p => Assert.Equal(RegistrationSource.Migration, p.Source));
        var camera = Assert.Single(products, p => p.GreenTick);
        Assert.Equal(("0123 4567", 235), (camera.SerialNumber, camera.Points));
        Assert.Equal([MandatoryDetail.Dealer], products.Single(p => p.ModelCode == Products.Products.Lens).MissingDetails);
        Assert.Equal(235, (await member.Summary(account)).GetProperty("pointsTotal").GetInt32());

        var after = await member.MigrationStatus(account);
        Assert.Equal((false, "everything_migrated", 0), (after.GetProperty("available").GetBoolean(), after.GetProperty("reason").GetString(),
            after.GetProperty("productsToMigrate").GetInt32()));

        // A second click migrates nothing and says so.
        var again = await member.Migrate(account);
        Assert.Equal((0, 3), (again.GetProperty("migrated").GetInt32(), again.GetProperty("alreadyMigrated").GetInt32()));
        Assert.Equal(3, (await ProductsOf(account)).Count);
        Assert.Equal(1, await App.CountEvents("points_allocated"));
    }

    [Fact]
    public async Task Old_email_not_given_no_button_and_registering_the_products_again_works()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount();
        var member = App.Member(account);

        var status = await member.MigrationStatus(account);
        Assert.Equal((false, "no_old_email"), (status.GetProperty("available").GetBoolean(), status.GetProperty("reason").GetString()));
        Assert.Contains("ask CPS support to link", status.GetProperty("explanation").GetString());
        var refused = await (await member.PostAsync(LegacyFiles.MigrationUrl(account), null)).ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Equal("no_old_email", refused.GetProperty("reason").GetString());

        var registered = await member.Register(account, Products.Products.Complete());
        Assert.True(registered.GetProperty("greenTick").GetBoolean());

        // An old e-mail no old account has: no button either, and the reason says which.
        var other = await App.OpenAccount("other@example.ee", ["never.imported@old.example"]);
        await App.VerifyOldEmail(other, "never.imported@old.example");
        var otherStatus = await App.Member(other).MigrationStatus(other);
        Assert.Equal("no_legacy_account", otherStatus.GetProperty("reason").GetString());
        Assert.Equal(["never.imported@old.example"], otherStatus.GetProperty("oldEmailsWithoutLegacyAccount").Strings());
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

        await (await member.PostJson($"/api/accounts/{account}/old-cps-emails", new { email = LegacyFiles.Kadri, reason = "mine" }))
            .ShouldBe(HttpStatusCode.Forbidden);
        var linked = await (await Support.PostJson($"/api/accounts/{account}/old-cps-emails",
            new { email = " KADRI.TAMM@old.example", reason = "Ticket 4711: invoice of the old account shown" })).ShouldBe(HttpStatusCode.OK);
        Assert.Equal([LegacyFiles.Kadri], linked.GetProperty("emails").Strings());

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
        Assert.True(status.GetProperty("available").GetBoolean());

        var result = await member.Migrate(account);
        Assert.Equal((2, 1), (result.GetProperty("migrated").GetInt32(), result.GetProperty("alreadyRegistered").GetInt32()));
        Assert.Equal(byHand.GetProperty("registrationId").GetGuid(),
            result.GetProperty("alreadyRegisteredProducts")[0].GetProperty("registrationId").GetGuid());
        Assert.Equal(3, (await ProductsOf(account)).Count);
        Assert.Equal(235, (await member.Summary(account)).GetProperty("pointsTotal").GetInt32());
        // Linking it again changes nothing.
        await (await Support.PostJson($"/api/accounts/{account}/old-cps-emails", new { email = LegacyFiles.Kadri, reason = "again" }))
            .ShouldBe(HttpStatusCode.OK);
        Assert.Single(await App.Store.QuerySession().Events.FetchStreamAsync(account), e => e.Data is OldCpsEmailLinked);
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

        MigrationTestSeam.BatchSize = 2;
        MigrationTestSeam.AfterBatchCommitted = batch => batch == 2 ? throw new InvalidOperationException("Simulated crash") : Task.CompletedTask;
        try
        {
            await (await member.PostAsync(LegacyFiles.MigrationUrl(account), null)).ShouldBe(HttpStatusCode.InternalServerError);
            Assert.Equal(4, (await ProductsOf(account)).Count);
            Assert.Equal(3, (await member.MigrationStatus(account)).GetProperty("productsToMigrate").GetInt32());

            MigrationTestSeam.AfterBatchCommitted = null;
            var retry = await member.Migrate(account);

            Assert.Equal((3, 4), (retry.GetProperty("migrated").GetInt32(), retry.GetProperty("alreadyMigrated").GetInt32()));
        }
        finally
        {
            MigrationTestSeam.BatchSize = null;
            MigrationTestSeam.AfterBatchCommitted = null;
        }

        var products = await ProductsOf(account);
        Assert.Equal(Enumerable.Range(1, 7).Select(i => $"SN-{i}"), products.Select(p => p.SerialNumber!).Order());
        Assert.Equal(3, await App.CountEvents("points_allocated"));
        Assert.Equal(3 * 235, (await member.Summary(account)).GetProperty("pointsTotal").GetInt32());
        Assert.Equal("everything_migrated", (await member.MigrationStatus(account)).GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Concurrent_migrate_calls_have_one_effect()
    {
        await ListModels();
        await App.ImportLegacy(ManyProducts(20));
        var account = await App.OpenAccount(oldEmails: ["many@old.example"]);
        await App.VerifyOldEmail(account, "many@old.example");
        var clients = new[] { App.Member(account), App.Member(account), App.ClientAs(LedgerRoles.Portal), App.ClientAs(LedgerRoles.Support) };

        MigrationTestSeam.BatchSize = 3;
        HttpResponseMessage[] responses;
        try
        {
            responses = await Task.WhenAll(clients.Select(c => c.PostAsync(LegacyFiles.MigrationUrl(account), null)));
        }
        finally
        {
            MigrationTestSeam.BatchSize = null;
        }

        // Never a 500; a caller that kept losing races gets 409 and may simply migrate again.
        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, r.StatusCode.ToString()));
        var migrated = 0;
        foreach (var response in responses.Where(r => r.StatusCode == HttpStatusCode.OK))
            migrated += (await response.ShouldBe(HttpStatusCode.OK)).GetProperty("migrated").GetInt32();
        if (responses.All(r => r.StatusCode == HttpStatusCode.OK))
            Assert.Equal(20, migrated);
        var last = await App.Member(account).Migrate(account);
        Assert.Equal(20, migrated + last.GetProperty("migrated").GetInt32());

        var products = await ProductsOf(account);
        Assert.Equal(20, products.Count);
        Assert.Equal(20, products.Select(p => p.SerialNumber).Distinct().Count());
        Assert.Equal(10, await App.CountEvents("points_allocated"));
        Assert.Equal(20, await App.CountEvents("legacy_product_migrated"));
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

        Assert.Equal((2, 1), (result.GetProperty("migrated").GetInt32(), result.GetProperty("notMigrated").GetInt32()));
        var conflict = result.GetProperty("notMigratedProducts")[0];
        Assert.Equal(("serial_owned_by_another_account", "0123 4567"), (conflict.GetProperty("reason").GetString(), conflict.GetProperty("serialNumber").GetString()));
        Assert.DoesNotContain("buyer", conflict.GetProperty("detail").GetString());
        var status = await member.MigrationStatus(account);
        Assert.Equal((true, 1), (status.GetProperty("available").GetBoolean(), status.GetProperty("productsToMigrate").GetInt32()));

        await (await App.Member(buyer).PostJson($"{sold.GetProperty("url").GetString()}/deregistration", new { reason = "registered_in_error" }))
            .ShouldBe(HttpStatusCode.OK);
        var later = await member.Migrate(account);
        Assert.Equal((1, 2, 235), (later.GetProperty("migrated").GetInt32(), later.GetProperty("alreadyMigrated").GetInt32(),
            later.GetProperty("pointsAllocated").GetInt32()));
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

        var result = await member.Migrate(account);
        Assert.Equal((2, 235, 1), (result.GetProperty("migrated").GetInt32(), result.GetProperty("pointsAllocated").GetInt32(),
            result.GetProperty("notMigrated").GetInt32()));
        Assert.Equal("unknown_model", result.GetProperty("notMigratedProducts")[0].GetProperty("reason").GetString());

        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        var later = await member.Migrate(account);
        Assert.Equal(1, later.GetProperty("migrated").GetInt32());
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

        await member.Migrate(account);
        await App.WaitForMessages();

        var membership = await (await member.GetAsync($"/api/accounts/{account}/membership")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal([LegacyFiles.KadriNumber], membership.GetProperty("membershipNumbers").Strings());
        Assert.Equal(500, membership.GetProperty("invitation").GetProperty("points").GetInt32());

        var joined = await (await member.PostJson($"/api/accounts/{account}/membership", new { tier = "silver", paymentMethod = "card" }))
            .ShouldBe(HttpStatusCode.Created);
        var number = joined.GetProperty("membershipNumber").GetString();
        Assert.NotEqual(LegacyFiles.KadriNumber, number);
        Assert.Equal([LegacyFiles.KadriNumber], joined.GetProperty("previousMembershipNumbers").Strings());
        membership = await (await member.GetAsync($"/api/accounts/{account}/membership")).ShouldBe(HttpStatusCode.OK);
        Assert.Equal([LegacyFiles.KadriNumber, number!], membership.GetProperty("membershipNumbers").Strings());
    }

    // ---- linking and unlinking ----------------------------------------------------------------------------------------

    [Fact]
    public async Task A_wrongly_linked_email_can_be_unlinked_before_migration_but_not_after()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await (await Support.PostJson($"/api/accounts/{account}/old-cps-emails", new { email = "wrong@old.example", reason = "typo in ticket" }))
            .ShouldBe(HttpStatusCode.OK);

        await (await Support.SendAsync(Unlink(account, "wrong@old.example", null))).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await Support.SendAsync(Unlink(account, "nobody@old.example", "x"))).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.Member(account).SendAsync(Unlink(account, "wrong@old.example", "x"))).ShouldBe(HttpStatusCode.Forbidden);
        var unlinked = await (await Support.SendAsync(Unlink(account, "wrong@old.example", "linked to the wrong account")))
            .ShouldBe(HttpStatusCode.OK);
        Assert.Equal([LegacyFiles.Kadri], unlinked.GetProperty("emails").Strings());
        await using (var session = App.Store.QuerySession())
        {
            var events = await session.Events.FetchStreamAsync(account);
            Assert.Equal("linked to the wrong account", Assert.IsType<OldCpsEmailUnlinked>(events[^1].Data).Reason);
            Assert.Equal("maris", events[^1].UserName);
            Assert.Equal([LegacyFiles.Kadri], (await session.LoadAsync<AccountView>(account))!.OldCpsEmails);
        }

        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        await App.Member(account).Migrate(account);
        var refused = await (await Support.SendAsync(Unlink(account, LegacyFiles.Kadri, "changed my mind"))).ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Contains("3 products were migrated", refused.GetProperty("detail").GetString());
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

        // Support migrates on the member's behalf, and is recorded as the one who did.
        await Support.Migrate(account);
        await using var session = App.Store.QuerySession();
        var moved = await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == "legacy_product_migrated").ToListAsync();
        Assert.Equal(3, moved.Count);
        Assert.All(moved, e => Assert.Equal("maris", e.UserName));
    }

    [Fact]
    public async Task A_write_that_only_read_the_account_fails_when_the_account_changed_meanwhile()
    {
        // What keeps a migration batch and an unlink from both committing: each asserts the version of the stream it read.
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
}
