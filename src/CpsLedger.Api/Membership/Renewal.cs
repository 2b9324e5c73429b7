using CpsLedger.Api.Accounts;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;
using Marten;
using Microsoft.Extensions.Options;
using MimeKit;
using Wolverine;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Membership;

public sealed class MembershipYearOptions
{
    public const string Section = "Membership";

    /// <summary>How long before a term ends its renewal is offered (and, paying by bank transfer, its renewal invoice issued).</summary>
    public TimeSpan RenewalOfferBefore { get; set; } = TimeSpan.FromDays(30);

    /// <summary>A renewal invoice issued ahead is due this many days before the term's last day (0: due on the last day).</summary>
    public int RenewalInvoiceDueDaysBeforeTermEnd { get; set; }
}

/// <summary>A term began (a join or a renewal): its renewal offer and its end are scheduled.</summary>
public sealed record TermStarted(Guid AccountId, Guid MembershipId);

/// <summary>Offer the renewal of this term; the handler waits until <see cref="MembershipYearOptions.RenewalOfferBefore"/> the end.</summary>
/// <param name="WaitsUntil">The offer time this message was scheduled for (null: sent to run now). The handler decides on the
/// options, not on it; it tells a message scheduled under a shorter window (<see cref="WaitingOffers"/>).</param>
public sealed record OfferRenewal(Guid AccountId, Guid MembershipId, DateTimeOffset? WaitsUntil = null);

/// <summary>
/// Sent at start-up: every term whose waiting <see cref="OfferRenewal"/> is due after its offer time under the window in force (one
/// scheduled under a shorter <see cref="MembershipYearOptions.RenewalOfferBefore"/>) is sent one now, which offers it or waits until
/// its offer time.
/// </summary>
public sealed record CheckRenewalOfferSchedules;

/// <summary>The term ends: renew it or let it lapse; the handler waits until the first moment after its last day.</summary>
public sealed record EndTerm(Guid AccountId, Guid MembershipId);

public sealed record SendRenewalOfferEmail(Guid AccountId, Guid MembershipId);

public sealed record SendRenewedEmail(Guid AccountId, Guid MembershipId);

/// <summary>Tell the member the membership ended (lapsed, or cancelled by support) and why.</summary>
public sealed record SendMembershipEndedEmail(Guid AccountId, Guid MembershipId);

public static class MembershipYearSetup
{
    public static void AddMembershipYear(this WebApplicationBuilder builder)
    {
        // After Wolverine's own hosted service (AddLedgerStore), so that the bus is running.
        builder.Services.AddHostedService<RenewalOfferScheduleCheck>();
        builder.Services.AddOptions<MembershipYearOptions>()
            .Bind(builder.Configuration.GetSection(MembershipYearOptions.Section))
            .Validate(o => o.RenewalOfferBefore > TimeSpan.Zero && o.RenewalOfferBefore < TimeSpan.FromDays(365),
                "Membership:RenewalOfferBefore must be positive and shorter than a year.")
            .Validate(o => o.RenewalInvoiceDueDaysBeforeTermEnd >= 0 && TimeSpan.FromDays(o.RenewalInvoiceDueDaysBeforeTermEnd) < o.RenewalOfferBefore,
                "Membership:RenewalInvoiceDueDaysBeforeTermEnd must not be negative and must fall within the offer window.")
            .ValidateOnStart();
    }

    /// <summary>A join or a renewal, once committed, schedules its term's renewal offer and end (durably, via the outbox).</summary>
    public static void ForwardTermsToRenewal(this MartenIntegration integration)
    {
        integration.SubscribeToEvent<CpsJoined>().TransformedTo(e => new TermStarted(e.Data.AccountId, e.Data.MembershipId));
        integration.SubscribeToEvent<MembershipRenewed>().TransformedTo(e => new TermStarted(e.Data.AccountId, e.Data.MembershipId));
    }
}

/// <summary>What the end of a term is decided on besides the membership.</summary>
/// <param name="Eligibility">The account's points and products at the term end under the tier table in force.</param>
/// <param name="RenewalInvoice">The renewal invoice issued ahead (bank transfer), if any.</param>
/// <param name="AsProposed">The same points and products under the tier table the renewal was proposed on (its version in the offer, or
/// in the member's choice or an upgrade since), when another table is in force now; null when it is the one in force.</param>
public sealed record TermEndInputs(EligibleTiers Eligibility, bool CardOnFile, Invoice? RenewalInvoice, EligibleTiers? AsProposed = null);

/// <summary>The end of a term: renewed, or lapsed for a reason (with the invoices to cancel).</summary>
public sealed record TermEndOutcome(MembershipRenewed? Renewed, LapseReason? Lapse, IReadOnlyList<Guid> InvoicesToCancel, bool EvenIfPaid);

public static class RenewalDecision
{
    /// <summary>The first moment after a term's last day (UTC): when it is renewed or lapses.</summary>
    public static DateTimeOffset EndAt(MembershipTerm term) => DueWork.StartOf(term.EndsOn.AddDays(1));

    public static DateTimeOffset OfferAt(MembershipTerm term, MembershipYearOptions options) => EndAt(term) - options.RenewalOfferBefore;

