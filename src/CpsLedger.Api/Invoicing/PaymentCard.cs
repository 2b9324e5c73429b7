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
    public string CardToken { get; set; } = "";
    public DateTimeOffset RecordedAt { get; set; }

    public static PaymentCard Create(PaymentCardRecorded e) => new() { AccountId = e.AccountId, CardToken = e.CardToken, RecordedAt = e.RecordedAt };

    public void Apply(PaymentCardRecorded e)
    {
        CardToken = e.CardToken;
        RecordedAt = e.RecordedAt;
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

/// <summary>What the member sees: never the whole token.</summary>
public sealed record PaymentCardOnFile(Guid AccountId, string CardTokenEnding, DateTimeOffset RecordedAt);

public static class RecordPaymentCardEndpoint
{
    [WolverinePost("/api/accounts/{accountId}/payment-card", OperationId = "RecordPaymentCard")]
    [Authorize(Roles = LedgerRoles.ProductKeepers)]
    [Tags("Invoices")]
    [EndpointSummary("Record the card (a payment provider token) charged on the invoice due date, and at once for an overdue card invoice")]
    [RequestExample("""{"cardToken":"tok_sandbox_approve"}""")]
    [ProducesResponseType<PaymentCardOnFile>(StatusCodes.Status200OK)]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    public static async Task<(IResult, OutgoingMessages)> Post(Guid accountId, RecordPaymentCard command, IDocumentSession session,
        TimeProvider clock, CancellationToken ct)
    {
        if (!await AccountLookup.ExistsAsync(session, accountId, ct))
            return (Results.Problem(Problems.AccountNotFound), []);

        var now = clock.GetUtcNow();
        var recorded = new PaymentCardRecorded(accountId, command.CardToken, now);
        var stream = await session.Events.FetchForWriting<PaymentCard>(PaymentCardStream.For(accountId), ct);
        stream.AppendOne(recorded);
        // The overdue e-mail asks for a valid card: a card invoice that ran out of attempts is charged with this one now.
        var overdue = await session.Query<Invoice>()
            .Where(i => i.AccountId == accountId && i.Status == InvoiceStatus.Overdue && i.PaymentMethod == PaymentMethod.Card)
            .ToListAsync(ct);
        return (Results.Ok(new PaymentCardOnFile(accountId, "…" + command.CardToken[^Math.Min(4, command.CardToken.Length)..], recorded.RecordedAt)),
            [.. overdue.Select(i => ChargeCardDecision.ChargeOverdue(i, now))]);
    }
}
