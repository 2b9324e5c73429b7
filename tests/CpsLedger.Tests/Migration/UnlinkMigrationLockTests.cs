using System.Net;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Marten;

namespace CpsLedger.Tests.Migration;

/// <summary>
/// A migration batch and an unlink of its old e-mail, their commits in flight at once. Each reads the stream the other writes (the
/// batch the account, for the e-mail; the unlink the old account, for what moved), and a version assertion at commit is a plain
/// read: it does not see a write not yet committed. Found in review: both committed, and products stayed migrated from an e-mail
/// the account no longer gives; then, with the old account's row locked, the old membership number recorded from an e-mail being
/// unlinked, and an unlink of an e-mail with no old account yet (no row). Now each takes the old e-mail's lock before it reads,
/// and the second reads what the first committed. The tests hold the account's hash chain (<see cref="ChainLocks"/>), which both commits take after
/// their assertions, so that both are in flight, then let go; they wait on the database (pg_blocking_pids), never on a clock.
/// </summary>
public sealed class UnlinkMigrationLockTests(LedgerApp app) : LedgerTest(app)
{
    private const string Juhan = "juhan@old.example";

    private HttpClient Support(string correlationId) => App.ClientAs(LedgerRoles.Support, subject: "maris").Correlated(correlationId);

    private static HttpRequestMessage Unlink(Guid account) =>
        new(HttpMethod.Delete, $"/api/accounts/{account}/old-cps-emails/{Uri.EscapeDataString(LegacyFiles.Kadri)}?reason=linked%20by%20mistake&ticketReference=CPS-SUP-5");

