using CpsLedger.Api.Membership;
using Marten;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Invoicing;

/// <summary>Charge the card for the invoice: attempt <paramref name="Attempt"/>, due at <paramref name="DueAt"/> (the service's clock).</summary>
public sealed record ChargeCard(Guid InvoiceId, int Attempt, DateTimeOffset DueAt);

/// <summary>Tell the member that this attempt was declined (or failed) and when the card is tried again.</summary>
public sealed record SendCardDeclinedEmail(Guid InvoiceId, int Attempt);

public static class CardDeclinedEmails
{
    /// <summary>
    /// Every recorded attempt asks for its e-mail once committed (durably, via the outbox), as a credit note does: forwarded from the
    /// event, so the due date's charge, its retries and a charge after a card was recorded are treated alike; the handler decides
    /// whether one is owed (<see cref="CardDeclinedEmails.Owed(Invoice, int)"/>). Sent once per invoice and attempt by its Message-Id (MailDelivery).
    /// </summary>
    public static void ForwardDeclinedChargesToEmails(this Wolverine.Marten.MartenIntegration integration) =>
        integration.SubscribeToEvent<CardChargeAttempted>().TransformedTo(e => new SendCardDeclinedEmail(e.Data.InvoiceId, e.Data.Attempt));

    /// <summary>
    /// The attempt the member is to be told was declined: not approved, with another attempt to come (the last one's news is the
    /// overdue reminder), on an invoice still open, and the latest attempt (a later one has news of its own). Null: no e-mail.
    /// </summary>
    public static ChargeAttempt? Owed(Invoice invoice, int attempt) => Owed(invoice) is { } latest && latest.Attempt == attempt ? latest : null;

    /// <summary>The open invoice's latest attempt, when it was not approved and another is to come; null otherwise.</summary>
    public static ChargeAttempt? Owed(Invoice invoice) =>
        invoice.Status == InvoiceStatus.Open && invoice.ChargeAttempts.MaxBy(a => a.Attempt) is { Outcome: not ChargeOutcome.Approved, NextAttemptOn: not null } latest
            ? latest
            : null;

    public static string MessageId(ChargeAttempt attempt) => $"card-declined-{attempt.IdempotencyKey}@cpsledger";

    /// <summary>
    /// For an attempt that does not name its card (recorded before attempts did): the card on file, when it was recorded before the
    /// attempt and so is the card the attempt charged (the last card recorded before a charge is the one charged); null when a card
    /// was recorded since (or at the same instant), which the e-mail must not name as the one declined.
    /// </summary>
    public static ChargedCard? ChargedBefore(ChargeAttempt attempt, PaymentCard? onFile) =>
        onFile is not null && onFile.RecordedAt < attempt.AttemptedAt ? onFile.Shown() : null;
}

public static class SendCardDeclinedEmailHandler
{
    public static async Task Handle(SendCardDeclinedEmail message, IQuerySession session, Platform.MailDelivery mail, IOptions<SellerOptions> seller,
        ILogger<SendCardDeclinedEmail> logger, CancellationToken ct)
    {
        var (invoice, account) = await InvoiceAndAccount.LoadAsync(session, message.InvoiceId, ct);
        // Approved, the last attempt, paid or cancelled meanwhile, or a later attempt recorded: nothing to say about this one.
        if (CardDeclinedEmails.Owed(invoice, message.Attempt) is not { } attempt)
        {
            // Logged as the overdue and suspension e-mails are: a declined attempt with another to come whose invoice was settled
            // before its e-mail went out (not an approved attempt, whose invoice it paid: every charge asks for this e-mail).
            if (invoice.ChargeAttempts.Any(a => a.Attempt == message.Attempt && a is { Outcome: not ChargeOutcome.Approved, NextAttemptOn: not null })
                && InvoiceAndAccount.Settled(invoice) is { } reason)
                logger.LogInformation(
                    "Card-declined e-mail of attempt {Attempt} on invoice {InvoiceNumber} ({InvoiceId}) of account {AccountId} not sent ({MessageType}): {Reason}",
                    message.Attempt, invoice.InvoiceNumber, invoice.Id, invoice.AccountId, nameof(SendCardDeclinedEmail), reason);
            return;
        }

        // The card the attempt charged, which may no longer be the one on file when this runs (a mail outage, a retry); an attempt
        // recorded before attempts named their card names the card on file only if it was recorded before the attempt.
        var card = attempt.Card ?? CardDeclinedEmails.ChargedBefore(attempt,
            await session.LoadAsync<PaymentCard>(PaymentCardStream.For(invoice.AccountId), ct));
        await mail.SendAsync(InvoiceEmails.CardDeclined(account, invoice, attempt, card, invoice.PaysInto(seller.Value)), ct);
    }
}

