using System.Security.Claims;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Invoicing;

/// <summary>
/// The card to charge for this account's invoices, as a token from the payment provider's card form (the ledger never sees
/// card numbers). The last token recorded before a charge is the one charged.
/// </summary>
public sealed record PaymentCardRecorded(Guid AccountId, string CardToken, DateTimeOffset RecordedAt);

/// <summary>The card on file (an inline snapshot, immutable).</summary>
public sealed record PaymentCard
{
    public Guid Id { get; init; }
    public Guid AccountId { get; init; }

    /// <summary>The card-form token of a card recorded before cards were saved at the provider; empty once a card is saved.</summary>
    public string CardToken { get; init; } = "";

    /// <summary>The provider's reference of the saved card (what is charged), with what may be shown of it.</summary>
    public string? PaymentMethodReference { get; init; }

    public string? Brand { get; init; }
    public string? Last4 { get; init; }
    public int? ExpiryMonth { get; init; }
    public int? ExpiryYear { get; init; }
    public DateTimeOffset RecordedAt { get; init; }

    /// <summary>What the gateway charges: the saved card, or an older card's token.</summary>
    public string ChargeWith() => PaymentMethodReference ?? CardToken;

    /// <summary>The card as a charge attempt records it; null for a card recorded as a token (no brand or last four known).</summary>
    public ChargedCard? Shown() => Brand is { } brand && Last4 is { } last4 ? new ChargedCard(brand, last4) : null;

    public static PaymentCard Create(PaymentCardRecorded e) => new() { AccountId = e.AccountId, CardToken = e.CardToken, RecordedAt = e.RecordedAt };

    public static PaymentCard Create(PaymentCardSaved e) => new PaymentCard { AccountId = e.AccountId }.Apply(e);

    public PaymentCard Apply(PaymentCardRecorded e) => this with
    {
        CardToken = e.CardToken,
        PaymentMethodReference = null,
        Brand = null,
        Last4 = null,
        ExpiryMonth = null,
        ExpiryYear = null,
        RecordedAt = e.RecordedAt,
    };

    public PaymentCard Apply(PaymentCardSaved e) => this with
    {
        CardToken = "",
        PaymentMethodReference = e.PaymentMethodReference,
        Brand = e.Brand,
        Last4 = e.Last4,
        ExpiryMonth = e.ExpiryMonth,
        ExpiryYear = e.ExpiryYear,
        RecordedAt = e.RecordedAt,
    };
}

public static class PaymentCardStream
{
    public static Guid For(Guid accountId) => Platform.DerivedIds.Hashed($"cpsledger:payment-card:{accountId:N}");
}

/// <summary>Record the card to charge on the invoice due date.</summary>
/// <param name="CardToken">The payment provider's token for the card (sandbox: tok_sandbox_approve, _decline, _error).</param>
/// <param name="SupportReason">Support only, and required from support: why it records a card on the member's behalf. Recorded
/// on the event the card writes and listed among the support overrides. A member or the portal leaves it out.</param>
/// <param name="TicketReference">Support only, and required from support: the ticket this answers, e.g. "CPS-SUP-1234".</param>
public sealed record RecordPaymentCard(string CardToken, [property: MultiLineText] string? SupportReason = null, string? TicketReference = null);

public sealed class RecordPaymentCardValidator : AbstractValidator<RecordPaymentCard>
{
    public RecordPaymentCardValidator()
    {
        RuleFor(x => x.CardToken).NotEmpty().MaximumLength(200).Matches("^tok_[A-Za-z0-9_]+$")
            .WithMessage("A card token from the payment provider, e.g. \"tok_...\".");
        // Whether they are required or refused depends on the caller: RecordPaymentCardEndpoint.Before.
        RuleFor(x => x.SupportReason).MaximumLength(Support.SupportReason.MaxReasonLength);
        RuleFor(x => x.TicketReference).MaximumLength(Support.SupportReason.MaxTicketLength);
    }
}

/// <summary>What recording a card found: the provider's answer and the account's overdue card invoices.</summary>
public sealed record CardRecording(SavedCard Saved, IReadOnlyList<Invoice> Overdue);

public static class RecordPaymentCardEndpoint
{
    public static Guid PaymentCardStreamId(Guid accountId) => PaymentCardStream.For(accountId);

    // Before the card goes to the provider: support's reason and ticket, on the card's event (SupportReason.OnBehalf).
    public static ProblemDetails Before(RecordPaymentCard command, ClaimsPrincipal user, IDocumentSession session) =>
        Support.SupportReason.OnBehalf(user, command.SupportReason, command.TicketReference, session);

    /// <summary>
    /// The provider keeps the card and tells what may be shown of it (the ledger keeps its reference, never the token); the
    /// overdue e-mail asks for a valid card, so the card invoices that ran out of attempts are charged with this one at once.
    /// </summary>
    /// <remarks>
    /// The overdue invoices are read under the membership's lock (MembershipStream), which the card charge holds from before it reads
    /// the card until its commit: a last attempt declined with the old card and this card decide one after the other. Without it, both
    /// committed at once: the charge had read the old card, this read no overdue invoice yet, and the invoice stayed overdue with a good
    /// card on file and nothing charged (found in review). Taken after the provider has saved the card, so it is not held for that call.
    /// </remarks>
    public static async Task<CardRecording> LoadAsync(Guid accountId, RecordPaymentCard command, IPaymentGateway gateway, IDocumentSession session,
        CancellationToken ct)
    {
        var saved = await gateway.SaveCardAsync(new SaveCardRequest(accountId, command.CardToken), ct);
        await session.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(accountId), ct);
        var overdue = await session.Query<Invoice>()
            .Where(i => i.AccountId == accountId && i.Status == InvoiceStatus.Overdue && i.PaymentMethod == PaymentMethod.Card)
            .ToListAsync(ct);
        return new CardRecording(saved, overdue);
    }

    /// <summary>A token the provider refuses is the member's input problem: a 400 on <c>cardToken</c>, nothing recorded.</summary>
    public static ProblemDetails Validate(CardRecording recording) => recording.Saved.Accepted
        ? WolverineContinue.NoProblems
        : Problems.Invalid("cardToken", $"The payment provider did not accept this card: {recording.Saved.Reason}.");

    [WolverinePost("/api/accounts/{accountId}/payment-card", OperationId = "RecordPaymentCard")]
    [LooksUpIdempotencyKeyFirst] // LoadAsync hands the card to the provider before the commit
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Record the card (a payment provider token) charged on the invoice due date, and at once for an overdue card invoice; support also gives supportReason and ticketReference")]
    [RequestExample("""{"cardToken":"tok_sandbox_approve"}""")]
    public static (CardOnFile, Events, OutgoingMessages) Post(Guid accountId, RecordPaymentCard command,
        [WriteAggregate(FromMethod = nameof(PaymentCardStreamId), Required = false)] PaymentCard? card,
        CardRecording recording, TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        var saved = recording.Saved;
        var recorded = new PaymentCardSaved(accountId, saved.PaymentMethodReference!, saved.Brand!, saved.Last4!, saved.ExpiryMonth!.Value,
            saved.ExpiryYear!.Value, now);
        return (CardOnFile.Of(accountId, recorded), [recorded], [.. recording.Overdue.Select(i => ChargeCardDecision.ChargeOverdue(i, now))]);
    }
}
