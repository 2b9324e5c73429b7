using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using JasperFx.Events.Projections;
using Marten;
using Marten.Linq.MatchesSql;
using Marten.Events.Projections;
using Marten.Services.BatchQuerying;

namespace CpsLedger.Api.Migration;

// An old CPS e-mail on a business account is a claim until the account proves it owns the mailbox: a one-time code sent to
// the address and entered back, or support linking it with a reason. Until then the old account's products and membership
// number stay out of reach. The events live on the account stream (so an unlink and a verification race on one version);
// the state is aggregated live from that short stream; "verified by one account only" is a claim row inserted in the
// verifying transaction.

/// <summary>How an account proved that it owns an old CPS e-mail.</summary>
public enum OldCpsEmailVerificationMethod
{
    /// <summary>The account entered the one-time code sent to the address.</summary>
    Code,

    /// <summary>Support linked the e-mail with a reason (having checked ownership their way).</summary>
    SupportLink,

    /// <summary>
    /// Products or the membership number were migrated from the e-mail before verification existed: already migrated stays
    /// migrated. Never stored in an event; decided on read from the migration's own events.
    /// </summary>
    MigratedBeforeVerification,
}

public enum OldCpsEmailVerificationFailure
{
    /// <summary>The code entered is not the one sent (an attempt used).</summary>
    WrongCode,

    /// <summary>The code was entered after it expired; a new one must be requested.</summary>
    CodeExpired,
}

/// <summary>
/// A one-time code was sent to an old CPS e-mail of the account. The code is in no event and no document: it is derived from
/// <paramref name="ChallengeId"/> with the service's secret key (<see cref="OldEmailCodes"/>), so neither the event store nor
/// the outbox holds it. A newer request supersedes an older one.
/// </summary>
public sealed record OldCpsEmailVerificationRequested(
    Guid AccountId,
    string Email,
    Guid ChallengeId,
    int AttemptsAllowed,
    DateTimeOffset ExpiresAt,
    DateTimeOffset RequestedAt);

/// <summary>A code entered for an old CPS e-mail was wrong (<paramref name="AttemptsLeft"/> remain) or had expired.</summary>
public sealed record OldCpsEmailVerificationFailed(
    Guid AccountId,
    string Email,
    Guid ChallengeId,
    OldCpsEmailVerificationFailure Reason,
    int AttemptsLeft,
    DateTimeOffset FailedAt);

/// <summary>
/// The account proved it owns the old CPS e-mail: by the code of <paramref name="ChallengeId"/>, or by support linking it
/// (<paramref name="Reason"/>, also in the event headers). From now on no other account can verify it.
/// </summary>
public sealed record OldCpsEmailVerified(
    Guid AccountId,
    string Email,
    OldCpsEmailVerificationMethod Method,
    Guid? ChallengeId,
    string? Reason,
    DateTimeOffset VerifiedAt);

/// <summary>The code sent last for an e-mail, while it can still be entered.</summary>
public sealed record PendingOldEmailCode(Guid ChallengeId, DateTimeOffset RequestedAt, DateTimeOffset ExpiresAt, int AttemptsLeft);

/// <param name="VerifiedBy">null: not (yet) proved by this account.</param>
/// <param name="Pending">The code sent last, while it can still be entered.</param>
public sealed record OldCpsEmailVerificationState(
    string Email,
    OldCpsEmailVerificationMethod? VerifiedBy = null,
    DateTimeOffset? VerifiedAt = null,
    PendingOldEmailCode? Pending = null)
{
    public OldCpsEmailVerificationState Verify(OldCpsEmailVerificationMethod method, DateTimeOffset at) =>
        this with { VerifiedBy = method, VerifiedAt = at, Pending = null };
}

/// <summary>
/// The account's old CPS e-mails and how far each is proven, aggregated live from the account stream (a handful of events;
/// nothing stored, so accounts opened before this existed need no upgrade step). Immutable: each event gives a new value.
/// </summary>
public sealed record OldCpsEmailVerifications
{
    public Guid Id { get; init; }
    public IReadOnlyList<OldCpsEmailVerificationState> Emails { get; init; } = [];

    public OldCpsEmailVerificationState? Find(string email) => Emails.FirstOrDefault(e => e.Email == email);

    public static OldCpsEmailVerifications Create(BusinessAccountOpened e) => new()
    {
        Id = e.AccountId,
        Emails = [.. e.OldCpsEmails.Select(x => new OldCpsEmailVerificationState(x))],
    };

