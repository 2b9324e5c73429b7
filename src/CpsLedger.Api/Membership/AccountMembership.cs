using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;
using Marten;
using Marten.Linq.MatchesSql;

namespace CpsLedger.Api.Membership;

/// <summary>How a membership's invoices are paid: <c>card</c> (charged on the due date, the card on file) or <c>bank_transfer</c>
/// (paid to the payee account with the invoice's reference).</summary>
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
    /// <remarks>
    /// Lock order: whatever writes to a membership that may be in force, or issues an invoice for its term, fetches this stream for
    /// exclusive writing first (its row locked until the transaction ends) and only then reads what it decides on, the term's
    /// invoices among them. A suspension or a settlement appends to the stream under that lock; an optimistic append beside it
    /// inserted its event before waiting for the row, and the two deadlocked (ARCHITECTURE.md, "Invoicing: streams").
    /// </remarks>
    public static Guid For(Guid accountId) => DerivedIds.Hashed($"cpsledger:membership:{accountId:N}");
}

/// <summary>One membership term (a year): its number, tier, fee and dates.</summary>
/// <param name="MembershipId">The term's id: a renewal is a new term with its own id and the same membership number.</param>
/// <param name="MembershipNumber">The membership number printed on invoices and the member's card; kept across renewals.</param>
/// <param name="TierCode">The tier held in this term (e.g. "gold"); after an upgrade, the new tier.</param>
/// <param name="TierName">That tier's name.</param>
/// <param name="TierKind">Standard or enterprise.</param>
/// <param name="AnnualFee">The tier's fee for the term, in <c>currency</c>, before VAT.</param>
/// <param name="Currency">ISO 4217 code of the fee, e.g. "EUR".</param>
/// <param name="PaymentMethod">How the term's invoices are paid.</param>
/// <param name="StartsOn">The term's first day.</param>
/// <param name="EndsOn">The term's last day (a year after the first, less a day).</param>
/// <param name="TierTableVersion">The tier table version the tier and fee were taken from.</param>
/// <param name="EndedOn">The day a past term ended; null for the term in force and for a proposed one.</param>
/// <param name="RenewalInvoiceId">For a term a renewal began: its invoice's id (bank transfer: the renewal invoice issued and paid
/// ahead; card: the invoice issued after the renewal and charged to the card on file). Null for a term a join began and for a
/// proposed term.</param>
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
    long TierTableVersion,
    DateOnly? EndedOn = null,
    [property: System.ComponentModel.Description(MembershipTerm.EndedBecauseDescription)]
    string? EndedBecause = null,
    Guid? RenewalInvoiceId = null)
{
    private const string EndedBecauseDescription = "Why a past term ended: \"renewed\", \"lapsed, …\", or \"cancelled by CPS support (reason)\" for " +
                                                   "support, auditors and finance; the account's member and the portal read \"cancelled by CPS " +
                                                   "support\", never support's reason.";
}

/// <summary>An invitation as the account's history shows it.</summary>
/// <param name="InvitationId">The invitation's id.</param>
/// <param name="Points">The account's points when it was invited.</param>
/// <param name="IssuedAt">When it was issued, UTC.</param>
/// <param name="WithdrawnAt">When it was withdrawn because the points fell below the threshold before joining, UTC; null
/// otherwise.</param>
/// <param name="PointsAtWithdrawal">For a withdrawn invitation: the account's points the withdrawal was decided on, as its event
/// records them. Null for an invitation not withdrawn, and for one withdrawn before 2026-12-06 until the membership projection is rebuilt
/// (every withdrawal event carries it; the stored view did not keep it).</param>
/// <param name="ThresholdAtWithdrawal">For a withdrawn invitation: the invitation threshold in force then, which the points fell
/// below (or which finance raised above them), as its event records it. Null where <paramref name="PointsAtWithdrawal"/> is.</param>
public sealed record InvitationRecord(Guid InvitationId, int Points, DateTimeOffset IssuedAt, DateTimeOffset? WithdrawnAt,
    int? PointsAtWithdrawal = null, int? ThresholdAtWithdrawal = null);

