using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using FluentValidation;
using JasperFx.Events;
using Marten;
using Marten.Events.Aggregation;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Support;

/// <summary>Support changed an account's points by hand (+ or −), with a reason and the ticket it answers.</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="AdjustmentId">The adjustment's id.</param>
/// <param name="Points">Points added (positive) or taken away (negative).</param>
/// <param name="Reason">Why, as support wrote it for the audit trail.</param>
/// <param name="TicketReference">The support ticket it answers.</param>
/// <param name="AdjustedAt">When it was recorded, UTC.</param>
public sealed record PointsAdjusted(
    Guid AccountId,
    Guid AdjustmentId,
    int Points,
    string Reason,
    string TicketReference,
    DateTimeOffset AdjustedAt);

/// <summary>Support adjusts an account's points. The explanation shows it as its own line.</summary>
/// <param name="Points">Positive to add, negative to take away: 1 to 100,000 either way, never 0.</param>
/// <param name="Reason">Why, in words an auditor understands later; the account's member and the portal never read it (they read the
/// ticket).</param>
/// <param name="TicketReference">The support ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record AdjustPoints(int Points, [property: MultiLineText] string Reason, string TicketReference);

public sealed class AdjustPointsValidator : AbstractValidator<AdjustPoints>
{
    public const int MaxAdjustment = 100_000;

    public AdjustPointsValidator()
    {
        RuleFor(x => x.Points).NotEqual(0).InclusiveBetween(-MaxAdjustment, MaxAdjustment);
        RuleFor(x => x.Reason).ValidReason();
        RuleFor(x => x.TicketReference).ValidTicket();
    }
}

/// <summary>The manual adjustments of one account (a document per account, projected from its own stream).</summary>
public sealed class AccountAdjustments
{
    public Guid Id { get; set; }
    public List<ManualAdjustment> Adjustments { get; set; } = [];
}

/// <param name="Role">The role(s) recorded on the event (<see cref="Platform.ActorRoles"/>); null for events stored before roles were.</param>
public sealed record ManualAdjustment(Guid AdjustmentId, int Points, string Reason, string TicketReference, Guid EventId,
    DateTimeOffset At, string? By, string? Role = null);

public sealed partial class AccountAdjustmentsProjection : SingleStreamProjection<AccountAdjustments, Guid>
{
    public static AccountAdjustments Create(IEvent<PointsAdjusted> e) => new()
    {
        Id = e.Data.AccountId,
        Adjustments = [Line(e)],
    };

    public static void Apply(AccountAdjustments view, IEvent<PointsAdjusted> e) => view.Adjustments.Add(Line(e));

    private static ManualAdjustment Line(IEvent<PointsAdjusted> e) =>
        new(e.Data.AdjustmentId, e.Data.Points, e.Data.Reason, e.Data.TicketReference, e.Id, e.Data.AdjustedAt, e.UserName,
            Platform.ActorRoles.Of(e));
}

public static class AdjustPointsEndpoint
{
    public static PointsAdjusted Decide(Guid accountId, AdjustPoints command, Guid adjustmentId, DateTimeOffset now) =>
        new(accountId, adjustmentId, command.Points, command.Reason.Trim(), command.TicketReference.Trim(), now);

    public static void Before(AdjustPoints command, IDocumentSession session) =>
        SupportReason.Record(session, command.Reason.Trim(), command.TicketReference.Trim());

    // Appended to the account's own stream through the aggregate workflow, so the stream's version stays right.
    [WolverinePost("/api/accounts/{accountId}/points-adjustments", OperationId = "AdjustPoints")]
    [Membership.TakesInvitationReviewLock]
    [Authorize(Roles = LedgerRoles.Support)]
    [EndpointSummary("Adjust an account's points by hand (support; reason and ticket required)")]
    [RequestExample("""{"points":50,"reason":"Registration lost in the 2025 portal outage","ticketReference":"CPS-SUP-1234"}""")]
    public static (Created<PointsAdjusted>, Events) Post(Guid accountId, AdjustPoints command, [WriteAggregate("accountId")] BusinessAccount account,
        IDocumentSession session, HttpContext httpContext, TimeProvider clock)
    {
        // An adjustment has no natural key: under an Idempotency-Key its id comes from the key and is recorded for good (in this
        // transaction), so a retry after the key's retention is refused (409) instead of adjusting twice.
        var keyed = IdempotencyKeys.DerivedId(httpContext, "points-adjustment");
        if (keyed is { } consumed)
            IdempotencyKeys.Consume(session, consumed, "points-adjustment", clock.GetUtcNow());
        var adjusted = Decide(account.Id, command, keyed ?? Guid.CreateVersion7(), clock.GetUtcNow());
        return (TypedResults.Created($"/api/accounts/{accountId}/points-explanation", adjusted), [adjusted]);
    }
}
