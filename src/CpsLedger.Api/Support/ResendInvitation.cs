using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine;
using Wolverine.Http;

namespace CpsLedger.Api.Support;

/// <summary>Support sent the standing invitation e-mail again (the member lost it, or it went to spam).</summary>
public sealed record InvitationEmailResent(Guid AccountId, Guid InvitationId, Guid ResendId, string Reason, DateTimeOffset ResentAt);

/// <param name="Reason">Why, e.g. "Member says the first e-mail never arrived (ticket CPS-SUP-77)".</param>
public sealed record ResendInvitationEmail(string Reason);

public sealed class ResendInvitationEmailValidator : AbstractValidator<ResendInvitationEmail>
{
    public ResendInvitationEmailValidator() =>
        RuleFor(x => x.Reason).NotEmpty().MaximumLength(500).Must(r => r is null || r.Trim().Length >= 5)
            .WithMessage("Reason must say why (at least 5 characters).");
}

public static class ResendInvitationEmailEndpoint
{
    [WolverinePost("/api/accounts/{accountId}/invitation/resend", OperationId = "ResendInvitationEmail")]
    [Authorize(Roles = LedgerRoles.Support)]
    [Tags("Support")]
    [EndpointSummary("Send the standing invitation e-mail again (support; reason required)")]
    [RequestExample("""{"reason":"Member says the first e-mail never arrived (ticket CPS-SUP-77)"}""")]
    [ProducesResponseType<InvitationEmailResent>(StatusCodes.Status202Accepted)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<(IResult, OutgoingMessages)> Post(Guid accountId, ResendInvitationEmail command, IDocumentSession session,
        TimeProvider clock, CancellationToken ct)
    {
        if (!await Accounts.AccountLookup.ExistsAsync(session, accountId, ct))
            return (Results.Problem(Problems.AccountNotFound), []);

        var stream = await session.Events.FetchForWriting<AccountMembership>(MembershipStream.For(accountId), ct);
        if (stream.Aggregate?.Invitation is not { } invitation)
            return (Results.Problem(Problems.Conflict("No standing invitation",
                "This account has no invitation to join that stands now, so there is nothing to resend.")), []);

        var resent = new InvitationEmailResent(accountId, invitation.InvitationId, Guid.CreateVersion7(), command.Reason.Trim(), clock.GetUtcNow());
        SupportReason.Record(session, resent.Reason);
        stream.AppendOne(resent);
        return (Results.Accepted($"/api/accounts/{accountId}/membership", resent),
            [new SendInvitationEmail(accountId, invitation.InvitationId, resent.ResendId)]);
    }
}
