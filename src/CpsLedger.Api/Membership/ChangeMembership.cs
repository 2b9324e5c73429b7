using System.Security.Claims;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using CpsLedger.Api.Tiers;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Membership;

/// <summary>Renew or not at the term end, and on which tier.</summary>
/// <param name="Renew">false stops the renewal: the membership runs to the term end and lapses (no refund).</param>
/// <param name="Tier">The eligible tier to renew with (a lower one is how a downgrade is made); absent: the current tier. Only with renew true.</param>
/// <param name="SupportReason">Support only, and required from support: why it chooses or stops the renewal on the member's
/// behalf. Recorded on every event the choice writes (a renewal invoice it cancels included) and listed among the support
/// overrides. A member or the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record ChooseRenewal(bool Renew, string? Tier, [property: MultiLineText] string? SupportReason = null, string? TicketReference = null);

public sealed class ChooseRenewalValidator : AbstractValidator<ChooseRenewal>
{
    public ChooseRenewalValidator()
    {
        RuleFor(x => x.Tier).MaximumLength(40);
        // Read strictly: a request that stops the renewal and names a tier contradicts itself; neither half is guessed.
        RuleFor(x => x.Tier).Null().When(x => !x.Renew)
            .WithMessage("Leave tier out when renew is false: a renewal that stops has no tier. To renew on a tier, send renew true.");
        // Whether they are required or refused depends on the caller: ChooseRenewalEndpoint.Before.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

/// <summary>What happens at the term end, as decided now.</summary>
/// <param name="Tier">The tier the membership renews with; null when it does not renew.</param>
/// <param name="CancelledInvoices">Renewal invoices issued ahead that this choice replaced (each cancelled by a credit note).</param>
/// <param name="MembershipNumber">The membership number.</param>
/// <param name="TermEndsOn">The last day of the term in force.</param>
/// <param name="Renews">Whether the membership renews at the term end.</param>
/// <param name="TierName">The name of that tier; null when it does not renew.</param>
/// <param name="AnnualFee">That tier's fee for a year, in <c>currency</c>, before VAT; null when it does not renew.</param>
/// <param name="Currency">ISO 4217 code of the fee; null when it does not renew.</param>
public sealed record RenewalPlan(
    string MembershipNumber,
    DateOnly TermEndsOn,
    bool Renews,
    string? Tier,
    string? TierName,
    decimal? AnnualFee,
    string? Currency,
    IReadOnlyList<string> CancelledInvoices);

/// <summary>What changing the membership is decided on besides the membership: eligibility now, and the renewal invoice issued ahead.</summary>
/// <param name="OfferedOn">For a renewal choice once offered: the offer's tier table, when a later one is in force (<see cref="Eligibility"/> is
/// decided on it, <paramref name="InForce"/> on the table in force); null otherwise.</param>
public sealed record MembershipChangeContext(EligibleTiers Eligibility, Invoice? RenewalInvoice, IReadOnlyList<Invoice> TermInvoices,
    TierTableView? OfferedOn = null, EligibleTiers? InForce = null);

public static class MembershipChanges
{
    public static Guid MembershipStreamId(Guid accountId) => MembershipStream.For(accountId);

    /// <summary>
    /// Read after the membership was fetched under its lock (each endpoint's <c>LoadStyle = Exclusive</c>, MembershipStream): a
    /// settlement or suspension that held it has committed, so the term's invoices read here are as it left them.
    /// </summary>
    public static async Task<MembershipChangeContext> LoadAsync(Guid accountId, AccountMembership? membership, IQuerySession session,
        CancellationToken ct)
    {
        var eligibility = await Eligibility.ForAccountAsync(session, accountId, ct);
        var renewalInvoice = membership is not null && RenewalDecision.RenewalOf(membership)?.InvoiceId is { } id
            ? await session.LoadAsync<Invoice>(id, ct)
            : null;
        var term = membership?.Membership;
        var renewalId = term is null ? Guid.Empty : RenewalTerms.RenewalOf(term.MembershipId);
        var invoices = term is null
            ? []
            : await session.Query<Invoice>().Where(i => i.AccountId == accountId && (i.MembershipId == term.MembershipId || i.MembershipId == renewalId))
                .ToListAsync(ct);
        return new MembershipChangeContext(eligibility, renewalInvoice, invoices);
    }

    /// <summary>A membership in force (not ended by its date, lapse or cancellation), or the 409 that says there is none.</summary>
    public static ProblemDetails InForce(AccountMembership? membership, DateOnly today) =>
        membership?.Membership is { } term && term.StartsOn <= today && today <= term.EndsOn
            ? WolverineContinue.NoProblems
            : Problems.Conflict("Not a member", "This account has no membership in force.");

    public static TierEligibility? Tier(EligibleTiers eligibility, string code) =>
        eligibility.Standard.Concat(eligibility.Enterprise).FirstOrDefault(t => string.Equals(t.Code, code.Trim(), StringComparison.OrdinalIgnoreCase));

    public static ProblemDetails UnknownTier(string code, EligibleTiers eligibility) =>
        Problems.Invalid("tier", $"There is no tier \"{code.Trim()}\". Tiers: " +
                                 string.Join(", ", eligibility.Standard.Concat(eligibility.Enterprise).Select(t => t.Code)) + ".");

    /// <summary>
    /// A renewal choice naming a tier the offer's table does not have, a later table in force: said in the member's words, with the
    /// table the renewal was offered on, the tiers it has, and when a tier only the later table has applies.
    /// </summary>
    /// <param name="offered">The eligibility decided on <paramref name="offeredOn"/>: its tiers, in the order the lists show them.</param>
    public static ProblemDetails NotOnOfferedTable(string code, TierTableView offeredOn, EligibleTiers offered, EligibleTiers? inForce)
    {
        var later = inForce is null ? null : Tier(inForce, code);
        return Problems.Invalid("tier", $"There is no tier \"{code.Trim()}\" in the tier table your renewal was offered on (published " +
                                        $"{offeredOn.PublishedAt:yyyy-MM-dd}, version {offeredOn.TableVersion}); it has " +
                                        string.Join(", ", offered.Standard.Concat(offered.Enterprise).Select(t => t.Name)) + ". " +
                                        (later is null
                                            ? "A tier table published since applies from your next renewal offer."
                                            : $"{later.Name} is in the tier table published since, which applies from your next renewal offer."));
    }
}

public static class ChooseRenewalEndpoint
{
    public static Guid MembershipStreamId(Guid accountId) => MembershipStream.For(accountId);

    // Support's reason and ticket, on the choice and on the credit note of a renewal invoice it replaces (SupportReason.OnBehalf).
    public static ProblemDetails Before(ChooseRenewal command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    /// <summary>
    /// Once the renewal is offered, the tiers are those of the table it was proposed on (the tiers and fees the offer e-mail lists), on the
    /// points now: the term end decides on that table too, and a table published since applies from the next offer
    /// (docs/programme.md, "which tier table"). Before the offer, or when it proposed nothing, the table in force.
    /// </summary>
    public static async Task<MembershipChangeContext> LoadAsync(Guid accountId, AccountMembership? membership, IQuerySession session, CancellationToken ct)
    {
        var context = await MembershipChanges.LoadAsync(accountId, membership, session, ct);
        var renewal = membership is null ? null : RenewalDecision.RenewalOf(membership);
        var table = await RenewalTables.ProposedOnAsync(session, renewal, context.Eligibility.TierTableVersion, ct);
        return table is null
            ? context
            : context with
            {
                Eligibility = Eligibility.Decide(accountId, context.Eligibility.Points, context.Eligibility.Products, table),
                OfferedOn = table,
                InForce = context.Eligibility,
            };
    }

    // A tier the offer's table lacks is named with that table when a later one is in force; otherwise the plain unknown tier.
    private static ProblemDetails Unknown(string code, MembershipChangeContext context) => context.OfferedOn is { } offeredOn
        ? MembershipChanges.NotOnOfferedTable(code, offeredOn, context.Eligibility, context.InForce)
        : MembershipChanges.UnknownTier(code, context.Eligibility);

    /// <summary>
    /// A named tier that exists (checked first: 400 whatever the account's state); a membership in force; the tier eligible now; and,
    /// paying by bank transfer, a renewal invoice not yet paid (once it is paid the renewal is settled).
    /// </summary>
    public static ProblemDetails Validate(AccountMembership? membership, MembershipChangeContext context, ChooseRenewal command, TimeProvider clock)
    {
        // A named tier that does not exist is bad input whatever the account's state: 400 before "Not a member".
        if (command.Tier is { } named && MembershipChanges.Tier(context.Eligibility, named) is null)
            return Unknown(named, context);
        if (MembershipChanges.InForce(membership, DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime)) is { } problem &&
            !ReferenceEquals(problem, WolverineContinue.NoProblems))
            return problem;
        if (context.RenewalInvoice is { Status: InvoiceStatus.Paid } paid)
            return Problems.Conflict("Renewal already paid",
                $"The renewal invoice {paid.InvoiceNumber} is paid, so the renewal can no longer be changed. Please contact CPS support.");
        if (!command.Renew)
            return WolverineContinue.NoProblems;
        // No tier named: the current one, which must still be eligible too.
        var code = command.Tier ?? membership!.Membership!.TierCode;
        return MembershipChanges.Tier(context.Eligibility, code) switch
        {
            null => Unknown(code, context),
            { Eligible: false } tier => Problems.Conflict("Tier not eligible", $"{tier.Name} is not available to this account: {tier.WhyNot}."),
            _ => WolverineContinue.NoProblems,
        };
    }

    /// <summary>
    /// Stopping: <see cref="RenewalStopped"/> (nothing when already stopped). Choosing: <see cref="RenewalTierChosen"/>, which also resumes a
    /// stopped renewal; once the offer is made and paying by bank transfer, with a renewal invoice of its own (the one it replaces is
    /// cancelled by the caller).
    /// </summary>
    public static object? Decide(AccountMembership membership, MembershipChangeContext context, ChooseRenewal command, DateTimeOffset now)
    {
        var term = membership.Membership!;
        var renewal = RenewalDecision.RenewalOf(membership);
        if (!command.Renew)
            return renewal?.StoppedAt is not null ? null : new RenewalStopped(membership.AccountId, term.MembershipId, now);

        var code = command.Tier ?? term.TierCode;
        var tier = MembershipChanges.Tier(context.Eligibility, code) is { Eligible: true } t ? t
            : throw new InvalidOperationException($"Tier {code} is not eligible.");
        var renewalId = RenewalTerms.RenewalOf(term.MembershipId);
        Guid? invoiceId = renewal?.OfferedAt is not null && term.PaymentMethod == PaymentMethod.BankTransfer
            ? InvoiceStream.ForRenewal(renewalId, renewal.Choices + 1)
            : null;
        return new RenewalTierChosen(membership.AccountId, term.MembershipId, renewalId, tier.Code, tier.Name, tier.Kind, tier.AnnualFee, tier.Currency,
            context.Eligibility.TierTableVersion, context.Eligibility.Points, context.Eligibility.Products, invoiceId, now);
    }

    [WolverinePut("/api/accounts/{accountId}/membership/renewal", OperationId = "ChooseRenewal")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Renew on another eligible tier (a downgrade takes effect here, at renewal), or stop the renewal (runs to term end, no refund); support also gives supportReason and ticketReference")]
    [RequestExample("""{"renew":true,"tier":"silver"}""")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<(RenewalPlan, Events, OutgoingMessages)> Put(Guid accountId, ChooseRenewal command,
        [WriteAggregate(FromMethod = nameof(MembershipStreamId), Required = false, LoadStyle = ConcurrencyStyle.Exclusive)] AccountMembership? membership,
        MembershipChangeContext context, IDocumentSession session, IOptions<SellerOptions> seller, TimeProvider clock, CancellationToken ct)
    {
        var current = membership!;
        var term = current.Membership!;
        var now = clock.GetUtcNow();
        var decided = Decide(current, context, command, now);
        IReadOnlyList<string> cancelled = [];
        OutgoingMessages messages = [];
        if (decided is not null && context.RenewalInvoice is { } replaced)
            cancelled = await InvoiceCancellations.CancelOwedAsync(session, [replaced.Id],
                command.Renew ? $"Replaced: the member chose to renew as {((RenewalTierChosen)decided).TierName}" : "The member stopped the renewal",
                seller.Value.ToInvoiceSeller(), now, ct);
        if (decided is RenewalTierChosen { InvoiceId: { } invoiceId } chosen)
            messages.Add(new IssueInvoice(accountId, chosen.RenewalMembershipId, now, InvoiceKind.Renewal, invoiceId));

        var plan = decided switch
        {
            RenewalTierChosen c => new RenewalPlan(term.MembershipNumber, term.EndsOn, true, c.TierCode, c.TierName, c.AnnualFee, c.Currency, cancelled),
            _ => new RenewalPlan(term.MembershipNumber, term.EndsOn, false, null, null, null, null, cancelled),
        };
        return (plan, decided is null ? [] : [decided], messages);
    }
}

/// <summary>Move up to a higher eligible tier now; the difference is invoiced pro rata for the days left in the term.</summary>
/// <param name="Tier">An eligible tier with a higher annual fee than the current one.</param>
/// <param name="SupportReason">Support only, and required from support: why it upgrades on the member's behalf. Recorded on the
/// upgrade's event and listed among the support overrides. A member or the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record UpgradeTier(string Tier, [property: MultiLineText] string? SupportReason = null, string? TicketReference = null);

public sealed class UpgradeTierValidator : AbstractValidator<UpgradeTier>
{
    public UpgradeTierValidator()
    {
        RuleFor(x => x.Tier).NotEmpty().MaximumLength(40);
        // Whether they are required or refused depends on the caller: UpgradeTierEndpoint.Before.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

/// <summary>What the member sees after upgrading: the new tier from today, and what the pro-rated invoice charges (before VAT).</summary>
/// <param name="MembershipNumber">The membership number (unchanged by an upgrade).</param>
/// <param name="Tier">The code of the tier upgraded to.</param>
/// <param name="TierName">That tier's name.</param>
/// <param name="AnnualFee">The new tier's fee for a year, in <c>currency</c>, before VAT.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="EffectiveOn">The day the new tier starts: today (UTC).</param>
/// <param name="TermEndsOn">The last day of the term, unchanged.</param>
/// <param name="DaysRemaining">Whole days of the term left from <c>effectiveOn</c>, that day included.</param>
/// <param name="DaysInTerm">Days in the whole term.</param>
/// <param name="ProRataAmount">What the upgrade invoice charges before VAT: the fee difference times days remaining over days in
/// the term, in <c>currency</c>.</param>
public sealed record TierUpgradeConfirmation(
    string MembershipNumber,
    string Tier,
    string TierName,
    decimal AnnualFee,
    string Currency,
    DateOnly EffectiveOn,
    DateOnly TermEndsOn,
    int DaysRemaining,
    int DaysInTerm,
    decimal ProRataAmount);

public static class UpgradeTierEndpoint
{
    public static Guid MembershipStreamId(Guid accountId) => MembershipStream.For(accountId);

    // Support's reason and ticket, on the upgrade's event (SupportReason.OnBehalf).
    public static ProblemDetails Before(UpgradeTier command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    public static Task<MembershipChangeContext> LoadAsync(Guid accountId, AccountMembership? membership, IQuerySession session, CancellationToken ct) =>
        MembershipChanges.LoadAsync(accountId, membership, session, ct);

    /// <summary>
    /// A tier that exists (checked first: 400 whatever the account's state); a membership in force and not suspended; the tier eligible
    /// now and costing more than the current one.
    /// </summary>
    public static ProblemDetails Validate(AccountMembership? membership, MembershipChangeContext context, UpgradeTier command, TimeProvider clock)
    {
        // A tier that does not exist is bad input whatever the account's state: 400 before "Not a member".
        if (MembershipChanges.Tier(context.Eligibility, command.Tier) is null)
            return MembershipChanges.UnknownTier(command.Tier, context.Eligibility);
        if (MembershipChanges.InForce(membership, DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime)) is { } problem &&
            !ReferenceEquals(problem, WolverineContinue.NoProblems))
            return problem;
        var term = membership!.Membership!;
        if (membership.Suspension?.MembershipId == term.MembershipId)
            return Problems.Conflict("Membership suspended", $"Invoice {membership.Suspension.InvoiceNumber} is unpaid: an upgrade is possible once it is paid.");
        return MembershipChanges.Tier(context.Eligibility, command.Tier) switch
        {
            { Eligible: false } tier => Problems.Conflict("Tier not eligible", $"{tier.Name} is not available to this account: {tier.WhyNot}."),
            // A later tier table may price in another currency: the pro-rata difference of two currencies' fees means nothing, and "not
            // above" would tell the member a dearer tier is a lower one.
            { } tier when tier.Currency != term.Currency => Problems.Conflict("Not an upgrade",
                $"{tier.Name} is priced in {tier.Currency} ({InvoiceWording.Money(tier.AnnualFee)} {tier.Currency}) in the tier table in force, the current " +
                $"{term.TierName} term in {term.Currency} ({InvoiceWording.Money(term.AnnualFee)} {term.Currency}): an upgrade charges the difference of two fees " +
                $"in one currency, so a move to {tier.Name} takes effect at renewal (PUT /api/accounts/{{accountId}}/membership/renewal)."),
            { } tier when tier.AnnualFee <= term.AnnualFee => Problems.Conflict("Not an upgrade",
                $"{tier.Name} ({InvoiceWording.Money(tier.AnnualFee)} {tier.Currency}) is not above the current {term.TierName} ({InvoiceWording.Money(term.AnnualFee)} {term.Currency}): " +
                "a move to a lower tier takes effect at renewal (PUT /api/accounts/{accountId}/membership/renewal)."),
            _ => WolverineContinue.NoProblems,
        };
    }

    /// <summary>
    /// The pro-rata rule (docs/programme.md): (new fee − current fee) × whole days remaining, today included, ÷ days in the term, rounded to
    /// the cent. The new tier holds from today.
    /// </summary>
    public static decimal ProRata(decimal currentFee, decimal newFee, int daysRemaining, int daysInTerm) =>
        InvoiceCalculation.Round((newFee - currentFee) * daysRemaining / daysInTerm);

    public static TierUpgraded Decide(AccountMembership membership, MembershipChangeContext context, UpgradeTier command, Guid upgradeId,
        DateTimeOffset now)
    {
        var term = membership.Membership!;
        var tier = MembershipChanges.Tier(context.Eligibility, command.Tier) ?? throw new InvalidOperationException($"Tier {command.Tier} was validated.");
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var daysRemaining = term.EndsOn.DayNumber - today.DayNumber + 1;
        var daysInTerm = term.EndsOn.DayNumber - term.StartsOn.DayNumber + 1;
        return new TierUpgraded(membership.AccountId, term.MembershipId, upgradeId, term.TierCode, term.TierName, term.AnnualFee, tier.Code, tier.Name,
            tier.Kind, tier.AnnualFee, tier.Currency, today, daysRemaining, daysInTerm, ProRata(term.AnnualFee, tier.AnnualFee, daysRemaining, daysInTerm),
            context.Eligibility.TierTableVersion, context.Eligibility.Points, context.Eligibility.Products, InvoiceStream.ForUpgrade(upgradeId), now);
    }

    [WolverinePost("/api/accounts/{accountId}/membership/upgrade", OperationId = "UpgradeTier")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Upgrade to a higher eligible tier at once, with a pro-rated invoice for the whole days remaining of the term; support also gives supportReason and ticketReference")]
    [RequestExample("""{"tier":"platinum"}""")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static (TierUpgradeConfirmation, Events, OutgoingMessages) Post(Guid accountId, UpgradeTier command,
        [WriteAggregate(FromMethod = nameof(MembershipStreamId), Required = false, LoadStyle = ConcurrencyStyle.Exclusive)] AccountMembership? membership,
        MembershipChangeContext context, TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        var upgraded = Decide(membership!, context, command, Guid.CreateVersion7(), now);
        var term = membership!.Membership!;
        return (new TierUpgradeConfirmation(term.MembershipNumber, upgraded.TierCode, upgraded.TierName, upgraded.AnnualFee, upgraded.Currency,
                upgraded.EffectiveOn, term.EndsOn, upgraded.DaysRemaining, upgraded.DaysInTerm, upgraded.ProRataAmount), [upgraded],
            [new IssueInvoice(accountId, term.MembershipId, now, InvoiceKind.Upgrade, upgraded.InvoiceId, upgraded.UpgradeId)]);
    }
}

/// <summary>
/// End the membership now (support, with a reason): unpaid invoices of the term are cancelled by credit notes, and so is a renewal
/// invoice issued ahead, paid or not (what was received on it becomes a refund due).
/// </summary>
/// <param name="Reason">Why, for the audit trail: an internal note (the member's e-mail and credit notes say only that CPS support cancelled).</param>
/// <param name="TicketReference">The support ticket this answers, e.g. "CPS-SUP-4711": required, as on every action support takes in its
/// own name.</param>
public sealed record CancelMembership(string Reason, string TicketReference);

public sealed class CancelMembershipValidator : AbstractValidator<CancelMembership>
{
    public CancelMembershipValidator()
    {
        RuleFor(x => x.Reason).ValidReason(); // on the events only: the credit notes and e-mail say "cancelled by CPS support"
        RuleFor(x => x.TicketReference).ValidTicket();
    }
}

/// <summary>What support sees after cancelling.</summary>
/// <param name="MembershipNumber">The cancelled membership's number.</param>
/// <param name="EndedOn">The day the membership ended (today).</param>
/// <param name="CancelledInvoices">The numbers of the unpaid invoices the cancellation credited (each by a credit note).</param>
public sealed record MembershipCancellation(string MembershipNumber, DateOnly EndedOn, IReadOnlyList<string> CancelledInvoices);

public static class CancelMembershipEndpoint
{
    public static Guid MembershipStreamId(Guid accountId) => MembershipStream.For(accountId);

    public static Task<MembershipChangeContext> LoadAsync(Guid accountId, AccountMembership? membership, IQuerySession session, CancellationToken ct) =>
        MembershipChanges.LoadAsync(accountId, membership, session, ct);

    public static ProblemDetails Validate(AccountMembership? membership, TimeProvider clock) =>
        MembershipChanges.InForce(membership, DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime));

    [WolverinePost("/api/accounts/{accountId}/membership/cancellation", OperationId = "CancelMembership")]
    [Authorize(Roles = LedgerRoles.Support)]
    [EndpointSummary("End the membership now (support, with a reason and ticket); unpaid invoices and a renewal invoiced ahead are cancelled by credit notes")]
    [RequestExample("""{"reason":"Company closed","ticketReference":"CPS-SUP-4711"}""")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<(MembershipCancellation, Events, OutgoingMessages)> Post(Guid accountId, CancelMembership command,
        [WriteAggregate(FromMethod = nameof(MembershipStreamId), Required = false, LoadStyle = ConcurrencyStyle.Exclusive)] AccountMembership? membership,
        MembershipChangeContext context, IDocumentSession session, IOptions<SellerOptions> seller, TimeProvider clock, CancellationToken ct)
    {
        var term = membership!.Membership!;
        var now = clock.GetUtcNow();
        var reason = command.Reason.Trim();
        // The credit note's reason is printed for the buyer: support's reason (often with its ticket) stays on the event and its headers.
        // The term in force was used and is not refunded; a renewal paid ahead is for a term that now never begins, so it is.
        var cancelled = await InvoiceCancellations.CancelOwedAsync(session, context.TermInvoices.Select(i => i.Id),
            $"Membership {term.MembershipNumber} cancelled by CPS support", seller.Value.ToInvoiceSeller(), now, ct,
            evenIfPaid: invoice => invoice.MembershipId != term.MembershipId);
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var ticket = command.TicketReference.Trim();
        // Every event of the cancellation (its credit notes too) carries its reason and ticket, and is its override row's.
        Support.SupportReason.Record(session, reason, ticket, listedAs: "membership_cancelled");
        return (new MembershipCancellation(term.MembershipNumber, today, cancelled),
            [new MembershipCancelled(accountId, term.MembershipId, term.MembershipNumber, reason, today, cancelled, now, ticket)],
            [new SendMembershipEndedEmail(accountId, term.MembershipId), new ReviewInvitation(accountId, SystemActor.CauseOf(session))]);
    }
}
