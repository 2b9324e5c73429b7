using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;

namespace CpsLedger.Api.Membership;

public enum PaymentMethod
{
    Card,
    BankTransfer,
}

/// <summary>The account's allocated points reached the invitation threshold: it may join CPS.</summary>
public sealed record InvitationIssued(
    Guid AccountId,
    Guid InvitationId,
    int Points,
    int Threshold,
    long TierTableVersion,
    DateTimeOffset IssuedAt);

/// <summary>The account's points fell below the threshold before it joined; the invitation no longer stands.</summary>
public sealed record InvitationWithdrawn(
    Guid AccountId,
    Guid InvitationId,
    int Points,
    int Threshold,
    DateTimeOffset WithdrawnAt);

/// <summary>
/// The account joined CPS: active at once for a one-year term, with a new membership number. Records the tier as it was in
/// the tier table version used, and the points and products the eligibility was decided on.
/// </summary>
public sealed record CpsJoined(
    Guid AccountId,
    Guid MembershipId,
    string MembershipNumber,
    string TierCode,
    string TierName,
    TierKind TierKind,
    decimal AnnualFee,
    string Currency,
    PaymentMethod PaymentMethod,
    DateOnly StartsOn,
    DateOnly EndsOn,
    long TierTableVersion,
    int Points,
    int Products,
    DateTimeOffset JoinedAt);

/// <summary>
/// The membership number of an old CPS account was carried over when its products were migrated to this account: it stays
/// in the account's history of numbers (a later membership still gets a new, different number).
/// </summary>
public sealed record LegacyMembershipNumberRecorded(Guid AccountId, string OldEmail, string MembershipNumber, DateTimeOffset RecordedAt);

public static class MembershipStream
{
    /// <summary>One membership stream per account, its id derived from the account id (no lookup needed).</summary>
    public static Guid For(Guid accountId) => DerivedIds.Hashed($"cpsledger:membership:{accountId:N}");
}

public sealed record MembershipTerm(
    Guid MembershipId,
    string MembershipNumber,
    string TierCode,
    string TierName,
    TierKind TierKind,
    decimal AnnualFee,
    string Currency,
    PaymentMethod PaymentMethod,
    DateOnly StartsOn,
    DateOnly EndsOn,
    long TierTableVersion);

/// <summary>An invitation as the account's history shows it.</summary>
public sealed record InvitationRecord(Guid InvitationId, int Points, DateTimeOffset IssuedAt, DateTimeOffset? WithdrawnAt);

/// <summary>The membership is suspended: its invoice was overdue for the whole grace period.</summary>
public sealed record MembershipSuspended(Guid AccountId, Guid MembershipId, Guid InvoiceId, string InvoiceNumber, DateTimeOffset SuspendedAt);

/// <summary>The invoice that caused the suspension was paid in full (or cancelled by a credit note): the membership is active again.</summary>
public sealed record MembershipReinstated(Guid AccountId, Guid MembershipId, Guid InvoiceId, string InvoiceNumber, DateTimeOffset ReinstatedAt);

/// <summary>A suspension as <see cref="AccountMembership"/> shows it.</summary>
public sealed record MembershipSuspension(Guid MembershipId, Guid InvoiceId, string InvoiceNumber, DateTimeOffset SuspendedAt);

/// <summary>
/// The account's standing in the programme: invitation, current and past memberships, every membership number. An inline
/// snapshot, immutable: each event gives a new value (the stored JSON keeps its shape).
/// </summary>
public sealed record AccountMembership
{
    public Guid Id { get; init; }
    public Guid AccountId { get; init; }

    /// <summary>The invitation that stands now (null when none, or once used to join).</summary>
    public InvitationRecord? Invitation { get; init; }

    public IReadOnlyList<InvitationRecord> PastInvitations { get; init; } = [];
    public MembershipTerm? Membership { get; init; }
    public IReadOnlyList<MembershipTerm> PastMemberships { get; init; } = [];

    /// <summary>Every membership number the account has had, oldest first (a new one is never equal to any of these).</summary>
    public IReadOnlyList<string> MembershipNumbers { get; init; } = [];

    /// <summary>Set while the membership in force is suspended for an unpaid invoice (see Invoicing).</summary>
    public MembershipSuspension? Suspension { get; init; }

    public bool IsMemberOn(DateOnly day) => Membership is { } m && m.StartsOn <= day && day <= m.EndsOn;

