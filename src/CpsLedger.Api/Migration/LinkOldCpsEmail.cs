using System.ComponentModel;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using JasperFx;
using JasperFx.Events;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Migration;

/// <summary>Support links the e-mail of an old CPS account that the member did not give when opening the account.</summary>
/// <param name="Email">The old CPS account's e-mail (compared trimmed and lower-case).</param>
/// <param name="Reason">Why, for the audit trail (e.g. how ownership was checked).</param>
/// <param name="TicketReference">The support ticket this answers, e.g. "CPS-SUP-1234": required, as on every action support takes in its
/// own name.</param>
public sealed record LinkOldCpsEmail(string Email, [property: MultiLineText] string Reason, string TicketReference);

public sealed class LinkOldCpsEmailValidator : AbstractValidator<LinkOldCpsEmail>
{
    public const int MaxReasonLength = 500;

    public LinkOldCpsEmailValidator()
    {
        RuleFor(x => x.Email).NotEmpty().MaximumLength(254)
            .ValidEmailAddress("Email");
        RuleFor(x => x.Reason).ValidReason(MaxReasonLength);
        RuleFor(x => x.TicketReference).ValidTicket();
    }
}

/// <summary>The account's old CPS e-mails after a link or unlink.</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="Emails">Every old CPS e-mail the account gives now, verified or not.</param>
public sealed record OldCpsEmails(Guid AccountId, IReadOnlyList<string> Emails);

public static class OldCpsEmailLinks
{
    /// <summary>
    /// An e-mail another account has proved it owns must be unlinked there first (support is told which account); an account
    /// keeps at most as many old e-mails as it may give when opened.
    /// </summary>
    /// <param name="standing">The e-mail's standing on this account; null when the account does not give it yet.</param>
    /// <param name="verifiedByAnotherAccount">The account that has proved it owns the e-mail, when that is another one.</param>
    public static ProblemDetails ValidateLink(BusinessAccount account, OldEmailStanding? standing, Guid? verifiedByAnotherAccount,
        LinkOldCpsEmail command)
    {
        var email = LegacyIds.NormalizeEmail(command.Email);
        if (standing is { Verified: true })
            return WolverineContinue.NoProblems;
        if (verifiedByAnotherAccount is { } other)
        {
            var problem = OldEmailProblems.VerifiedByAnotherAccount(email);
            problem.Detail = $"Business account {other} has already proved that it owns {email}. Unlink it there first (with a reason) if it " +
                             "was linked by mistake.";
            problem.Extensions["accountId"] = other;
            return problem;
        }

        return !account.OldCpsEmails.Contains(email) && account.OldCpsEmails.Count >= OpenBusinessAccountValidator.MaxOldCpsEmails
            ? Problems.Conflict("Too many old CPS e-mails",
                $"The account already has {OpenBusinessAccountValidator.MaxOldCpsEmails} old CPS e-mails. Unlink a wrong one first.")
            : WolverineContinue.NoProblems;
    }

    /// <summary>
    /// Support linking an e-mail counts as verifying it: the link and the verification are recorded together (also for an
    /// e-mail the member gave but has not proved). Linking an e-mail the account has already verified changes nothing.
    /// </summary>
    public static IReadOnlyList<object> DecideLink(BusinessAccount account, OldEmailStanding? standing, LinkOldCpsEmail command, DateTimeOffset now)
    {
        if (standing is { Verified: true })
            return [];
        var email = LegacyIds.NormalizeEmail(command.Email);
        var reason = command.Reason.Trim();
        return
        [
            new OldCpsEmailLinked(account.Id, email, reason, now, command.TicketReference.Trim()),
            new OldCpsEmailVerified(account.Id, email, OldCpsEmailVerificationMethod.SupportLink, null, reason, now),
        ];
    }