public static class ChargeCardDecision
{
    /// <summary>The idempotency key the gateway sees: one per invoice attempt, the same on every retry of that attempt.</summary>
    public static string IdempotencyKey(string invoiceNumber, int attempt) => $"{invoiceNumber}-attempt-{attempt}";

    /// <summary>One more attempt, now, for an invoice that became overdue: numbered after every attempt made so far.</summary>
    public static ChargeCard ChargeOverdue(Invoice invoice, DateTimeOffset now) =>
        new(invoice.Id, invoice.ChargeAttempts.Select(a => a.Attempt).DefaultIfEmpty(0).Max() + 1, now);

    /// <summary>
    /// What a gateway answer means for the invoice. Approved: the attempt, the payment and (covering the total) paid.
    /// Declined or error: the attempt with the next try a <see cref="InvoicingOptions.CardRetryInterval"/> later, or,
    /// after the last allowed attempt, the invoice overdue. An invoice already overdue (charged again because the member
    /// recorded a card) keeps its overdue date and its suspension check: a declined attempt is only recorded. The attempt names
    /// <paramref name="card"/>, the card presented (null: none with brand and last four).
    /// </summary>
    public static (IReadOnlyList<object> Events, IReadOnlyList<object> Messages) Decide(Invoice invoice, int attempt, ChargeResult result,
        Guid paymentId, InvoicingOptions options, DateTimeOffset now, ChargedCard? card = null)
    {
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var key = IdempotencyKey(invoice.InvoiceNumber, attempt);
        if (result.Outcome == ChargeOutcome.Approved)
        {
            List<object> paid =
            [
                new CardChargeAttempted(invoice.Id, invoice.InvoiceNumber, attempt, key, invoice.Outstanding, invoice.Currency, result.Outcome,
                    result.GatewayReference, null, null, now, card),
                .. InvoicePayments.Receive(invoice, paymentId, PaymentMethod.Card, invoice.Outstanding, invoice.Currency, today, key,
                    result.GatewayReference ?? key, now),
            ];
            return (paid, []);
        }

        if (invoice.Status == InvoiceStatus.Overdue)
            return ([new CardChargeAttempted(invoice.Id, invoice.InvoiceNumber, attempt, key, invoice.Outstanding, invoice.Currency,
                result.Outcome, result.GatewayReference, result.Reason, null, now, card)], []);

        var last = attempt >= options.CardChargeAttempts;
        var nextAt = now + options.CardRetryInterval;
        var attempted = new CardChargeAttempted(invoice.Id, invoice.InvoiceNumber, attempt, key, invoice.Outstanding, invoice.Currency,
            result.Outcome, result.GatewayReference, result.Reason, last ? null : DateOnly.FromDateTime(nextAt.UtcDateTime), now, card);
        if (!last)
            return ([attempted], [DueWork.At(new ChargeCard(invoice.Id, attempt + 1, nextAt), nextAt, now)]);

        var (overdue, followUps) = OverdueDecision.Decide(invoice, options, now);
        return ([attempted, overdue], followUps);
    }

