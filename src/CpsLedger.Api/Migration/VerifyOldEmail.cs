using System.Security.Claims;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Migration;

/// <summary>Enter the code sent to an old CPS e-mail.</summary>
/// <param name="Email">The old CPS e-mail the code was sent to.</param>
/// <param name="Code">The eight digits from the e-mail (spaces and hyphens are ignored).</param>
/// <param name="SupportReason">Support only, and required from support: why it enters the code on the member's behalf (the member
/// read it out on a call the member made). Recorded on the attempt's event, right or wrong, and listed among the support
/// overrides. A member or the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record VerifyOldEmail(string Email, string Code, [property: MultiLineText] string? SupportReason = null, string? TicketReference = null);

public sealed class VerifyOldEmailValidator : AbstractValidator<VerifyOldEmail>
{
    public VerifyOldEmailValidator()
    {
        RuleFor(x => x.Email).NotEmpty().MaximumLength(254).ValidEmailAddress("Email");
        RuleFor(x => x.Code).NotEmpty().MaximumLength(20)
            .Must(c => OldEmailCodes.Normalize(c) is not null).WithMessage($"Code must be the {OldEmailCodes.Digits} digits from the e-mail.");
        // Whether they are required or refused depends on the caller: VerifyOldEmailEndpoint.Before.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

/// <summary>The e-mail a code was entered for (trimmed, lower-case) and its standing on the account (null: not the account's).</summary>
public sealed record OldEmailCodeEntry(string Email, OldEmailStanding? Standing);

/// <summary>The e-mail is verified: migration from it is possible.</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="Email">The verified old CPS e-mail.</param>
/// <param name="Method">How it was verified.</param>
/// <param name="VerifiedAt">When, UTC.</param>
public sealed record OldEmailVerified(Guid AccountId, string Email, OldCpsEmailVerificationMethod Method, DateTimeOffset VerifiedAt);

/// <summary>What entering a code decided: the event to record (also for a failure: attempts are counted) and the answer.</summary>
public sealed record OldEmailCodeDecision(object? Event, ProblemDetails? Problem);

public static class VerifyOldEmailEndpoint
{
    /// <summary>
    /// The decision on a code entered for an e-mail: verified; or a wrong code (an attempt used), an expired code, a code used up
    /// by wrong attempts, no code requested, already verified, or verified by another account. Only the latest code counts.
    /// </summary>
    public static OldEmailCodeDecision Decide(Guid accountId, OldEmailStanding? standing, string email, string code, byte[] key, DateTimeOffset now)
    {
        if (standing is null)
            return new(null, Problems.NotFound("Old CPS e-mail not on the account", $"The account gives no old CPS e-mail {email}."));
        if (standing.Verified)
            return new(null, OldEmailProblems.AlreadyVerified(email));
        if (standing.VerifiedByAnotherAccount is not null)
            return new(null, OldEmailProblems.VerifiedByAnotherAccount(email));
        if (standing.Pending is not { } pending)
        {
            return new(null, OldEmailProblems.WithReason(Problems.Conflict("No code requested",
                $"No code is waiting for {email}: request one (POST .../old-cps-emails/verification-codes)."), "no_code_requested"));
        }

        if (pending.AttemptsLeft <= 0)
        {
            return new(null, OldEmailProblems.WithReason(Problems.Conflict("Too many wrong codes",
                $"The code sent to {email} was entered wrongly too often and no longer works. Request a new code."), "too_many_attempts"));
        }

        if (now >= pending.ExpiresAt)
        {
            return new(new OldCpsEmailVerificationFailed(accountId, email, pending.ChallengeId, OldCpsEmailVerificationFailure.CodeExpired, 0, now),
                OldEmailProblems.WithReason(Problems.Conflict("Code expired",
                    $"The code sent to {email} expired at {pending.ExpiresAt:yyyy-MM-dd HH:mm} UTC. Request a new code."), "code_expired"));
        }

        if (!OldEmailCodes.Matches(key, pending.ChallengeId, code))
        {
            var left = pending.AttemptsLeft - 1;
            var problem = Problems.Invalid("code", left > 0
                ? $"This is not the code sent to {email}; {left} attempt{(left == 1 ? "" : "s")} left."
                : $"This is not the code sent to {email}, and it was the last attempt. Request a new code.");
            problem.Extensions["reason"] = "wrong_code";
            problem.Extensions["attemptsLeft"] = left;
            return new(new OldCpsEmailVerificationFailed(accountId, email, pending.ChallengeId, OldCpsEmailVerificationFailure.WrongCode, left, now),
                problem);
        }

        return new(new OldCpsEmailVerified(accountId, email, OldCpsEmailVerificationMethod.Code, pending.ChallengeId, null, now), null);
    }

    // Support's reason and ticket, on the attempt's event; refused, no attempt is used (SupportReason.OnBehalf).
    public static ProblemDetails Before(VerifyOldEmail command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    public static async Task<OldEmailCodeEntry> LoadAsync(VerifyOldEmail command, OldCpsEmailVerifications verifications, IQuerySession session,
        CancellationToken ct)
    {
        var email = LegacyIds.NormalizeEmail(command.Email);
        return new OldEmailCodeEntry(email, await OldEmailReads.StandingAsync(session, verifications, email, ct));
    }

    // Two attempts at once race on the account stream's version: one of them gets 409, so no attempt goes uncounted.
    [WolverinePost("/api/accounts/{accountId}/old-cps-emails/verification", OperationId = "VerifyOldEmail")]
    [RequestExample("""{"email":"kadri.tamm@old.example","code":"4821 0937"}""")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Enter the code sent to an old CPS e-mail: the e-mail is verified and its old account can be migrated; support also gives supportReason and ticketReference")]
    [EndpointDescription("A wrong code uses an attempt (400, attemptsLeft); an expired or used-up code needs a new one (409). " +
                         "Every attempt is recorded on the account's history; the code never is.")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static (Results<Ok<OldEmailVerified>, ProblemHttpResult>, Events) Post(Guid accountId, VerifyOldEmail command,
        [WriteAggregate("accountId")] OldCpsEmailVerifications verifications, OldEmailCodeEntry entry, IOptions<OldEmailVerificationOptions> options,
        TimeProvider clock)
    {
        var decision = Decide(accountId, entry.Standing, entry.Email, command.Code, options.Value.Key, clock.GetUtcNow());
        // A failed attempt is recorded although the answer is an error: that is what counts attempts.
        Events events = decision.Event is null ? [] : [decision.Event];
        return decision switch
        {
            { Problem: { } problem } => (TypedResults.Problem(problem), events),
            { Event: OldCpsEmailVerified verified } => (TypedResults.Ok(new OldEmailVerified(accountId, entry.Email, verified.Method, verified.VerifiedAt)),
                events),
            _ => throw new InvalidOperationException("A code decision without an event or a problem."),
        };
    }
}
