using System.Security.Claims;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Membership;

/// <summary>Join CPS: choose an eligible tier and how to pay.</summary>
/// <param name="Tier">A tier code from the eligible tiers, e.g. "gold".</param>
/// <param name="PaymentMethod">card or bank_transfer.</param>
/// <param name="SupportReason">Support only, and required from support: why it joins CPS on the member's behalf. Recorded on
/// the event the join writes and listed among the support overrides. A member or the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record JoinCps(
    string Tier,
    PaymentMethod PaymentMethod,
    [property: MultiLineText] string? SupportReason = null,
    string? TicketReference = null);

public sealed class JoinCpsValidator : AbstractValidator<JoinCps>
{
    public JoinCpsValidator()
    {
        RuleFor(x => x.Tier).NotEmpty().MaximumLength(40);
        RuleFor(x => x.PaymentMethod).IsInEnum();
        // Whether they are required or refused depends on the caller: JoinCpsEndpoint.Before.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

/// <summary>
/// Published when an account joins, through the durable outbox: the welcome e-mail consumes it, and invoicing (a later
/// capability) will too.
/// </summary>
public sealed record MembershipJoined(Guid AccountId, Guid MembershipId, string MembershipNumber);

/// <summary>What the member sees after joining.</summary>
/// <param name="MembershipId">The new term's id.</param>
/// <param name="MembershipNumber">The membership number, printed on invoices and kept across renewals.</param>
/// <param name="Tier">The code of the tier joined.</param>
/// <param name="TierName">That tier's name.</param>
/// <param name="AnnualFee">The tier's fee for the term, in <c>currency</c>, before VAT; the first invoice charges it.</param>
/// <param name="Currency">ISO 4217 code of the fee.</param>
/// <param name="PaymentMethod">How the term's invoices are paid.</param>
/// <param name="StartsOn">The term's first day: the day of joining (UTC).</param>
/// <param name="EndsOn">The term's last day.</param>
/// <param name="TierTableVersion">The tier table version the tier and fee were taken from.</param>
/// <param name="PreviousMembershipNumbers">Membership numbers the account had before (earlier terms, old CPS accounts), oldest
/// first; empty when none.</param>
public sealed record MembershipConfirmation(
    Guid MembershipId,
    string MembershipNumber,
    string Tier,
    string TierName,
    decimal AnnualFee,
    string Currency,
    PaymentMethod PaymentMethod,
    DateOnly StartsOn,
    DateOnly EndsOn,
    long TierTableVersion,
    IReadOnlyList<string> PreviousMembershipNumbers);

/// <summary>What joining is decided on besides the membership: the tier table, the eligibility now, and a new membership number.</summary>
/// <param name="MembershipNumber">Empty when the join is refused (no sequence value is taken then).</param>
public sealed record JoiningContext(TierTableView Table, EligibleTiers Eligibility, string MembershipNumber);

public static class JoinCpsEndpoint
{
    public const int TermInYears = 1;

    /// <summary>The membership stream of the route's account: its id is derived from the account id.</summary>
    public static Guid MembershipStreamId(Guid accountId) => MembershipStream.For(accountId);

    // Before the membership number is drawn: support's reason and ticket, on the join's event (SupportReason.OnBehalf).
    public static ProblemDetails Before(JoinCps command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    public static async Task<JoiningContext> LoadAsync(Guid accountId, JoinCps command, AccountMembership? membership, IDocumentSession session,
        TimeProvider clock, CancellationToken ct)
    {
        var table = await session.LoadAsync<TierTableView>(TierTableStream.Id, ct)
                    ?? throw new InvalidOperationException("The tier table has not been loaded.");
        var eligibility = await Eligibility.ForAccountAsync(session, accountId, ct);
        // Taken only when the join will be decided: a sequence value is never handed out twice, even if this request fails, so a
        // join refused here (an unknown or ineligible tier, no invitation) must not use one up. Validate needs no number.
        var number = "";
        if (membership?.Invitation is not null
            && ReferenceEquals(Validate(membership, new JoiningContext(table, eligibility, number), command, clock), WolverineContinue.NoProblems))
        {
            // A number that is taken is skipped: an old CPS number may look exactly like one the sequence gives (claimed when
            // migrated, or still on an imported old account), and the next value is different by construction. A number
            // claimed between this read and the commit makes the claim's insert fail: 409, nothing written, join again.
            do number = await NextMembershipNumber(session, ct);
            while (membership.MembershipNumbers.Contains(number) || await MembershipNumberClaims.IsTakenAsync(session, number, ct));
        }

        return new JoiningContext(table, eligibility, number);
    }

    /// <summary>
    /// Checked again at the moment of joining: a tier the table has, an invitation that stands, no membership in force, and the chosen
    /// tier eligible now.
    /// </summary>
    public static ProblemDetails Validate(AccountMembership? membership, JoiningContext context, JoinCps command, TimeProvider clock)
    {
        // A tier that does not exist is bad input whatever the account's state: 400 first, not "Already a member" or "Not invited".
        if (MembershipChanges.Tier(context.Eligibility, command.Tier) is null)
            return MembershipChanges.UnknownTier(command.Tier, context.Eligibility);
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        if (membership is not null && membership.IsMemberOn(today))
            return Problems.Conflict("Already a member",
                $"This account's {membership.Membership!.TierName} membership ({membership.Membership.MembershipNumber}) runs until " +
                $"{membership.Membership.EndsOn:yyyy-MM-dd}. To change tier: a higher tier at once with " +
                "POST /api/accounts/{accountId}/membership/upgrade (pro-rated invoice), another tier at renewal with " +
                "PUT /api/accounts/{accountId}/membership/renewal.");
        if (membership?.Membership is { } ended)
            return Problems.Conflict("Term end not recorded yet",
                $"This account's membership ({ended.MembershipNumber}) ended on {ended.EndsOn:yyyy-MM-dd} and its renewal or lapse is being " +
                "recorded. Try again in a few minutes.");
        // Not invited, not yet (the review after the commit that raised the points issues it), or being withdrawn (the review after the
        // commit that lowered them withdraws it): said as eligible-tiers says it.
        if (InvitationPolicy.Standing(membership, context.Eligibility.Points, context.Table) is { Invited: false } standing)
            return Problems.Conflict("Not invited", standing.WhyNotInvited!);
        return MembershipChanges.Tier(context.Eligibility, command.Tier) switch
        {
            { Eligible: false } tier => Problems.Conflict("Tier not eligible", $"{tier.Name} is not available to this account: {tier.WhyNot}."),
            _ => WolverineContinue.NoProblems,
        };
    }

    /// <summary>The decision, once <see cref="Validate"/> let it through: active at once for a one-year term, with the new number.</summary>
    public static CpsJoined Decide(AccountMembership membership, JoiningContext context, JoinCps command, Guid membershipId, DateTimeOffset now)
    {
        var tier = MembershipChanges.Tier(context.Eligibility, command.Tier) ?? throw new InvalidOperationException($"Tier {command.Tier} was validated.");
        if (membership.MembershipNumbers.Contains(context.MembershipNumber))
            throw new InvalidOperationException($"Membership number {context.MembershipNumber} was issued to this account before.");
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        return new CpsJoined(membership.AccountId, membershipId, context.MembershipNumber, tier.Code, tier.Name, tier.Kind, tier.AnnualFee,
            tier.Currency, command.PaymentMethod, today, today.AddYears(TermInYears).AddDays(-1), context.Table.TableVersion,
            context.Eligibility.Points, context.Eligibility.Products, now);
    }

    [WolverinePost("/api/accounts/{accountId}/membership", OperationId = "JoinCps")]
    [TakesInvitationReviewLock]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Join CPS with an eligible tier and a payment method: active at once, with a new membership number; support also gives supportReason and ticketReference")]
    [RequestExample("""{"tier":"gold","paymentMethod":"card"}""")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static (Created<MembershipConfirmation>, Events, IMartenOp, OutgoingMessages) Post(Guid accountId, JoinCps command,
        [WriteAggregate(FromMethod = nameof(MembershipStreamId), Required = false)] AccountMembership? membership, JoiningContext context,
        TimeProvider clock)
    {
        var joined = Decide(membership!, context, command, Guid.CreateVersion7(), clock.GetUtcNow());
        var confirmation = new MembershipConfirmation(joined.MembershipId, joined.MembershipNumber, joined.TierCode, joined.TierName,
            joined.AnnualFee, joined.Currency, joined.PaymentMethod, joined.StartsOn, joined.EndsOn, joined.TierTableVersion,
            membership!.MembershipNumbers);
        return (TypedResults.Created($"/api/accounts/{accountId}/membership", confirmation), [joined],
            MartenOps.Insert(new MembershipNumberClaim { Id = joined.MembershipNumber, AccountId = accountId }),
            [new MembershipJoined(accountId, joined.MembershipId, joined.MembershipNumber)]);
    }

    private static async Task<string> NextMembershipNumber(IDocumentSession session, CancellationToken ct)
    {
        var schema = session.DocumentStore.Options.Events.DatabaseSchemaName;
        var values = await session.QueryAsync<long>($"select nextval('{schema}.{MembershipNumbers.SequenceName}')", ct);
        return MembershipNumbers.FromSequence(values.Single());
    }
}

public static class GetMembershipEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/membership", OperationId = "GetMembership")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("Invitation, membership in force (tier, term, number), past memberships and every membership number")]
    [EndpointDescription("Invitation, membership in force (tier, term, number), past memberships and every membership number. " +
                         "A past membership support cancelled ends \"cancelled by CPS support (reason)\" for support, auditors and " +
                         "finance; the account's member and the portal read \"cancelled by CPS support\", never the reason support wrote " +
                         "for the audit trail (docs/security.md).")]
    public static async Task<AccountMembership> Get(Guid accountId, IQuerySession session, System.Security.Claims.ClaimsPrincipal user,
        CancellationToken ct) =>
        Support.SupportNotes.For(user,
            await session.LoadAsync<AccountMembership>(MembershipStream.For(accountId), ct) ?? AccountMembership.None(accountId));
}

/// <summary>E-mail the welcome of a membership (again): the reconciliation's repair when its e-mail is not recorded as sent.</summary>
public sealed record SendWelcomeEmail(Guid AccountId, Guid MembershipId);

public static class SendWelcomeEmailHandler
{
    public static Task Handle(SendWelcomeEmail message, IQuerySession session, MailDelivery mail, ILogger<SendWelcomeEmail> logger,
        CancellationToken ct) =>
        WelcomeEmailHandler.SendAsync(message, message.AccountId, message.MembershipId, session, mail, logger, ct);
}

public static class WelcomeEmailHandler
{
    public static Task Handle(MembershipJoined message, IQuerySession session, MailDelivery mail, ILogger<MembershipJoined> logger,
        CancellationToken ct) =>
        SendAsync(message, message.AccountId, message.MembershipId, session, mail, logger, ct);

    /// <param name="message">The message asking for the welcome (<see cref="MembershipJoined"/> or <see cref="SendWelcomeEmail"/>), for the log.</param>
    public static async Task SendAsync(object message, Guid accountId, Guid membershipId, IQuerySession session, MailDelivery mail, ILogger logger,
        CancellationToken ct)
    {
        var account = await session.LoadAsync<AccountView>(accountId, ct)
                      ?? throw new InvalidOperationException($"Account {accountId} is missing.");
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(accountId), ct);
        if (membership?.Membership is not { } term || term.MembershipId != membershipId)
        {
            // Expected, not a fault: the membership ended or was renewed (a new membership id) before its welcome was handled, e.g.
            // a welcome run again from the dead letters, or the reconciliation's repair overtaken by a cancellation.
            logger.LogInformation("Welcome e-mail of membership {MembershipId} of account {AccountId} not sent ({MessageType}): {Reason}",
                membershipId, accountId, message.GetType().Name, membership?.Membership is { } inForce
                    ? $"membership {inForce.MembershipNumber} ({inForce.MembershipId}) is in force now"
                    : "the account has no membership in force");
            return;
        }

        // The numbers recorded before this one (the history is oldest first): one carried over from an old CPS account after the join
        // is no earlier number.
        var earlier = membership.MembershipNumbers.TakeWhile(number => number != term.MembershipNumber).ToList();
        await mail.SendAsync(WelcomeEmail.Compose(account, term, earlier), ct);
    }
}

public static class WelcomeEmail
{
    /// <param name="earlierNumbers">The membership numbers the account had before this one (earlier terms, old CPS accounts), oldest
    /// first: the member guide warns that the number changes, and the e-mail says which one no longer applies.</param>
    public static MimeKit.MimeMessage Compose(AccountView account, MembershipTerm term, IReadOnlyList<string> earlierNumbers)
    {
        using var culture = MemberEmails.InvariantCulture();
        var changed = earlierNumbers.Count switch
        {
            0 => "",
            1 => $"\n\nThis is a new membership number: the one you had before, {earlierNumbers[0]}, stays in your account's history and is no longer in use.",
            _ => $"\n\nThis is a new membership number: those you had before, {string.Join(", ", earlierNumbers)}, stay in your account's history and are no longer in use.",
        };
        return MemberEmails.Plain(account, $"welcome-{term.MembershipId:N}@cpsledger",
            $"Welcome to Canon Professional Services: membership {term.MembershipNumber}", $"""
                Dear {account.CompanyName},

                Welcome to Canon Professional Services.

                  Membership number: {term.MembershipNumber}
                  Level:             {term.TierName}
                  Term:              {term.StartsOn:yyyy-MM-dd} to {term.EndsOn:yyyy-MM-dd}
                  Annual fee:        {Invoicing.InvoiceWording.Money(term.AnnualFee)} {term.Currency}
                  Payment:           {(term.PaymentMethod == PaymentMethod.Card ? "card" : "bank transfer")}

                Your membership is active now. Please quote your membership number when you contact CPS support. Your invoice follows within a few hours.{changed}

                Canon Professional Services
                """);
    }
}