    // Support linking counts as verification, also for links made before verification existed (those have no
    // OldCpsEmailVerified after them).
    public OldCpsEmailVerifications Apply(OldCpsEmailLinked e) => Find(e.Email) switch
    {
        null => this with { Emails = [.. Emails, new OldCpsEmailVerificationState(e.Email).Verify(OldCpsEmailVerificationMethod.SupportLink, e.LinkedAt)] },
        { VerifiedBy: null } state => Replace(state.Verify(OldCpsEmailVerificationMethod.SupportLink, e.LinkedAt)),
        _ => this,
    };

    public OldCpsEmailVerifications Apply(OldCpsEmailUnlinked e) => this with { Emails = [.. Emails.Where(x => x.Email != e.Email)] };

    public OldCpsEmailVerifications Apply(OldCpsEmailVerificationRequested e) => Find(e.Email) is { } state
        ? Replace(state with { Pending = new PendingOldEmailCode(e.ChallengeId, e.RequestedAt, e.ExpiresAt, e.AttemptsAllowed) })
        : this;

    // A failure of an older, superseded code changes nothing.
    public OldCpsEmailVerifications Apply(OldCpsEmailVerificationFailed e) => Find(e.Email) is { Pending: { } pending } state && pending.ChallengeId == e.ChallengeId
        ? Replace(state with { Pending = e.Reason == OldCpsEmailVerificationFailure.CodeExpired ? null : pending with { AttemptsLeft = e.AttemptsLeft } })
        : this;

    public OldCpsEmailVerifications Apply(OldCpsEmailVerified e) => Find(e.Email) is { } state ? Replace(state.Verify(e.Method, e.VerifiedAt)) : this;

    private OldCpsEmailVerifications Replace(OldCpsEmailVerificationState state) =>
        this with { Emails = [.. Emails.Select(x => x.Email == state.Email ? state : x)] };
}

/// <summary>
/// "This old CPS e-mail is verified by this account": one row per verified e-mail, inserted in the verifying transaction by an
/// inline projection, so PostgreSQL's primary key refuses a second account, also when two verify at the same moment. Unlinking
/// the e-mail from the account deletes it.
/// </summary>
[ConflictDescription("Old CPS e-mail verified by another account",
    "Another business account has already proved that it owns this old CPS e-mail. If this account owns it, contact CPS support.")]
public sealed class OldCpsEmailClaim
{
    /// <summary>The e-mail, trimmed and lower-case.</summary>
    public string Id { get; set; } = "";

    public Guid AccountId { get; set; }
    public OldCpsEmailVerificationMethod Method { get; set; }
    public DateTimeOffset VerifiedAt { get; set; }
}

public sealed partial class OldCpsEmailClaimProjection : EventProjection
{
    // A rebuild starts from no claims and replays verifications and unlinks in event order.
    public OldCpsEmailClaimProjection() => Options.DeleteViewTypeOnTeardown<OldCpsEmailClaim>();

    public void Project(OldCpsEmailVerified e, IDocumentOperations ops) =>
        ops.Insert(new OldCpsEmailClaim { Id = e.Email, AccountId = e.AccountId, Method = e.Method, VerifiedAt = e.VerifiedAt });

    public void Project(OldCpsEmailUnlinked e, IDocumentOperations ops) =>
        ops.DeleteWhere<OldCpsEmailClaim>(c => c.Id == e.Email && c.AccountId == e.AccountId);
}

public sealed class OldEmailVerificationOptions
{
    public const string Section = "OldEmailVerification";

    /// <summary>
    /// Secret key (at least 32 bytes) the codes are derived from. The same on every node; changing it invalidates the codes
    /// sent so far (their holders request new ones).
    /// </summary>
    public string? CodeKey { get; set; }

    /// <summary>How long a code can be entered.</summary>
    public TimeSpan CodeLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How many wrong codes end a code (a new one must be requested).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>At most this many codes are sent to one address per <see cref="CodeRequestWindow"/>, whichever accounts ask.</summary>
    public int MaxCodesPerEmail { get; set; } = 3;

    public TimeSpan CodeRequestWindow { get; set; } = TimeSpan.FromHours(1);

    public byte[] Key => Encoding.UTF8.GetBytes(CodeKey ?? "");
}

/// <summary>
/// The one-time codes: eight digits derived from the challenge id with HMAC-SHA256 under the service's key. Nothing stores a
/// code or a hash of one (an eight-digit hash is brute-forced in seconds by whoever can read it); verifying derives it again.
/// </summary>
public static class OldEmailCodes
{
    public const int Digits = 8;