/// <summary>The membership is suspended: its invoice was overdue for the whole grace period.</summary>
public sealed record MembershipSuspended(Guid AccountId, Guid MembershipId, Guid InvoiceId, string InvoiceNumber, DateTimeOffset SuspendedAt);

/// <summary>The invoice that caused the suspension was paid in full (or cancelled by a credit note): the membership is active again.</summary>
public sealed record MembershipReinstated(Guid AccountId, Guid MembershipId, Guid InvoiceId, string InvoiceNumber, DateTimeOffset ReinstatedAt);

/// <summary>Why a membership lapsed at the end of its term.</summary>
public enum LapseReason
{
    /// <summary>The member stopped (declined) the renewal.</summary>
    RenewalStopped,

    /// <summary>The renewal invoice (bank transfer) was not paid by the term end, or the term's own invoice was unpaid (suspended).</summary>
    Unpaid,

    /// <summary>On its points at the term end the account is eligible for no tier (below the invitation threshold).</summary>
    NotEligible,

    /// <summary>Paying by card, and no card is on file to renew with.</summary>
    NoCardOnFile,
}

/// <summary>
/// The renewal of a term was offered, <c>Membership:RenewalOfferBefore</c> ahead of its end: the tiers the account was eligible for then,
/// the one pre-selected (the current tier if still eligible, else the highest eligible; null when none is) and, paying by bank
/// transfer, the renewal invoice issued with it.
/// </summary>
public sealed record RenewalOffered(
    Guid AccountId,
    Guid MembershipId,
    Guid RenewalMembershipId,
    string MembershipNumber,
    DateOnly TermEndsOn,
    IReadOnlyList<string> EligibleTiers,
    string? OfferedTier,
    string? OfferedTierName,
    TierKind? OfferedTierKind,
    decimal? AnnualFee,
    string? Currency,
    PaymentMethod PaymentMethod,
    long TierTableVersion,
    int Points,
    int Products,
    Guid? InvoiceId,
    DateTimeOffset OfferedAt);

/// <summary>The member chose the tier to renew with (another eligible tier, or a downgrade that takes effect at renewal).</summary>
/// <param name="InvoiceId">Paying by bank transfer once the offer is made: the renewal invoice issued for this choice.</param>
public sealed record RenewalTierChosen(
    Guid AccountId,
    Guid MembershipId,
    Guid RenewalMembershipId,
    string TierCode,
    string TierName,
    TierKind TierKind,
    decimal AnnualFee,
    string Currency,
    long TierTableVersion,
    int Points,
    int Products,
    Guid? InvoiceId,
    DateTimeOffset ChosenAt);

/// <summary>The member stopped (declined) the renewal: the membership runs to the term end and then lapses; nothing is refunded.</summary>
public sealed record RenewalStopped(Guid AccountId, Guid MembershipId, DateTimeOffset StoppedAt);

/// <summary>A new term began at the end of the last one: same membership number, the tier renewed on, a new invoice.</summary>
public sealed record MembershipRenewed(
    Guid AccountId,
    Guid PreviousMembershipId,
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
    Guid InvoiceId,
    DateTimeOffset RenewedAt);

/// <summary>The membership ended with its term and was not renewed. A later join gets a new membership number.</summary>
public sealed record MembershipLapsed(Guid AccountId, Guid MembershipId, string MembershipNumber, LapseReason Reason, DateOnly EndedOn,
    IReadOnlyList<string> CancelledInvoices, DateTimeOffset LapsedAt);

