using System.Collections.Concurrent;
using System.Net;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Products;
using Npgsql;

namespace CpsLedger.Tests.Migration;

/// <summary>
/// Old CPS membership numbers were free text (letters, digits, spaces, - / .), so one can be exactly a number the ledger issues
/// ("CPS-482-173-905"). A number is one account's all the same: an old one is claimed when it is recorded, and a join never
/// draws one that is claimed or that an imported old account has.
/// </summary>
public sealed class OldMembershipNumberTests(LedgerApp app) : LedgerTest(app)
{
    private async Task ListModels()
    {
        await App.ListModel("M-500", "Model 500", "cinema_camera", 500);
        await Billing.ListThousandPointModel(App.Store);
    }

    /// <summary>Takes a value from the sequence behind membership numbers: the next join draws the one after it.</summary>
    private async Task<long> DrawFromSequence()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select nextval('{App.SchemaName}.{MembershipNumbers.SequenceName}')", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<AccountMembership> MembershipOf(Guid account) =>
        await App.Member(account).GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();

    private async Task<MembershipNumberClaim?> ClaimOf(string number)
    {
        await using var session = App.Store.QuerySession();
        return await session.LoadAsync<MembershipNumberClaim>(number);
    }

    private async Task<Guid> VerifiedAccount(string email, string oldEmail)
    {
        var account = await App.OpenAccount(email, oldEmails: [oldEmail]);
        await App.VerifyOldEmail(account, oldEmail);
        return account;
    }

    [Fact]
    public void An_old_number_can_be_exactly_a_number_the_ledger_issues()
    {
        var issued = MembershipNumbers.FromSequence(1);
        var rows = LegacyFile.Read(new StringReader(LegacyFiles.Csv($"{LegacyFiles.Kadri},{issued},,,,,")), DateOnly.MaxValue).ToList();
        var (row, problems) = Assert.Single(rows);
        Assert.Empty(problems);
        Assert.Equal(issued, row!.OldMembershipNumber);
    }

    [Fact]
    public void A_number_the_account_was_issued_is_not_taken_for_one_carried_over_from_an_old_account()
    {
        var account = Guid.NewGuid();
        var now = DateTimeOffset.Parse("2026-03-01T10:00:00Z");
        var issued = MembershipNumbers.FromSequence(7);
        var membership = AccountMembership.None(account)
            .Apply(new LegacyMembershipNumberRecorded(account, LegacyFiles.Kadri, LegacyFiles.KadriNumber, now))
            .Apply(new CpsJoined(account, Guid.NewGuid(), issued, "silver", "Silver", Api.Tiers.TierKind.Standard, 100m, "EUR", PaymentMethod.Card,
                new DateOnly(2026, 3, 1), new DateOnly(2027, 2, 28), 1, 500, 1, now));

        Assert.Equal([LegacyFiles.KadriNumber, issued], membership.MembershipNumbers);
        Assert.Equal([LegacyFiles.KadriNumber], membership.OldNumbersCarriedOver());
        // So an old account whose number equals the issued one is not taken as migrated to this account (verified, or not unlinkable).
        var state = new OldCpsEmailVerificationState("juhan@old.example");
        var legacy = new LegacyAccountView { OldEmail = "juhan@old.example", OldMembershipNumber = issued };
        Assert.False(OldEmailStandings.Of(account, state, legacy, membership.OldNumbersCarriedOver(), null).Verified);
    }

    [Fact]
    public async Task An_old_number_in_the_issued_form_is_claimed_when_migrated_and_a_join_skips_it()
    {
        await ListModels();
        var drawn = await DrawFromSequence();
        var oldNumber = MembershipNumbers.FromSequence(drawn + 1);
        await App.ImportLegacy(LegacyFiles.Csv($"{LegacyFiles.Kadri},{oldNumber},M-500,C-1,2020-02-02,EE,Photopoint"));
        var kadri = await VerifiedAccount("kadri@example.ee", LegacyFiles.Kadri);

        var result = await App.Tracked(() => App.Member(kadri).Migrate(kadri));
        Assert.Equal([oldNumber], result.MembershipNumbersRecorded);
        Assert.Empty(result.MembershipNumbersNotRecorded);
        Assert.Equal(kadri, (await ClaimOf(oldNumber))!.AccountId);

        // The next join would draw exactly Kadri's old number: it takes the one after.
        var other = await App.JoinedAccount("EE", "bank_transfer", email: "other@example.ee");
        Assert.Equal(MembershipNumbers.FromSequence(drawn + 2), (await MembershipOf(other)).Membership!.MembershipNumber);
        Assert.Equal([oldNumber], (await MembershipOf(kadri)).MembershipNumbers);
    }