    /// <summary>
    /// Kadri's account, her e-mail verified, ready to migrate her old account's three products. Another old account has the same
    /// membership number and another account carried it over meanwhile, so her migration records no number: an unlink of her e-mail
    /// is refused only for the products moved, and the migration's first step does not take her account's chain.
    /// </summary>
    private async Task<Guid> KadriReadyToMigrate()
    {
        await App.ListModel(Products.Products.R5, "EOS R5", "camera_body", 235);
        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount + $"{Juhan},{LegacyFiles.KadriNumber},,,,,\n");
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);

        var juhan = await App.OpenAccount("juhan@example.ee", oldEmails: [Juhan]);
        await App.VerifyOldEmail(juhan, Juhan);
        Assert.Equal([LegacyFiles.KadriNumber], (await App.Member(juhan, "juhan").Migrate(juhan)).MembershipNumbersRecorded);
        return account;
    }

    /// <summary>Support's unlink of Kadri's e-mail, sent and stopped at the held chain's lock (or at a lock behind it), or done.</summary>
    private async Task<Task<HttpResponseMessage>> UnlinkInFlight(Guid account, int holder)
    {
        var (id, waiter) = LockWaiter.NewRequest();
        var unlinking = Support(id).SendAsync(Unlink(account));
        await App.UntilDoneOrWaitingForLockOf(unlinking, holder, waiter);
        return unlinking;
    }

    /// <summary>The member's migration, sent and stopped at the held chain's lock (or at a lock behind it), or done.</summary>
    private async Task<Task<HttpResponseMessage>> MigrationInFlight(Guid account, int holder)
    {
        var (id, waiter) = LockWaiter.NewRequest();
        var migrating = App.Member(account).Correlated(id).PostAsync(LegacyFiles.MigrationUrl(account), null);
        await App.UntilDoneOrWaitingForLockOf(migrating, holder, waiter);
        return migrating;
    }

    /// <summary>
    /// With the account's chain held: support's unlink of Kadri's e-mail in flight first, then (after <paramref name="meanwhile"/>)
    /// the member's migration; then the chain let go. The migration's result and the unlink's answer.
    /// </summary>
    private async Task<(MigrationResult Migrated, OldCpsEmails Unlinked)> UnlinkThenMigration(Guid account, Func<Task>? meanwhile = null)
    {
        await using var chains = new Npgsql.NpgsqlConnection(App.ConnectionString);
        var hold = await ChainLocks.HoldChains(chains, account);

        var unlinking = await UnlinkInFlight(account, chains.ProcessID);

        if (meanwhile is not null)
            await meanwhile();
        var migrating = await MigrationInFlight(account, chains.ProcessID);
        await hold.CommitAsync();

        return (await (await migrating).ReadAs<MigrationResult>(), await (await unlinking).ReadAs<OldCpsEmails>());
    }

    /// <summary>Whether the account still gives Kadri's e-mail, and how many of the old account's products moved to it.</summary>
    private async Task<(bool Linked, int Migrated)> Outcome(Guid account)
    {
        await using var session = App.Store.QuerySession();
        var linked = (await session.Events.AggregateStreamAsync<BusinessAccount>(account))!.OldCpsEmails.Contains(LegacyFiles.Kadri);
        var legacy = await session.LoadAsync<LegacyAccountView>(LegacyIds.AccountFor(LegacyFiles.Kadri));
        return (linked, legacy!.Products.Count(p => p.MigratedToAccountId == account));
    }

    [Fact]
    public async Task An_unlink_while_a_migration_batch_commits_from_the_email_waits_for_it_and_is_refused()
    {
        var account = await KadriReadyToMigrate();
        var logs = App.Logs.Mark();
        await using var chains = new Npgsql.NpgsqlConnection(App.ConnectionString);
        var held = new TaskCompletionSource<Npgsql.NpgsqlTransaction>(TaskCreationOptions.RunContinuationsAsynchronously);
        // After the batch's reads, before its commit: the account's chain is held, so the commit stops at its first event.
        App.Seam<MigrationTestSeam>().BeforeBatchCommits = async attempt =>
        {
            if (!held.Task.IsCompleted)
                held.SetResult(await ChainLocks.HoldChains(chains, account));
        };
        try
        {
            var (migrationId, migrationWaiter) = LockWaiter.NewRequest();
            var migrating = App.Member(account).Correlated(migrationId).PostAsync(LegacyFiles.MigrationUrl(account), null);
            var hold = await held.Task.WaitAsync(LockWaits.Deadline);
            await App.UntilDoneOrWaitingForLockOf(migrating, chains.ProcessID, migrationWaiter);

            var unlinking = await UnlinkInFlight(account, chains.ProcessID);
            await hold.CommitAsync();

            var unlinked = await unlinking;
            var migrated = await (await migrating).ReadAs<MigrationResult>();
            Assert.Equal((true, 3), await Outcome(account));
            Assert.Equal(3, migrated.Migrated);
            var refused = await unlinked.ReadProblem(HttpStatusCode.Conflict);
            Assert.Equal("Already migrated", refused.Title);
            Assert.Empty(App.Logs.DeadlocksSince(logs));
        }
        finally
        {
            App.Seam<MigrationTestSeam>().BeforeBatchCommits = null;
        }
    }

    [Fact]
    public async Task A_migration_batch_while_an_unlink_of_its_email_commits_waits_for_it_and_migrates_nothing()
    {
        var account = await KadriReadyToMigrate();
        var logs = App.Logs.Mark();

        var (migrated, unlinked) = await UnlinkThenMigration(account);

        Assert.Equal((false, 0), await Outcome(account));
        Assert.Equal(0, migrated.Migrated);
        Assert.DoesNotContain(LegacyFiles.Kadri, unlinked.Emails);
        await using (var session = App.Store.QuerySession())
            Assert.Empty(await session.Query<ProductView>().Where(p => p.AccountId == account).ToListAsync());
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }

    /// <summary>Kadri's account, her e-mail verified, her old account imported with its membership number and no product.</summary>
    private async Task<Guid> KadriReadyToCarryOverHerNumber()
    {
        await App.ImportLegacy(LegacyFiles.Csv($"{LegacyFiles.Kadri},{LegacyFiles.KadriNumber},,,,,"));
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        return account;
    }

    /// <summary>Whether the account still gives Kadri's e-mail, the old numbers on its history, and who claims Kadri's number.</summary>
    private async Task<(bool Linked, string Numbers, Guid? Claimant)> NumberOutcome(Guid account)
    {
        await using var session = App.Store.QuerySession();
        var linked = (await session.Events.AggregateStreamAsync<BusinessAccount>(account))!.OldCpsEmails.Contains(LegacyFiles.Kadri);
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(account));
        var claim = await session.LoadAsync<MembershipNumberClaim>(LegacyFiles.KadriNumber);
        return (linked, string.Join(", ", membership?.MembershipNumbers ?? []), claim?.AccountId);
    }

    // The migration's first step records the old membership number, in a transaction of its own; the unlink is refused once a
    // number was carried over from the e-mail. Found in review: with the unlink between the migration's first read and that
    // step's commit, both committed and the number stayed carried over from an e-mail the account no longer gave.
    [Fact]
    public async Task An_unlink_while_the_old_number_is_recorded_from_the_email_waits_for_it_and_is_refused()
    {
        var account = await KadriReadyToCarryOverHerNumber();
        var logs = App.Logs.Mark();
        await using var chains = new Npgsql.NpgsqlConnection(App.ConnectionString);
        var hold = await ChainLocks.HoldChains(chains, account);

        // The number's step has read and stops at its commit's first event.
        var migrating = await MigrationInFlight(account, chains.ProcessID);

        var unlinking = await UnlinkInFlight(account, chains.ProcessID);
        await hold.CommitAsync();

        var unlinked = await unlinking;
        var migrated = await (await migrating).ReadAs<MigrationResult>();
        Assert.Equal((true, LegacyFiles.KadriNumber, (Guid?)account), await NumberOutcome(account));
        Assert.Equal([LegacyFiles.KadriNumber], migrated.MembershipNumbersRecorded);
        var refused = await unlinked.ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Already migrated", refused.Title);
        Assert.Contains("old membership number", refused.Detail);
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }

    [Fact]
    public async Task Recording_the_old_number_while_an_unlink_of_its_email_commits_waits_for_it_and_records_nothing()
    {
        var account = await KadriReadyToCarryOverHerNumber();
        var logs = App.Logs.Mark();

        // The migration's first read still finds the e-mail linked: the unlink has not committed.
        var (migrated, unlinked) = await UnlinkThenMigration(account);

        Assert.DoesNotContain(LegacyFiles.Kadri, unlinked.Emails);
        Assert.Equal((false, "", (Guid?)null), await NumberOutcome(account));
        Assert.Empty(migrated.MembershipNumbersRecorded);
        Assert.Empty(migrated.MembershipNumbersNotRecorded);
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }

    // An e-mail linked before its old account was imported: the unlink finds no old account, so no row to lock. Found in review: an
    // import and a migration from the e-mail within the unlink's transaction both committed with it.
    [Fact]
    public async Task A_migration_while_an_unlink_of_an_email_with_no_old_account_yet_commits_waits_for_it_and_records_nothing()
    {
        var account = await App.OpenAccount();
        await (await Support("link").PostJson($"/api/accounts/{account}/old-cps-emails", new { email = LegacyFiles.Kadri, reason = "ticket 4711", ticketReference = "CPS-SUP-1" }))
            .ReadAs<OldCpsEmails>();
        var logs = App.Logs.Mark();

        // The old account arrives while the unlink is in flight, and the migration's first read finds the e-mail still linked.
        var (migrated, unlinked) = await UnlinkThenMigration(account,
            meanwhile: () => App.ImportLegacy(LegacyFiles.Csv($"{LegacyFiles.Kadri},{LegacyFiles.KadriNumber},,,,,")));

        Assert.DoesNotContain(LegacyFiles.Kadri, unlinked.Emails);
        Assert.Equal((false, "", (Guid?)null), await NumberOutcome(account));
        Assert.Empty(migrated.MembershipNumbersRecorded);
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }
}