/// <summary>
/// Support ended the membership, with a reason; its unpaid invoices were cancelled by credit notes. <paramref name="TicketReference"/>:
/// the support ticket it answers (also in the headers); null on cancellations stored before 2026-12-06, when none was asked for.
/// </summary>
public sealed record MembershipCancelled(Guid AccountId, Guid MembershipId, string MembershipNumber, string Reason, DateOnly EndedOn,
    IReadOnlyList<string> CancelledInvoices, DateTimeOffset CancelledAt, string? TicketReference = null);

/// <summary>
/// The member moved up to a higher eligible tier mid-term, at once; the difference is invoiced pro rata by whole days remaining
/// (the effective day included) of the term: (new fee − old fee) × days remaining ÷ days in the term.
/// </summary>
public sealed record TierUpgraded(
    Guid AccountId,
    Guid MembershipId,
    Guid UpgradeId,
    string FromTierCode,
    string FromTierName,
    decimal FromAnnualFee,
    string TierCode,
    string TierName,
    TierKind TierKind,
    decimal AnnualFee,
    string Currency,
    DateOnly EffectiveOn,
    int DaysRemaining,
    int DaysInTerm,
    decimal ProRataAmount,
    long TierTableVersion,
    int Points,
    int Products,
    Guid InvoiceId,
    DateTimeOffset UpgradedAt);

/// <summary>The membership's suspension for an unpaid invoice of the term, while it lasts.</summary>
/// <param name="MembershipId">The suspended term.</param>
/// <param name="InvoiceId">The unpaid invoice the suspension is for.</param>
/// <param name="InvoiceNumber">That invoice's number.</param>
/// <param name="SuspendedAt">When the membership was suspended, UTC.</param>
public sealed record MembershipSuspension(Guid MembershipId, Guid InvoiceId, string InvoiceNumber, DateTimeOffset SuspendedAt);

/// <summary>
/// The account's standing in the programme: invitation, current and past memberships, every membership number.
/// </summary>
/// <remarks>An inline snapshot, immutable: each event gives a new value (the stored JSON keeps its shape).</remarks>
public sealed record AccountMembership
{
    /// <summary>The membership stream's id (derived from the account).</summary>
    public Guid Id { get; init; }
    /// <summary>The business account.</summary>
    public Guid AccountId { get; init; }

    /// <summary>The invitation standing at the moment read (now, or the as-of time); null when none, or once used to join.</summary>
    public InvitationRecord? Invitation { get; init; }

    /// <summary>Invitations withdrawn or used, oldest first.</summary>
    public IReadOnlyList<InvitationRecord> PastInvitations { get; init; } = [];
    /// <summary>The term in force (suspended or not); null before joining and once the membership ended (lapsed or
    /// cancelled).</summary>
    public MembershipTerm? Membership { get; init; }
    /// <summary>Terms that ended (renewed, lapsed or cancelled), oldest first.</summary>
    public IReadOnlyList<MembershipTerm> PastMemberships { get; init; } = [];

    /// <summary>Every membership number the account has had, oldest first, those carried over from old CPS accounts included (a
    /// new one is never equal to any of these).</summary>
    public IReadOnlyList<string> MembershipNumbers { get; init; } = [];

    /// <summary>Set while the membership in force is suspended for an invoice of the term unpaid after the grace period; null
    /// otherwise.</summary>
    public MembershipSuspension? Suspension { get; init; }

    /// <summary>The renewal of the membership in force: offered or not, the tier proposed or chosen, stopped (null before any of it).</summary>
    public RenewalState? Renewal { get; init; }

    /// <summary>Every tier the account has held, oldest first: joined, renewed, upgraded.</summary>
    public IReadOnlyList<TierPeriod> TierHistory { get; init; } = [];

    public bool IsMemberOn(DateOnly day) => Membership is { } m && m.StartsOn <= day && day <= m.EndsOn;