    /// <summary>
    /// An e-mail can be unlinked until something was migrated from it to this account (products, or the old membership number):
    /// after that the link explains where those came from.
    /// </summary>
    /// <param name="numbersCarriedOverFromEmail">The old membership numbers carried over to the account from this e-mail
    /// (<see cref="NumbersCarriedOver"/>), not from another old e-mail that shares its number.</param>
    public static ProblemDetails ValidateUnlink(BusinessAccount account, string email, string? reason, string? ticketReference,
        LegacyAccountView? legacy, IReadOnlyCollection<string> numbersCarriedOverFromEmail)
    {
        // A query's reason and ticket, not a body's: the validators' rules (SupportReason.ValidReason, ValidTicket), checked here with
        // their wording, both named at once as a body's would be.
        var errors = new Dictionary<string, string[]>();
        if (!Support.SupportReason.IsValidReason(reason, LinkOldCpsEmailValidator.MaxReasonLength))
            errors["reason"] = [Support.SupportReason.ReasonMessage(LinkOldCpsEmailValidator.MaxReasonLength)];
        if (Support.SupportReason.TicketProblem(ticketReference) is { } ticketProblem)
            errors["ticketReference"] = [ticketProblem];
        if (errors.Count > 0)
            return Problems.Invalid(errors);
        if (!account.OldCpsEmails.Contains(email))
            return Problems.NotFound("Old CPS e-mail not linked", $"The account has no old CPS e-mail {email}.");

        var migrated = legacy?.Products.Count(p => p.MigratedToAccountId == account.Id) ?? 0;
        if (migrated > 0 || (legacy is not null && numbersCarriedOverFromEmail.Contains(legacy.OldMembershipNumber)))
        {
            return Problems.Conflict("Already migrated",
                $"{(migrated > 0 ? $"{migrated} product{(migrated == 1 ? " was" : "s were")}" : "The old membership number was")} migrated " +
                $"from {email} to this account, so the e-mail stays linked. Deregister products registered in error instead.");
        }

        return WolverineContinue.NoProblems;
    }

    public static OldCpsEmailUnlinked DecideUnlink(BusinessAccount account, string email, string reason, string ticketReference, DateTimeOffset now) =>
        new(account.Id, email, reason.Trim(), now, ticketReference.Trim());
}

/// <summary>What linking decides on besides the account: the e-mail's standing on it, and whether another account holds the e-mail.</summary>
public sealed record OldEmailLinkReads(OldEmailStanding? Standing, Guid? VerifiedByAnotherAccount);

public static class LinkOldCpsEmailEndpoint
{
    // The reason and the ticket in the headers of both events the link writes, as every support action records them; its
    // verification is the link's override row, not one of its own.
    public static void Before(LinkOldCpsEmail command, IDocumentSession session) =>
        Support.SupportReason.Record(session, command.Reason.Trim(), command.TicketReference.Trim(), listedAs: "old_cps_email_linked");

    // Read in the request's session: the link appends with the account stream's version, so a verification or an unlink
    // committing meanwhile makes it fail (409) instead of deciding on stale state.
    public static async Task<OldEmailLinkReads> LoadAsync(Guid accountId, LinkOldCpsEmail command, IQuerySession session, CancellationToken ct)
    {
        var email = LegacyIds.NormalizeEmail(command.Email);
        if (await session.Events.AggregateStreamAsync<OldCpsEmailVerifications>(accountId, token: ct) is not { } verifications)
            return new OldEmailLinkReads(null, null);
        var standing = await OldEmailReads.StandingAsync(session, verifications, email, ct);
        var other = standing is null
            ? await OldEmailStandings.VerifiedByAnotherAccountAsync(session, accountId, email,
                await session.LoadAsync<LegacyAccountView>(LegacyIds.AccountFor(email), ct), ct)
            : standing.VerifiedByAnotherAccount;
        return new OldEmailLinkReads(standing, other);
    }

    public static ProblemDetails Validate(BusinessAccount account, LinkOldCpsEmail command, OldEmailLinkReads reads) =>
        OldCpsEmailLinks.ValidateLink(account, reads.Standing, reads.VerifiedByAnotherAccount, command);

    [WolverinePost("/api/accounts/{accountId}/old-cps-emails", OperationId = "LinkOldCpsEmail")]
    [RequestExample("""{"email":"kadri.tamm@old.example","reason":"Member proved ownership of the old CPS account","ticketReference":"CPS-SUP-4711"}""")]
    [Authorize(Roles = LedgerRoles.Support)]
    [EndpointSummary("Link an old CPS e-mail to the account (support, with a reason and ticket): it counts as verified and migration becomes possible")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static (OldCpsEmails, Events) Post(Guid accountId, LinkOldCpsEmail command, [WriteAggregate("accountId")] BusinessAccount account,
        OldEmailLinkReads reads, TimeProvider clock)
    {
        var events = OldCpsEmailLinks.DecideLink(account, reads.Standing, command, clock.GetUtcNow());
        var after = events.OfType<OldCpsEmailLinked>().Aggregate(account, (a, linked) => a.Apply(linked));
        return (new OldCpsEmails(accountId, after.OldCpsEmails), [.. events]);
    }
}

/// <summary>What an unlink decides on, read under the old e-mail's lock: the account's stream, its old account (if imported), its membership.</summary>
/// <param name="NumbersCarriedOverFromEmail">The old membership numbers carried over to the account from this e-mail.</param>
public sealed record UnlinkReads(IEventStream<BusinessAccount> Account, LegacyAccountView? Legacy, AccountMembership? Membership,
    IReadOnlyCollection<string> NumbersCarriedOverFromEmail);

public static class UnlinkOldCpsEmailEndpoint
{
    public static string Normalized(string email) => LegacyIds.NormalizeEmail(Uri.UnescapeDataString(email));

