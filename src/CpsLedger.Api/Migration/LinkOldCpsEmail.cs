using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Migration;

/// <summary>Support links the e-mail of an old CPS account that the member did not give when opening the account.</summary>
/// <param name="Email">The old CPS account's e-mail (compared trimmed and lower-case).</param>
/// <param name="Reason">Why, for the audit trail (e.g. the support ticket and how ownership was checked).</param>
public sealed record LinkOldCpsEmail(string Email, string Reason);

public sealed class LinkOldCpsEmailValidator : AbstractValidator<LinkOldCpsEmail>
{
    public const int MaxReasonLength = 500;

    public LinkOldCpsEmailValidator()
    {
        RuleFor(x => x.Email).NotEmpty().MaximumLength(254)
            .Must(EmailAddresses.IsValid).WithMessage("Email must be a valid e-mail address.");
        RuleFor(x => x.Reason).NotEmpty().MaximumLength(MaxReasonLength)
            .Must(r => r is null || r.Trim().Length > 0).WithMessage("Reason must not be blank.");
    }
}

/// <summary>The account's old CPS e-mails after a link or unlink.</summary>
public sealed record OldCpsEmails(Guid AccountId, IReadOnlyList<string> Emails);

public static class OldCpsEmailLinks
{
    /// <summary>
    /// Support linking an e-mail counts as verifying it: the link and the verification are recorded together (also for an
    /// e-mail the member gave but has not proved). Linking an e-mail the account has already verified changes nothing; one
    /// verified by another account must be unlinked there first; an account keeps at most as many as it may give when opened.
    /// </summary>
    /// <param name="standing">The e-mail's standing on this account; null when the account does not give it yet.</param>
    /// <param name="verifiedByAnotherAccount">The account that has proved it owns the e-mail, when that is another one.</param>
    public static (IReadOnlyList<object> Events, ProblemDetails? Problem) DecideLink(BusinessAccount account, OldEmailStanding? standing,
        Guid? verifiedByAnotherAccount, LinkOldCpsEmail command, DateTimeOffset now)
    {
        var email = LegacyIds.NormalizeEmail(command.Email);
        if (standing is { Verified: true })
            return ([], null);
        if (verifiedByAnotherAccount is { } other)
        {
            var problem = OldEmailProblems.VerifiedByAnotherAccount(email);
            problem.Detail = $"Business account {other} has already proved that it owns {email}. Unlink it there first (with a reason) if it " +
                             "was linked by mistake.";
            problem.Extensions["accountId"] = other;
            return ([], problem);
        }

        if (!account.OldCpsEmails.Contains(email) && account.OldCpsEmails.Count >= OpenBusinessAccountValidator.MaxOldCpsEmails)
            return ([], Problems.Conflict("Too many old CPS e-mails",
                $"The account already has {OpenBusinessAccountValidator.MaxOldCpsEmails} old CPS e-mails. Unlink a wrong one first."));
        var reason = command.Reason.Trim();
        return ([
            new OldCpsEmailLinked(account.Id, email, reason, now),
            new OldCpsEmailVerified(account.Id, email, OldCpsEmailVerificationMethod.SupportLink, null, reason, now),
        ], null);
    }

    /// <summary>
    /// An e-mail can be unlinked until something was migrated from it to this account (products, or the old membership number):
    /// after that the link explains where those came from.
    /// </summary>
    public static (OldCpsEmailUnlinked? Unlinked, ProblemDetails? Problem) DecideUnlink(BusinessAccount account, string email, string? reason,
        LegacyAccountView? legacy, IReadOnlyCollection<string> membershipNumbers, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(reason))
            return (null, Problems.Invalid("reason", "Give the reason for unlinking (?reason=...), for the audit trail."));
        if (reason.Length > LinkOldCpsEmailValidator.MaxReasonLength)
            return (null, Problems.Invalid("reason", $"Reason must be at most {LinkOldCpsEmailValidator.MaxReasonLength} characters."));
        if (!account.OldCpsEmails.Contains(email))
            return (null, Problems.NotFound("Old CPS e-mail not linked", $"The account has no old CPS e-mail {email}."));