    /// <summary>
    /// The numbers carried over from old CPS accounts: those in the history that no term of this account was issued with. Only
    /// these say that something was migrated to the account (an issued number may equal an old account's, when it was issued
    /// before that old account was imported).
    /// </summary>
    public IReadOnlyList<string> OldNumbersCarriedOver() =>
        [.. MembershipNumbers.Except(PastMemberships.Append(Membership).OfType<MembershipTerm>().Select(t => t.MembershipNumber))];

    /// <summary>An account that was never invited and has no stream yet.</summary>
    public static AccountMembership None(Guid accountId) => new() { Id = MembershipStream.For(accountId), AccountId = accountId };

    public static AccountMembership Create(InvitationIssued e) => new AccountMembership { AccountId = e.AccountId }.Apply(e);

    // Starts the stream of an account migrated before it was ever invited.
    public static AccountMembership Create(LegacyMembershipNumberRecorded e) => new AccountMembership().Apply(e);

    public AccountMembership Apply(InvitationIssued e) => this with { Invitation = new InvitationRecord(e.InvitationId, e.Points, e.IssuedAt, null) };

    public AccountMembership Apply(InvitationWithdrawn e) => this with
    {
        PastInvitations = Invitation is { } invitation ? [.. PastInvitations, invitation with
        {
            WithdrawnAt = e.WithdrawnAt,
            PointsAtWithdrawal = e.Points,
            ThresholdAtWithdrawal = e.Threshold,
        }] : PastInvitations,
        Invitation = null,
    };

