using System.Security.Claims;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using MimeKit;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Migration;

/// <summary>Send a one-time code to an old CPS e-mail of the account, to prove the account owns it.</summary>
/// <param name="Email">One of the account's old CPS e-mails (compared trimmed and lower-case).</param>
/// <param name="SupportReason">Support only, and required from support: why it asks for a code on the member's behalf (e.g. the
/// member called and will read it out). Recorded on the request's event and listed among the support overrides. A member or
/// the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record RequestOldEmailCode(string Email, [property: MultiLineText] string? SupportReason = null, string? TicketReference = null);

public sealed class RequestOldEmailCodeValidator : AbstractValidator<RequestOldEmailCode>
{
    public RequestOldEmailCodeValidator()
    {
        RuleFor(x => x.Email).NotEmpty().MaximumLength(254).ValidEmailAddress("Email");
        // Whether they are required or refused depends on the caller: RequestOldEmailCodeEndpoint.Before.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

/// <summary>A code is on its way to the address.</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="Email">The old CPS e-mail the code was sent to.</param>
/// <param name="SentAt">When the code was asked for, UTC.</param>
/// <param name="ExpiresAt">When the code stops working, UTC.</param>
/// <param name="AttemptsAllowed">Wrong codes allowed before a new one is needed.</param>
public sealed record OldEmailCodeSent(Guid AccountId, string Email, DateTimeOffset SentAt, DateTimeOffset ExpiresAt, int AttemptsAllowed);

/// <summary>E-mail the code of a verification request (the code is derived again here: the message does not carry it).</summary>
public sealed record SendOldEmailCode(Guid AccountId, string Email, Guid ChallengeId);

/// <summary>
/// When codes were sent to one address lately, whichever accounts asked (one document per address, id derived from it), so
/// that the ledger cannot be used to flood someone's mailbox. Optimistic concurrency makes two requests at once for one
/// address conflict instead of both slipping under the limit.
/// </summary>
public sealed class OldEmailCodeRequests
{
    public Guid Id { get; set; }
    public List<DateTimeOffset> SentAt { get; set; } = [];

    public static Guid IdFor(string email) => DerivedIds.Hashed($"cpsledger:old-email-code-requests:{LegacyIds.NormalizeEmail(email)}");
}

public static class OldEmailCodeRequestLimit
{
    /// <summary>The sends still inside the window, and when the next is allowed (null: now).</summary>
    public static (IReadOnlyList<DateTimeOffset> Recent, DateTimeOffset? NextAllowedAt) Decide(IReadOnlyList<DateTimeOffset> sentAt,
        DateTimeOffset now, int limit, TimeSpan window)
    {
        var recent = sentAt.Where(t => t > now - window).Order().ToList();
        return (recent, recent.Count < limit ? null : recent[recent.Count - limit] + window);
    }
}

/// <summary>What a code request decides on besides the account's verifications: the e-mail's standing, the address's recent codes.</summary>
public sealed record OldEmailCodeRequestReads(string Email, OldEmailStanding? Standing, OldEmailCodeRequests? Sent);

public static class RequestOldEmailCodeEndpoint
{
    /// <summary>The decision: a new code (superseding any earlier one), or why not. Throttling is decided separately.</summary>
    public static (OldCpsEmailVerificationRequested? Requested, ProblemDetails? Problem) Decide(Guid accountId, OldEmailStanding? standing,
        string email, OldEmailVerificationOptions options, Guid challengeId, DateTimeOffset now)
    {
        if (standing is null)
            return (null, Problems.NotFound("Old CPS e-mail not on the account", $"The account gives no old CPS e-mail {email}."));
        if (standing.Verified)
            return (null, OldEmailProblems.AlreadyVerified(email));
        if (standing.VerifiedByAnotherAccount is not null)
            return (null, OldEmailProblems.VerifiedByAnotherAccount(email));
        return (new OldCpsEmailVerificationRequested(accountId, email, challengeId, options.MaxAttempts, now + options.CodeLifetime, now), null);
    }

    // Support's reason and ticket, on the request's event; refused, nothing is sent or counted (SupportReason.OnBehalf).
    public static ProblemDetails Before(RequestOldEmailCode command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    public static async Task<OldEmailCodeRequestReads> LoadAsync(RequestOldEmailCode command, OldCpsEmailVerifications verifications,
        IQuerySession session, CancellationToken ct)
    {
        var email = LegacyIds.NormalizeEmail(command.Email);
        return new OldEmailCodeRequestReads(email, await OldEmailReads.StandingAsync(session, verifications, email, ct),
            await session.LoadAsync<OldEmailCodeRequests>(OldEmailCodeRequests.IdFor(email), ct));
    }

    // Refused requests send nothing and do not count towards the address's limit.
    public static ProblemDetails Validate(Guid accountId, OldEmailCodeRequestReads reads, IOptions<OldEmailVerificationOptions> options,
        TimeProvider clock, HttpResponse response)
    {
        var now = clock.GetUtcNow();
        var o = options.Value;
        if (Decide(accountId, reads.Standing, reads.Email, o, Guid.Empty, now).Problem is { } problem)
            return problem;
        if (OldEmailCodeRequestLimit.Decide(reads.Sent?.SentAt ?? [], now, o.MaxCodesPerEmail, o.CodeRequestWindow).NextAllowedAt is not { } next)
            return WolverineContinue.NoProblems;
        response.Headers.RetryAfter = ((int)Math.Ceiling((next - now).TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return OldEmailProblems.TooManyCodeRequests(reads.Email, o.MaxCodesPerEmail, o.CodeRequestWindow, next);
    }

    [WolverinePost("/api/accounts/{accountId}/old-cps-emails/verification-codes", OperationId = "RequestOldEmailCode")]
    [RequestExample("""{"email":"kadri.tamm@old.example"}""")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Send a one-time code to an old CPS e-mail of the account, to prove the account owns it (a few per hour per address); support also gives supportReason and ticketReference")]
    [EndpointDescription("The code (eight digits) goes to the old address only and replaces any code sent before. Entering it " +
                         "(POST .../old-cps-emails/verification) verifies the e-mail; until then the old account's products and " +
                         "membership number cannot be migrated or seen.")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    [ProducesResponseType(StatusCodes.Status429TooManyRequests)]
    public static (Accepted<OldEmailCodeSent>, Events, IMartenOp, OutgoingMessages) Post(Guid accountId, RequestOldEmailCode command,
        [WriteAggregate("accountId")] OldCpsEmailVerifications verifications, OldEmailCodeRequestReads reads,
        IOptions<OldEmailVerificationOptions> options, TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        var o = options.Value;
        var requested = Decide(accountId, reads.Standing, reads.Email, o, Guid.NewGuid(), now).Requested
                        ?? throw new InvalidOperationException($"The code request for {reads.Email} was validated.");
        var recent = OldEmailCodeRequestLimit.Decide(reads.Sent?.SentAt ?? [], now, o.MaxCodesPerEmail, o.CodeRequestWindow).Recent;
        var sent = new OldEmailCodeRequests { Id = OldEmailCodeRequests.IdFor(reads.Email), SentAt = [.. recent, now] };
        // Two requests at once for one address: the second insert hits the primary key, the second update the version (409).
        IMartenOp count = reads.Sent is null ? MartenOps.Insert(sent) : MartenOps.Update(sent);
        return (TypedResults.Accepted((string?)null, new OldEmailCodeSent(accountId, reads.Email, now, requested.ExpiresAt, requested.AttemptsAllowed)),
            [requested], count, [new SendOldEmailCode(accountId, reads.Email, requested.ChallengeId)]);
    }
}

public static class SendOldEmailCodeHandler
{
    public static async Task Handle(SendOldEmailCode message, IQuerySession session, MailDelivery mail, IOptions<OldEmailVerificationOptions> options,
        TimeProvider clock, ILogger<SendOldEmailCode> logger, CancellationToken ct)
    {
        var verifications = await session.Events.AggregateStreamAsync<OldCpsEmailVerifications>(message.AccountId, token: ct);
        // Superseded by a newer code, used up, verified meanwhile, or the e-mail unlinked: a code that cannot be used is not sent.
        // Expected, not a fault. The line names the challenge, not the address (someone else's, perhaps) nor the code.
        if (Unusable(verifications?.Find(message.Email), message.ChallengeId, clock.GetUtcNow()) is { } reason)
        {
            logger.LogInformation(
                "Old CPS e-mail verification code of challenge {ChallengeId} of account {AccountId} not sent ({MessageType}): {Reason}",
                message.ChallengeId, message.AccountId, nameof(SendOldEmailCode), reason);
            return;
        }

        var pending = verifications!.Find(message.Email)!.Pending!;
        await mail.SendAsync(OldEmailCodeEmail.Compose(message.Email, OldEmailCodes.For(options.Value.Key, message.ChallengeId), pending), ct);
    }

    /// <summary>Why the code of <paramref name="challengeId"/> cannot be used now, so is not sent; null when it can.</summary>
    public static string? Unusable(OldCpsEmailVerificationState? email, Guid challengeId, DateTimeOffset now) => email switch
    {
        null => "the e-mail is not linked to the account",
        { VerifiedBy: not null } => "the e-mail is verified",
        { Pending: null } => "no code is pending (it expired, or none was requested)",
        { Pending: { } pending } when pending.ChallengeId != challengeId => "a newer code was requested",
        { Pending.AttemptsLeft: 0 } => "the code's attempts are used up",
        { Pending: { } pending } when pending.ExpiresAt <= now => "the code expired",
        _ => null,
    };
}

public static class OldEmailCodeEmail
{
    /// <summary>
    /// Nothing the account typed goes into this e-mail (the address may belong to someone else: no company name or other text an
    /// account controls, so the ledger cannot be used to send them someone's words).
    /// </summary>
    public static MimeMessage Compose(string email, string code, PendingOldEmailCode pending)
    {
        using var culture = Accounts.MemberEmails.InvariantCulture();
        var message = new MimeMessage
        {
            // The same request always has the same Message-Id, so a redelivered e-mail is recognisably the same one.
            MessageId = $"old-cps-email-code-{pending.ChallengeId:N}@cpsledger",
            Subject = "Your CPS verification code",
            Body = Accounts.MemberEmails.Text($"""
                        Hello,

                        A business account in the Canon Professional Services (CPS) portal gives this address as the e-mail of an old CPS account and has asked for a code to prove it. If that was you, enter this code in the portal:

                            {OldEmailCodes.Shown(code)}

                        The code can be used once, until {pending.ExpiresAt:yyyy-MM-dd HH:mm} UTC, with {pending.AttemptsLeft} attempts to enter it.

                        If you did not ask for it, ignore this e-mail: without the code nothing from your old CPS account moves anywhere. Never give the code to anyone else. You may read it out to CPS support on a call you made yourself; CPS never asks for it by e-mail or on a call it started.

                        Canon Professional Services
                        """),
        };
        message.To.Add(MailboxAddress.Parse(email));
        return message;
    }
}

/// <summary>The problems of the verification endpoints, worded once; <c>reason</c> says which for the portal.</summary>
public static class OldEmailProblems
{
    public static ProblemDetails AlreadyVerified(string email) =>
        WithReason(Problems.Conflict("Old CPS e-mail already verified", $"The account has already proved that it owns {email}."),
            "already_verified");

    public static ProblemDetails VerifiedByAnotherAccount(string email) =>
        WithReason(Problems.Conflict("Old CPS e-mail verified by another account",
                $"Another business account has already proved that it owns {email}. If this account owns it, contact CPS support."),
            "verified_by_another_account");

    public static ProblemDetails TooManyCodeRequests(string email, int limit, TimeSpan window, DateTimeOffset nextAllowedAt)
    {
        var problem = WithReason(new ProblemDetails
        {
            Status = StatusCodes.Status429TooManyRequests,
            Title = "Too many codes requested",
            Detail = $"At most {limit} codes are sent to {email} per {Words(window)}; the next can be requested at {nextAllowedAt:yyyy-MM-dd HH:mm:ss} UTC.",
        }, "too_many_code_requests");
        problem.Extensions["nextAllowedAt"] = nextAllowedAt;
        return problem;
    }

    public static ProblemDetails WithReason(ProblemDetails problem, string reason)
    {
        problem.Extensions["reason"] = reason;
        return problem;
    }

    private static string Words(TimeSpan window) =>
        window == TimeSpan.FromHours(1) ? "hour" : window.TotalHours >= 1 && window.TotalHours % 1 == 0 ? $"{window.TotalHours:0} hours" : $"{window.TotalMinutes:0} minutes";
}

/// <summary>The reads the verification endpoints share.</summary>
public static class OldEmailReads
{
    /// <summary>One e-mail's standing for the account (null when the account does not give it).</summary>
    public static async Task<OldEmailStanding?> StandingAsync(IQuerySession session, OldCpsEmailVerifications verifications, string email,
        CancellationToken ct)
    {
        if (verifications.Find(email) is not { } state)
            return null;
        var legacy = await session.LoadAsync<LegacyAccountView>(LegacyIds.AccountFor(email), ct);
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(verifications.Id), ct);
        var other = await OldEmailStandings.VerifiedByAnotherAccountAsync(session, verifications.Id, email, legacy, ct);
        var carriedOver = await NumbersCarriedOver.ByOldEmailIfSharedAsync(session, verifications.Id, membership, [legacy], ct);
        return OldEmailStandings.Of(verifications.Id, state, legacy, carriedOver.From(email), other);
    }
}
