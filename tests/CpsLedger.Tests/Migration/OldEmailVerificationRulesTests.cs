using System.Text;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Migration;

namespace CpsLedger.Tests.Migration;

/// <summary>Proving ownership of an old CPS e-mail, as pure decisions.</summary>
public sealed class OldEmailVerificationRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly Guid Account = Guid.NewGuid();
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("a-test-key-of-at-least-thirty-two-bytes!");
    private const string Email = "k@old.example";

    private static readonly OldEmailVerificationOptions Options = new() { CodeKey = "unused", MaxAttempts = 3, CodeLifetime = TimeSpan.FromHours(24) };

    private static OldEmailStanding Pending(Guid challenge, int attemptsLeft = 3, DateTimeOffset? expiresAt = null) =>
        new(Email, null, null, new PendingOldEmailCode(challenge, Now.AddHours(-1), expiresAt ?? Now.AddHours(23), attemptsLeft), null);

    private static string? Reason(Microsoft.AspNetCore.Mvc.ProblemDetails? problem) => problem?.Extensions["reason"] as string;

    [Fact]
    public void A_code_is_eight_digits_derived_from_the_challenge_and_the_key_and_only_that_code_matches()
    {
        var challenge = Guid.NewGuid();
        var code = OldEmailCodes.For(Key, challenge);

        Assert.Matches("^[0-9]{8}$", code);
        Assert.Equal(code, OldEmailCodes.For(Key, challenge));
        Assert.NotEqual(code, OldEmailCodes.For(Key, Guid.NewGuid()));
        Assert.NotEqual(code, OldEmailCodes.For(Encoding.UTF8.GetBytes("another-key-of-at-least-thirty-two-bytes"), challenge));

        Assert.True(OldEmailCodes.Matches(Key, challenge, code));
        Assert.True(OldEmailCodes.Matches(Key, challenge, OldEmailCodes.Shown(code)));
        Assert.True(OldEmailCodes.Matches(Key, challenge, $"{code[..4]}-{code[4..]}"));
        Assert.False(OldEmailCodes.Matches(Key, challenge, code[..7]));
        Assert.False(OldEmailCodes.Matches(Key, challenge, ((int.Parse(code) + 1) % 100_000_000).ToString("D8")));
        Assert.False(OldEmailCodes.Matches(Key, Guid.NewGuid(), code));
    }

    [Fact]
    public void Entering_the_right_code_verifies_a_wrong_one_uses_an_attempt_and_the_last_wrong_one_ends_the_code()
    {
        var challenge = Guid.NewGuid();
        var right = OldEmailCodes.For(Key, challenge);
        var wrong = ((int.Parse(right) + 1) % 100_000_000).ToString("D8");

        var ok = VerifyOldEmailEndpoint.Decide(Account, Pending(challenge), Email, right, Key, Now);
        var verified = Assert.IsType<OldCpsEmailVerified>(ok.Event);
        Assert.Null(ok.Problem);
        Assert.Equal((OldCpsEmailVerificationMethod.Code, challenge, Email), (verified.Method, verified.ChallengeId, verified.Email));

        var once = VerifyOldEmailEndpoint.Decide(Account, Pending(challenge), Email, wrong, Key, Now);
        var failed = Assert.IsType<OldCpsEmailVerificationFailed>(once.Event);
        Assert.Equal((OldCpsEmailVerificationFailure.WrongCode, 2), (failed.Reason, failed.AttemptsLeft));
        Assert.Equal((400, "wrong_code", (object)2), (once.Problem!.Status!.Value, Reason(once.Problem), once.Problem.Extensions["attemptsLeft"]!));

        var last = VerifyOldEmailEndpoint.Decide(Account, Pending(challenge, attemptsLeft: 1), Email, wrong, Key, Now);
        Assert.Equal(0, Assert.IsType<OldCpsEmailVerificationFailed>(last.Event).AttemptsLeft);

        // Used up: even the right code no longer works, and nothing more is recorded.
        var usedUp = VerifyOldEmailEndpoint.Decide(Account, Pending(challenge, attemptsLeft: 0), Email, right, Key, Now);
        Assert.Null(usedUp.Event);
        Assert.Equal((409, "too_many_attempts"), (usedUp.Problem!.Status!.Value, Reason(usedUp.Problem)));
    }

    [Fact]
    public void An_expired_code_is_refused_and_recorded_once_and_without_a_waiting_code_nothing_can_be_entered()
    {
        var challenge = Guid.NewGuid();
        var right = OldEmailCodes.For(Key, challenge);

        var expired = VerifyOldEmailEndpoint.Decide(Account, Pending(challenge, expiresAt: Now), Email, right, Key, Now);
        Assert.Equal(OldCpsEmailVerificationFailure.CodeExpired, Assert.IsType<OldCpsEmailVerificationFailed>(expired.Event).Reason);
        Assert.Equal((409, "code_expired"), (expired.Problem!.Status!.Value, Reason(expired.Problem)));

        var none = VerifyOldEmailEndpoint.Decide(Account, new OldEmailStanding(Email, null, null, null, null), Email, right, Key, Now);
        Assert.Null(none.Event);
        Assert.Equal("no_code_requested", Reason(none.Problem));
    }

    [Fact]
    public void Codes_cannot_be_entered_for_an_email_that_is_not_the_accounts_already_verified_or_verified_by_another_account()
    {
        var challenge = Guid.NewGuid();
        var right = OldEmailCodes.For(Key, challenge);

        Assert.Equal(404, VerifyOldEmailEndpoint.Decide(Account, null, Email, right, Key, Now).Problem?.Status);
        var mine = new OldEmailStanding(Email, OldCpsEmailVerificationMethod.Code, Now, null, null);
        Assert.Equal("already_verified", Reason(VerifyOldEmailEndpoint.Decide(Account, mine, Email, right, Key, Now).Problem));
        var theirs = Pending(challenge) with { VerifiedByAnotherAccount = Guid.NewGuid() };
        var refused = VerifyOldEmailEndpoint.Decide(Account, theirs, Email, right, Key, Now);
        Assert.Null(refused.Event);
        Assert.Equal((409, "verified_by_another_account"), (refused.Problem!.Status!.Value, Reason(refused.Problem)));

        // Requesting a code follows the same rules; otherwise a new code, valid for the configured time and attempts.
        Assert.Equal(404, RequestOldEmailCodeEndpoint.Decide(Account, null, Email, Options, challenge, Now).Problem?.Status);
        Assert.Equal("already_verified", Reason(RequestOldEmailCodeEndpoint.Decide(Account, mine, Email, Options, challenge, Now).Problem));
        Assert.Equal("verified_by_another_account", Reason(RequestOldEmailCodeEndpoint.Decide(Account, theirs, Email, Options, challenge, Now).Problem));
        var requested = RequestOldEmailCodeEndpoint.Decide(Account, Pending(Guid.NewGuid()), Email, Options, challenge, Now).Requested!;
        Assert.Equal((challenge, 3, Now.AddHours(24)), (requested.ChallengeId, requested.AttemptsAllowed, requested.ExpiresAt));
    }

    [Fact]
    public void At_most_the_configured_number_of_codes_go_to_one_address_per_window()
    {
        var window = TimeSpan.FromHours(1);
        var (recent, next) = OldEmailCodeRequestLimit.Decide([Now.AddHours(-2), Now.AddMinutes(-50), Now.AddMinutes(-10)], Now, 3, window);
        Assert.Equal([Now.AddMinutes(-50), Now.AddMinutes(-10)], recent);
        Assert.Null(next);

        (_, next) = OldEmailCodeRequestLimit.Decide([Now.AddMinutes(-50), Now.AddMinutes(-30), Now.AddMinutes(-10)], Now, 3, window);
        Assert.Equal(Now.AddMinutes(10), next);
        (_, next) = OldEmailCodeRequestLimit.Decide([Now.AddMinutes(-50), Now.AddMinutes(-30), Now.AddMinutes(-10)], Now.AddMinutes(10), 3, window);
        Assert.Null(next);
    }

    [Fact]
    public void The_state_follows_the_account_stream_and_a_link_counts_as_verification_also_one_made_before_verification_existed()
    {
        var challenge = Guid.NewGuid();
        var state = OldCpsEmailVerifications.Create(new BusinessAccountOpened(Account, "Studio", "s@example.ee", "EE", [Email, "b@old.example"], Now));
        Assert.All(state.Emails, e => Assert.Null(e.VerifiedBy));

        state = state.Apply(new OldCpsEmailVerificationRequested(Account, Email, challenge, 3, Now.AddHours(24), Now));
        state = state.Apply(new OldCpsEmailVerificationFailed(Account, Email, challenge, OldCpsEmailVerificationFailure.WrongCode, 2, Now));
        Assert.Equal(2, state.Find(Email)!.Pending!.AttemptsLeft);
        // A failure of an older, superseded code changes nothing.
        state = state.Apply(new OldCpsEmailVerificationFailed(Account, Email, Guid.NewGuid(), OldCpsEmailVerificationFailure.WrongCode, 0, Now));
        Assert.Equal(2, state.Find(Email)!.Pending!.AttemptsLeft);
        state = state.Apply(new OldCpsEmailVerificationFailed(Account, Email, challenge, OldCpsEmailVerificationFailure.CodeExpired, 0, Now));
        Assert.Null(state.Find(Email)!.Pending);

        state = state.Apply(new OldCpsEmailVerified(Account, Email, OldCpsEmailVerificationMethod.Code, challenge, null, Now));
        Assert.Equal(OldCpsEmailVerificationMethod.Code, state.Find(Email)!.VerifiedBy);

        // A support link stored before verification existed has no OldCpsEmailVerified after it: it counts all the same.
        state = state.Apply(new OldCpsEmailLinked(Account, "c@old.example", "ticket", Now));
        state = state.Apply(new OldCpsEmailLinked(Account, "b@old.example", "ticket", Now));
        Assert.Equal(OldCpsEmailVerificationMethod.SupportLink, state.Find("c@old.example")!.VerifiedBy);
        Assert.Equal(OldCpsEmailVerificationMethod.SupportLink, state.Find("b@old.example")!.VerifiedBy);

        state = state.Apply(new OldCpsEmailUnlinked(Account, Email, "wrong", Now));
        Assert.Null(state.Find(Email));
    }

    [Fact]
    public void Already_migrated_stays_migrated_an_email_something_moved_from_counts_as_verified()
    {
        var state = new OldCpsEmailVerificationState(Email);
        var legacy = new LegacyAccountView { OldEmail = Email, OldMembershipNumber = "M-7", Products = [new LegacyProduct { Id = Guid.NewGuid() }] };

        Assert.False(OldEmailStandings.Of(Account, state, legacy, [], null).Verified);
        Assert.False(OldEmailStandings.Of(Account, state, null, ["M-7"], null).Verified);

        // The old membership number in the account's history, or a product migrated to it.
        Assert.Equal(OldCpsEmailVerificationMethod.MigratedBeforeVerification, OldEmailStandings.Of(Account, state, legacy, ["M-7"], null).VerifiedBy);
        legacy.Products[0].MigratedToAccountId = Account;
        legacy.Products[0].MigratedAt = Now;
        var migrated = OldEmailStandings.Of(Account, state, legacy, [], null);
        Assert.Equal((OldCpsEmailVerificationMethod.MigratedBeforeVerification, (DateTimeOffset?)Now), (migrated.VerifiedBy, migrated.VerifiedAt));

        // What another account migrated does not count for this one.
        legacy.Products[0].MigratedToAccountId = Guid.NewGuid();
        Assert.False(OldEmailStandings.Of(Account, state, legacy, [], null).Verified);
    }

    [Fact]
    public void An_unverified_email_shows_nothing_of_its_old_account_and_names_the_reason()
    {
        var legacy = new LegacyAccountView
        {
            OldEmail = Email,
            OldMembershipNumber = "M-7",
            Products = [new LegacyProduct { Id = Guid.NewGuid(), ModelCode = "A", SerialNumber = "S1" }],
        };
        var unverified = new OldEmailStanding(Email, null, null, new PendingOldEmailCode(Guid.NewGuid(), Now, Now.AddHours(1), 3), null);

        var status = MigrationAvailability.Decide(Account, [unverified], [legacy], [], Now);
        Assert.Equal((false, MigrationUnavailableReason.OldEmailUnverified, 0), (status.Available, status.Reason, status.ProductsToMigrate));
        Assert.Empty(status.LegacyAccounts);
        Assert.Empty(status.OldEmailsWithoutLegacyAccount);
        Assert.DoesNotContain("M-7", status.Explanation);
        var verification = Assert.Single(status.OldEmailVerifications);
        Assert.Equal((OldEmailVerificationState.CodeSent, (int?)3), (verification.State, verification.AttemptsLeft));
        // An expired code leaves the e-mail plainly unverified; an e-mail without an old account looks the same (no probing).
        Assert.Equal(OldEmailVerificationState.Unverified,
            MigrationAvailability.Decide(Account, [unverified], [legacy], [], Now.AddHours(2)).OldEmailVerifications[0].State);
        Assert.Equal(MigrationUnavailableReason.OldEmailUnverified, MigrationAvailability.Decide(Account, [unverified], [], [], Now).Reason);

        // A verified e-mail with products migrates while another is still unproved; the explanation asks for the proof.
        var other = new LegacyAccountView { OldEmail = "v@old.example", OldMembershipNumber = "M-8", Products = [new LegacyProduct { Id = Guid.NewGuid() }] };
        var both = MigrationAvailability.Decide(Account,
            [unverified, new OldEmailStanding("v@old.example", OldCpsEmailVerificationMethod.Code, Now, null, null)], [legacy, other], [], Now);
        Assert.True(both.Available);
        Assert.Equal(["v@old.example"], both.LegacyAccounts.Select(l => l.OldEmail));
        Assert.Contains($"Prove that the account owns {Email}", both.Explanation);
    }
}