    public AccountMembership Apply(CpsJoined e) => Began(new MembershipTerm(e.MembershipId, e.MembershipNumber, e.TierCode, e.TierName, e.TierKind,
        e.AnnualFee, e.Currency, e.PaymentMethod, e.StartsOn, e.EndsOn, e.TierTableVersion), TierChange.Joined) with
    {
        PastMemberships = Membership is { } previous ? [.. PastMemberships, previous] : PastMemberships,
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

    public AccountMembership Apply(RenewalOffered e) => this with
    {
        Renewal = new RenewalState(e.MembershipId, e.OfferedAt, e.EligibleTiers,
            e.OfferedTier is null || Membership is not { } term ? null : Proposal(term, e.RenewalMembershipId, e.OfferedTier, e.OfferedTierName!,
                e.OfferedTierKind!.Value, e.AnnualFee!.Value, e.Currency!, e.TierTableVersion),
            Renewal?.MembershipId == e.MembershipId && Renewal.ChosenByMember, null, e.InvoiceId, Renewal?.MembershipId == e.MembershipId ? Renewal.Choices : 0),
    };

    public AccountMembership Apply(RenewalTierChosen e) => this with
    {
        Renewal = (Renewal?.MembershipId == e.MembershipId ? Renewal : new RenewalState(e.MembershipId, null, [], null, false, null, null, 0)) with
        {
            Proposed = Membership is { } term
                ? Proposal(term, e.RenewalMembershipId, e.TierCode, e.TierName, e.TierKind, e.AnnualFee, e.Currency, e.TierTableVersion)
                : null,
            ChosenByMember = true,
            StoppedAt = null,
            InvoiceId = e.InvoiceId,
            Choices = (Renewal?.MembershipId == e.MembershipId ? Renewal.Choices : 0) + 1,
        },
    };

    public AccountMembership Apply(RenewalStopped e) => this with
    {
        Renewal = (Renewal?.MembershipId == e.MembershipId ? Renewal : new RenewalState(e.MembershipId, null, [], null, false, null, null, 0)) with
        {
            StoppedAt = e.StoppedAt,
            InvoiceId = null,
        },
    };

    // An invitation issued in the moments between the term's last day and its renewal is used up by the renewal (Began).
    public AccountMembership Apply(MembershipRenewed e) => Began(new MembershipTerm(e.MembershipId, e.MembershipNumber, e.TierCode, e.TierName,
        e.TierKind, e.AnnualFee, e.Currency, e.PaymentMethod, e.StartsOn, e.EndsOn, e.TierTableVersion, RenewalInvoiceId: e.InvoiceId),
        TierChange.Renewed) with
    {
        PastMemberships = Membership is { } previous ? [.. PastMemberships, previous with { EndedOn = previous.EndsOn, EndedBecause = "renewed" }] : PastMemberships,
        Suspension = null,
    };

    public AccountMembership Apply(MembershipLapsed e) => Ended(e.MembershipId, e.EndedOn, $"lapsed, {LapseWording.Reason(e.Reason)}");

    public AccountMembership Apply(MembershipCancelled e) => Ended(e.MembershipId, e.EndedOn, Support.SupportNotes.CancelledBySupportBecause(e.Reason));

    public AccountMembership Apply(TierUpgraded e) => this with
    {
        Membership = Membership is { } term && term.MembershipId == e.MembershipId
            ? term with { TierCode = e.TierCode, TierName = e.TierName, TierKind = e.TierKind, AnnualFee = e.AnnualFee, TierTableVersion = e.TierTableVersion }
            : Membership,
        // A card renewal the member did not choose renews on the tier held at the term end (RenewalDecision.End), so after an upgrade
        // the proposed next term is the upgraded tier; left at the offer's, the portal showed one fee and the term end charged another.
        // A bank-transfer renewal keeps the tier invoiced ahead, and a member's own choice stands.
        Renewal = Renewal is { ChosenByMember: false, StoppedAt: null, OfferedAt: not null } renewal && renewal.MembershipId == e.MembershipId &&
                  Membership is { PaymentMethod: PaymentMethod.Card } current && current.MembershipId == e.MembershipId
            ? renewal with
            {
                Proposed = Proposal(current, RenewalTerms.RenewalOf(e.MembershipId), e.TierCode, e.TierName, e.TierKind, e.AnnualFee, e.Currency,
                    e.TierTableVersion),
            }
            : Renewal,
        TierHistory = [.. TierHistory, new TierPeriod(e.MembershipId, Membership?.MembershipNumber ?? "", e.TierCode, e.TierName, e.AnnualFee, e.Currency,
            e.EffectiveOn, TierChange.Upgraded, new TierUpgrade(e.UpgradeId, e.InvoiceId, e.FromTierName, e.FromAnnualFee, e.DaysRemaining, e.DaysInTerm,
                e.ProRataAmount))],
    };

    // A term began, joined or renewed: the standing invitation used up, the term in force with no renewal yet, its tier in the history.
    // What the previous term becomes, and the number, is each event's own (the callers).
    private AccountMembership Began(MembershipTerm term, TierChange change) => this with
    {
        PastInvitations = Invitation is { } invitation ? [.. PastInvitations, invitation] : PastInvitations,
        Invitation = null,
        Membership = term,
        Renewal = null,
        TierHistory = [.. TierHistory, new TierPeriod(term.MembershipId, term.MembershipNumber, term.TierCode, term.TierName, term.AnnualFee, term.Currency,
            term.StartsOn, change, null)],
    };

    private AccountMembership Ended(Guid membershipId, DateOnly endedOn, string because) => Membership is { } term && term.MembershipId == membershipId
        ? this with
        {
            PastMemberships = [.. PastMemberships, term with { EndedOn = endedOn, EndedBecause = because }],
            Membership = null,
            Renewal = null,
            Suspension = null,
        }
        : this;

    private static MembershipTerm Proposal(MembershipTerm current, Guid renewalId, string code, string name, TierKind kind, decimal fee, string currency,
        long tableVersion) =>
        new(renewalId, current.MembershipNumber, code, name, kind, fee, currency, current.PaymentMethod, current.EndsOn.AddDays(1),
            RenewalTerms.EndOfTermStarting(current.EndsOn.AddDays(1)), tableVersion);
}

/// <summary>How a tier came to be held.</summary>
public enum TierChange
{
    Joined,
    Renewed,
    Upgraded,
}

/// <summary>One tier held from a day on, as the tier history shows it.</summary>
/// <param name="Upgrade">For an upgrade: what it was charged pro rata, and its invoice.</param>
/// <param name="MembershipId">The term the tier was held in.</param>
/// <param name="MembershipNumber">The membership number of that term.</param>
/// <param name="TierCode">The tier's code.</param>
/// <param name="TierName">The tier's name.</param>
/// <param name="AnnualFee">The tier's fee for a year, in <c>currency</c>, before VAT.</param>
/// <param name="Currency">ISO 4217 code of the fee.</param>
/// <param name="From">The first day the tier was held.</param>
/// <param name="Change">How the tier came to be held.</param>
public sealed record TierPeriod(Guid MembershipId, string MembershipNumber, string TierCode, string TierName, decimal AnnualFee, string Currency,
    DateOnly From, TierChange Change, TierUpgrade? Upgrade);

/// <summary>An upgrade's charge: the fee difference for the whole days remaining of the term.</summary>
/// <param name="UpgradeId">The upgrade's id.</param>
/// <param name="InvoiceId">The invoice that charges it.</param>
/// <param name="FromTierName">The tier upgraded from.</param>
/// <param name="FromAnnualFee">That tier's fee for a year, in the term's currency.</param>
/// <param name="DaysRemaining">Whole days of the term left on the upgrade's first day, that day included.</param>
/// <param name="DaysInTerm">Days in the whole term.</param>
/// <param name="Amount">The charge before VAT: the fee difference times days remaining over days in the term, in the term's
/// currency.</param>
public sealed record TierUpgrade(Guid UpgradeId, Guid InvoiceId, string FromTierName, decimal FromAnnualFee, int DaysRemaining, int DaysInTerm,
    decimal Amount);

/// <summary>
/// The renewal of one membership term. <see cref="Proposed"/> is the next term as it would start (same number, the tier offered or
/// chosen); null when no tier is eligible. <see cref="InvoiceId"/> is the renewal invoice issued ahead (bank transfer) for it.
/// </summary>
/// <param name="MembershipId">The term being renewed.</param>
/// <param name="OfferedAt">When the renewal offer was made, UTC; null before it.</param>
/// <param name="EligibleTiers">The codes of the tiers the offer lists (the account's eligible tiers then).</param>
/// <param name="Proposed">The next term as it would start: same membership number, the tier offered or chosen; null when the offer
/// found no tier eligible, and before the offer unless a tier was chosen.</param>
/// <param name="ChosenByMember">True once the member (or support on the member's behalf) chose the renewal tier.</param>
/// <param name="StoppedAt">When the member stopped the renewal, UTC; null unless stopped.</param>
/// <param name="InvoiceId">The renewal invoice issued ahead (bank transfer); null when none was, and once the renewal was stopped
/// (a credit note cancels that invoice).</param>
/// <param name="Choices">How many times the member chose a renewal tier.</param>
public sealed record RenewalState(
    Guid MembershipId,
    DateTimeOffset? OfferedAt,
    IReadOnlyList<string> EligibleTiers,
    MembershipTerm? Proposed,
    bool ChosenByMember,
    DateTimeOffset? StoppedAt,
    Guid? InvoiceId,
    int Choices);

public static class RenewalTerms
{
    /// <summary>A term runs for a year: from its first day to the day before the same date a year later.</summary>
    public static DateOnly EndOfTermStarting(DateOnly startsOn) => startsOn.AddYears(1).AddDays(-1);

