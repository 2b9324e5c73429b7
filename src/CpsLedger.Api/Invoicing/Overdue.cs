using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using Marten;
using JasperFx.Events;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Invoicing;

/// <summary>Is the bank-transfer invoice paid? Due the day after its due date.</summary>
public sealed record CheckInvoiceOverdue(Guid InvoiceId, DateTimeOffset DueAt);

/// <summary>Suspend the membership if its overdue invoice is still unpaid; due at the end of the grace period.</summary>
public sealed record SuspendForNonPayment(Guid InvoiceId, Guid AccountId, DateTimeOffset DueAt);

public sealed record SendOverdueEmail(Guid InvoiceId, DateOnly SuspensionOn);

/// <summary>Tell the member the membership is suspended, and how to lift it.</summary>
public sealed record SendSuspensionEmail(Guid InvoiceId, DateTimeOffset SuspendedAt);

/// <summary>Tell the member the membership is active again.</summary>
public sealed record SendReinstatementEmail(Guid InvoiceId, DateTimeOffset ReinstatedAt);

/// <summary>
/// The invoice is settled (paid, or cancelled): lift a suspension still resting on it, or move it to another invoice overdue
/// past its grace period, as its settlement should have. The reconciliation's repair when a suspension outlived its invoice.
/// </summary>
public sealed record SettleSuspension(Guid InvoiceId);

/// <summary>What settling an invoice would do to the membership a suspension of it holds: <c>reinstated</c> (active again), or
/// <c>suspension_moved</c> (still suspended, now for another invoice of the term overdue past its grace period).</summary>
public enum MembershipAfterSettlement
{
    Reinstated,
    SuspensionMoved,
}

public static class OverdueDecision
{
    /// <summary>Overdue now, the e-mail that says so, and the suspension check at the end of the grace period.</summary>
    public static (InvoiceBecameOverdue Overdue, IReadOnlyList<object> Messages) Decide(Invoice invoice, InvoicingOptions options, DateTimeOffset now)
    {
        var suspendAt = now + options.SuspensionGracePeriod;
        var suspensionOn = DateOnly.FromDateTime(suspendAt.UtcDateTime);
        var overdue = new InvoiceBecameOverdue(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, invoice.Outstanding, invoice.Currency,
            invoice.DueOn, suspensionOn, now);
        return (overdue, [new SendOverdueEmail(invoice.Id, suspensionOn),
            DueWork.At(new SuspendForNonPayment(invoice.Id, invoice.AccountId, suspendAt), suspendAt, now)]);
    }

    /// <summary>Suspended only if the invoice is still unpaid, it belongs to the membership in force, and that is not suspended yet.</summary>
    public static MembershipSuspended? Suspend(Invoice invoice, AccountMembership? membership, DateTimeOffset now) =>
        invoice.Status is not (InvoiceStatus.Paid or InvoiceStatus.Cancelled) && membership?.Membership?.MembershipId == invoice.MembershipId
                                                && membership.Suspension?.MembershipId != invoice.MembershipId
            ? new MembershipSuspended(invoice.AccountId, invoice.MembershipId, invoice.Id, invoice.InvoiceNumber, now)
            : null;

    /// <summary>
    /// The invoice the suspension was for is settled (paid in full, or cancelled): reinstated, unless another invoice of the same
    /// term is overdue past its grace period. That invoice's own suspension found the membership already suspended and did
    /// nothing, so the suspension now rests on it (the oldest overdue first) instead of being lifted. Null when the suspension
    /// was not for this invoice.
    /// </summary>
    /// <param name="invoices">The account's invoices as stored (the settled one among them or not: it is left out).</param>
    public static object? AfterSettlement(Invoice settled, AccountMembership? membership, IEnumerable<Invoice> invoices, TimeSpan gracePeriod,
        DateTimeOffset now)
    {
        if (membership?.Suspension is not { } suspension || suspension.InvoiceId != settled.Id)
            return null;
        var stillOverdue = invoices
            .Where(i => i.Id != settled.Id && i.MembershipId == suspension.MembershipId && i.Status == InvoiceStatus.Overdue
                        && i.OverdueAt + gracePeriod <= now)
            .OrderBy(i => i.OverdueAt).ThenBy(i => i.InvoiceNumber, StringComparer.Ordinal)
            .FirstOrDefault();
        return stillOverdue is null
            ? new MembershipReinstated(settled.AccountId, settled.MembershipId, settled.Id, settled.InvoiceNumber, now)
            : new MembershipSuspended(stillOverdue.AccountId, stillOverdue.MembershipId, stillOverdue.Id, stillOverdue.InvoiceNumber, now);
    }

