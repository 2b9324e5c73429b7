using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Support;

/// <summary>Support sent the standing invitation e-mail again (the member lost it, or it went to spam).</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="InvitationId">The standing invitation whose e-mail was sent again.</param>
/// <param name="ResendId">This resend's id (the e-mail is sent once per resend).</param>
/// <param name="Reason">Why, as support wrote it.</param>
/// <param name="ResentAt">When it was asked for, UTC.</param>
/// <param name="TicketReference">The support ticket it answers (also in the headers); null on resends stored before 2026-12-06, when none
/// was asked for.</param>
public sealed record InvitationEmailResent(Guid AccountId, Guid InvitationId, Guid ResendId, string Reason, DateTimeOffset ResentAt,
    string? TicketReference = null);

/// <summary>Send the standing invitation e-mail again (support).</summary>
/// <param name="Reason">Why, e.g. "Member says the first e-mail never arrived".</param>
/// <param name="TicketReference">The support ticket this answers, e.g. "CPS-SUP-77": required, as on every support action.</param>
public sealed record ResendInvitationEmail([property: MultiLineText] string Reason, string TicketReference);

public sealed class ResendInvitationEmailValidator : AbstractValidator<ResendInvitationEmail>
{
    public ResendInvitationEmailValidator()
    {
        RuleFor(x => x.Reason).ValidReason();
        RuleFor(x => x.TicketReference).ValidTicket();
    }
}

/// <summary>What a resend is decided on besides the membership: the account's allocated points and the tier table in force.</summary>
public sealed record ResendingContext(int Points, Tiers.TierTableView Table);

public static class ResendInvitationEmailEndpoint
{
    public static Guid MembershipStreamId(Guid accountId) => MembershipStream.For(accountId);

    /// <summary>The points and the tier table in force, read after the review lock (one round trip): what the invitation stands on.</summary>
    public static async Task<ResendingContext> LoadAsync(Guid accountId, IDocumentSession session, CancellationToken ct)
    {
        var batch = session.CreateBatchQuery();
        var sources = Products.AccountPoints.LoadIn(batch, accountId);
        var table = batch.Load<Tiers.TierTableView>(Tiers.TierTableStream.Id);
        await batch.Execute(ct);
        return new ResendingContext(Products.AccountPoints.Summarize(accountId, await sources).PointsTotal,
            await table ?? throw new InvalidOperationException("The tier table has not been loaded."));
    }

    // An invitation the policy would withdraw on the points now (its review still to run after the commit that lowered them) does
    // not stand: the e-mail would invite the member to a join that is refused (JoinCpsEndpoint.Validate).
    public static ProblemDetails Validate(AccountMembership? membership, ResendingContext context) =>
        membership?.Invitation is null
            ? Problems.Conflict("No standing invitation", "This account has no invitation to join that stands now, so there is nothing to resend.")
            : InvitationPolicy.WouldWithdraw(membership, context.Points, context.Table)
                ? Problems.Conflict("No standing invitation", $"{InvitationPolicy.BeingWithdrawn(context.Points, context.Table)} There is nothing to resend.")
                : WolverineContinue.NoProblems;

    // The reason and ticket travel in the event's headers too (for auditors); the headers belong to the session, set before the append.
    public static void Before(ResendInvitationEmail command, IDocumentSession session) =>
        SupportReason.Record(session, command.Reason.Trim(), command.TicketReference.Trim());

    [WolverinePost("/api/accounts/{accountId}/invitation/resend", OperationId = "ResendInvitationEmail")]
    [TakesInvitationReviewLock]
    [Authorize(Roles = LedgerRoles.Support)]
    [EndpointSummary("Send the standing invitation e-mail again (support; reason and ticket required)")]
    [RequestExample("""{"reason":"Member says the first e-mail never arrived","ticketReference":"CPS-SUP-77"}""")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    [ResponseLocation(StatusCodes.Status202Accepted, "The account's membership, where the standing invitation is read.")]
    public static (Accepted<InvitationEmailResent>, Events, OutgoingMessages) Post(Guid accountId, ResendInvitationEmail command,
        [WriteAggregate(FromMethod = nameof(MembershipStreamId), Required = false)] AccountMembership? membership, TimeProvider clock)
    {
        var invitation = membership!.Invitation!;
        var resent = new InvitationEmailResent(accountId, invitation.InvitationId, Guid.CreateVersion7(), command.Reason.Trim(), clock.GetUtcNow(),
            command.TicketReference.Trim());
        return (TypedResults.Accepted($"/api/accounts/{accountId}/membership", resent), [resent],
            [new SendInvitationEmail(accountId, invitation.InvitationId, resent.ResendId)]);
    }
}
