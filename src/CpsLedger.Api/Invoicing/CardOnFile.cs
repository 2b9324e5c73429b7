using Microsoft.AspNetCore.Http.HttpResults;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Platform;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Invoicing;

/// <summary>
/// The card to charge for this account's invoices was saved at the payment provider: the provider's reference to charge and
/// what may be shown of the card. Replaces <see cref="PaymentCardRecorded"/> (which kept the card-form token) for new cards.
/// </summary>
public sealed record PaymentCardSaved(Guid AccountId, string PaymentMethodReference, string Brand, string Last4, int ExpiryMonth, int ExpiryYear,
    DateTimeOffset RecordedAt);

/// <summary>
/// The card on file as the portal shows it: brand, last four digits and expiry, never more (no number, token or reference).
/// A card recorded before card details were kept has them null.
/// </summary>
/// <param name="AccountId">The business account.</param>
/// <param name="Brand">The card's brand, e.g. "Visa"; null for a card recorded before card details were kept.</param>
/// <param name="Last4">The card number's last four digits; null as <c>brand</c>.</param>
/// <param name="ExpiryMonth">The card's expiry month, 1 to 12; null as <c>brand</c>.</param>
/// <param name="ExpiryYear">The card's expiry year, four digits; null as <c>brand</c>.</param>
/// <param name="RecordedAt">When the card was put on file, UTC.</param>
public sealed record CardOnFile(Guid AccountId, string? Brand, string? Last4, int? ExpiryMonth, int? ExpiryYear, DateTimeOffset RecordedAt)
{
    public static CardOnFile Of(Guid accountId, PaymentCardSaved e) => new(accountId, e.Brand, e.Last4, e.ExpiryMonth, e.ExpiryYear, e.RecordedAt);

    public static CardOnFile Of(PaymentCard card) => new(card.AccountId, card.Brand, card.Last4, card.ExpiryMonth, card.ExpiryYear, card.RecordedAt);
}

public static class GetCardOnFileEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/payment-card", OperationId = "GetCardOnFile")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("The card on file: brand, last four digits and expiry (never the number or token); 404 when none is recorded")]
    public static async Task<Results<Ok<CardOnFile>, ProblemHttpResult>> Get(Guid accountId, IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<PaymentCard>(PaymentCardStream.For(accountId), ct) is { } card
            ? TypedResults.Ok(CardOnFile.Of(card))
            : TypedResults.Problem(Problems.NotFound("No card on file", "No card is recorded for this account."));
}
