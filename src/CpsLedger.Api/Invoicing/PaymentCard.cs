using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using FluentValidation;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine;
using Wolverine.Http;

namespace CpsLedger.Api.Invoicing;

/// <summary>
/// The card to charge for this account's invoices, as a token from the payment provider's card form (the ledger never sees
/// card numbers). The last token recorded before a charge is the one charged.
/// </summary>
public sealed record PaymentCardRecorded(Guid AccountId, string CardToken, DateTimeOffset RecordedAt);

public sealed class PaymentCard
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }

    /// <summary>The card-form token of a card recorded before cards were saved at the provider; empty once a card is saved.</summary>
    public string CardToken { get; set; } = "";

    /// <summary>The provider's reference of the saved card (what is charged), with what may be shown of it.</summary>
    public string? PaymentMethodReference { get; set; }

    public string? Brand { get; set; }
    public string? Last4 { get; set; }
    public int? ExpiryMonth { get; set; }
    public int? ExpiryYear { get; set; }
    public DateTimeOffset RecordedAt { get; set; }

    /// <summary>What the gateway charges: the saved card, or an older card's token.</summary>
    public string ChargeWith() => PaymentMethodReference ?? CardToken;

    public static PaymentCard Create(PaymentCardRecorded e) => new() { AccountId = e.AccountId, CardToken = e.CardToken, RecordedAt = e.RecordedAt };

    public static PaymentCard Create(PaymentCardSaved e) => new PaymentCard { AccountId = e.AccountId }.With(e);

    public void Apply(PaymentCardRecorded e)
    {
        CardToken = e.CardToken;
        PaymentMethodReference = Brand = Last4 = null;
        ExpiryMonth = ExpiryYear = null;
        RecordedAt = e.RecordedAt;
    }

    public void Apply(PaymentCardSaved e) => With(e);

    private PaymentCard With(PaymentCardSaved e)
    {
        CardToken = "";
        PaymentMethodReference = e.PaymentMethodReference;
        Brand = e.Brand;
        Last4 = e.Last4;
        ExpiryMonth = e.ExpiryMonth;
        ExpiryYear = e.ExpiryYear;
        RecordedAt = e.RecordedAt;
        return this;
    }
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

public static class RecordPaymentCardEndpoint
{
    [WolverinePost("/api/accounts/{accountId}/payment-card", OperationId = "RecordPaymentCard")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [Tags("Invoices")]
    [EndpointSummary("Record the card (a payment provider token) charged on the invoice due date, and at once for an overdue card invoice")]
    [RequestExample("""{"cardToken":"tok_sandbox_approve"}""")]
    [ProducesResponseType<CardOnFile>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    public static async Task<(IResult, OutgoingMessages)> Post(Guid accountId, RecordPaymentCard command, IDocumentSession session,
        IPaymentGateway gateway, TimeProvider clock, CancellationToken ct)
    {
        if (!await AccountLookup.ExistsAsync(session, accountId, ct))
            return (Results.Problem(Problems.AccountNotFound), []);

        // The provider keeps the card and tells what may be shown of it; the ledger keeps its reference, not the token.
        var saved = await gateway.SaveCardAsync(new SaveCardRequest(accountId, command.CardToken), ct);
        if (!saved.Accepted)
            return (Results.Problem(Problems.Invalid("cardToken", $"The payment provider did not accept this card: {saved.Reason}.")), []);
        var now = clock.GetUtcNow();
        var recorded = new PaymentCardSaved(accountId, saved.PaymentMethodReference!, saved.Brand!, saved.Last4!, saved.ExpiryMonth!.Value,
            saved.ExpiryYear!.Value, now);
        var stream = await session.Events.FetchForWriting<PaymentCard>(PaymentCardStream.For(accountId), ct);
        stream.AppendOne(recorded);
        // The overdue e-mail asks for a valid card: a card invoice that ran out of attempts is charged with this one now.
        var overdue = await session.Query<Invoice>()
            .Where(i => i.AccountId == accountId && i.Status == InvoiceStatus.Overdue && i.PaymentMethod == PaymentMethod.Card)
            .ToListAsync(ct);
        return (Results.Ok(CardOnFile.Of(accountId, recorded)),
            [.. overdue.Select(i => ChargeCardDecision.ChargeOverdue(i, now))]);
    }
}