    /// <summary>
    /// The tier to renew with: the member's choice when still eligible, else the current tier when still eligible, else the highest
    /// eligible one (by fee) of the current tier's kind, else the highest eligible of any kind; null when none is eligible.
    /// </summary>
    /// <param name="chosen">The tier the member chose for the renewal, if any.</param>
    public static TierEligibility? Preselect(EligibleTiers eligibility, string? chosen, MembershipTerm current)
    {
        var eligible = eligibility.Standard.Concat(eligibility.Enterprise).Where(t => t.Eligible).ToList();
        return Eligible(chosen) ?? Eligible(current.TierCode)
               ?? eligible.Where(t => t.Kind == current.TierKind).MaxBy(t => t.AnnualFee)
               ?? eligible.MaxBy(t => t.AnnualFee);

        TierEligibility? Eligible(string? code) =>
            code is null ? null : eligible.FirstOrDefault(t => string.Equals(t.Code, code, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Whether the membership in force still waits for its renewal offer: neither offered nor stopped.</summary>
    public static bool AwaitsOffer(AccountMembership membership) =>
        membership.Membership is not null && RenewalOf(membership) is not ({ OfferedAt: not null } or { StoppedAt: not null });

    /// <summary>The renewal of the membership in force, or null when the term is already offered, stopped, or not this one.</summary>
    public static RenewalState? RenewalOf(AccountMembership membership) =>
        membership.Renewal is { } r && membership.Membership is { } term && r.MembershipId == term.MembershipId ? r : null;

    /// <summary>
    /// The offer: the tiers eligible now, the pre-selected one, and paying by bank transfer the renewal invoice to issue with it (due by
    /// the term end). Null when there is nothing to offer: not this term, already offered, or the member stopped the renewal.
    /// </summary>
    public static RenewalOffered? Offer(AccountMembership? membership, Guid membershipId, EligibleTiers eligibility, DateTimeOffset now)
    {
        if (membership?.Membership is not { } term || term.MembershipId != membershipId)
            return null;
        var renewal = RenewalOf(membership);
        if (renewal is { OfferedAt: not null } or { StoppedAt: not null })
            return null;
        var tier = Preselect(eligibility, renewal?.Proposed?.TierCode, term);
        var renewalId = RenewalTerms.RenewalOf(term.MembershipId);
        Guid? invoiceId = tier is not null && term.PaymentMethod == PaymentMethod.BankTransfer
            ? InvoiceStream.ForRenewal(renewalId, renewal?.Choices ?? 0)
            : null;
        return new RenewalOffered(membership.AccountId, term.MembershipId, renewalId, term.MembershipNumber, term.EndsOn,
            [.. eligibility.Standard.Concat(eligibility.Enterprise).Where(t => t.Eligible).Select(t => t.Code)], tier?.Code, tier?.Name, tier?.Kind,
            tier?.AnnualFee, tier?.Currency, term.PaymentMethod, eligibility.TierTableVersion, eligibility.Points, eligibility.Products, invoiceId, now);
    }

    /// <summary>
    /// At the term end. Stopped by the member, or suspended for an unpaid invoice: lapsed. Eligible for no tier: lapsed (a renewal
    /// invoice issued ahead is cancelled, paid or not: the term it was for never begins). Card: renewed on the tier the member chose,
    /// else the current one, while eligible (else the highest eligible), when a card is on file; its invoice follows as at joining.
    /// Bank transfer: renewed on the tier invoiced ahead once that invoice is paid; unpaid, lapsed and the invoice cancelled.
    /// Eligibility is judged on the points at the term end under the tier table the renewal was proposed on, not one published since.
    /// </summary>
    public static TermEndOutcome End(AccountMembership membership, TermEndInputs inputs, DateTimeOffset now)
    {
        var term = membership.Membership ?? throw new InvalidOperationException("No membership in force to end.");
        var renewal = RenewalOf(membership);
        Guid[] ahead = renewal?.InvoiceId is { } id ? [id] : [];
        if (renewal?.StoppedAt is not null)
            return new TermEndOutcome(null, LapseReason.RenewalStopped, ahead, false);
        if (membership.Suspension?.MembershipId == term.MembershipId)
            return new TermEndOutcome(null, LapseReason.Unpaid, ahead, false);
        // The table the renewal was proposed on (offered, or chosen since): a table published after it applies from the next offer on,
        // so a tier it dropped or changed is not decided again here. Nothing proposed (no tier was eligible at the offer): the table in force.
        var eligibility = renewal?.Proposed is { } proposal && inputs.AsProposed is { } asProposed && asProposed.TierTableVersion == proposal.TierTableVersion
            ? asProposed
            : inputs.Eligibility;
        var tier = Preselect(eligibility, renewal is { ChosenByMember: true, Proposed: { } chosen } ? chosen.TierCode : null, term);
        if (tier is null)
            return new TermEndOutcome(null, LapseReason.NotEligible, ahead, true);

        var renewalId = RenewalTerms.RenewalOf(term.MembershipId);
        var startsOn = term.EndsOn.AddDays(1);
        if (term.PaymentMethod == PaymentMethod.Card)
        {
            if (!inputs.CardOnFile)
                return new TermEndOutcome(null, LapseReason.NoCardOnFile, ahead, false);
            // The tier the offer announced (or the member chose) renews at the fee announced, as a bank renewal's invoice fixes it: a price
            // list published since applies from the next offer. Another tier (the announced one no longer eligible on the points) is at its
            // fee in the table decided on.
            if (renewal?.Proposed is { } announced && announced.TierCode == tier.Code)
                return new TermEndOutcome(Renewed(membership, term, renewalId, announced.TierCode, announced.TierName, announced.TierKind,
                    announced.AnnualFee, announced.Currency, announced.TierTableVersion, eligibility, InvoiceStream.ForMembership(renewalId),
                    startsOn, now), null, [], false);
            return new TermEndOutcome(Renewed(membership, term, renewalId, tier.Code, tier.Name, tier.Kind, tier.AnnualFee, tier.Currency,
                eligibility.TierTableVersion, eligibility, InvoiceStream.ForMembership(renewalId), startsOn, now), null, [], false);
        }

        if (inputs.RenewalInvoice is { Status: InvoiceStatus.Paid } paid && renewal?.Proposed is { } invoiced)
            return new TermEndOutcome(Renewed(membership, term, renewalId, invoiced.TierCode, invoiced.TierName, invoiced.TierKind, invoiced.AnnualFee,
                invoiced.Currency, invoiced.TierTableVersion, eligibility, paid.Id, startsOn, now), null, [], false);
        return new TermEndOutcome(null, LapseReason.Unpaid, ahead, false);
    }

    private static MembershipRenewed Renewed(AccountMembership membership, MembershipTerm term, Guid renewalId, string code, string name, TierKind kind,
        decimal fee, string currency, long tableVersion, EligibleTiers eligibility, Guid invoiceId, DateOnly startsOn, DateTimeOffset now) =>
        new(membership.AccountId, term.MembershipId, renewalId, term.MembershipNumber, code, name, kind, fee, currency, term.PaymentMethod, startsOn,
            RenewalTerms.EndOfTermStarting(startsOn), tableVersion, eligibility.Points, eligibility.Products, invoiceId, now);
}

/// <summary>Where the renewal of the term in force stands.</summary>
public enum RenewalStatus
{
    /// <summary>Renews as things stand; the offer is not made yet.</summary>
    NotOfferedYet,

    /// <summary>Offered, on the pre-selected tier.</summary>
    Offered,

    /// <summary>The member chose the tier to renew with.</summary>
    TierChosen,

    /// <summary>The member stopped (declined) the renewal: the membership ends with its term.</summary>
    Stopped,

    /// <summary>Offered, and no tier was eligible: the membership ends with its term unless points return.</summary>
    NothingEligible,
}

/// <summary>
/// The membership year as the portal, support and the time travel show it, at the moment read (now, or the as-of time): the term
/// in force, where its renewal stands, the tiers an upgrade could go to, and every tier held. Null when the account is not a
/// member.
/// </summary>
/// <param name="RenewalTier">The code of the tier it renews with: offered, or chosen; before the offer, the one the offer would
/// pre-select on the points and products as they stand (a tier the member chose, else the tier held, while eligible; else the
/// eligible tier with the highest fee, of the held tier's kind first). Null when the renewal is stopped, when the offer found no tier eligible, and before the
/// offer when no tier is in reach.</param>
/// <param name="UpgradableTo">The codes of the tiers an upgrade could go to (pro rata) at the moment read (now, or the as-of time):
/// eligible on the points and products at that moment, in the term's currency, with a higher annual fee than the tier held; empty
/// when none is.</param>
/// <param name="MembershipNumber">The membership number.</param>
/// <param name="Tier">The code of the tier held at the moment read (now, or the as-of time).</param>
/// <param name="TierName">That tier's name.</param>
/// <param name="PaymentMethod">How the term's invoices are paid.</param>
/// <param name="StartsOn">The first day of the term in force.</param>
/// <param name="EndsOn">The last day of the term in force.</param>
/// <param name="Renewal">Where its renewal stands.</param>
/// <param name="RenewalOfferOn">The day (UTC) the renewal offer is, or was, due: <c>Membership:RenewalOfferBefore</c> ahead of the
/// term's end.</param>
/// <param name="RenewalTierName">The name of the tier it renews with; null when <c>renewalTier</c> is.</param>
/// <param name="TierHistory">Every tier the account has held, oldest first.</param>
/// <param name="RenewalOptions">The tiers the renewal choice accepts at the moment read (now, or the as-of time), at which fees, on
/// which tier table; null where eligibility is not shown.</param>
public sealed record MembershipOutlook(
    string MembershipNumber,
    string Tier,
    string TierName,
    PaymentMethod PaymentMethod,
    DateOnly StartsOn,
    DateOnly EndsOn,
    RenewalStatus Renewal,
    DateOnly RenewalOfferOn,
    string? RenewalTier,
    string? RenewalTierName,
    IReadOnlyList<string> UpgradableTo,
    IReadOnlyList<TierPeriod> TierHistory,
    [property: System.ComponentModel.Description(MembershipOutlook.RenewalOptionsDescription)]
    RenewalOptions? RenewalOptions = null)
{
    private const string RenewalOptionsDescription =
        "The tiers PUT .../membership/renewal accepts at the moment read (now, or the as-of time), each eligible or not on the " +
        "account's points and products at that moment, at the fee a renewal on it is charged, and the tier table they are from. " +
        "Once the renewal is offered (table: offer) that is the table the offer was made on (or the member's choice since), which " +
        "a table published later does not change: it applies from the next offer. Before the offer, or when the offer found no " +
        "tier eligible, it is the table in force (table: in_force), the same lists as the eligibility's standard and enterprise " +
        "(GET .../eligible-tiers, time travel's eligibleTiers). For the renewal choice show these, not those.";

    /// <param name="inForce">The tier table in force, which <paramref name="eligibility"/> was decided on.</param>
    /// <param name="offered">The table the renewal was offered on, when it is not the one in force (<see cref="RenewalTables"/>).</param>
    public static MembershipOutlook? Of(AccountMembership? membership, EligibleTiers? eligibility, MembershipYearOptions options,
        TierTableView? inForce, TierTableView? offered)
    {
        if (membership?.Membership is not { } term)
            return null;
        var renewal = RenewalDecision.RenewalOf(membership);
        var status = renewal switch
        {
            { StoppedAt: not null } => RenewalStatus.Stopped,
            { ChosenByMember: true } => RenewalStatus.TierChosen,
            { OfferedAt: not null, Proposed: null } => RenewalStatus.NothingEligible,
            { OfferedAt: not null } => RenewalStatus.Offered,
            _ => RenewalStatus.NotOfferedYet,
        };
        (string Code, string Name)? next = status switch
        {
            RenewalStatus.Stopped or RenewalStatus.NothingEligible => null,
            // Before the offer: the tier the offer would pre-select on the points as they stand (a tier now out of reach is not it), none
            // when no tier is in reach.
            _ when renewal?.OfferedAt is null && eligibility is not null =>
                RenewalDecision.Preselect(eligibility, renewal?.Proposed?.TierCode, term) is { } tier ? (tier.Code, tier.Name) : null,
            _ => renewal?.Proposed is { } proposed ? (proposed.TierCode, proposed.TierName) : (term.TierCode, term.TierName),
        };
        var upgradable = eligibility is null
            ? []
            : eligibility.Standard.Concat(eligibility.Enterprise)
                .Where(t => t.Eligible && t.Currency == term.Currency && t.AnnualFee > term.AnnualFee).Select(t => t.Code).ToList();
        return new MembershipOutlook(term.MembershipNumber, term.TierCode, term.TierName, term.PaymentMethod, term.StartsOn, term.EndsOn, status,
            DateOnly.FromDateTime(RenewalDecision.OfferAt(term, options).UtcDateTime), next?.Code, next?.Name, upgradable, membership.TierHistory,
            eligibility is null || inForce is null ? null : RenewalOptions.Of(membership, eligibility, inForce, offered));
    }
}

/// <summary>Which tier table the renewal choice is judged on at the moment read (now, or the as-of time).</summary>
public enum RenewalTableBasis
{
    /// <summary>The table in force (the top-level lists): before the offer, or when the offer found no tier eligible.</summary>
    InForce,

    /// <summary>The table the renewal was offered on (or the member's choice since, or an upgrade's): a table published later applies
    /// from the next offer.</summary>
    Offer,
}

/// <summary>
/// The tiers the renewal choice (PUT .../membership/renewal) accepts at the moment read (now, or the as-of time), decided as that
/// choice decides them: on the same tier table, with the account's points and products at that moment, so that the portal never
/// lists a tier the choice refuses or a fee it does not charge.
/// </summary>
/// <remarks>Built by <see cref="Eligibility.Decide"/>, as <see cref="ChooseRenewalEndpoint"/> is.</remarks>
public sealed record RenewalOptions(
    [property: System.ComponentModel.Description("offer: the table the renewal was offered on (or the member's choice since); in_force: the " +
                                                 "table in force, before the offer or when the offer found no tier eligible.")]
    RenewalTableBasis Table,
    [property: System.ComponentModel.Description("The version of that table (the eligibility's tierTableVersion, in GET .../eligible-tiers and " +
                                                 "time travel's eligibleTiers, is the table in force).")]
    long TierTableVersion,
    [property: System.ComponentModel.Description("When that table was published, UTC.")]
    DateTimeOffset TierTablePublishedAt,
    [property: System.ComponentModel.Description(RenewalOptions.ListDescription)]
    IReadOnlyList<TierEligibility> Standard,
    [property: System.ComponentModel.Description(RenewalOptions.ListDescription)]
    IReadOnlyList<TierEligibility> Enterprise)
{
    private const string ListDescription = "That table's tiers at its fees, each eligible or not (and why not) on the points and products " +
                                           "at the moment read (now, or the as-of time): a renewal choice of an eligible one is " +
                                           "accepted at that fee.";

    /// <param name="eligibility">The points and products now, decided on <paramref name="inForce"/>.</param>
    /// <param name="offered">The offer's table when it is not the one in force; null otherwise (<see cref="RenewalTables.OfferedOnAsync"/>).</param>
    public static RenewalOptions Of(AccountMembership membership, EligibleTiers eligibility, TierTableView inForce, TierTableView? offered)
    {
        // An offered version the table's stream does not have falls back to the table in force, as the choice does.
        var basis = offered is not null || RenewalTables.OfferedVersion(RenewalDecision.RenewalOf(membership)) == inForce.TableVersion
            ? RenewalTableBasis.Offer
            : RenewalTableBasis.InForce;
        var table = offered ?? inForce;
        var decided = offered is null ? eligibility : Eligibility.Decide(eligibility.AccountId, eligibility.Points, eligibility.Products, offered);
        return new RenewalOptions(basis, table.TableVersion, table.PublishedAt, decided.Standard, decided.Enterprise);
    }
}

public static class TermStartedHandler
{
    // The session makes the handler transactional, so its two messages are stored with TermStarted marked handled (the outbox).
    public static OutgoingMessages Handle(TermStarted message, IDocumentSession outbox) =>
        [new OfferRenewal(message.AccountId, message.MembershipId), new EndTerm(message.AccountId, message.MembershipId)];
}

[Platform.SystemActor("renewal")]
public static class OfferRenewalHandler
{
    // Two nodes offering at once: the second waits for the membership's lock (MembershipStream) and finds the offer made.
    public static void Configure(HandlerChain chain) => DueWork.RetryOnConflicts(chain);

    public static Guid MembershipStreamId(OfferRenewal message) => MembershipStream.For(message.AccountId);

    public static async Task<(Events, OutgoingMessages)> Handle(OfferRenewal message,
        [WriteAggregate(FromMethod = nameof(MembershipStreamId), Required = false, LoadStyle = ConcurrencyStyle.Exclusive)] AccountMembership? membership,
        IDocumentSession session, TimeProvider clock, IOptions<MembershipYearOptions> options, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (membership?.Membership is not { } term || term.MembershipId != message.MembershipId)
            return ([], []);
        var offerAt = RenewalDecision.OfferAt(term, options.Value);
        if (now < offerAt)
            return ([], [DueWork.At(message with { WaitsUntil = offerAt }, offerAt, now)]);

        var eligibility = await Eligibility.ForAccountAsync(session, message.AccountId, ct);
        if (RenewalDecision.Offer(membership, message.MembershipId, eligibility, now) is not { } offer)
            return ([], []);
        OutgoingMessages messages = [new SendRenewalOfferEmail(message.AccountId, message.MembershipId)];
        if (offer.InvoiceId is { } invoiceId)
            messages.Add(new IssueInvoice(message.AccountId, offer.RenewalMembershipId, now, InvoiceKind.Renewal, invoiceId));
        return ([offer], messages);
    }
}

/// <summary>
/// The <see cref="OfferRenewal"/> messages waiting in the inbox (to run now, scheduled, or being retried), by term, with the time each
/// waits until. A wait past the term's offer time was scheduled under a shorter <see cref="MembershipYearOptions.RenewalOfferBefore"/>:
/// the handler would fire early and wait again under a shorter window, but under a longer one nothing would run before it.
/// </summary>
public sealed class WaitingOffers
{
    private readonly ILookup<Guid, DateTimeOffset?> _byTerm;

    private WaitingOffers(ILookup<Guid, DateTimeOffset?> byTerm) => _byTerm = byTerm;

    /// <summary>Whether one of them offers the term by <paramref name="offerAt"/>: one to run now, or one waiting until no later.</summary>
    public bool Covers(Guid membershipId, DateTimeOffset offerAt) => _byTerm[membershipId].Any(w => w is null || w <= offerAt);

    /// <summary>When the earliest of the term's waiting offers is due, when every one waits past <paramref name="offerAt"/>.</summary>
    public DateTimeOffset? LateWait(Guid membershipId, DateTimeOffset offerAt) =>
        _byTerm.Contains(membershipId) && !Covers(membershipId, offerAt) ? _byTerm[membershipId].Min() : null;

    /// <summary>The inbox's <c>message_type</c> of an <see cref="OfferRenewal"/>.</summary>
    public static string MessageType => typeof(OfferRenewal).FullName!;

    public static async Task<WaitingOffers> ReadAsync(IQuerySession session, CancellationToken ct)
    {
        var schema = session.DocumentStore.Options.DatabaseSchemaName;
        var rows = await session.QueryAsync<WaitingEnvelope>(
            $"select json_build_object('Body', encode(body, 'base64'), 'ExecutionTime', execution_time) from {schema}.wolverine_incoming_envelopes " +
            "where status <> 'Handled' and message_type = ?", ct, MessageType);
        return From(rows.Select(r => (r.Body, r.ExecutionTime)));
    }

    /// <summary>From <see cref="OfferRenewal"/> envelopes read with the rest of the inbox (the reconciliation reads it once).</summary>
    public static WaitingOffers From(IEnumerable<(byte[] Body, DateTimeOffset? ExecutionTime)> envelopes) =>
        new(envelopes.Select(Read).ToLookup(w => w.MembershipId, w => w.WaitsUntil));

    private static (Guid MembershipId, DateTimeOffset? WaitsUntil) Read((byte[] Body, DateTimeOffset? ExecutionTime) row)
    {
        var envelope = Wolverine.Runtime.Serialization.EnvelopeSerializer.Deserialize(row.Body);
        var message = System.Text.Json.JsonSerializer.Deserialize<OfferRenewal>(envelope.Data!, MessageJson)
                      ?? throw new InvalidOperationException($"Envelope {envelope.Id} holds no OfferRenewal.");
        // One stored before it said (scheduled by an earlier release): its scheduled time, on the machine's clock, which is the
        // service's in production.
        return (message.MembershipId, message.WaitsUntil ?? row.ExecutionTime);
    }

    private static readonly System.Text.Json.JsonSerializerOptions MessageJson = new() { PropertyNameCaseInsensitive = true };

    private sealed record WaitingEnvelope(byte[] Body, DateTimeOffset? ExecutionTime);
}

/// <summary>
/// At start-up, asks for the terms whose waiting renewal offer is due after their offer time under the window now in force
/// (<see cref="CheckRenewalOfferSchedules"/>): lengthening <c>Membership:RenewalOfferBefore</c> takes effect with the restart, not
/// when the messages scheduled under the shorter window come due. Every node asks as it starts; the repeats send nothing more
/// once the first has run (each term's waiting offer then covers it), and an offer is made once whatever arrives. Sent once every
/// hosted service has started (<see cref="StartedAsync"/>), Kestrel's bind included: a refused start (an address in use) sends none,
/// and so has none to wait for as it stops (in Development its handler was compiled first, seconds before the refused start ended).
/// </summary>
public sealed class RenewalOfferScheduleCheck(IServiceProvider services) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        // A command that starts the host with Wolverine as a mediator only (wolverine-diagnostics describe-routing) sends nothing:
        // Wolverine refuses to publish there, and the command ended in that error and its stack.
        if (services.GetRequiredService<Wolverine.Runtime.IWolverineRuntime>().Options.Durability.Mode == DurabilityMode.MediatorOnly)
            return;
        using var scope = services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<IMessageBus>().PublishAsync(new CheckRenewalOfferSchedules());
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class CheckRenewalOfferSchedulesHandler
{
    // The session makes the handler transactional: the offers it sends are stored as the check is marked handled (the outbox).
    public static async Task<OutgoingMessages> Handle(CheckRenewalOfferSchedules message, IDocumentSession outbox, IOptions<MembershipYearOptions> options,
        ILogger<CheckRenewalOfferSchedules> logger, CancellationToken ct)
    {
        var waiting = await WaitingOffers.ReadAsync(outbox, ct);
        var members = await outbox.Query<AccountMembership>().Where(m => m.Membership != null).ToListAsync(ct);
        var late = members.Where(m => RenewalDecision.AwaitsOffer(m)
                                      && waiting.LateWait(m.Membership!.MembershipId, RenewalDecision.OfferAt(m.Membership, options.Value)) is not null)
            .ToList();
        if (late.Count > 0)
            logger.LogInformation("{Count} renewal offer(s) were scheduled later than Membership:RenewalOfferBefore ({Window}) now says: offered now or at the new time",
                late.Count, options.Value.RenewalOfferBefore);
        return [.. late.Select(m => new OfferRenewal(m.AccountId, m.Membership!.MembershipId))];
    }
}

[Platform.SystemActor("renewal")]
public static class EndTermHandler
{
    public static void Configure(HandlerChain chain) => DueWork.RetryOnConflicts(chain);

    public static Guid MembershipStreamId(EndTerm message) => MembershipStream.For(message.AccountId);

    // Under the membership's lock (MembershipStream): a settlement that held it has committed, and the renewal invoice is read after it.
    public static async Task<(Events, OutgoingMessages)> Handle(EndTerm message,
        [WriteAggregate(FromMethod = nameof(MembershipStreamId), Required = false, LoadStyle = ConcurrencyStyle.Exclusive)] AccountMembership? membership,
        IDocumentSession session, TimeProvider clock, IOptions<InvoicingOptions> invoicing, IOptions<SellerOptions> seller, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        // Renewed or lapsed already (a redelivery, a second node), or cancelled: nothing to do.
        if (membership?.Membership is not { } term || term.MembershipId != message.MembershipId)
            return ([], []);
        var endAt = RenewalDecision.EndAt(term);
        if (now < endAt)
            return ([], [DueWork.At(message, endAt, now)]);

        var eligibility = await Eligibility.ForAccountAsync(session, message.AccountId, ct);
        var card = await session.LoadAsync<PaymentCard>(PaymentCardStream.For(message.AccountId), ct);
        var renewal = RenewalDecision.RenewalOf(membership);
        var renewalInvoice = renewal?.InvoiceId is { } invoiceId ? await session.LoadAsync<Invoice>(invoiceId, ct) : null;
        // The table the renewal was proposed on, when another is in force now: read from the table's stream at that version.
        var asProposed = await RenewalTables.ProposedOnAsync(session, renewal?.Proposed, eligibility.TierTableVersion, ct) is { } table
            ? Eligibility.Decide(message.AccountId, eligibility.Points, eligibility.Products, table)
            : null;
        var outcome = RenewalDecision.End(membership, new TermEndInputs(eligibility, card is not null, renewalInvoice, asProposed), now);

        if (outcome.Renewed is { } renewed)
        {
            OutgoingMessages renewedMessages = [new SendRenewedEmail(message.AccountId, renewed.MembershipId)];
            if (renewed.PaymentMethod == PaymentMethod.Card)
            {
                // The renewed term's invoice follows as at joining: after the issue delay, charged on its due date.
                var issueAt = now + invoicing.Value.IssueDelay;
                renewedMessages.Add(DueWork.At(new IssueInvoice(message.AccountId, renewed.MembershipId, issueAt, InvoiceKind.Renewal), issueAt, now));
            }
            return ([renewed], renewedMessages);
        }

        var reason = outcome.Lapse!.Value;
        var cancelled = await InvoiceCancellations.CancelOwedAsync(session, outcome.InvoicesToCancel,
            $"Membership {term.MembershipNumber} not renewed ({LapseWording.Reason(reason)}): the renewal term does not begin",
            seller.Value.ToInvoiceSeller(), now, ct, outcome.EvenIfPaid ? _ => true : null);
        var lapsed = new MembershipLapsed(message.AccountId, term.MembershipId, term.MembershipNumber, reason, term.EndsOn, cancelled, now);
        // The account may be invited again on its points (a new join gets a new membership number).
        return ([lapsed], [new SendMembershipEndedEmail(message.AccountId, term.MembershipId), new ReviewInvitation(message.AccountId, SystemActor.CauseOf(session))]);
    }
}

public static class LapseWording
{
    public static string Reason(LapseReason reason) => reason switch
    {
        LapseReason.RenewalStopped => "the renewal was stopped",
        LapseReason.Unpaid => "not paid by the end of the term",
        LapseReason.NotEligible => "not enough points for any level",
        LapseReason.NoCardOnFile => "no card on file to renew with",
        _ => reason.ToString(),
    };
}

public static class SendRenewalOfferEmailHandler
{
    public static async Task Handle(SendRenewalOfferEmail message, IQuerySession session, Platform.MailDelivery mail,
        ILogger<SendRenewalOfferEmail> logger, CancellationToken ct)
    {
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(message.AccountId), ct);
        if (NotOwed(membership, message.MembershipId) is { } reason)
        {
            logger.LogInformation("Renewal offer e-mail of membership {MembershipId} of account {AccountId} not sent ({MessageType}): {Reason}",
                message.MembershipId, message.AccountId, nameof(SendRenewalOfferEmail), reason);
            return;
        }

        var term = membership!.Membership!;
        var renewal = RenewalDecision.RenewalOf(membership)!;
        var account = await session.LoadAsync<AccountView>(message.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {message.AccountId} is missing.");
        // The tiers and fees of the table the offer was made on (or the member's choice since), which a choice and the term end decide on,
        // not of one published since, when the e-mail goes out late (until 2026-12-05 the table in force as it was written).
        var table = await session.LoadAsync<TierTableView>(TierTableStream.Id, ct);
        if (table is not null && await RenewalTables.ProposedOnAsync(session, renewal, table.TableVersion, ct) is { } offered)
            table = offered;
        // Read when the e-mail is written, as the card invoice's: a card renewal needs a card on file at the term end.
        var cardOnFile = term.PaymentMethod == PaymentMethod.Card
                         && await session.LoadAsync<PaymentCard>(PaymentCardStream.For(message.AccountId), ct) is not null;
        await mail.SendAsync(MembershipYearEmails.Offer(account, term, renewal, table, cardOnFile), ct);
    }

    /// <summary>
    /// Why the offer of this term is not announced (expected, not a fault), or null when it is owed: the term renewed, lapsed or was
    /// cancelled before the e-mail went out, its renewal is not offered, or the member stopped the renewal since the offer (the e-mail
    /// going out late: a mail outage, a replay), when the term lapses at its end and the e-mail would say it renews. Stopping keeps
    /// the offer's time, so the offer alone does not tell.
    /// </summary>
    public static string? NotOwed(AccountMembership? membership, Guid membershipId) =>
        membership?.Membership?.MembershipId != membershipId
            ? MembershipEmailSkips.NotInForce(membership, membershipId)
            : RenewalDecision.RenewalOf(membership) switch
            {
                null or { OfferedAt: null } => "its renewal is not offered",
                { StoppedAt: not null } => "the member stopped the renewal",
                _ => null,
            };
}

public static class RenewalTables
{
    /// <summary>
    /// The version of the tier table a renewal choice is judged on: once offered, the one the offer recorded (or the member's choice or
    /// an upgrade since); null before the offer or when the offer proposed nothing (the table in force).
    /// </summary>
    public static long? OfferedVersion(RenewalState? renewal) => Offered(renewal)?.TierTableVersion;

    // The term a renewal proposes once offered (or as chosen or upgraded since); null before the offer or when it proposed nothing.
    private static MembershipTerm? Offered(RenewalState? renewal) => renewal is { OfferedAt: not null } ? renewal.Proposed : null;

    /// <summary>
    /// The tier table an offered renewal was proposed on (the offer's version, or the member's choice recorded since), when a later one is
    /// in force (<paramref name="inForce"/>); null when it is the one in force, nothing is offered or proposed, or the table's stream has
    /// no such version (the table in force then applies, as at the term end).
    /// </summary>
    public static Task<TierTableView?> ProposedOnAsync(IQuerySession session, RenewalState? renewal, long inForce, CancellationToken ct) =>
        ProposedOnAsync(session, Offered(renewal), inForce, ct);

    /// <summary>
    /// For a read showing the renewal options: the offer's table of the membership in force, as the renewal choice reads it. A round trip
    /// (the table's stream) only when a table was published since the offer; none otherwise, the usual case.
    /// </summary>
    public static Task<TierTableView?> OfferedOnAsync(IQuerySession session, AccountMembership? membership, long inForce, CancellationToken ct) =>
        ProposedOnAsync(session, membership is null ? null : RenewalDecision.RenewalOf(membership), inForce, ct);

    /// <summary>The same from the tier table's events already read (time travel replays them): no round trip.</summary>
    public static TierTableView? OfferedOn(IEnumerable<JasperFx.Events.IEvent> tableEvents, AccountMembership? membership, long inForce) =>
        OfferedVersion(membership is null ? null : RenewalDecision.RenewalOf(membership)) is { } version && version != inForce
            ? TierTableStream.AtVersion(tableEvents, version)
            : null;

    /// <summary>The tier table <paramref name="proposed"/> was decided on, when a later one is in force; null as above.</summary>
    public static async Task<TierTableView?> ProposedOnAsync(IQuerySession session, MembershipTerm? proposed, long inForce, CancellationToken ct) =>
        proposed is not null && proposed.TierTableVersion != inForce
            ? await TierTableStream.AtVersionAsync(session, proposed.TierTableVersion, ct)
            : null;
}

public static class SendRenewedEmailHandler
{
    public static async Task Handle(SendRenewedEmail message, IQuerySession session, Platform.MailDelivery mail, ILogger<SendRenewedEmail> logger,
        CancellationToken ct)
    {
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(message.AccountId), ct);
        var term = IssueInvoiceDecision.TermOf(membership, message.MembershipId);
        // A term the account never had (e.g. a message written by hand): no e-mail to write. A renewed term stays in the history.
        if (term is null)
        {
            logger.LogInformation("Renewed e-mail of membership {MembershipId} of account {AccountId} not sent ({MessageType}): {Reason}",
                message.MembershipId, message.AccountId, nameof(SendRenewedEmail), MembershipEmailSkips.NoSuchMembership);
            return;
        }

        var account = await session.LoadAsync<AccountView>(message.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {message.AccountId} is missing.");
        await mail.SendAsync(MembershipYearEmails.Renewed(account, term), ct);
    }
}

public static class SendMembershipEndedEmailHandler
{
    public static async Task Handle(SendMembershipEndedEmail message, IQuerySession session, Platform.MailDelivery mail,
        ILogger<SendMembershipEndedEmail> logger, CancellationToken ct)
    {
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(message.AccountId), ct);
        // Only a term that ended is told it ended: one still in force (e.g. a message written by hand) or one the account never had is not.
        if (membership?.PastMemberships.FirstOrDefault(t => t.MembershipId == message.MembershipId) is not { EndedOn: not null } term)
        {
            logger.LogInformation("Membership-ended e-mail of membership {MembershipId} of account {AccountId} not sent ({MessageType}): {Reason}",
                message.MembershipId, message.AccountId, nameof(SendMembershipEndedEmail),
                membership?.Membership?.MembershipId == message.MembershipId ? "the membership is in force" : MembershipEmailSkips.NoSuchMembership);
            return;
        }

        var account = await session.LoadAsync<AccountView>(message.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {message.AccountId} is missing.");
        var events = await session.Events.FetchStreamAsync(MembershipStream.For(message.AccountId), token: ct);
        var end = events.Select(e => e.Data).LastOrDefault(e => e is MembershipCancelled c && c.MembershipId == message.MembershipId
                                                                 || e is MembershipLapsed l && l.MembershipId == message.MembershipId);
        await mail.SendAsync(MembershipYearEmails.Ended(account, term, end is MembershipCancelled,
            await CancelledInvoicesAsync(session, message, end, ct)), ct);
    }

    // The invoices the end cancelled, as its event names them: the member was sent them to pay and is told they are credited.
    private static async Task<IReadOnlyList<Invoice>> CancelledInvoicesAsync(IQuerySession session, SendMembershipEndedEmail message, object? end,
        CancellationToken ct)
    {
        var numbers = end switch
        {
            MembershipCancelled c => c.CancelledInvoices,
            MembershipLapsed l => l.CancelledInvoices,
            _ => [],
        };
        if (numbers.Count == 0)
            return [];
        var invoices = await session.Query<Invoice>()
            .Where(i => i.AccountId == message.AccountId && i.InvoiceNumber.IsOneOf(numbers.ToArray())).ToListAsync(ct);
        return [.. invoices.Where(i => i.CreditNote is not null).OrderBy(i => i.InvoiceNumber, StringComparer.Ordinal)];
    }
}

/// <summary>Why an e-mail about a membership term is not sent, for its Information line: the skip is expected, not a fault.</summary>
public static class MembershipEmailSkips
{
    public const string NoSuchMembership = "the account has no such membership";

    /// <summary>
    /// What became of a term that is not the one in force: how it ended (support's reason left out: an internal note) and the term in
    /// force now, if any.
    /// </summary>
    public static string NotInForce(AccountMembership? membership, Guid membershipId) =>
        (membership?.PastMemberships.FirstOrDefault(t => t.MembershipId == membershipId), membership?.Membership) switch
        {
            ({ } past, { } now) => $"the membership ended ({Ended(past)}); membership {now.MembershipNumber} ({now.MembershipId}) is in force now",
            ({ } past, null) => $"the membership ended ({Ended(past)})",
            (null, { } now) => $"membership {now.MembershipNumber} ({now.MembershipId}) is in force now",
            _ => NoSuchMembership,
        };

    private static string? Ended(MembershipTerm past) =>
        past.EndedBecause?.StartsWith(Support.SupportNotes.CancelledBySupport, StringComparison.Ordinal) == true
            ? Support.SupportNotes.CancelledBySupport
            : past.EndedBecause;
}

public static class MembershipYearEmails
{
    /// <param name="cardOnFile">For a card membership: whether a card is on file as the e-mail is written. Without one the term end
    /// does not renew (<see cref="RenewalDecision.End"/>), so the e-mail asks for a card instead of announcing the renewal.</param>
    public static MimeMessage Offer(AccountView account, MembershipTerm term, RenewalState renewal, TierTableView? table, bool cardOnFile)
    {
        using var culture = MemberEmails.InvariantCulture();
        var tiers = renewal.EligibleTiers
            .Select(code => table?.Tiers.FirstOrDefault(t => t.Code == code))
            .Where(t => t is not null)
            .Select(t => $"  - {t!.Name}: {InvoiceWording.Money(t.AnnualFee)} {t.Currency} a year{(t.Code == renewal.Proposed?.TierCode ? " (selected)" : "")}");
        var next = renewal.Proposed;
        var what = next is null
            ? $"""
               Your account's points no longer reach any CPS level, so your membership ends on {term.EndsOn:yyyy-MM-dd}. Register your products in the CPS portal: once your points reach a level again you are invited to join.
               """
            : term.PaymentMethod == PaymentMethod.Card && cardOnFile
                ? $"""
                   Your membership renews on {next.StartsOn:yyyy-MM-dd} at {next.TierName} ({InvoiceWording.Money(next.AnnualFee)} {next.Currency}) for {next.StartsOn:yyyy-MM-dd} to {next.EndsOn:yyyy-MM-dd}. The invoice follows the renewal and your card on file is charged on its due date. Without a card on file the membership ends on {term.EndsOn:yyyy-MM-dd}.
                   """
            : term.PaymentMethod == PaymentMethod.Card
                ? $"""
                   There is no payment card on file, and a card membership renews only with one. Add a card in the CPS portal by {term.EndsOn:yyyy-MM-dd} and your membership renews on {next.StartsOn:yyyy-MM-dd} at {next.TierName} ({InvoiceWording.Money(next.AnnualFee)} {next.Currency}) for {next.StartsOn:yyyy-MM-dd} to {next.EndsOn:yyyy-MM-dd}; the invoice follows the renewal and the card is charged on its due date. Without a card on file the membership ends on {term.EndsOn:yyyy-MM-dd}.
                   """
                : $"""
                   Your renewal invoice for {next.TierName} ({InvoiceWording.Money(next.AnnualFee)} {next.Currency}, {next.StartsOn:yyyy-MM-dd} to {next.EndsOn:yyyy-MM-dd}) follows in a separate e-mail. Paid by {term.EndsOn:yyyy-MM-dd}, your membership renews on {next.StartsOn:yyyy-MM-dd}; unpaid, it ends on {term.EndsOn:yyyy-MM-dd}.
                   """;
        // The subject says what the text says: a renewal on a date only where nothing more is asked of the member (it once said
        // "renews on" above a text saying that the membership ends, or that it renews once its invoice is paid).
        var subject = next is null
            ? $"Your CPS membership {term.MembershipNumber} ends on {term.EndsOn:yyyy-MM-dd}"
            : term.PaymentMethod != PaymentMethod.Card
                ? $"Your CPS membership {term.MembershipNumber}: pay the renewal invoice by {term.EndsOn:yyyy-MM-dd} to renew"
                : !cardOnFile
                    ? $"Your CPS membership {term.MembershipNumber}: add a payment card by {term.EndsOn:yyyy-MM-dd} to renew"
                    : $"Your CPS membership {term.MembershipNumber} renews on {next.StartsOn:yyyy-MM-dd}";
        return MemberEmails.Plain(account, $"renewal-offer-{term.MembershipId:N}@cpsledger", subject, $"""
            Dear {account.CompanyName},

            Your CPS membership {term.MembershipNumber} ({term.TierName}) runs until {term.EndsOn:yyyy-MM-dd}.

            Levels your points allow now:
            {(tiers.Any() ? string.Join("\n", tiers) : "  (none)")}

            {what}

            To choose another level, or to stop the renewal, use the CPS portal by {term.EndsOn:yyyy-MM-dd}, the last day of your term. Your membership number stays the same when you renew.

            Canon Professional Services
            """);
    }

    public static MimeMessage Renewed(AccountView account, MembershipTerm term)
    {
        using var culture = MemberEmails.InvariantCulture();
        return MemberEmails.Plain(account, $"renewed-{term.MembershipId:N}@cpsledger", $"Your CPS membership {term.MembershipNumber} is renewed", $"""
            Dear {account.CompanyName},

            Thank you: your CPS membership is renewed.

              Membership number: {term.MembershipNumber}
              Level:             {term.TierName}
              Term:              {term.StartsOn:yyyy-MM-dd} to {term.EndsOn:yyyy-MM-dd}
              Annual fee:        {InvoiceWording.Money(term.AnnualFee)} {term.Currency}

            {(term.PaymentMethod == PaymentMethod.Card ? "Your invoice follows within a few hours; your card is charged on its due date." : "Your renewal invoice is paid.")}

            Canon Professional Services
            """);
    }

    /// <param name="bySupport">Cancelled by CPS support: said without support's reason and ticket, which are internal notes for the
    /// audit trail (docs/security.md), as no member e-mail quotes them; <see cref="MembershipTerm.EndedBecause"/> keeps them for support.</param>
    /// <param name="cancelledInvoices">The invoices the end cancelled by credit notes (none when nothing was owed).</param>
    public static MimeMessage Ended(AccountView account, MembershipTerm term, bool bySupport, IReadOnlyList<Invoice> cancelledInvoices)
    {
        using var culture = MemberEmails.InvariantCulture();
        return MemberEmails.Plain(account, $"membership-ended-{term.MembershipId:N}@cpsledger", $"Your CPS membership {term.MembershipNumber} has ended", $"""
            Dear {account.CompanyName},

            Your CPS membership {term.MembershipNumber} ({term.TierName}) ended on {term.EndedOn:yyyy-MM-dd}: {(bySupport ? "cancelled by CPS support" : term.EndedBecause)}.
            {string.Concat(cancelledInvoices.Select(Credited))}
            Your products and points stay registered. Whenever they reach a CPS level you are invited to join again (at once if they reach one now); a new membership gets a new membership number.

            Canon Professional Services
            """);
    }

    // Each on a line of its own after a blank one; anything received on it and not refunded is due back (the credit note's refund due).
    // Where some was refunded already (an overpayment), both are named: the amount due back is not what was received.
    private static string Credited(Invoice invoice) =>
        $"\nInvoice {invoice.InvoiceNumber} is cancelled by credit note {invoice.CreditNote!.CreditNoteNumber}: there is nothing to pay on it." +
        (invoice.RefundDue <= 0 ? ""
            : invoice.Refunded > 0
                ? $" Of the {InvoiceWording.Money(invoice.TotalReceived)} {invoice.Currency} received on it, {InvoiceWording.Money(invoice.Refunded)} {invoice.Currency} was refunded " +
                  $"already; the remaining {InvoiceWording.Money(invoice.RefundDue)} {invoice.Currency} is to be refunded to you."
                : $" The {InvoiceWording.Money(invoice.RefundDue)} {invoice.Currency} received on it is to be refunded to you.") + "\n";

}