    /// <summary>The next term's id, derived from the term it renews: a second renewal of one term collides.</summary>
    public static Guid RenewalOf(Guid membershipId) => DerivedIds.Hashed($"cpsledger:membership-renewal:{membershipId:N}");
}

/// <summary>
/// A membership number is unique across all accounts: this row, inserted in the transaction that gives an account the number
/// (joining, or recording an old CPS account's number at migration), is refused by the primary key if another account got the
/// number first.
/// </summary>
[ConflictDescription("Membership number already issued", "The membership number could not be assigned. Please try again.")]
public sealed class MembershipNumberClaim
{
    public string Id { get; set; } = "";
    public Guid AccountId { get; set; }
}

public static class MembershipNumberClaims
{
    /// <summary>The events claim rows are made of: a join's issued number, a migration's recorded old number.</summary>
    public static readonly Type[] ClaimingEvents = [typeof(CpsJoined), typeof(LegacyMembershipNumberRecorded)];

    /// <summary>
    /// The claim rows the events make (read in sequence order): every number a join issued or a migration carried over, the
    /// account's that got it first (the claim's insert refuses a second). Nothing frees one: a lapse, a cancellation or a
    /// renewal keeps the number claimed.
    /// </summary>
    public static Dictionary<string, Guid> FromEvents(IEnumerable<JasperFx.Events.IEvent> events)
    {
        var claims = new Dictionary<string, Guid>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.Data is CpsJoined joined)
                claims.TryAdd(joined.MembershipNumber, joined.AccountId);
            else if (e.Data is LegacyMembershipNumberRecorded recorded)
                claims.TryAdd(recorded.MembershipNumber, recorded.AccountId);
        }