    [Fact]
    public async Task A_join_skips_the_number_of_an_old_account_not_migrated_yet()
    {
        await ListModels();
        var drawn = await DrawFromSequence();
        var oldNumber = MembershipNumbers.FromSequence(drawn + 1);
        await App.ImportLegacy(LegacyFiles.Csv($"juhan@old.example,{oldNumber},,,,,"));

        var other = await App.JoinedAccount("EE", "bank_transfer", email: "other@example.ee");

        Assert.Equal(MembershipNumbers.FromSequence(drawn + 2), (await MembershipOf(other)).Membership!.MembershipNumber);
        Assert.Null(await ClaimOf(oldNumber));
    }

    [Fact]
    public async Task An_old_number_another_account_holds_is_not_recorded_and_the_products_still_migrate()
    {
        await ListModels();
        // Issued to a member before the old account that has it was imported.
        var holder = await App.JoinedAccount("EE", "bank_transfer", email: "holder@example.ee");
        var taken = (await MembershipOf(holder)).Membership!.MembershipNumber;
        await App.ImportLegacy(LegacyFiles.Csv($"{LegacyFiles.Kadri},{taken},M-500,C-1,2020-02-02,EE,Photopoint"));
        // The holder was issued the number: that is no sign it migrated (or proved) the old account, so Kadri can prove the e-mail.
        var kadri = await VerifiedAccount("kadri@example.ee", LegacyFiles.Kadri);

        var result = await App.Tracked(() => App.Member(kadri).Migrate(kadri));

        Assert.Equal((1, 500), (result.Migrated, result.PointsAllocated));
        Assert.Empty(result.MembershipNumbersRecorded);
        var refused = Assert.Single(result.MembershipNumbersNotRecorded);
        Assert.Equal((LegacyFiles.Kadri, taken), (refused.OldEmail, refused.MembershipNumber));
        Assert.Contains("held by another business account", refused.Detail);
        Assert.DoesNotContain(holder.ToString(), refused.Detail);
        Assert.Empty((await MembershipOf(kadri)).MembershipNumbers);
        Assert.Equal([taken], (await MembershipOf(holder)).MembershipNumbers);
        Assert.Equal(holder, (await ClaimOf(taken))!.AccountId);
        Assert.Equal(0, await App.CountEvents("legacy_membership_number_recorded"));

        // The status says why, and does not offer the number again.
        var status = await App.Member(kadri).MigrationStatus(kadri);
        Assert.Equal(MigrationUnavailableReason.EverythingMigrated, status.Reason);
        var old = Assert.Single(status.LegacyAccounts);
        Assert.Equal((false, true), (old.MembershipNumberRecorded, old.MembershipNumberHeldByAnotherAccount));
        Assert.Contains($"{taken} is held by another business account", status.Explanation);

        // Migrating again changes nothing.
        var again = await App.Member(kadri).Migrate(kadri);
        Assert.Equal((0, 1), (again.Migrated, again.AlreadyMigrated));
        Assert.Empty((await MembershipOf(kadri)).MembershipNumbers);
    }

    [Fact]
    public async Task Two_accounts_recording_one_old_number_at_once_leave_it_with_one_of_them()
    {
        // Two old accounts with one number, each proved by a different business account.
        const string shared = "CPS-OLD-0815";
        await App.ImportLegacy(LegacyFiles.Csv($"a@old.example,{shared},,,,,", $"b@old.example,{shared},,,,,"));
        var first = await VerifiedAccount("first@example.ee", "a@old.example");
        var second = await VerifiedAccount("second@example.ee", "b@old.example");

        // Both read the number as free before either commits (unless a commit stops one): the claim's primary key lets one
        // commit, and Wolverine retries the other from a fresh read, which finds the number held.
        var attempts = new ConcurrentQueue<int>();
        var arrived = 0;
        var bothRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        App.Seam<MigrationTestSeam>().BeforeNumbersCommit = async attempt =>
        {
            attempts.Enqueue(attempt);
            if (attempt != 1)
                return;
            if (Interlocked.Increment(ref arrived) == 2)
                bothRead.SetResult();
            await bothRead.Task.WaitAsync(TimeSpan.FromSeconds(30));
        };
        MigrationResult[] results;
        try
        {
            results = await Task.WhenAll(App.Member(first).Migrate(first), App.Member(second).Migrate(second));
        }
        finally
        {
            App.Seam<MigrationTestSeam>().BeforeNumbersCommit = null;
        }

        Assert.Equal([1, 1, 2], attempts.Order());
        var winner = Assert.Single(results, r => r.MembershipNumbersRecorded.Count == 1);
        var loser = Assert.Single(results, r => r.MembershipNumbersNotRecorded.Count == 1);
        Assert.NotEqual(winner.AccountId, loser.AccountId);
        Assert.Equal(shared, loser.MembershipNumbersNotRecorded[0].MembershipNumber);
        Assert.Equal(winner.AccountId, (await ClaimOf(shared))!.AccountId);
        Assert.Equal([shared], (await MembershipOf(winner.AccountId)).MembershipNumbers);
        Assert.Empty((await MembershipOf(loser.AccountId)).MembershipNumbers);
        Assert.Equal(1, await App.CountEvents("legacy_membership_number_recorded"));
    }
}