    public static string For(byte[] key, Guid challengeId)
    {
        var mac = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"cpsledger:old-cps-email-code:{challengeId:N}"));
        return (BinaryPrimitives.ReadUInt64BigEndian(mac) % 100_000_000UL).ToString("D8");
    }

    /// <summary>The code as shown in the e-mail: two groups of four.</summary>
    public static string Shown(string code) => $"{code[..4]} {code[4..]}";

    /// <summary>The digits of what was typed (spaces and hyphens are ignored), or null when that is not eight digits.</summary>
    public static string? Normalize(string? typed)
    {
        var digits = new string((typed ?? "").Where(c => c is not (' ' or '-')).ToArray());
        return digits.Length == Digits && digits.All(char.IsAsciiDigit) ? digits : null;
    }

    public static bool Matches(byte[] key, Guid challengeId, string typed) =>
        Normalize(typed) is { } digits
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(For(key, challengeId)), Encoding.ASCII.GetBytes(digits));
}

/// <summary>An old e-mail of the account as the decisions see it: how it is verified for this account, and whether another has it.</summary>
/// <param name="VerifiedBy">null: not (yet) verified by this account.</param>
/// <param name="VerifiedByAnotherAccount">The account that proved it owns the e-mail, when that is another one.</param>
public sealed record OldEmailStanding(
    string Email,
    OldCpsEmailVerificationMethod? VerifiedBy,
    DateTimeOffset? VerifiedAt,
    PendingOldEmailCode? Pending,
    Guid? VerifiedByAnotherAccount)
{
    public bool Verified => VerifiedBy is not null;
}

public static class OldEmailStandings
{
    /// <summary>
    /// The upgrade decision, applied on read so that replaying or rebuilding existing data gives the same answer: an e-mail
    /// something was migrated from to this account (a product, or the membership number) counts as verified.
    /// </summary>
    /// <param name="numbersCarriedOverFromEmail">The old membership numbers carried over to the account from this e-mail
    /// (<see cref="NumbersCarriedOver"/>): a number it was issued, or one carried over from another old e-mail that shares it,
    /// says nothing about this one.</param>
    public static OldEmailStanding Of(Guid accountId, OldCpsEmailVerificationState state, LegacyAccountView? legacy,
        IReadOnlyCollection<string> numbersCarriedOverFromEmail, Guid? verifiedByAnotherAccount)
    {
        if (state.VerifiedBy is { } method)
            return new OldEmailStanding(state.Email, method, state.VerifiedAt, null, verifiedByAnotherAccount);
        var migrated = legacy is not null
                       && (legacy.Products.Any(p => p.MigratedToAccountId == accountId) || numbersCarriedOverFromEmail.Contains(legacy.OldMembershipNumber));
        return migrated
            ? new OldEmailStanding(state.Email, OldCpsEmailVerificationMethod.MigratedBeforeVerification,
                legacy!.Products.Where(p => p.MigratedToAccountId == accountId).Min(p => p.MigratedAt), null, verifiedByAnotherAccount)
            : new OldEmailStanding(state.Email, null, null, state.Pending, verifiedByAnotherAccount);
    }

    /// <summary>
    /// Another account that proved it owns the e-mail: its claim row (every verification since verification exists has one),
    /// or, for what happened before, a migration from the e-mail to that account or a support link on it. One round trip (and
    /// one per other account that lists the e-mail without a claim: rare).
    /// </summary>
    public static async Task<Guid?> VerifiedByAnotherAccountAsync(IQuerySession session, Guid accountId, string email, LegacyAccountView? legacy,
        CancellationToken ct)
    {
        var batch = session.CreateBatchQuery();
        var claim = batch.Load<OldCpsEmailClaim>(email);
        var before = VerifiedBeforeClaims(batch, accountId, email, legacy);
        await batch.Execute(ct);
        return await claim is { } c ? ClaimedByAnother(accountId, c) : await before(session, ct);
    }

    public static Guid? ClaimedByAnother(Guid accountId, OldCpsEmailClaim claim) => claim.AccountId == accountId ? null : claim.AccountId;