    /// <summary>
    /// What the provider holds for an attempt not recorded on an invoice settled another way (paid or cancelled): an earlier delivery
    /// presented the card, its outcome unknown (the answer lost or late), and rolled back, and the settlement committed meanwhile. A
    /// charge found approved is recorded with the money: on a paid invoice an overpayment (<see cref="InvoicePayments.Receive"/>), on a
    /// cancelled one a payment received after the cancellation, all of it a refund due. Nothing found, or a charge found declined or
    /// failed, moved no money: nothing is recorded, as for an attempt never made (an attempt is recorded on an invoice still owed only).
    /// </summary>
    public static IReadOnlyList<object> DecideFound(Invoice invoice, int attempt, FoundCharge? found, Guid paymentId, DateTimeOffset now)
    {
        if (found is not { Outcome: ChargeOutcome.Approved } charge)
            return [];
        // Never added to the invoice's figures in another currency: retried, then dead-lettered for a person to look at.
        if (!string.Equals(charge.Currency, invoice.Currency, StringComparison.Ordinal))
            throw new InvalidOperationException($"The provider's charge for {IdempotencyKey(invoice.InvoiceNumber, attempt)} is in {charge.Currency}, " +
                                                $"invoice {invoice.InvoiceNumber} in {invoice.Currency}: not recorded.");

        var key = IdempotencyKey(invoice.InvoiceNumber, attempt);
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var attempted = new CardChargeAttempted(invoice.Id, invoice.InvoiceNumber, attempt, key, charge.Amount, charge.Currency, charge.Outcome,
            charge.GatewayReference, null, null, now);
        if (invoice.Status != InvoiceStatus.Cancelled)
            return [attempted, .. InvoicePayments.Receive(invoice, paymentId, PaymentMethod.Card, charge.Amount, charge.Currency, today, key,
                charge.GatewayReference ?? key, now)];

        var creditNote = invoice.CreditNote?.CreditNoteNumber
                         ?? throw new InvalidOperationException($"Cancelled invoice {invoice.InvoiceNumber} has no credit note.");
        var received = invoice.TotalReceived + charge.Amount;
        return
        [
            attempted,
            new PaymentReceivedAfterCancellation(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, paymentId, PaymentMethod.Card, charge.Amount,
                charge.Currency, today, key, charge.GatewayReference ?? key, creditNote, received, received - invoice.Refunded, now),
        ];
    }
}