    /// <summary>An account that was never invited and has no stream yet.</summary>
    public static AccountMembership None(Guid accountId) => new() { Id = MembershipStream.For(accountId), AccountId = accountId };

    public static AccountMembership Create(InvitationIssued e) => new AccountMembership { AccountId = e.AccountId }.Apply(e);

    // Starts the stream of an account migrated before it was ever invited.
    public static AccountMembership Create(LegacyMembershipNumberRecorded e) => new AccountMembership().Apply(e);

    public AccountMembership Apply(InvitationIssued e) => this with { Invitation = new InvitationRecord(e.InvitationId, e.Points, e.IssuedAt, null) };

    public AccountMembership Apply(InvitationWithdrawn e) => this with
    {
        PastInvitations = Invitation is { } invitation ? [.. PastInvitations, invitation with { WithdrawnAt = e.WithdrawnAt }] : PastInvitations,
        Invitation = null,
    };

    public AccountMembership Apply(CpsJoined e) => this with
    {
        PastInvitations = Invitation is { } invitation ? [.. PastInvitations, invitation] : PastInvitations,
        Invitation = null,
        PastMemberships = Membership is { } previous ? [.. PastMemberships, previous] : PastMemberships,
        Membership = new MembershipTerm(e.MembershipId, e.MembershipNumber, e.TierCode, e.TierName, e.TierKind, e.AnnualFee, e.Currency,
            e.PaymentMethod, e.StartsOn, e.EndsOn, e.TierTableVersion),
        MembershipNumbers = [.. MembershipNumbers, e.MembershipNumber],
    };

    public AccountMembership Apply(LegacyMembershipNumberRecorded e) => this with
    {
        AccountId = e.AccountId,
        MembershipNumbers = MembershipNumbers.Contains(e.MembershipNumber) ? MembershipNumbers : [.. MembershipNumbers, e.MembershipNumber],
    };

    public AccountMembership Apply(MembershipSuspended e) =>
        this with { Suspension = new MembershipSuspension(e.MembershipId, e.InvoiceId, e.InvoiceNumber, e.SuspendedAt) };

    public AccountMembership Apply(MembershipReinstated _) => this with { Suspension = null };
}

/// <summary>
/// A membership number is unique across all accounts: this row, inserted in the joining transaction, is refused by the
/// primary key if the number were ever issued twice.
/// </summary>
[ConflictDescription("Membership number already issued", "The membership number could not be assigned. Please try again.")]
public sealed class MembershipNumberClaim
{
    public string Id { get; set; } = "";
    public Guid AccountId { get; set; }
}

/// <summary>
/// Membership numbers read out on the phone: "CPS-482-173-905", nine digits in threes, the last a Luhn check digit that
/// catches a single mistyped digit or a swap of two neighbours. The first eight digits are a database sequence value
/// scrambled by a bijection on 0..99,999,999 (multiply by a number coprime to 10^8, add an offset), so numbers are unique
/// by construction and consecutive joiners do not get consecutive numbers.
/// </summary>
public static class MembershipNumbers
{
    public const string SequenceName = "membership_number_seq";
    private const long Modulus = 100_000_000;
    private const long Multiplier = 48_271_983;
    private const long Offset = 20_251_125;

    public static string FromSequence(long value)
    {
        if (value <= 0 || value >= Modulus)
            throw new ArgumentOutOfRangeException(nameof(value), value, "Membership number sequence out of range.");
        var scrambled = (long)(((Int128)value * Multiplier + Offset) % Modulus);
        var digits = scrambled.ToString("D8") + LuhnCheckDigit(scrambled.ToString("D8"));
        return $"CPS-{digits[..3]}-{digits[3..6]}-{digits[6..]}";
    }

    public static bool IsWellFormed(string number)
    {
        var digits = number.Replace("CPS-", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal);
        return number.StartsWith("CPS-", StringComparison.Ordinal) && digits.Length == 9 && digits.All(char.IsAsciiDigit)
               && LuhnCheckDigit(digits[..8]) == digits[8];
    }

    public static char LuhnCheckDigit(string digits)
    {
        var sum = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var d = digits[digits.Length - 1 - i] - '0';
            if (i % 2 == 0)
            {
                d *= 2;
                if (d > 9) d -= 9;
            }

            sum += d;
        }

        return (char)('0' + (10 - sum % 10) % 10);
    }
}