        var migrated = legacy?.Products.Count(p => p.MigratedToAccountId == account.Id) ?? 0;
        if (migrated > 0 || (legacy is not null && membershipNumbers.Contains(legacy.OldMembershipNumber)))
        {
            return (null, Problems.Conflict("Already migrated",
                $"{(migrated > 0 ? $"{migrated} product{(migrated == 1 ? " was" : "s were")}" : "The old membership number was")} migrated " +
                $"from {email} to this account, so the e-mail stays linked. Deregister products registered in error instead."));
        }

        return (new OldCpsEmailUnlinked(account.Id, email, reason.Trim(), now), null);
    }
}

public static class LinkOldCpsEmailEndpoint
{
    [WolverinePost("/api/accounts/{accountId}/old-cps-emails", OperationId = "LinkOldCpsEmail")]
    [RequestExample("""{"email":"kadri.tamm@old.example","reason":"Ticket 4711: member proved ownership of the old CPS account"}""")]
    [Authorize(Roles = LedgerRoles.Support)]
    [Tags("Migration")]
    [EndpointSummary("Link an old CPS e-mail to the account (support, with a reason): it counts as verified and migration becomes possible")]
    [ProducesResponseType<OldCpsEmails>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<IResult> Post(Guid accountId, LinkOldCpsEmail command, IDocumentSession session, TimeProvider clock, CancellationToken ct)
    {
        var stream = await session.Events.FetchForWriting<BusinessAccount>(accountId, ct);
        if (stream.Aggregate is not { } account)
            return Results.Problem(Problems.AccountNotFound);

        // Read in the same session: the link appends with the account stream's version, so a verification or an unlink
        // committing meanwhile makes it fail (409) instead of deciding on stale state.
        var email = LegacyIds.NormalizeEmail(command.Email);
        var verifications = await session.Events.AggregateStreamAsync<OldCpsEmailVerifications>(accountId, token: ct)
                            ?? throw new InvalidOperationException($"Account {accountId} has no old e-mail verifications.");
        var standing = await OldEmailReads.StandingAsync(session, verifications, email, ct);
        var other = standing?.VerifiedByAnotherAccount ?? await OldEmailStandings.VerifiedByAnotherAccountAsync(session, accountId, email,
            await session.LoadAsync<LegacyAccountView>(LegacyIds.AccountFor(email), ct), ct);

        var (events, problem) = OldCpsEmailLinks.DecideLink(account, standing, other, command, clock.GetUtcNow());
        if (problem is not null)
            return Results.Problem(problem);
        List<string> emails = [.. account.OldCpsEmails];
        if (events.Count > 0)
        {
            Support.SupportReason.Record(session, command.Reason.Trim());
            stream.AppendMany(events);
            if (!emails.Contains(email))
                emails.Add(email);
        }

        return Results.Ok(new OldCpsEmails(accountId, emails));
    }
}

public static class UnlinkOldCpsEmailEndpoint
{
    [WolverineDelete("/api/accounts/{accountId}/old-cps-emails/{email}", OperationId = "UnlinkOldCpsEmail")]
    [Authorize(Roles = LedgerRoles.Support)]
    [Tags("Migration")]
    [EndpointSummary("Unlink a wrongly linked old CPS e-mail (support, ?reason=...), possible until something was migrated from it")]
    [ProducesResponseType<OldCpsEmails>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<IResult> Delete(Guid accountId, string email, string? reason, IDocumentSession session, TimeProvider clock,
        CancellationToken ct)
    {
        var stream = await session.Events.FetchForWriting<BusinessAccount>(accountId, ct);
        if (stream.Aggregate is not { } account)
            return Results.Problem(Problems.AccountNotFound);

        var normalized = LegacyIds.NormalizeEmail(Uri.UnescapeDataString(email));
        var legacy = await session.Events.FetchForWriting<LegacyAccountView>(LegacyIds.AccountFor(normalized), ct);
        // A migration batch committing from this e-mail meanwhile makes this unlink fail (409) instead of orphaning its products.
        if (legacy.Aggregate is not null)
            legacy.AlwaysEnforceConsistency = true;
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(accountId), ct);

        var (unlinked, problem) = OldCpsEmailLinks.DecideUnlink(account, normalized, reason, legacy.Aggregate, membership?.MembershipNumbers ?? [],
            clock.GetUtcNow());
        if (problem is not null)
            return Results.Problem(problem);

        Support.SupportReason.Record(session, unlinked!.Reason);
        stream.AppendOne(unlinked);
        return Results.Ok(new OldCpsEmails(accountId, account.OldCpsEmails.Where(e => e != normalized).ToList()));
    }
}