[Platform.SystemActor("card-charging")]
public static class ChargeCardHandler
{
    // An exception from the gateway means "outcome unknown" (a timeout after it charged, say): the retry presents the same
    // idempotency key, and the gateway answers with the first result instead of charging again. Database and network faults
    // follow the service's policy (retried for hours).
    public static void Configure(HandlerChain chain)
    {
        DueWork.RetryOnConflicts(chain);
        Platform.ErrorPolicy.RetryInPlace(chain, _ => true, "a gateway failure (outcome unknown)",
            TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30));
    }

    // Not a pure function: presenting the card to the gateway is the charge. What follows from the answer is
    // ChargeCardDecision.Decide; from what the gateway holds for an attempt on an invoice settled meanwhile, DecideFound.
    //
    // The membership's lock first (MembershipStream), then the invoice's read, as every write to a term in force: a cancellation
    // of the term (finance's credit note, support's cancellation, a replaced renewal choice, the term end) and this charge decide
    // one after the other. One committed first is read here and nothing is charged; one that comes later waits, and reads the
    // payment (support's credits no paid invoice; finance's credits it, its credit note showing a refund due). With only
    // the invoice's version check, a cancellation committing between the read and the append left the card charged and the ledger
    // without the payment: the retry read the invoice cancelled. So the gateway is called under the lock: a second or so, at
    // most Invoicing:GatewayTimeout (ChargeWithinAsync), after which the attempt is rolled back and retried with the same key; a
    // settlement waiting for the lock goes on then, and the retry finds out from the gateway whether the card was charged: it asks
    // about a key a delivery presented (its PresentedCharge), never about one that no delivery did.
    public static async Task<OutgoingMessages> Handle(ChargeCard message, IDocumentSession session, IPaymentGateway gateway, TimeProvider clock,
        IOptions<InvoicingOptions> options, ChargeCardTestSeam seam, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (now < message.DueAt)
            return [DueWork.At(message, message.DueAt, now)];

        if (await InvoiceStream.FetchUnderMembershipLockAsync(session, message.InvoiceId, ct) is not { } locked)
            return [];
        var (membership, stream) = locked;

        // This attempt already recorded (a redelivery): nothing to do.
        if (stream.Aggregate is not { } invoice || invoice.ChargeAttempts.Any(a => a.Attempt >= message.Attempt))
            return [];

        var key = ChargeCardDecision.IdempotencyKey(invoice.InvoiceNumber, message.Attempt);
        // Paid another way or cancelled: nothing to charge. But a delivery of this attempt may have presented the card already and
        // rolled back with its outcome unknown (the answer lost, or later than GatewayTimeout), releasing the lock to the settlement; had
        // the provider charged, the money would be taken and the ledger would not know. Such a delivery left its PresentedCharge (committed
        // before it presented the card): only then is the provider asked what it holds for the key (a lookup that never charges), under
        // the lock and within the same timeout, a charge found recorded and the marker deleted with it. Without one no delivery presented
        // the key (an invoice paid by transfer or cancelled before its due date, the common case): nothing to ask, and a gateway that
        // cannot be reached keeps no such charge retrying, holding the lock, for hours.
        if (invoice.Status is InvoiceStatus.Paid or InvoiceStatus.Cancelled)
        {
            if (await session.LoadAsync<PresentedCharge>(key, ct) is null)
                return [];
            var found = await FindWithinAsync(gateway, key, options.Value.GatewayTimeout, ct);
            stream.AppendMany(ChargeCardDecision.DecideFound(invoice, message.Attempt, found, Guid.CreateVersion7(), now));
            session.Delete<PresentedCharge>(key);
            return [];
        }

        var card = await session.LoadAsync<PaymentCard>(PaymentCardStream.For(invoice.AccountId), ct);
        // Committed before the card is presented, whatever becomes of this transaction.
        if (card is not null)
            await PresentedCharge.RecordAsync(session.DocumentStore,
                new PresentedCharge { Id = key, InvoiceId = invoice.Id, Attempt = message.Attempt, MarkedAt = now }, ct);
        if (seam.BeforeGatewayCalled is { } beforeCall)
            await beforeCall(session);
        var result = card is null
            ? new ChargeResult(ChargeOutcome.Declined, null, "no card on file")
            : await ChargeWithinAsync(gateway, new ChargeRequest(key, card.ChargeWith(), invoice.Outstanding, invoice.Currency,
                $"CPS membership {invoice.MembershipNumber}, invoice {invoice.InvoiceNumber}"), options.Value.GatewayTimeout, ct);

        if (seam.AfterGatewayAnswered is { } afterAnswer)
            await afterAnswer(session);
        var (events, messages) = ChargeCardDecision.Decide(invoice, message.Attempt, result, Guid.CreateVersion7(), options.Value, now,
            card?.Shown());
        stream.AppendMany(events);
        // The attempt is recorded: the key's outcome is the ledger's now, and nothing is left to ask the provider.
        session.Delete<PresentedCharge>(key);
        // Only an overdue invoice can have suspended the membership; its lock is already this session's.
        if (events.OfType<InvoicePaid>().Any() && invoice.Status == InvoiceStatus.Overdue)
            await OverdueDecision.ReinstateIfSuspendedAsync(session, invoice, options.Value, now, ct, membership);
        return [.. messages];
    }

    /// <summary>
    /// The gateway's answer, or a <see cref="TimeoutException"/> (outcome unknown) once <paramref name="timeout"/> has passed, whether or
    /// not the adapter heeds its token. The lock this charge holds is then released with its rollback before a write waiting for it
    /// fails on the database's command timeout (Wolverine's execution timeout, 60 s, was longer than Npgsql's 30 s), and the attempt is
    /// retried with the same idempotency key, as after a lost response. Wall-clock time: how long the gateway takes, not the service's
    /// business clock.
    /// </summary>
    internal static Task<ChargeResult> ChargeWithinAsync(IPaymentGateway gateway, ChargeRequest request, TimeSpan timeout, CancellationToken ct) =>
        WithinAsync(token => gateway.ChargeAsync(request, token), $"charge {request.IdempotencyKey}", timeout, ct);

    /// <summary>What the gateway holds for the key, within <paramref name="timeout"/> as <see cref="ChargeWithinAsync"/> (the lock is held).</summary>
    internal static Task<FoundCharge?> FindWithinAsync(IPaymentGateway gateway, string idempotencyKey, TimeSpan timeout, CancellationToken ct) =>
        WithinAsync(token => gateway.FindChargeAsync(idempotencyKey, token), $"the lookup of charge {idempotencyKey}", timeout, ct);

    private static async Task<T> WithinAsync<T>(Func<CancellationToken, Task<T>> call, string what, TimeSpan timeout, CancellationToken ct)
    {
        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(ct);
        giveUp.CancelAfter(timeout);
        try
        {
            return await call(giveUp.Token).WaitAsync(giveUp.Token);
        }
        catch (OperationCanceledException) when (giveUp.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new TimeoutException($"The payment gateway did not answer {what} within {timeout.TotalSeconds:0.###} s " +
                                       "(Invoicing:GatewayTimeout): outcome unknown, retried with the same key.");
        }
    }
}