    public const string BlankEmail = "The old CPS e-mail in the path is blank: give the e-mail to unlink.";

    public static Guid LegacyStreamId(string email) => LegacyIds.AccountFor(Normalized(email));

    // The old e-mail's lock first (held to the commit), as each migration step from the e-mail takes it before it reads: one waits
    // for the other, and an unlink that waited reads the products moved or the number carried over and is refused (409) instead of
    // orphaning them. A lock of the e-mail, not of its old account's row: before the old account is imported there is no row, and
    // an import and a migration could both commit while the unlink is in flight. A version check at commit would not do: it is a
    // plain read, blind to a step not yet committed. So the streams are fetched here, after the lock, not by [WriteAggregate]
    // (Wolverine reads those before any method of the endpoint runs).
    public static async Task<UnlinkReads> LoadAsync(Guid accountId, string email, IDocumentSession session, CancellationToken ct)
    {
        await OldEmailLock.TakeAsync(session, [LegacyStreamId(email)], ct);
        var batch = session.CreateBatchQuery();
        var account = batch.Events.FetchForWriting<BusinessAccount>(accountId);
        var legacy = batch.Load<LegacyAccountView>(LegacyStreamId(email));
        var membership = batch.Load<AccountMembership>(MembershipStream.For(accountId));
        await batch.Execute(ct);
        var carriedOver = await NumbersCarriedOver.ByOldEmailIfSharedAsync(session, accountId, await membership, [await legacy], ct);
        return new UnlinkReads(await account, await legacy, await membership, carriedOver.From(Normalized(email)));
    }

    public static ProblemDetails Validate(UnlinkReads reads, string email, string? reason, string? ticketReference) =>
        // A blank e-mail (".../old-cps-emails/%20") names none: it was a 404 saying "" is not linked.
        string.IsNullOrWhiteSpace(Normalized(email))
            ? Problems.Invalid("email", BlankEmail)
            : reads.Account.Aggregate is not { } account
            ? Problems.AccountNotFound
            : OldCpsEmailLinks.ValidateUnlink(account, Normalized(email), reason, ticketReference, reads.Legacy, reads.NumbersCarriedOverFromEmail);

    // The reason and the ticket in the event's headers, as the link records them.
    public static void Before(string? reason, string? ticketReference, IDocumentSession session) =>
        Support.SupportReason.Record(session, reason?.Trim() ?? "", ticketReference?.Trim());

    [WolverineDelete("/api/accounts/{accountId}/old-cps-emails/{email}", OperationId = "UnlinkOldCpsEmail")]
    [Authorize(Roles = LedgerRoles.Support)]
    [EndpointSummary("Unlink a wrongly linked old CPS e-mail (support, ?reason=...&ticketReference=...), possible until something was migrated from it")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static OldCpsEmails Delete(Guid accountId, string email,
        [Description("Why the e-mail is unlinked, kept for the audit trail: 5 to 500 characters (besides spaces at either end). Required: " +
                     "without it, a 400 and nothing changes.")][RequiredQuery] string? reason,
        [Description("The support ticket this answers, e.g. CPS-SUP-1234: at most 60 characters. Required, as on the link: without it, a " +
                     "400 and nothing changes.")][RequiredQuery] string? ticketReference,
        [NotBody] UnlinkReads reads, TimeProvider clock)
    {
        var unlinked = OldCpsEmailLinks.DecideUnlink(reads.Account.Aggregate!, Normalized(email), reason!, ticketReference!, clock.GetUtcNow());
        reads.Account.AppendOne(unlinked);
        return new OldCpsEmails(accountId, reads.Account.Aggregate!.Apply(unlinked).OldCpsEmails);
    }

    // The account's version is checked at commit: a link or a verification committed since the read (the streams are not fetched
    // by [WriteAggregate], whose workflow would map this for us).
    public static ProblemDetails OnException(ConcurrencyException _) => Problems.ConcurrentChange;
}