    /// <summary>What <see cref="AfterSettlement"/> decided, as a preview names it: null when the membership is left as it is.</summary>
    public static MembershipAfterSettlement? Named(object? standing) => standing switch
    {
        MembershipReinstated => MembershipAfterSettlement.Reinstated,
        MembershipSuspended => MembershipAfterSettlement.SuspensionMoved,
        _ => null,
    };

    /// <summary>
    /// What settling the invoice now would do to its membership (<see cref="AfterSettlement"/>), read through a query session and without
    /// the lock: a preview's answer, written nowhere. The write takes the lock and decides again on what it then reads.
    /// </summary>
    public static async Task<MembershipAfterSettlement?> PreviewAfterSettlementAsync(IQuerySession session, Invoice settled, InvoicingOptions options,
        DateTimeOffset now, CancellationToken ct)
    {
        var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(settled.AccountId), ct);
        return Named(await StandingAfterSettlementAsync(session, settled, membership, options, now, ct));
    }

    /// <summary>
    /// <see cref="AfterSettlement"/> for a membership suspended for this invoice, with the account's invoices read; null when the
    /// suspension (if any) rests on another invoice. The write and its preview both decide through it.
    /// </summary>
    private static async Task<object?> StandingAfterSettlementAsync(IQuerySession session, Invoice settled, AccountMembership? membership,
        InvoicingOptions options, DateTimeOffset now, CancellationToken ct)
    {
        if (membership?.Suspension?.InvoiceId != settled.Id)
            return null;
        var invoices = await InvoiceQueries.OfAccount(session, settled.AccountId, ct);
        return AfterSettlement(settled, membership, invoices, options.SuspensionGracePeriod, now);
    }

    /// <summary>
    /// The invoice has just been paid in full or cancelled (by any means): lift a suspension for it, or move it to another invoice
    /// still overdue past its grace period (<see cref="AfterSettlement"/>), in the same session, so the settlement and the
    /// membership's standing commit together. True when the membership was reinstated. The one write to a second stream beside
    /// the aggregate a handler works on: the membership's id is derived from the invoice's account, known only once the invoice
    /// is loaded.
    /// </summary>
    /// <param name="locked">The membership stream, when the caller has already fetched it for exclusive writing in this session (the card
    /// charge, the transfer, finance's credit note: each takes the lock before it reads the invoice): used instead of fetching it again.</param>
    public static async Task<bool> ReinstateIfSuspendedAsync(IDocumentSession session, Invoice invoice, InvoicingOptions options, DateTimeOffset now,
        CancellationToken ct, IEventStream<AccountMembership>? locked = null)
    {
        // Locked until this transaction ends, whether or not the membership is suspended: two invoices of a suspended term settled
        // at once would otherwise both read the suspension as it was, one moving it to the other and the other finding it elsewhere
        // and writing nothing, leaving the membership suspended for a settled invoice. The second now waits, and reads what the
        // first decided. The suspension takes it too, before it reads the invoice (SuspendForNonPaymentHandler).
        var membership = locked ?? await session.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(invoice.AccountId), ct);
        if (await StandingAfterSettlementAsync(session, invoice, membership.Aggregate, options, now, ct) is not { } standing)
            return false;
        membership.AppendOne(standing);
        WrittenAfterTheSettlement(session, membership.Id);
        return standing is MembershipReinstated;
    }

    /// <summary>
    /// Marten writes a session's streams in the order it fetched them, and every settlement fetches the membership first (its lock
    /// before the invoice's read): the reinstatement, or the moved suspension, took a lower sequence than the payment or the credit
    /// note that caused it, and the history read the effect before its cause. Moved behind the streams fetched after it, so the
    /// invoice's events are written first in the same commit. The lock is still taken first: it is held from the fetch.
    /// </summary>
    private static void WrittenAfterTheSettlement(IDocumentSession session, Guid membershipStreamId)
    {
        var streams = session.PendingChanges.Streams();
        var membership = streams.Single(s => s.Id == membershipStreamId);
        streams.Remove(membership);
        streams.Add(membership);
    }
}