    /// <summary>
    /// For an e-mail without a claim row: queues in <paramref name="batch"/> the reads of what happened before verification
    /// existed (facts that no longer arise, so reading them is not a race); the function returned decides once the batch ran.
    /// </summary>
    public static Func<IQuerySession, CancellationToken, Task<Guid?>> VerifiedBeforeClaims(IBatchedQuery batch, Guid accountId, string email,
        LegacyAccountView? legacy)
    {
        var migratedTo = legacy?.Products.FirstOrDefault(p => p.MigratedToAccountId is { } to && to != accountId)?.MigratedToAccountId;
        var number = legacy?.OldMembershipNumber;
        // The account the old number was carried over to (not one that was issued an equal number).
        var holders = number is null
            ? null
            : batch.Query<AccountMembership>()
                .Where(m => m.MatchesSql(AccountSearch.ListContains(nameof(AccountMembership.MembershipNumbers)), AccountSearch.ListOf(number))
                            && m.AccountId != accountId)
                .ToList();
        var listing = batch.Query<AccountView>()
            .Where(a => a.MatchesSql(AccountSearch.ListContains(nameof(AccountView.OldCpsEmails)), AccountSearch.ListOf(email)) && a.Id != accountId)
            .ToList();
        return async (session, ct) =>
        {
            if (migratedTo is { } to)
                return to;
            // Only an account the number was carried over to from this very e-mail: old accounts can share a number, and the one
            // it came from says nothing of who owns the other mailboxes.
            foreach (var holder in holders is null ? [] : (await holders).Where(m => m.OldNumbersCarriedOver().Contains(number!)))
            {
                if ((await NumbersCarriedOver.ByOldEmailAsync(session, holder.AccountId, ct))[email].Contains(number!))
                    return holder.AccountId;
            }

            foreach (var other in await listing)
            {
                var verifications = await session.Events.AggregateStreamAsync<OldCpsEmailVerifications>(other.Id, token: ct);
                if (verifications?.Find(email)?.VerifiedBy is not null)
                    return other.Id;
            }

            return null;
        };
    }
}

/// <summary>
/// The old membership numbers carried over to an account, by the old e-mail each came from, read from the account's
/// <see cref="LegacyMembershipNumberRecorded"/> events (each names its e-mail; the membership document keeps only the numbers).
/// Old numbers were free text, so two old accounts can share one: it is recorded once, from the e-mail migrated first, and
/// proves nothing about the other e-mail.
/// </summary>
public static class NumbersCarriedOver
{
    public static ILookup<string, string> None { get; } = Array.Empty<string>().ToLookup(e => e, e => e);

    public static async Task<ILookup<string, string>> ByOldEmailAsync(IQuerySession session, Guid accountId, CancellationToken ct) =>
        (await session.Events.FetchStreamAsync(MembershipStream.For(accountId), token: ct))
        .Select(e => e.Data).OfType<LegacyMembershipNumberRecorded>().ToLookup(e => e.OldEmail, e => e.MembershipNumber);

    /// <summary>
    /// The same, read only when it can matter: when a number the account carried over is the number of one of
    /// <paramref name="legacy"/> (otherwise no e-mail of theirs can count as proved by it).
    /// </summary>
    public static async Task<ILookup<string, string>> ByOldEmailIfSharedAsync(IQuerySession session, Guid accountId, AccountMembership? membership,
        IEnumerable<LegacyAccountView?> legacy, CancellationToken ct)
    {
        var carriedOver = membership?.OldNumbersCarriedOver() ?? [];
        return carriedOver.Count > 0 && legacy.Any(l => l is not null && carriedOver.Contains(l.OldMembershipNumber))
            ? await ByOldEmailAsync(session, accountId, ct)
            : None;
    }

    public static IReadOnlyCollection<string> From(this ILookup<string, string> numbers, string email) => [.. numbers[email]];
}

public static class OldEmailVerificationRegistration
{
    public static void AddOldEmailVerification(this StoreOptions opts)
    {
        // Live: aggregated from the account stream when read (short), never stored.
        opts.Projections.LiveStreamAggregation<OldCpsEmailVerifications>();
        // Inline: the claim must be inserted in the verifying transaction for the primary key to refuse a second account.
        opts.Projections.Add<OldCpsEmailClaimProjection>(ProjectionLifecycle.Inline);
        opts.Schema.For<OldCpsEmailClaim>().Duplicate(c => c.AccountId);
        opts.Schema.For<OldEmailCodeRequests>().UseOptimisticConcurrency(true);
    }

    public static void AddOldEmailVerification(this WebApplicationBuilder builder)
    {
        builder.Services.ConfigureMarten(opts => opts.AddOldEmailVerification());
        builder.Services.AddOptions<OldEmailVerificationOptions>()
            .Bind(builder.Configuration.GetSection(OldEmailVerificationOptions.Section))
            .Validate(o => o.Key.Length >= 32,
                "OldEmailVerification:CodeKey must be set to a secret of at least 32 bytes (the key the one-time codes are derived from).")
            .Validate(o => o.CodeLifetime > TimeSpan.Zero && o.CodeLifetime <= TimeSpan.FromDays(7),
                "OldEmailVerification:CodeLifetime must be positive and at most 7 days.")
            .Validate(o => o.MaxAttempts is >= 1 and <= 20, "OldEmailVerification:MaxAttempts must be 1 to 20.")
            .Validate(o => o.MaxCodesPerEmail >= 1, "OldEmailVerification:MaxCodesPerEmail must be at least 1.")
            .Validate(o => o.CodeRequestWindow > TimeSpan.Zero, "OldEmailVerification:CodeRequestWindow must be positive.")
            .ValidateOnStart();
    }
}