        return claims;
    }

    /// <summary>
    /// Whether a number drawn for a join is taken: claimed by an account, or the number of an imported old CPS account, migrated or
    /// not (old numbers were free text, so one can look exactly like a number the sequence gives). One round trip.
    /// </summary>
    public static async Task<bool> IsTakenAsync(IQuerySession session, string number, CancellationToken ct)
    {
        var batch = session.CreateBatchQuery();
        var claim = batch.Load<MembershipNumberClaim>(number);
        var old = batch.Query<Migration.LegacyAccountView>().Any(v => v.OldMembershipNumber == number);
        await batch.Execute(ct);
        return await claim is not null || await old;
    }

    /// <summary>
    /// Which of the numbers another account holds, and which account: its claim row or, for an old CPS number recorded before
    /// old numbers were claimed, the account whose history lists it (a fact that no longer arises, so reading it is not a race).
    /// One round trip.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, Guid>> HeldByOtherAccountsAsync(IQuerySession session, Guid accountId,
        IReadOnlyCollection<string> numbers, CancellationToken ct)
    {
        if (numbers.Count == 0)
            return new Dictionary<string, Guid>();
        var batch = session.CreateBatchQuery();
        var held = HeldByOtherAccounts(batch, accountId, numbers);
        await batch.Execute(ct);
        return await held();
    }

    /// <summary>The same, its reads queued in <paramref name="batch"/> (none when no numbers); the function answers once the batch ran.</summary>
    public static Func<Task<IReadOnlyDictionary<string, Guid>>> HeldByOtherAccounts(Marten.Services.BatchQuerying.IBatchedQuery batch, Guid accountId,
        IReadOnlyCollection<string> numbers)
    {
        if (numbers.Count == 0)
            return () => Task.FromResult<IReadOnlyDictionary<string, Guid>>(new Dictionary<string, Guid>());
        var claims = batch.LoadMany<MembershipNumberClaim>().ById([.. numbers]);
        var listed = numbers.ToDictionary(n => n, n => batch.Query<AccountMembership>()
            .Where(m => m.MatchesSql(Accounts.AccountSearch.ListContains(nameof(AccountMembership.MembershipNumbers)), Accounts.AccountSearch.ListOf(n))
                        && m.AccountId != accountId)
            .Take(1).ToList());
        return async () =>
        {
            var held = (await claims).Where(c => c.AccountId != accountId).ToDictionary(c => c.Id, c => c.AccountId);
            foreach (var (number, holders) in listed)
            {
                if (!held.ContainsKey(number) && (await holders).FirstOrDefault() is { } holder)
                    held[number] = holder.AccountId;
            }

            return held;
        };
    }
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
