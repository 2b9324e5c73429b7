using System.Net;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static CpsLedger.Tests.Harness.CapturedLogs;

namespace CpsLedger.Tests.Migration;

/// <summary>An old CPS e-mail is a claim until the account proves it owns the mailbox (issue #18).</summary>
public sealed class OldEmailVerificationTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Support => App.ClientAs(LedgerRoles.Support, subject: "maris");

    private async Task ListModels()
    {
        await App.ListModel(Products.Products.R5, "EOS R5", "camera_body", 235);
        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
    }

    private async Task<IReadOnlyList<JasperFx.Events.IEvent>> AccountEvents(Guid account)
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.FetchStreamAsync(account);
    }

    private async Task<IReadOnlyList<HistoryEntry>> History(Guid account, string types) =>
        (await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types={types}").ReadAs<HistoryPage>()).Items;

    private static string Wrong(string code)
    {
        var digits = code.Replace(" ", "");
        return ((long.Parse(digits) + 1) % 100_000_000).ToString("D8");
    }

    private string[] CodeEmailFiles() =>
        Directory.Exists(App.MailFolder) ? Directory.GetFiles(App.MailFolder, "old-cps-email-code-*.eml") : [];

    [Fact]
    public async Task An_account_giving_another_companys_old_email_sees_nothing_of_it_and_cannot_migrate_until_it_enters_the_code()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var member = App.Member(account);

        var statusResponse = await member.GetAsync(LegacyFiles.MigrationUrl(account));
        var status = await statusResponse.ReadAs<MigrationStatus>();
        Assert.Equal((false, MigrationUnavailableReason.OldEmailUnverified, 0), (status.Available, status.Reason, status.ProductsToMigrate));
        Assert.Empty(status.LegacyAccounts);
        var statusText = await statusResponse.Content.ReadAsStringAsync();
        Assert.DoesNotContain(LegacyFiles.KadriNumber, statusText);
        Assert.DoesNotContain("0123 4567", statusText);
        Assert.Equal(OldEmailVerificationState.Unverified, status.OldEmailVerifications[0].State);

        var refused = await member.PostAsync(LegacyFiles.MigrationUrl(account), null).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("old_email_unverified", refused.Extension("reason"));
        Assert.Equal(0, await App.CountEvents("legacy_product_migrated"));
        Assert.Equal(0, await App.CountEvents("legacy_membership_number_recorded"));

        // The code goes to the old address only, and to nobody else.
        var sent = await App.RequestCode(member, account, " Kadri.Tamm@Old.Example ");
        Assert.Equal((LegacyFiles.Kadri, 5), (sent.Email, sent.AttemptsAllowed));
        Assert.Equal(OldEmailVerificationState.CodeSent, (await member.MigrationStatus(account)).OldEmailVerifications[0].State);
        var code = await App.CodeSentTo(account, LegacyFiles.Kadri);
        Assert.Single(CodeEmailFiles());

        var verified = await member.EnterCode(account, LegacyFiles.Kadri, code).ReadAs<OldEmailVerified>();
        Assert.Equal(OldCpsEmailVerificationMethod.Code, verified.Method);

        status = await member.MigrationStatus(account);
        Assert.True(status.Available);
        Assert.Equal(LegacyFiles.KadriNumber, status.LegacyAccounts[0].OldMembershipNumber);
        var proof = status.OldEmailVerifications[0];
        Assert.Equal((OldEmailVerificationState.Verified, OldCpsEmailVerificationMethod.Code), (proof.State, proof.VerifiedBy));
        Assert.Equal(3, (await member.Migrate(account)).Migrated);

        // The history tells who asked and who proved it; no event, no answer and no document holds the code.
        var historyResponse = await App.ClientAs(LedgerRoles.Auditor)
            .GetAsync($"/api/accounts/{account}/history?types=old_cps_email_verification_requested,old_cps_email_verified");
        var history = (await historyResponse.ReadAs<HistoryPage>()).Items;
        var historyText = await historyResponse.Content.ReadAsStringAsync();
        Assert.Equal(["old_cps_email_verification_requested", "old_cps_email_verified"], history.Select(e => e.Type));
        Assert.All(history, e => Assert.Equal("kadri", e.By));
        Assert.Equal($"Old CPS e-mail {LegacyFiles.Kadri} verified with the code sent to it", history[1].Description);
        var digits = code.Replace(" ", "");
        Assert.DoesNotContain(digits, historyText);
        Assert.DoesNotContain(code, historyText);
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var scan = new Npgsql.NpgsqlCommand(
            $"select count(*) from {App.SchemaName}.mt_events where data::text like '%{digits}%' or headers::text like '%{digits}%'", connection);
        Assert.Equal(0L, (long)(await scan.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task A_wrong_code_uses_an_attempt_too_many_end_the_code_and_a_new_code_works()
    {
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var member = App.Member(account);
        await App.RequestCode(member, account, LegacyFiles.Kadri);
        var code = await App.CodeSentTo(account, LegacyFiles.Kadri);

        for (var left = 4; left >= 0; left--)
        {
            var wrong = await member.EnterCode(account, LegacyFiles.Kadri, Wrong(code)).ReadProblem(HttpStatusCode.BadRequest);
            Assert.Equal(("wrong_code", left.ToString()), (wrong.Extension("reason"), wrong.Extension("attemptsLeft")));
            Assert.True(wrong.Errors.ContainsKey("code"));
        }

        // Used up: the right code no longer works either.
        var usedUp = await member.EnterCode(account, LegacyFiles.Kadri, code).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("too_many_attempts", usedUp.Extension("reason"));
        var failures = await History(account, "old_cps_email_verification_failed");
        Assert.Equal(5, failures.Count);
        Assert.Equal($"Wrong verification code entered for old CPS e-mail {LegacyFiles.Kadri} (0 attempts left)", failures[4].Description);

        // Malformed input is a plain 400 that uses no attempt.
        await (await member.EnterCode(account, LegacyFiles.Kadri, "12ab")).ShouldBeProblem(HttpStatusCode.BadRequest);

        await App.RequestCode(member, account, LegacyFiles.Kadri);
        var fresh = await App.CodeSentTo(account, LegacyFiles.Kadri);
        await (await member.EnterCode(account, LegacyFiles.Kadri, fresh)).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(5, (await History(account, "old_cps_email_verification_failed")).Count);
    }

    [Fact]
    public async Task An_expired_code_is_refused_once_recorded_and_then_there_is_no_code_to_enter()
    {
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var member = App.Member(account);
        await App.RequestCode(member, account, LegacyFiles.Kadri);
        var code = await App.CodeSentTo(account, LegacyFiles.Kadri);

        App.Clock.Advance(TimeSpan.FromHours(24));
        var expired = await member.EnterCode(account, LegacyFiles.Kadri, code).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("code_expired", expired.Extension("reason"));
        var none = await member.EnterCode(account, LegacyFiles.Kadri, code).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("no_code_requested", none.Extension("reason"));

        var failed = Assert.Single((await AccountEvents(account)).Select(e => e.Data).OfType<OldCpsEmailVerificationFailed>());
        Assert.Equal(OldCpsEmailVerificationFailure.CodeExpired, failed.Reason);
        Assert.Equal(OldEmailVerificationState.Unverified, (await member.MigrationStatus(account)).OldEmailVerifications[0].State);
    }

    [Fact]
    public async Task A_code_works_once_and_only_the_latest_code_works()
    {
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var member = App.Member(account);
        await App.RequestCode(member, account, LegacyFiles.Kadri);
        var first = await App.CodeSentTo(account, LegacyFiles.Kadri);
        await App.RequestCode(member, account, LegacyFiles.Kadri);
        var second = await App.CodeSentTo(account, LegacyFiles.Kadri);
        Assert.Equal(2, CodeEmailFiles().Length);

        // The first code was replaced by the second (a miss, recorded as a wrong code).
        if (first != second)
            await (await member.EnterCode(account, LegacyFiles.Kadri, first)).ShouldBeProblem(HttpStatusCode.BadRequest);
        await (await member.EnterCode(account, LegacyFiles.Kadri, second)).ShouldBe(HttpStatusCode.OK);

        var events = (await AccountEvents(account)).Count;
        var reused = await member.EnterCode(account, LegacyFiles.Kadri, second).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("already_verified", reused.Extension("reason"));
        var again = await member.PostJson(OldEmails.CodesUrl(account), new { email = LegacyFiles.Kadri }).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("already_verified", again.Extension("reason"));
        Assert.Equal(events, (await AccountEvents(account)).Count);
    }

    [Fact]
    public async Task A_code_that_cannot_be_used_is_not_sent_and_the_log_says_which_and_why()
    {
        // Until 2026-12-06 the code's handler returned without a word when the code could not be used by the time it ran.
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var member = App.Member(account);
        await App.RequestCode(member, account, LegacyFiles.Kadri);
        var first = await PendingChallenge(account);
        await App.RequestCode(member, account, LegacyFiles.Kadri);
        var second = await PendingChallenge(account);
        var files = CodeEmailFiles().Length;
        var logs = App.Logs.Mark();

        // The first code's e-mail handled again (a retry, a replayed dead letter): a newer code replaced it.
        await Send(first);
        AssertSkipped(first, "a newer code was requested");

        // The second code entered: the e-mail is verified, and no code of it is sent any more.
        await (await member.EnterCode(account, LegacyFiles.Kadri, await App.CodeSentTo(account, LegacyFiles.Kadri))).ShouldBe(HttpStatusCode.OK);
        logs = App.Logs.Mark();
        await Send(second);
        AssertSkipped(second, "the e-mail is verified");
        Assert.Equal(files, CodeEmailFiles().Length);

        async Task<Guid> PendingChallenge(Guid accountId)
        {
            await using var session = App.Store.QuerySession();
            return (await session.Events.AggregateStreamAsync<OldCpsEmailVerifications>(accountId))!.Find(LegacyFiles.Kadri)!.Pending!.ChallengeId;
        }

        Task Send(Guid challenge) => App.Tracked(() => App.Invoke(new SendOldEmailCode(account, LegacyFiles.Kadri, challenge)));

        void AssertSkipped(Guid challenge, string reason)
        {
            var skipped = Assert.Single(App.Logs.Since(logs), e => e.MessageTemplate.Text.StartsWith("Old CPS e-mail verification code", StringComparison.Ordinal));
            Assert.Equal(Serilog.Events.LogEventLevel.Information, skipped.Level);
            Assert.Equal((challenge, account, nameof(SendOldEmailCode), reason), (Scalar<Guid>(skipped, "ChallengeId"), Scalar<Guid>(skipped, "AccountId"),
                Scalar<string>(skipped, "MessageType"), Scalar<string>(skipped, "Reason")));
            // Neither the address (perhaps someone else's) nor the code.
            Assert.DoesNotContain(LegacyFiles.Kadri, skipped.RenderMessage(), StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task An_email_another_account_verified_cannot_be_verified_again_without_support()
    {
        var owner = await App.OpenAccount("owner@example.ee", [LegacyFiles.Kadri]);
        var claimant = await App.OpenAccount("claimant@example.ee", [LegacyFiles.Kadri]);
        var hostile = App.Member(claimant, "mallory");
        // The claimant asked first: its code is waiting when the owner proves the address.
        await App.RequestCode(hostile, claimant, LegacyFiles.Kadri);
        var claimantsCode = await App.CodeSentTo(claimant, LegacyFiles.Kadri);
        await App.VerifyOldEmail(owner, LegacyFiles.Kadri);

        var enteredResponse = await hostile.EnterCode(claimant, LegacyFiles.Kadri, claimantsCode);
        var entered = await enteredResponse.ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("verified_by_another_account", entered.Extension("reason"));
        Assert.DoesNotContain(owner.ToString(), await enteredResponse.Content.ReadAsStringAsync());
        var mails = CodeEmailFiles().Length;
        // Tracked: anything the refused request set off would have been handled before the files are counted.
        var requested = await App.Tracked(() => hostile.PostJson(OldEmails.CodesUrl(claimant), new { email = LegacyFiles.Kadri })
            .ReadProblem(HttpStatusCode.Conflict));
        Assert.Equal("verified_by_another_account", requested.Extension("reason"));
        Assert.Equal(mails, CodeEmailFiles().Length);

        // Support cannot simply link it either, but is told where it is; unlinked there (before anything moved), it can.
        var linked = await Support.PostJson($"/api/accounts/{claimant}/old-cps-emails", new { email = LegacyFiles.Kadri, reason = "ticket 9", ticketReference = "CPS-SUP-1" })
            .ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal((owner.ToString(), "verified_by_another_account"), (linked.Extension("accountId"), linked.Extension("reason")));
        await (await Support.SendAsync(new HttpRequestMessage(HttpMethod.Delete,
            $"/api/accounts/{owner}/old-cps-emails/{Uri.EscapeDataString(LegacyFiles.Kadri)}?reason={Uri.EscapeDataString("not theirs")}&ticketReference=CPS-SUP-9")))
            .ShouldBe(HttpStatusCode.OK);
        await (await Support.PostJson($"/api/accounts/{claimant}/old-cps-emails", new { email = LegacyFiles.Kadri, reason = "ticket 9: proved by invoice", ticketReference = "CPS-SUP-1" }))
            .ShouldBe(HttpStatusCode.OK);
        await using var session = App.Store.QuerySession();
        Assert.Equal(claimant, (await session.LoadAsync<OldCpsEmailClaim>(LegacyFiles.Kadri))!.AccountId);
    }

    [Fact]
    public async Task The_status_does_not_ask_to_prove_an_email_another_account_verified_it_sends_the_member_to_support()
    {
        const string p = "p@old.example", juhan = "juhan@old.example";
        var owner = await App.OpenAccount("juhan@example.ee", [juhan]);
        var account = await App.OpenAccount("p@example.ee", [p, juhan]);
        await App.VerifyOldEmail(owner, juhan);
        var member = App.Member(account);

        var response = await member.GetAsync(LegacyFiles.MigrationUrl(account));
        var status = await response.ReadAs<MigrationStatus>();
        Assert.Equal((false, MigrationUnavailableReason.OldEmailUnverified), (status.Available, status.Reason));
        Assert.Equal([(p, OldEmailVerificationState.Unverified), (juhan, OldEmailVerificationState.VerifiedByAnotherAccount)],
            status.OldEmailVerifications.Select(v => (v.Email, v.State)));
        Assert.Contains($"Prove that the account owns {p}:", status.Explanation);
        Assert.Contains($"Another business account has already proved that it owns {juhan}. If this account owns it, contact CPS support.",
            status.Explanation);
        Assert.DoesNotContain(owner.ToString(), await response.Content.ReadAsStringAsync());
        // What the status tells is what the API does.
        var refused = await member.PostJson(OldEmails.CodesUrl(account), new { email = juhan }).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("verified_by_another_account", refused.Extension("reason"));

        // Once p is proved, only CPS support can settle juhan: nothing to verify, and migrating says why.
        await App.VerifyOldEmail(account, p);
        status = await member.MigrationStatus(account);
        Assert.Equal((false, MigrationUnavailableReason.OldEmailVerifiedByAnotherAccount), (status.Available, status.Reason));
        Assert.DoesNotContain("Prove", status.Explanation);
        var migrate = await member.PostAsync(LegacyFiles.MigrationUrl(account), null).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("old_email_verified_by_another_account", migrate.Extension("reason"));
    }

    [Fact]
    public async Task The_database_refuses_a_second_verification_of_one_email_also_when_two_accounts_enter_their_codes_at_once()
    {
        var first = await App.OpenAccount("first@example.ee", [LegacyFiles.Kadri]);
        var second = await App.OpenAccount("second@example.ee", [LegacyFiles.Kadri]);
        await App.RequestCode(App.Member(first), first, LegacyFiles.Kadri);
        await App.RequestCode(App.Member(second), second, LegacyFiles.Kadri);
        var codes = new[] { await App.CodeSentTo(first, LegacyFiles.Kadri), await App.CodeSentTo(second, LegacyFiles.Kadri) };

        var responses = await Task.WhenAll(
            App.Member(first).EnterCode(first, LegacyFiles.Kadri, codes[0]),
            App.Member(second).EnterCode(second, LegacyFiles.Kadri, codes[1]));

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], responses.Select(r => r.StatusCode).Order());
        await responses.Single(r => r.StatusCode == HttpStatusCode.Conflict).ShouldBeProblem(HttpStatusCode.Conflict);
        Assert.Equal(1, await App.CountEvents("old_cps_email_verified"));

        // The claim is the primary key of a row written in the verifying transaction, not a read before it.
        var loser = responses[0].StatusCode == HttpStatusCode.OK ? second : first;
        await using var direct = App.Store.LightweightSession();
        direct.Events.Append(loser, new OldCpsEmailVerified(loser, LegacyFiles.Kadri, OldCpsEmailVerificationMethod.Code, null, null, DateTimeOffset.UtcNow));
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => direct.SaveChangesAsync());
        Assert.Contains(refused is AggregateException a ? a.Flatten().InnerExceptions : [refused],
            e => e is JasperFx.DocumentAlreadyExistsException { DocType: var type } && type == typeof(OldCpsEmailClaim));
    }

    [Fact]
    public async Task Support_linking_a_given_email_counts_as_verification_and_the_history_says_so()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);

        await (await Support.PostJson($"/api/accounts/{account}/old-cps-emails",
            new { email = LegacyFiles.Kadri, reason = "Ticket 4712: old invoice shown on a call", ticketReference = "CPS-SUP-1" })).ShouldBe(HttpStatusCode.OK);

        var status = await App.Member(account).MigrationStatus(account);
        var proof = status.OldEmailVerifications[0];
        Assert.Equal((OldEmailVerificationState.Verified, OldCpsEmailVerificationMethod.SupportLink), (proof.State, proof.VerifiedBy));
        Assert.True(status.Available);
        var verified = (await History(account, "old_cps_email_verified"))[0];
        Assert.Equal(("maris", "Ticket 4712: old invoice shown on a call"), (verified.By, verified.Reason));
        Assert.Equal($"Old CPS e-mail {LegacyFiles.Kadri} verified: linked by support (Ticket 4712: old invoice shown on a call)", verified.Description);
        Assert.Empty(CodeEmailFiles());

        // Support asks for a code on the member's behalf only while the e-mail is unproved.
        var again = await Support.PostJson(OldEmails.CodesUrl(account), Tests.Support.OnBehalf.BySupport(new { email = LegacyFiles.Kadri }))
            .ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("already_verified", again.Extension("reason"));
        Assert.Equal(3, (await Support.Migrate(account, Tests.Support.OnBehalf.BySupport(new { }))).Migrated);
    }

    [Fact]
    public async Task At_most_three_codes_an_hour_go_to_one_address_whichever_accounts_ask()
    {
        var first = await App.OpenAccount("first@example.ee", [LegacyFiles.Kadri]);
        var second = await App.OpenAccount("second@example.ee", [LegacyFiles.Kadri]);
        await App.RequestCode(App.Member(first), first, LegacyFiles.Kadri);
        await App.RequestCode(App.Member(second), second, LegacyFiles.Kadri);
        App.Clock.Advance(TimeSpan.FromMinutes(20));
        await App.RequestCode(App.Member(first), first, LegacyFiles.Kadri);

        var refused = await App.Tracked(() => App.Member(second).PostJson(OldEmails.CodesUrl(second), new { email = LegacyFiles.Kadri }));
        var problem = await refused.ReadProblem(HttpStatusCode.TooManyRequests);
        Assert.Equal("too_many_code_requests", problem.Extension("reason"));
        var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single());
        Assert.InRange(retryAfter, 39 * 60, 40 * 60);
        // Another address is not affected.
        var other = await App.OpenAccount("third@example.ee", ["other@old.example"]);
        await App.RequestCode(App.Member(other), other, "other@old.example");

        Assert.Equal(4, CodeEmailFiles().Length);
        Assert.Equal(2, (await AccountEvents(first)).Count(e => e.Data is OldCpsEmailVerificationRequested));
        Assert.Equal(1, (await AccountEvents(second)).Count(e => e.Data is OldCpsEmailVerificationRequested));

        // An hour after the first, one more may go.
        App.Clock.Advance(TimeSpan.FromMinutes(41));
        await App.RequestCode(App.Member(second), second, LegacyFiles.Kadri);
    }

    [Fact]
    public async Task Only_the_accounts_member_the_portal_and_support_may_ask_for_or_enter_a_code()
    {
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var stranger = await App.OpenAccount("stranger@example.ee");
        var body = new { email = LegacyFiles.Kadri };

        await (await App.Member(stranger).PostJson(OldEmails.CodesUrl(account), body)).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await App.ClientAs(LedgerRoles.Auditor).PostJson(OldEmails.CodesUrl(account), body)).ShouldBe(HttpStatusCode.Forbidden);
        await (await App.Member(stranger).EnterCode(account, LegacyFiles.Kadri, "1234 5678")).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await App.ClientAs(LedgerRoles.Support).PostJson(OldEmails.CodesUrl(Guid.NewGuid()), body)).ShouldBeProblem(HttpStatusCode.NotFound);
        var notGiven = await App.Member(account).PostJson(OldEmails.CodesUrl(account), new { email = "someone.else@old.example" })
            .ReadProblem(HttpStatusCode.NotFound);
        Assert.Contains("someone.else@old.example", notGiven.Detail);
        await (await App.Member(account).PostJson(OldEmails.CodesUrl(account), new { email = "not an e-mail" })).ShouldBeProblem(HttpStatusCode.BadRequest);

        // The portal asks on the member's behalf; support enters the code the member reads out on the phone.
        await App.RequestCode(App.ClientAs(LedgerRoles.Portal), account, LegacyFiles.Kadri);
        var code = await App.CodeSentTo(account, LegacyFiles.Kadri);
        // The e-mail says so too (docs/security.md): read out to support on a call the member made, never to anyone who asks.
        var text = (await App.CodeEmail(account, LegacyFiles.Kadri)).MemberText();
        Assert.Contains("made yourself; CPS never asks for it by e-mail or on a call it started", text);
        // What the attempts are (once "(5 attempts)" after the time, as if the code had been tried five times).
        Assert.Matches(@"The code can be used once, until \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC, with \d+ attempts to enter it\.", text);
        var byPhone = Tests.Support.OnBehalf.BySupport(new { email = LegacyFiles.Kadri, code }, "Member read the code out on a call the member made");
        await (await Support.PostJson(OldEmails.VerifyUrl(account), byPhone)).ShouldBe(HttpStatusCode.OK);
        var verified = (await History(account, "old_cps_email_verified"))[0];
        Assert.Equal(("maris", "Member read the code out on a call the member made"), (verified.By, verified.Reason));
    }

    [Fact]
    public async Task Already_migrated_stays_migrated_what_moved_before_verification_existed_counts_as_proof_also_after_a_rebuild()
    {
        await ListModels();
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var early = await App.OpenAccount("early@example.ee", [LegacyFiles.Kadri]);
        // What a migration before verification existed left behind: the old membership number on the account's history.
        await using (var session = App.Store.LightweightSession())
        {
            session.Events.Append(MembershipStream.For(early),
                new LegacyMembershipNumberRecorded(early, LegacyFiles.Kadri, LegacyFiles.KadriNumber, DateTimeOffset.UtcNow));
            await session.SaveChangesAsync();
        }

        async Task AssertStanding()
        {
            var status = await App.Member(early).MigrationStatus(early);
            var proof = status.OldEmailVerifications[0];
            Assert.Equal((OldEmailVerificationState.Verified, OldCpsEmailVerificationMethod.MigratedBeforeVerification), (proof.State, proof.VerifiedBy));
            Assert.Equal(3, status.ProductsToMigrate);
        }

        await AssertStanding();
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
        {
            foreach (var projection in ((StoreOptions)App.Store.Options).Projections.All)
                await daemon.RebuildProjectionAsync(projection.Name, TimeSpan.FromMinutes(1), CancellationToken.None);
        }

        await AssertStanding();
        Assert.Equal(3, (await App.Member(early).Migrate(early)).Migrated);

        // Another account giving the same e-mail cannot prove it any more.
        var late = await App.OpenAccount("late@example.ee", [LegacyFiles.Kadri]);
        var refused = await App.Member(late).PostJson(OldEmails.CodesUrl(late), new { email = LegacyFiles.Kadri }).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("verified_by_another_account", refused.Extension("reason"));
    }

    [Fact]
    public async Task An_old_membership_number_two_old_emails_share_proves_only_the_email_it_was_carried_over_from()
    {
        // Old numbers were free text, so two old accounts can carry one. A migration records it once, from the e-mail it migrated;
        // that says who owns that mailbox, not the other one.
        await ListModels();
        const string first = "first@old.example", second = "second@old.example", third = "third@old.example", shared = "CPS-OLD-SHARED";
        await App.ImportLegacy(LegacyFiles.Csv(
            $"{first},{shared},{Products.Products.R5},F-1,2019-03-01,EE,Photopoint",
            $"{second},{shared},{Products.Products.R5},S-1,2019-03-01,EE,Photopoint",
            $"{third},{shared},{Products.Products.Lens},T-1,2018-06-15,EE,Photopoint"));
        var account = await App.OpenAccount("shared@example.ee", [first, second]);
        var member = App.Member(account);
        await App.VerifyOldEmail(account, first);
        var migrated = await member.Migrate(account);
        Assert.Equal(1, migrated.Migrated);
        Assert.Equal([shared], migrated.MembershipNumbersRecorded);

        // The second e-mail of the same account is still to prove: nothing of it migrates, and support may still unlink it.
        var status = await member.MigrationStatus(account);
        Assert.Equal([(first, OldEmailVerificationState.Verified), (second, OldEmailVerificationState.Unverified)],
            status.OldEmailVerifications.Select(v => (v.Email, v.State)));
        var refused = await member.PostAsync(LegacyFiles.MigrationUrl(account), null).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("old_email_unverified", refused.Extension("reason"));
        await (await Support.SendAsync(new HttpRequestMessage(HttpMethod.Delete,
                $"/api/accounts/{account}/old-cps-emails/{Uri.EscapeDataString(second)}?reason={Uri.EscapeDataString("not theirs")}&ticketReference=CPS-SUP-12")))
            .ShouldBe(HttpStatusCode.OK);

        // Another account giving the third e-mail is not told that the first proved it: it proves it, links nothing wrong, migrates.
        var other = await App.OpenAccount("third@example.ee", [third]);
        var othersStatus = await App.Member(other).MigrationStatus(other);
        Assert.Equal(OldEmailVerificationState.Unverified, Assert.Single(othersStatus.OldEmailVerifications).State);
        await App.VerifyOldEmail(other, third);
        var thirds = await App.Member(other).Migrate(other);
        Assert.Equal(1, thirds.Migrated);
        Assert.Equal(shared, Assert.Single(thirds.MembershipNumbersNotRecorded).MembershipNumber);
    }

    [Fact]
    public void The_settings_are_checked_at_start_up()
    {
        var validators = App.Services.GetRequiredService<IEnumerable<IValidateOptions<OldEmailVerificationOptions>>>();
        string[] Failures(OldEmailVerificationOptions o) =>
            [.. validators.SelectMany(v => v.Validate(Options.DefaultName, o).Failures ?? [])];

        Assert.Empty(Failures(new OldEmailVerificationOptions { CodeKey = new string('k', 32) }));
        Assert.Contains(Failures(new OldEmailVerificationOptions()), f => f.Contains("OldEmailVerification:CodeKey"));
        Assert.Contains(Failures(new OldEmailVerificationOptions { CodeKey = new string('k', 31) }), f => f.Contains("OldEmailVerification:CodeKey"));
        Assert.Contains(Failures(new OldEmailVerificationOptions { CodeKey = new string('k', 32), CodeLifetime = TimeSpan.Zero }),
            f => f.Contains("CodeLifetime"));
        Assert.Contains(Failures(new OldEmailVerificationOptions { CodeKey = new string('k', 32), MaxAttempts = 0 }), f => f.Contains("MaxAttempts"));
        Assert.Contains(Failures(new OldEmailVerificationOptions { CodeKey = new string('k', 32), MaxCodesPerEmail = 0 }),
            f => f.Contains("MaxCodesPerEmail"));
    }
}
