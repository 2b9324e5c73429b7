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
    public string CardToken { get; init; } = "";
    public DateTimeOffset RecordedAt { get; init; }

    public static PaymentCard Create(PaymentCardRecorded e) => new() { AccountId = e.AccountId, CardToken = e.CardToken, RecordedAt = e.RecordedAt };

    public PaymentCard Apply(PaymentCardRecorded e) => this with { CardToken = e.CardToken, RecordedAt = e.RecordedAt };
}

public static class PaymentCardStream
{
    public static Guid For(Guid accountId) => Platform.DerivedIds.Hashed($"cpsledger:payment-card:{accountId:N}");
}

/// <summary>Record the card to charge on the invoice due date.</summary>
/// <param name="CardToken">The payment provider's token for the card (sandbox: tok_sandbox_approve, _decline, _error).</param>
public sealed record RecordPaymentCard(string CardToken);

public sealed class RecordPaymentCardValidator : AbstractValidator<RecordPaymentCard>
{
    public RecordPaymentCardValidator() =>
        RuleFor(x => x.CardToken).NotEmpty().MaximumLength(200).Matches("^tok_[A-Za-z0-9_]+$")
            .WithMessage("A card token from the payment provider, e.g. \"tok_...\".");
}

/// <summary>What the member sees: never the whole token.</summary>
public sealed record PaymentCardOnFile(Guid AccountId, string CardTokenEnding, DateTimeOffset RecordedAt);

public static class RecordPaymentCardEndpoint
{
    public static Guid PaymentCardStreamId(Guid accountId) => PaymentCardStream.For(accountId);

    // The overdue e-mail asks for a valid card: a card invoice that ran out of attempts is charged with this one now.
    public static Task<IReadOnlyList<Invoice>> LoadAsync(Guid accountId, IQuerySession session, CancellationToken ct) =>
        session.Query<Invoice>()
            .Where(i => i.AccountId == accountId && i.Status == InvoiceStatus.Overdue && i.PaymentMethod == PaymentMethod.Card)
            .ToListAsync(ct);

    [WolverinePost("/api/accounts/{accountId}/payment-card", OperationId = "RecordPaymentCard")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [EndpointSummary("Record the card (a payment provider token) charged on the invoice due date, and at once for an overdue card invoice")]
    [RequestExample("""{"cardToken":"tok_sandbox_approve"}""")]
    public static (PaymentCardOnFile, Events, OutgoingMessages) Post(Guid accountId, RecordPaymentCard command,
        [WriteAggregate(FromMethod = nameof(PaymentCardStreamId), Required = false)] PaymentCard? card,
        IReadOnlyList<Invoice> overdue, TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        var recorded = new PaymentCardRecorded(accountId, command.CardToken, now);
        return (new PaymentCardOnFile(accountId, "…" + command.CardToken[^Math.Min(4, command.CardToken.Length)..], recorded.RecordedAt),
            [recorded], [.. overdue.Select(i => ChargeCardDecision.ChargeOverdue(i, now))]);
    }
}
