using CpsLedger.Api.Platform;
using System.Security.Claims;
using FluentValidation;
using Marten;
using Wolverine.Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Products;

/// <summary>The product left the account. Its points are removed and its serial number is free for another account.</summary>
/// <param name="Reason">sold, lost or registered_in_error.</param>
/// <param name="Note">Optional free text, e.g. to whom it was sold.</param>
/// <param name="SupportReason">Support only, and required from support: why it deregisters the member's product (beside
/// <paramref name="Reason"/>, which every caller gives). Recorded on every event the deregistration writes and listed among the
/// support overrides. A member or the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record DeregisterProduct(
    DeregistrationReason Reason,
    [property: MultiLineText] string? Note,
    [property: MultiLineText] string? SupportReason = null,
    string? TicketReference = null);

public sealed class DeregisterProductValidator : AbstractValidator<DeregisterProduct>
{
    public DeregisterProductValidator()
    {
        RuleFor(x => x.Reason).IsInEnum();
        RuleFor(x => x.Note).MaximumLength(500);
        // Whether they are required or refused depends on the caller: DeregisterProductEndpoint.Validate.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

public static class DeregisterProductEndpoint
{
    /// <summary>The decision: deregistered, and exactly the points once allocated removed (not today's catalogue value).</summary>
    public static RegistrationDecision Decide(ProductRegistration registration, DeregisterProduct command, DateTimeOffset now)
    {
        var note = string.IsNullOrWhiteSpace(command.Note) ? null : command.Note.Trim();
        var deregistered = new ProductDeregistered(registration.Id, registration.AccountId, registration.ModelCode,
            registration.SerialNumber, command.Reason, note, now);
        if (registration.AllocatedPoints is not { } points)
            return new([deregistered], registration.Apply(deregistered));

        var removed = new PointsRemoved(registration.Id, registration.AccountId, registration.ModelCode, registration.SerialNumber,
            points, registration.AllocatedCatalogueVersion, $"deregistered: {Describe(command.Reason)}", now);
        return new([removed, deregistered], registration.Apply(removed).Apply(deregistered));
    }

    public static string Describe(DeregistrationReason reason) => reason switch
    {
        DeregistrationReason.Sold => "sold",
        DeregistrationReason.Lost => "lost",
        _ => "registered in error",
    };

    // Support's reason and ticket, on the points removed and the deregistration alike (SupportReason.OnBehalf).
    public static ProblemDetails Before(DeregisterProduct command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    public static ProblemDetails Validate(Guid accountId, ProductRegistration? registration) => ProductChecks.Registered(accountId, registration);

    [WolverinePost("/api/accounts/{accountId}/products/{registrationId}/deregistration", OperationId = "DeregisterProduct")]
    [Membership.TakesInvitationReviewLock]
    [RequestExample("""{"reason":"sold","note":"Sold to a colleague"}""")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Deregister a product (sold, lost, registered in error): its points are removed; support also gives supportReason and ticketReference")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static (ProductRegistrationStatus, Events) Post(DeregisterProduct command,
        // Not required: a missing registration is Validate's "Product not found", worded as another account's and as the GET's.
        [WriteAggregate("registrationId", Required = false)] ProductRegistration? registration, TimeProvider clock)
    {
        var decision = Decide(registration!, command, clock.GetUtcNow());
        return (ProductRegistrationStatus.Of(decision.After), [.. decision.Events]);
    }
}