[Platform.SystemActor("overdue-policy")]
public static class CheckInvoiceOverdueHandler
{
    public static void Configure(HandlerChain chain) => DueWork.RetryOnConflicts(chain);

    // The membership's lock first (MembershipStream), then the invoice's read, as every write to a term in force: a transfer recorded
    // as the check falls due (00:00 UTC the day after the due date) and the check decide one after the other. A transfer committed
    // first is read here and nothing is overdue; one that comes later waits and pays the invoice overdue. With only the invoice's
    // version check, whichever committed second failed it: the transfer was answered 409 "Concurrent change", or the check retried.
    public static async Task<OutgoingMessages> Handle(CheckInvoiceOverdue message, IDocumentSession session, TimeProvider clock,
        IOptions<InvoicingOptions> options, OverdueTestSeam seam, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (now < message.DueAt)
            return [DueWork.At(message, message.DueAt, now)];
        if (await InvoiceStream.FetchUnderMembershipLockAsync(session, message.InvoiceId, ct) is not { } locked)
            return [];
        var stream = locked.Invoice;
        // Paid (or cancelled, or already overdue) meanwhile: nothing to do.
        if (stream.Aggregate is not { Status: InvoiceStatus.Open } invoice)
            return [];
        var (overdue, messages) = OverdueDecision.Decide(invoice, options.Value, now);
        stream.AppendOne(overdue);
        if (seam.BeforeOverdueCommits is { } beforeCommit)
            await beforeCommit(session);
        return [.. messages];
    }
}

[Platform.SystemActor("overdue-policy")]
public static class SettleSuspensionHandler
{
    public static void Configure(HandlerChain chain) => DueWork.RetryOnConflicts(chain);

    // Under the membership's lock like any settlement; a suspension no longer on this invoice is left as it is (a repeat does nothing).
    // It reads the invoice before the lock, unlike every other write to a term, and safely: it writes only the membership, read under
    // the lock, and goes on only for an invoice settled, which stays settled (paid or cancelled, never owed again), using only what
    // never changes (its id, account, term and number).
    public static async Task Handle(SettleSuspension message, IDocumentSession session, TimeProvider clock, IOptions<InvoicingOptions> options,
        CancellationToken ct)
    {
        if (await session.LoadAsync<Invoice>(message.InvoiceId, ct) is { Status: InvoiceStatus.Paid or InvoiceStatus.Cancelled } invoice)
            await OverdueDecision.ReinstateIfSuspendedAsync(session, invoice, options.Value, clock.GetUtcNow(), ct);
    }
}

[Platform.SystemActor("overdue-policy")]
public static class SuspendForNonPaymentHandler
{
    public static void Configure(HandlerChain chain) => DueWork.RetryOnConflicts(chain);

    // The membership's lock before the invoice's read: a settlement takes the same lock, suspended or not, so the two decide one after
    // the other (one committed first is read here; one that waits finds the suspension and lifts it). With only the version check, a
    // payment committing between the read and this commit conflicted with nothing, and the membership was suspended for a paid invoice.
    public static async Task<OutgoingMessages> Handle(SuspendForNonPayment message, IDocumentSession session, TimeProvider clock,
        OverdueTestSeam seam, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (now < message.DueAt)
            return [DueWork.At(message, message.DueAt, now)];
        var membership = await session.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(message.AccountId), ct);
        var invoice = await session.LoadAsync<Invoice>(message.InvoiceId, ct);
        if (seam.BeforeSuspensionCommits is { } beforeCommit)
            await beforeCommit(session);
        if (invoice is not null && OverdueDecision.Suspend(invoice, membership.Aggregate, now) is { } suspended)
            membership.AppendOne(suspended);
        return [];
    }
}

/// <summary>
/// Test seam, one per host (<see cref="Platform.TestSeams"/>: tests set it through InternalsVisibleTo; nothing else does): a step
/// between the suspension's (or the overdue check's) read of the invoice, under the membership's lock, and its commit, given its
/// session, so that a test can settle the invoice meanwhile.
/// </summary>
public sealed class OverdueTestSeam
{
    internal Func<IDocumentSession, Task>? BeforeSuspensionCommits { get; set; }
    internal Func<IDocumentSession, Task>? BeforeOverdueCommits { get; set; }
}