/// <summary>
/// A card presented to the gateway for an attempt not recorded yet (id: the attempt's idempotency key): committed on its own, before
/// the card is presented, so that it outlives the charge's transaction when that rolls back with the outcome unknown (a timeout, a lost
/// answer, a crash), and deleted in the transaction that records the attempt, or what the gateway was found to hold for it. A delivery
/// finding its invoice paid or cancelled asks the gateway only about a key that has one. Committed and the card then never presented (a
/// crash between the two): the lookup finds nothing, and nothing is recorded, as for a charge never made.
/// </summary>
public sealed class PresentedCharge
{
    public string Id { get; set; } = "";
    public Guid InvoiceId { get; set; }
    public int Attempt { get; set; }

    /// <summary>When it was written (the service's clock): just before the card was presented; migration 014's, when that ran.</summary>
    public DateTimeOffset MarkedAt { get; set; }

    /// <summary>
    /// Commits <paramref name="marker"/> in a session and transaction of its own, while the charge's holds the membership's lock: it
    /// writes only this row, which no one else locks (a second delivery of the attempt waits for the membership's lock before it gets
    /// here, and the transaction that deletes the row holds that lock), so it neither waits for the charge nor the charge for it.
    /// </summary>
    internal static async Task RecordAsync(IDocumentStore store, PresentedCharge marker, CancellationToken ct)
    {
        await using var own = store.LightweightSession();
        own.Store(marker);
        await own.SaveChangesAsync(ct);
    }
}

/// <summary>
/// Test seam, one per host (<see cref="Platform.TestSeams"/>: tests set it through InternalsVisibleTo; nothing else does): a step under
/// the membership's lock just before the card is presented, and one between the gateway's answer and the charge's commit, given the
/// charging session, so that a test can cancel the invoice meanwhile.
/// </summary>
public sealed class ChargeCardTestSeam
{
    internal Func<IDocumentSession, Task>? BeforeGatewayCalled { get; set; }

    internal Func<IDocumentSession, Task>? AfterGatewayAnswered { get; set; }
}
