using System.Security.Claims;
using CpsLedger.Api.Platform;
using FluentValidation;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Support;

/// <summary>
/// Support's reason and ticket, carried into the steps a request invokes inline for its caller (a migration's), each recording
/// them on the events it writes.
/// </summary>
public sealed record ReasonAndTicket(string Reason, string Ticket)
{
    public void Record(IDocumentSession session) => SupportReason.Record(session, Reason, Ticket);
}

/// <summary>A support action's reason travels in the event metadata (headers) as well as in the event, for auditors.</summary>
public static class SupportReason
{
    public const string ReasonHeader = "reason";
    public const string TicketHeader = "ticket";

    /// <summary>The limits of a support reason and ticket where a member's own request may carry them too (as for an adjustment).</summary>
    public const int MaxReasonLength = 500;
    public const int MinReasonLength = 5;
    public const int MaxTicketLength = 60;

    /// <summary>The longest reason printed for the buyer on a credit note (PDF, e-mail, e-invoice): the length its layout was tested with.</summary>
    public const int MaxPrintedReasonLength = 300;

    /// <summary>
    /// The rule for every reason a person writes for the audit trail (finance, support, operations): required, at least
    /// <see cref="MinReasonLength"/> characters once trimmed, at most <paramref name="maxLength"/> (<see cref="MaxPrintedReasonLength"/>
    /// where it is printed on a document, <see cref="MaxReasonLength"/> elsewhere). One wording everywhere, naming both limits.
    /// </summary>
    public static IRuleBuilderOptions<T, string> ValidReason<T>(this IRuleBuilderInitial<T, string> rule, int maxLength = MaxReasonLength) =>
        // Length first, so the OpenAPI document states both limits (minLength, maxLength); the trim is what the events store.
        rule.Cascade(CascadeMode.Stop)
            .Length(MinReasonLength, maxLength).WithMessage(ReasonMessage(maxLength))
            .Must(reason => IsValidReason(reason, maxLength)).WithMessage(ReasonMessage(maxLength));

    /// <summary>The ticket of a support action support takes in its own name (an adjustment, a link, a resend): required, at most
    /// <see cref="MaxTicketLength"/> characters.</summary>
    public static IRuleBuilderOptions<T, string> ValidTicket<T>(this IRuleBuilderInitial<T, string> rule) =>
        rule.Cascade(CascadeMode.Stop).NotEmpty().WithMessage(TicketMessage)
            .MaximumLength(MaxTicketLength);

    /// <summary>What <see cref="ValidTicket{T}"/> checks, for a ticket that is not in a request body (a query's): its message, or null
    /// when the ticket will do.</summary>
    public static string? TicketProblem(string? ticket) =>
        string.IsNullOrWhiteSpace(ticket) ? TicketMessage
        : ticket.Length > MaxTicketLength ? $"The ticket reference is at most {MaxTicketLength} characters."
        : null;

    private const string TicketMessage = "Give the support ticket this answers, e.g. \"CPS-SUP-1234\".";

    /// <summary>
    /// The header of the events a support action with a row of its own among the overrides writes (a link: the e-mail linked and
    /// verified; a cancellation: the membership's end and the credit notes it issued): they carry its reason and ticket, and are that row's, never rows of their own
    /// (<see cref="SupportOverrideProjection"/>). Its value is the row's action.
    /// </summary>
    public const string ListedAsHeader = "listed_as";

    /// <summary>What <see cref="ValidReason{T}"/> checks, for a reason that is not in a request body (a query's).</summary>
    public static bool IsValidReason(string? reason, int maxLength = MaxReasonLength) =>
        reason is not null && reason.Trim().Length >= MinReasonLength && reason.Length <= maxLength;

    public static string ReasonMessage(int maxLength = MaxReasonLength) =>
        $"Say why, in words an auditor understands later: at least {MinReasonLength} characters (besides spaces at either end), " +
        $"at most {maxLength}.";

    /// <param name="listedAs">The action of the override row every event of the session belongs to (<see cref="ListedAsHeader"/>);
    /// null where each event support writes on a member's behalf is a row.</param>
    public static void Record(IDocumentSession session, string reason, string? ticket = null, string? listedAs = null)
    {
        session.SetHeader(ReasonHeader, reason);
        if (ticket is not null)
            session.SetHeader(TicketHeader, ticket);
        if (listedAs is not null)
            session.SetHeader(ListedAsHeader, listedAs);
    }

    /// <summary>The support reason and ticket an event was written with; null for an event that is not a support action's.</summary>
    public static (string? Reason, string? Ticket) Of(IEvent e) => (SystemActor.Header(e, ReasonHeader), SystemActor.Header(e, TicketHeader));

    /// <summary>
    /// For a request a member, the portal and support may all make (a product registered, amended or deregistered; joining,
    /// upgrading or choosing the renewal; billing details, a payment card; an old e-mail's code requested or entered, its products
    /// migrated; an account opened, by the portal or support): support acts on someone else's behalf, so it gives a reason and the
    /// ticket it answers, as for an adjustment (never a default); a member or the portal acting for itself gives neither, because
    /// only a support action is recorded as an override. One wording for every such request, so that it fits each.
    /// </summary>
    /// <param name="reasonField">The reason's JSON member in this request.</param>
    public static ProblemDetails Check(ClaimsPrincipal user, string? reason, string? ticket, string reasonField)
    {
        var errors = new Dictionary<string, string[]>();
        if (user.IsInRole(LedgerRoles.Support))
        {
            if (string.IsNullOrWhiteSpace(reason) || reason.Trim().Length < MinReasonLength)
                errors[reasonField] = [$"Support acts on someone else's behalf here, so it says why, in words an auditor understands later (at least {MinReasonLength} characters)."];
            if (string.IsNullOrWhiteSpace(ticket))
                errors["ticketReference"] = ["Support gives the ticket this action answers, e.g. \"CPS-SUP-1234\"."];
        }
        else
        {
            if (reason is not null)
                errors[reasonField] = ["Only CPS support gives a reason here: a member or the portal acting for itself needs none."];
            if (ticket is not null)
                errors["ticketReference"] = ["Only CPS support gives a ticket reference here."];
        }

        return errors.Count == 0
            ? WolverineContinue.NoProblems
            : Problems.Invalid(errors);
    }

    /// <summary>
    /// <see cref="Check"/> before anything is drawn or sent, and when support passes it, its reason and ticket <see cref="Record"/>ed
    /// on the session, so that every event the request writes carries them (also one written with an error answer, as a wrong
    /// code is). The request's <c>Before</c>: nothing is written when it refuses.
    /// </summary>
    public static ProblemDetails OnBehalf(ClaimsPrincipal user, string? reason, string? ticket, IDocumentSession session)
    {
        if (Check(user, reason, ticket, "supportReason") is { Status: not null } refused)
            return refused;
        Given(reason, ticket)?.Record(session);
        return WolverineContinue.NoProblems;
    }

    /// <summary>The reason and ticket of a request <see cref="Check"/> passed, trimmed: null when it carries none (not support's).</summary>
    public static ReasonAndTicket? Given(string? reason, string? ticket) => reason is null ? null : new(reason.Trim(), ticket!.Trim());
}