public static class SendOverdueEmailHandler
{
    public static async Task Handle(SendOverdueEmail message, IQuerySession session, Platform.MailDelivery mail,
        Microsoft.Extensions.Options.IOptions<SellerOptions> seller, ILogger<SendOverdueEmail> logger, CancellationToken ct)
    {
        var (invoice, account) = await InvoiceAndAccount.LoadAsync(session, message.InvoiceId, ct);
        // Paid (or cancelled) before the e-mail went out: no reminder for an invoice that is settled. Expected, not a fault.
        if (InvoiceAndAccount.Settled(invoice) is { } reason)
        {
            logger.LogInformation("Overdue e-mail of invoice {InvoiceNumber} ({InvoiceId}) of account {AccountId} not sent ({MessageType}): {Reason}",
                invoice.InvoiceNumber, invoice.Id, invoice.AccountId, nameof(SendOverdueEmail), reason);
            return;
        }

        await mail.SendAsync(InvoiceEmails.Overdue(account, invoice, message.SuspensionOn, invoice.PaysInto(seller.Value)), ct);
    }
}

public static class MembershipStandingEmails
{
    /// <summary>
    /// A suspension or reinstatement, once committed, asks for its e-mail (durably, via the outbox). Forwarded from the events
    /// rather than returned by the handler and the payment endpoint that append them, so no future path that suspends or
    /// reinstates can forget to tell the member.
    /// </summary>
    public static void ForwardMembershipStandingToEmails(this Wolverine.Marten.MartenIntegration integration)
    {
        integration.SubscribeToEvent<MembershipSuspended>().TransformedTo(e => new SendSuspensionEmail(e.Data.InvoiceId, e.Data.SuspendedAt));
        integration.SubscribeToEvent<MembershipReinstated>().TransformedTo(e => new SendReinstatementEmail(e.Data.InvoiceId, e.Data.ReinstatedAt));
    }
}

public static class SendSuspensionEmailHandler
{
    public static async Task Handle(SendSuspensionEmail message, IQuerySession session, Platform.MailDelivery mail,
        Microsoft.Extensions.Options.IOptions<SellerOptions> seller, ILogger<SendSuspensionEmail> logger, CancellationToken ct)
    {
        var (invoice, account) = await InvoiceAndAccount.LoadAsync(session, message.InvoiceId, ct);
        // Paid in full (or cancelled) before the e-mail went out: the reinstatement e-mail follows instead. Expected, not a fault.
        if (InvoiceAndAccount.Settled(invoice) is { } reason)
        {
            logger.LogInformation("Suspension e-mail of invoice {InvoiceNumber} ({InvoiceId}) of account {AccountId} not sent ({MessageType}): {Reason}",
                invoice.InvoiceNumber, invoice.Id, invoice.AccountId, nameof(SendSuspensionEmail), reason);
            return;
        }

        await mail.SendAsync(InvoiceEmails.Suspended(account, invoice, message.SuspendedAt, invoice.PaysInto(seller.Value)), ct);
    }
}

public static class SendReinstatementEmailHandler
{
    public static async Task Handle(SendReinstatementEmail message, IQuerySession session, Platform.MailDelivery mail, CancellationToken ct)
    {
        var (invoice, account) = await InvoiceAndAccount.LoadAsync(session, message.InvoiceId, ct);
        await mail.SendAsync(InvoiceEmails.Reinstated(account, invoice, message.ReinstatedAt), ct);
    }
}

internal static class InvoiceAndAccount
{
    public static async Task<(Invoice Invoice, AccountView Account)> LoadAsync(IQuerySession session, Guid invoiceId, CancellationToken ct)
    {
        var invoice = await session.LoadAsync<Invoice>(invoiceId, ct)
                      ?? throw new InvalidOperationException($"Invoice {invoiceId} is missing.");
        var account = await session.LoadAsync<AccountView>(invoice.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {invoice.AccountId} is missing.");
        return (invoice, account);
    }

    /// <summary>Why an e-mail asking for the invoice to be paid is not sent: it is paid, or cancelled; null while it is not settled.</summary>
    public static string? Settled(Invoice invoice) => invoice.Status switch
    {
        InvoiceStatus.Paid => "the invoice is paid",
        InvoiceStatus.Cancelled => "the invoice is cancelled",
        _ => null,
    };
}
