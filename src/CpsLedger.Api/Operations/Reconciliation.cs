using System.Text;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Api.Tiers;
using JasperFx.Events.Projections;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;
using Wolverine;
using Wolverine.Http;
using Wolverine.Persistence.Durability;
using Wolverine.Runtime;
using Wolverine.Runtime.Recurring;

namespace CpsLedger.Api.Operations;

public sealed class ReconciliationOptions
{
    public const string Section = "Reconciliation";

    /// <summary>Run on a schedule (Wolverine's recurring messages: one node of the cluster runs each occurrence).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>When, as a cron expression in UTC (default: every ten minutes).</summary>
    public string Cron { get; set; } = "*/10 * * * *";

    /// <summary>How far back a run looks (memberships started, invitations and invoices issued), so each run costs the same.</summary>
    public TimeSpan Lookback { get; set; } = TimeSpan.FromDays(7);

    /// <summary>What is younger than this is not judged yet: its consequences may still be on their way.</summary>
    public TimeSpan Grace { get; set; } = TimeSpan.FromMinutes(15);
}

/// <summary>Check the ledger's promises now (scheduled, or asked for by an operator).</summary>
public sealed record RunReconciliation(DateTimeOffset RequestedAt);

/// <summary>One promise found broken. <paramref name="Repair"/> says what was done about it (null: nothing could be).</summary>
/// <param name="Check">Which promise was found broken (the check's name).</param>
/// <param name="AccountId">The account concerned.</param>
/// <param name="Subject">What it concerns (e.g. an invoice number).</param>
/// <param name="Detail">What was found, in words for a person.</param>
/// <param name="Repair">What the run did about it (the repair it sent); null when nothing could be done.</param>
public sealed record ReconciliationFinding(string Check, Guid AccountId, string Subject, string Detail, string? Repair);

/// <summary>The reconciliation ran: what it checked, what it found broken and what it did (recorded by the system actor).</summary>
public sealed record LedgerReconciled(
    Guid RunId,
    DateTimeOffset CheckedAt,
    int MembershipsChecked,
    int AccountsChecked,
    int EmailsChecked,
    int CardInvoicesChecked,
    IReadOnlyList<ReconciliationFinding> Findings);

public static class ReconciliationStream
{
    public static readonly Guid Id = DerivedIds.Hashed("cpsledger:reconciliation");

    /// <summary>Who the reconciliation's events are recorded by (<see cref="RunReconciliationHandler"/>'s system actor).</summary>
    public const string Actor = SystemActor.Prefix + "reconciliation";
}

/// <summary>The latest run and what it found (its findings stay open until a run no longer finds them).</summary>
public sealed class ReconciliationReport
{
    /// <summary>The report's id (there is one).</summary>
    public Guid Id { get; set; }
    /// <summary>How many runs there have been.</summary>
    public int Runs { get; set; }
    /// <summary>When the latest run checked, UTC; null before the first.</summary>
    public DateTimeOffset? LastRunAt { get; set; }
    /// <summary>The latest run's id; null before the first.</summary>
    public Guid? LastRunId { get; set; }
    /// <summary>Repairs sent by all runs so far.</summary>
    public int RepairsDispatched { get; set; }
    /// <summary>What the latest run found; empty when everything was kept.</summary>
    public List<ReconciliationFinding> OpenFindings { get; set; } = [];
    /// <summary>
    /// When the schedule (<c>Reconciliation:Cron</c>, UTC) runs it next, after the moment read: before the first run, when it first
    /// runs. Null when this service has no schedule for it (<c>Reconciliation:Enabled</c> false): then it runs only when support
    /// asks (POST /api/operations/reconciliation/runs). Null too while the schedule is paused (schedulePausedAt).
    /// </summary>
    // Said when read, from the schedule Wolverine runs: configuration, not an event, so the stored snapshot leaves it null.
    public DateTimeOffset? NextRunAt { get; set; }
    /// <summary>
    /// When an operator paused the schedule (Wolverine's recurring-message control), UTC; null while it runs or when there is none.
    /// A paused schedule runs nothing until resumed; a run asked for (POST /api/operations/reconciliation/runs) still runs.
    /// </summary>
    // Read with NextRunAt, from the schedule's durable row: a pause made on any node shows on every node.
    public DateTimeOffset? SchedulePausedAt { get; set; }

    public static ReconciliationReport Create(LedgerReconciled e) => new ReconciliationReport().With(e);

    public void Apply(LedgerReconciled e) => With(e);

    private ReconciliationReport With(LedgerReconciled e)
    {
        Runs++;
        LastRunAt = e.CheckedAt;
        LastRunId = e.RunId;
        RepairsDispatched += e.Findings.Count(f => f.Repair is not null);
        OpenFindings = [.. e.Findings];
        return this;
    }
}

/// <summary>
/// The safety net: checks that what the ledger's events promise has happened, and repairs what it can by sending the message
/// that was lost again (every one of them is idempotent: a repeat finds its work done). Checks, within
/// <see cref="ReconciliationOptions.Lookback"/> and older than <see cref="ReconciliationOptions.Grace"/>: a joined membership has
/// its invoice issued or on its way; an account at or over the invitation threshold and not a member has an invitation, and no
/// invitation stands for one below it; every
/// welcome, invitation, invoice and credit note e-mail is recorded as sent, and so is every overdue reminder and suspension e-mail
/// (while their invoice is unpaid) and every reinstatement e-mail; every card invoice that fell due has a charge attempt; every bank-transfer
/// invoice past the day after its due date was checked for being overdue; an overdue invoice's membership suspended once past the
/// grace period; no membership suspended for an invoice that is settled (whatever its age). And for every
/// membership in force (whatever its age): inside its offer window, its renewal offered (its e-mail sent, its bank renewal invoice
/// issued), and before it, no renewal offer waiting past its offer time (scheduled under a shorter window); past its end, renewed or
/// lapsed.
/// </summary>
[SystemActor("reconciliation")]
public static class RunReconciliationHandler
{
    public static async Task<OutgoingMessages> Handle(RunReconciliation message, IDocumentSession session, TimeProvider clock,
        IOptions<ReconciliationOptions> options, IOptions<MembershipYearOptions> membershipYear, IOptions<InvoicingOptions> invoicing, ILogger<ReconciliationReport> logger,
        CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var o = options.Value;
        var since = now - o.Lookback;
        var settled = now - o.Grace;
        var findings = new List<ReconciliationFinding>();
        var repairs = new OutgoingMessages();
        // Invitations' candidates first: the policy says invited and the account is not, or says withdrawn (points below the threshold,
        // not a member) and the invitation stands. Then the inbox, once: after the candidates, so that a registration committing after
        // their read shows its review waiting there (a review committing since shows in the account loaded afresh below), and before
        // the memberships, so that a join committing after the inbox's read shows its term, judged from its join (below). Until
        // 2026-12-05 the inbox was read before the memberships and again after the candidates. The waiting renewal offers (below)
        // come from the same read: an offer made since shows as made in the memberships read after it, and an OfferRenewal sent
        // since (the start-up check's) looks missing and is sent again, which offers nothing twice.
        var table = await session.LoadAsync<TierTableView>(TierTableStream.Id, ct);
        List<Guid> candidates = table is null ? [] :
        [
            .. await InvitationCandidates.WithoutInvitationAsync(session, table.InvitationThreshold, ct),
            .. await InvitationCandidates.InvitedBelowAsync(session, table.InvitationThreshold, ct),
        ];
        var pending = await PendingMessages.ReadAsync(session, ct);
        var sent = await SentEmails.ReadAsync(session, ct);

        // Memberships: invoiced, or the invoice on its way (the join's message or the scheduled IssueInvoice in the inbox).
        var members = await session.Query<AccountMembership>().Where(m => m.Membership != null).ToListAsync(ct);
        var terms = members.Select(m => (m.AccountId, Term: m.Membership!))
            .Where(x => x.Term.StartsOn >= DateOnly.FromDateTime(since.UtcDateTime)).ToList();
        // A renewed term's invoice is the one its renewal names (a bank renewal's may be a replacing choice's).
        var invoices = (await session.LoadManyAsync<Invoice>(ct,
                terms.Select(t => t.Term.RenewalInvoiceId ?? InvoiceStream.ForMembership(t.Term.MembershipId)).ToArray()))
            .ToDictionary(i => i.MembershipId);
        // Only what brings the invoice or the e-mail counts as on its way (the term's scheduled renewal offer and end mention it too).
        bool InvoiceMissing(MembershipTerm t) => !invoices.ContainsKey(t.MembershipId) && !pending.Mentions<MembershipJoined>(t.MembershipId)
                                                 && !pending.Mentions<IssueInvoice>(t.MembershipId);
        bool WelcomeMissing(MembershipTerm t) => t.RenewalInvoiceId is null && !sent.Contains($"welcome-{t.MembershipId:N}@cpsledger")
                                                 && !pending.Mentions<MembershipJoined>(t.MembershipId)
                                                 && !pending.Mentions<SendWelcomeEmail>(t.MembershipId);
        // A term is judged once it is older than the grace: from its join (CpsJoined), a renewed term from its first day. The inbox
        // is read before the memberships (above), so a join committing in between shows its term without the messages it stored
        // with it: without this a join a second before a run had its invoice issued at once, not IssueDelay later, and its invoice
        // and welcome e-mail reported lost (a fault drill). Only the joined terms that look broken are looked up.
        var suspects = terms.Select(t => t.Term).Where(t => t.RenewalInvoiceId is null && (InvoiceMissing(t) || WelcomeMissing(t)))
            .Select(t => t.MembershipId).ToArray();
        var joinedAt = suspects.Length == 0
            ? []
            : (await session.Events.QueryRawEventDataOnly<CpsJoined>().Where(e => suspects.Contains(e.MembershipId)).ToListAsync(ct))
            .GroupBy(e => e.MembershipId).ToDictionary(g => g.Key, g => g.Max(e => e.JoinedAt));
        bool OlderThanGrace(MembershipTerm term) => term.RenewalInvoiceId is null && joinedAt.TryGetValue(term.MembershipId, out var at)
            ? at <= settled
            : DueWork.StartOf(term.StartsOn) <= settled;

        var emailsChecked = 0;
        foreach (var (accountId, term) in terms)
        {
            if (InvoiceMissing(term) && OlderThanGrace(term))
            {
                findings.Add(new ReconciliationFinding("membership-invoiced", accountId, term.MembershipNumber,
                    $"Membership {term.MembershipNumber} has no invoice and none is scheduled.", "IssueInvoice sent"));
                repairs.Add(term.RenewalInvoiceId is { } renewalInvoice
                    ? new IssueInvoice(accountId, term.MembershipId, now, InvoiceKind.Renewal, renewalInvoice)
                    : new IssueInvoice(accountId, term.MembershipId, now));
            }

            emailsChecked++;
            if (WelcomeMissing(term) && OlderThanGrace(term))
            {
                findings.Add(new ReconciliationFinding("welcome-email-sent", accountId, term.MembershipNumber,
                    $"The welcome e-mail of membership {term.MembershipNumber} is not recorded as sent.", "SendWelcomeEmail sent"));
                repairs.Add(new SendWelcomeEmail(accountId, term.MembershipId));
            }

            // A renewed term has its renewal e-mail instead of a welcome.
            if (term.RenewalInvoiceId is not null && !sent.Contains($"renewed-{term.MembershipId:N}@cpsledger")
                                                  && !pending.Mentions<SendRenewedEmail>(term.MembershipId)
                                                  && DueWork.StartOf(term.StartsOn) <= settled)
            {
                findings.Add(new ReconciliationFinding("renewed-email-sent", accountId, term.MembershipNumber,
                    $"The renewal e-mail of membership {term.MembershipNumber} (term from {term.StartsOn:yyyy-MM-dd}) is not recorded as sent.",
                    "SendRenewedEmail sent"));
                repairs.Add(new SendRenewedEmail(accountId, term.MembershipId));
            }
        }

        // The membership year: a term inside its offer window has its renewal offer (unless the member stopped the renewal), the
        // offer its e-mail and, paying by bank transfer, its renewal invoice; a term past its end was renewed or lapsed.
        // A waiting offer counts only when it is due by the offer time: one scheduled under a shorter Membership:RenewalOfferBefore
        // waits past it (the start-up check sends one for it; this finds what that did not).
        var year = membershipYear.Value;
        var offers = pending.Offers;
        foreach (var m in members)
        {
            var term = m.Membership!;
            var renewal = RenewalDecision.RenewalOf(m);
            var offerAt = RenewalDecision.OfferAt(term, year);
            var lateWait = offers.LateWait(term.MembershipId, offerAt);
            var window = $"{offerAt:yyyy-MM-dd HH:mm}Z under Membership:RenewalOfferBefore {year.RenewalOfferBefore}";
            if (offerAt <= settled && RenewalDecision.AwaitsOffer(m) && !offers.Covers(term.MembershipId, offerAt))
            {
                findings.Add(new ReconciliationFinding("renewal-offered", m.AccountId, term.MembershipNumber,
                    $"Membership {term.MembershipNumber} ends on {term.EndsOn:yyyy-MM-dd} and its renewal has not been offered" + (lateWait is { } due
                        ? $": it was due at {window}, and the OfferRenewal waiting for it is scheduled for {due:yyyy-MM-dd HH:mm}Z (under a shorter window)."
                        : "."), "OfferRenewal sent"));
                repairs.Add(new OfferRenewal(m.AccountId, term.MembershipId));
            }
            else if (offerAt > settled && RenewalDecision.AwaitsOffer(m) && lateWait is { } later)
            {
                findings.Add(new ReconciliationFinding("renewal-offer-scheduled", m.AccountId, term.MembershipNumber,
                    $"The renewal of membership {term.MembershipNumber} is due at {window}, and the OfferRenewal waiting for it is scheduled " +
                    $"for {later:yyyy-MM-dd HH:mm}Z (under a shorter window).", "OfferRenewal sent (it waits until the offer time)"));
                repairs.Add(new OfferRenewal(m.AccountId, term.MembershipId));
            }

            if (renewal is { OfferedAt: { } offeredAt } && offeredAt >= since && offeredAt <= settled)
            {
                emailsChecked++;
                if (!sent.Contains($"renewal-offer-{term.MembershipId:N}@cpsledger") && !pending.Mentions<SendRenewalOfferEmail>(term.MembershipId))
                {
                    findings.Add(new ReconciliationFinding("renewal-offer-email-sent", m.AccountId, term.MembershipNumber,
                        $"The renewal offer e-mail of membership {term.MembershipNumber} is not recorded as sent.", "SendRenewalOfferEmail sent"));
                    repairs.Add(new SendRenewalOfferEmail(m.AccountId, term.MembershipId));
                }
            }

            if (renewal is { OfferedAt: { } invoicedAt, InvoiceId: { } renewalInvoiceId, Proposed: { } proposed } && invoicedAt <= settled
                && await session.Events.FetchStreamStateAsync(renewalInvoiceId, ct) is null && !pending.Mentions(renewalInvoiceId))
            {
                findings.Add(new ReconciliationFinding("renewal-invoiced", m.AccountId, term.MembershipNumber,
                    $"The renewal of membership {term.MembershipNumber} was offered by bank transfer and has no invoice.", "IssueInvoice sent"));
                repairs.Add(new IssueInvoice(m.AccountId, proposed.MembershipId, now, InvoiceKind.Renewal, renewalInvoiceId));
            }

            if (RenewalDecision.EndAt(term) <= settled && !pending.Mentions<EndTerm>(term.MembershipId))
            {
                findings.Add(new ReconciliationFinding("term-ended", m.AccountId, term.MembershipNumber,
                    $"Membership {term.MembershipNumber} ended on {term.EndsOn:yyyy-MM-dd} and was neither renewed nor lapsed.", "EndTerm sent"));
                repairs.Add(new EndTerm(m.AccountId, term.MembershipId));
            }
        }

        // Invitations: the candidates read first (above), none with a review waiting, each looked at afresh. Two reviews deciding on
        // points that changed between their reads left an invitation standing so, before the review lock (InvitationReviewLock); a
        // withdrawal lost would too. With the inbox read before the candidates, an account whose points reached the threshold while
        // the run read was reported uninvited (a fault drill).
        var invitedAgain = new HashSet<Guid>();
        foreach (var accountId in candidates.Where(a => !pending.Mentions(a)))
        {
            var membership = await session.LoadAsync<AccountMembership>(MembershipStream.For(accountId), ct);
            var summary = AccountPoints.Summarize(accountId, await AccountPoints.LoadAsync(session, accountId, ct));
            switch (InvitationPolicy.Decide(membership, accountId, summary.PointsTotal, table!, Guid.Empty, now))
            {
                case InvitationIssued:
                    invitedAgain.Add(accountId);
                    findings.Add(new ReconciliationFinding("account-invited", accountId, accountId.ToString(),
                        $"The account has {summary.PointsTotal} points (threshold {table!.InvitationThreshold}) and no invitation.", "ReviewInvitation sent"));
                    break;
                case InvitationWithdrawn withdrawn:
                    findings.Add(new ReconciliationFinding("invitation-withdrawn", accountId, withdrawn.InvitationId.ToString(),
                        $"The account's invitation stands with {summary.PointsTotal} points, below the threshold ({table!.InvitationThreshold}).",
                        "ReviewInvitation sent"));
                    break;
                default:
                    continue;
            }
            repairs.Add(new ReviewInvitation(accountId, SystemActor.CauseOf(session)));
        }

        // Invitation e-mails of the invitations that stand.
        foreach (var m in members.Concat(await session.Query<AccountMembership>().Where(m => m.Invitation != null).ToListAsync(ct))
                     .DistinctBy(m => m.Id)
                     .Where(m => m.Invitation is { } i && i.IssuedAt >= since && i.IssuedAt <= settled))
        {
            emailsChecked++;
            var invitation = m.Invitation!;
            if (!sent.Contains($"invitation-{invitation.InvitationId:N}@cpsledger") && !pending.Mentions(invitation.InvitationId))
            {
                findings.Add(new ReconciliationFinding("invitation-email-sent", m.AccountId, invitation.InvitationId.ToString(),
                    "The invitation e-mail is not recorded as sent.", "SendInvitationEmail sent"));
                repairs.Add(new SendInvitationEmail(m.AccountId, invitation.InvitationId));
            }
        }

        // Withdrawals' e-mails, while the withdrawn invitation is the account's news (no invitation or membership since), as the
        // handler decides; not of an account this run invites again (its points reach the threshold: the invitation is the news).
        var withdrawals = await session.Events.QueryRawEventDataOnly<InvitationWithdrawn>()
            .Where(e => e.WithdrawnAt >= since && e.WithdrawnAt <= settled).ToListAsync(ct);
        var withdrawnFrom = withdrawals.Count == 0 ? [] : (await session.LoadManyAsync<AccountMembership>(ct,
            withdrawals.Select(w => MembershipStream.For(w.AccountId)).Distinct().ToArray())).ToDictionary(m => m.AccountId);
        foreach (var w in withdrawals.Where(w => !invitedAgain.Contains(w.AccountId) && InvitationWithdrawnEmails.Owed(withdrawnFrom.GetValueOrDefault(w.AccountId), w.InvitationId) is not null))
        {
            emailsChecked++;
            if (!sent.Contains(InvitationWithdrawnEmails.MessageId(w.InvitationId)) && !pending.Mentions<SendInvitationWithdrawnEmail>(w.InvitationId))
            {
                findings.Add(new ReconciliationFinding("invitation-withdrawn-email-sent", w.AccountId, w.InvitationId.ToString(),
                    "The e-mail of the invitation's withdrawal is not recorded as sent.", "SendInvitationWithdrawnEmail sent"));
                repairs.Add(new SendInvitationWithdrawnEmail(w.AccountId, w.InvitationId));
            }
        }

        // Invoice e-mails, and a charge attempt for every card invoice that fell due.
        var recent = await session.Query<Invoice>().Where(i => i.IssuedAt >= since).ToListAsync(ct);
        foreach (var invoice in recent.Where(i => i.IssuedAt <= settled))
        {
            emailsChecked++;
            if (!sent.Contains($"invoice-{invoice.InvoiceNumber}@cpsledger") && !pending.Mentions(invoice.Id))
            {
                findings.Add(new ReconciliationFinding("invoice-email-sent", invoice.AccountId, invoice.InvoiceNumber,
                    $"The e-mail of invoice {invoice.InvoiceNumber} is not recorded as sent.", "SendInvoiceEmail sent"));
                repairs.Add(new SendInvoiceEmail(invoice.Id));
            }
        }

        // Every credit note's e-mail (a credit note is issued once per invoice, so its invoice names it).
        var creditNotes = await session.Events.QueryRawEventDataOnly<CreditNoteIssued>()
            .Where(e => e.IssuedAt >= since && e.IssuedAt <= settled).ToListAsync(ct);
        foreach (var note in creditNotes)
        {
            emailsChecked++;
            if (!sent.Contains(CreditNoteEmails.MessageId(note.CreditNoteNumber)) && !pending.Mentions<SendCreditNoteEmail>(note.InvoiceId))
            {
                findings.Add(new ReconciliationFinding("credit-note-email-sent", note.AccountId, note.CreditNoteNumber,
                    $"The e-mail of credit note {note.CreditNoteNumber} (cancelling invoice {note.InvoiceNumber}) is not recorded as sent.",
                    "SendCreditNoteEmail sent"));
                repairs.Add(new SendCreditNoteEmail(note.InvoiceId));
            }
        }

        // An overdue invoice's reminder and a suspension's e-mail, while the invoice is unpaid (paid first, the member is told of
        // the reinstatement instead, as their handlers decide); every reinstatement's e-mail. Read from the events, which keep
        // what each e-mail says (the suspension date of a reminder, the moment of a suspension lifted since).
        var overdue = await session.Events.QueryRawEventDataOnly<InvoiceBecameOverdue>()
            .Where(e => e.OverdueAt >= since && e.OverdueAt <= settled).ToListAsync(ct);
        var suspended = await session.Events.QueryRawEventDataOnly<MembershipSuspended>()
            .Where(e => e.SuspendedAt >= since && e.SuspendedAt <= settled).ToListAsync(ct);
        var reinstated = await session.Events.QueryRawEventDataOnly<MembershipReinstated>()
            .Where(e => e.ReinstatedAt >= since && e.ReinstatedAt <= settled).ToListAsync(ct);
        // Every invoice still owed (open or overdue), whatever its age: what the checks below ask about.
        var unsettled = await session.Query<Invoice>()
            .Where(i => i.Status == InvoiceStatus.Open || i.Status == InvoiceStatus.Overdue).ToListAsync(ct);
        var unpaid = unsettled.Select(i => i.Id).ToHashSet();
        foreach (var e in overdue.Where(e => unpaid.Contains(e.InvoiceId)))
        {
            emailsChecked++;
            if (!sent.Contains($"invoice-overdue-{e.InvoiceNumber}@cpsledger") && !pending.Mentions<SendOverdueEmail>(e.InvoiceId))
            {
                findings.Add(new ReconciliationFinding("overdue-email-sent", e.AccountId, e.InvoiceNumber,
                    $"The overdue reminder of invoice {e.InvoiceNumber} is not recorded as sent.", "SendOverdueEmail sent"));
                repairs.Add(new SendOverdueEmail(e.InvoiceId, e.SuspensionOn));
            }
        }

        foreach (var e in suspended.Where(e => unpaid.Contains(e.InvoiceId)))
        {
            emailsChecked++;
            if (!sent.Contains($"membership-suspended-{e.InvoiceNumber}@cpsledger") && !pending.Mentions<SendSuspensionEmail>(e.InvoiceId))
            {
                findings.Add(new ReconciliationFinding("suspension-email-sent", e.AccountId, e.InvoiceNumber,
                    $"The e-mail of the suspension for invoice {e.InvoiceNumber} is not recorded as sent.", "SendSuspensionEmail sent"));
                repairs.Add(new SendSuspensionEmail(e.InvoiceId, e.SuspendedAt));
            }
        }

        foreach (var e in reinstated)
        {
            emailsChecked++;
            if (!sent.Contains($"membership-reinstated-{e.InvoiceNumber}@cpsledger") && !pending.Mentions<SendReinstatementEmail>(e.InvoiceId))
            {
                findings.Add(new ReconciliationFinding("reinstatement-email-sent", e.AccountId, e.InvoiceNumber,
                    $"The e-mail of the reinstatement after invoice {e.InvoiceNumber} is not recorded as sent.", "SendReinstatementEmail sent"));
                repairs.Add(new SendReinstatementEmail(e.InvoiceId, e.ReinstatedAt));
            }
        }

        // A bank-transfer invoice still open past the day after its due date lost its overdue check (which makes it overdue, or
        // finds it paid); an overdue one (card or bank) past its grace period, whose membership the policy would suspend, lost its
        // suspension.
        foreach (var invoice in unsettled.Where(i => i.PaymentMethod == PaymentMethod.BankTransfer && i.Status == InvoiceStatus.Open
                                                         && !IssueInvoiceDecision.IsLeftToTermEnd(i.Kind, i.PaymentMethod, i.PeriodStart, i.IssuedOn)
                                                         && IssueInvoiceDecision.OverdueCheckAt(i.DueOn) <= settled
                                                         && !pending.Mentions<CheckInvoiceOverdue>(i.Id)))
        {
            findings.Add(new ReconciliationFinding("invoice-overdue-checked", invoice.AccountId, invoice.InvoiceNumber,
                $"Bank-transfer invoice {invoice.InvoiceNumber} was due on {invoice.DueOn:yyyy-MM-dd}, is unpaid and was not found overdue.",
                "CheckInvoiceOverdue sent"));
            repairs.Add(new CheckInvoiceOverdue(invoice.Id, IssueInvoiceDecision.OverdueCheckAt(invoice.DueOn)));
        }

        var overdueUnsuspended = unsettled.Where(i => i.OverdueAt + invoicing.Value.SuspensionGracePeriod <= settled
                                                          && !pending.Mentions<SuspendForNonPayment>(i.Id)).ToList();
        var standings = (await session.LoadManyAsync<AccountMembership>(ct,
            overdueUnsuspended.Select(i => MembershipStream.For(i.AccountId)).Distinct().ToArray())).ToDictionary(m => m.AccountId);
        foreach (var invoice in overdueUnsuspended.Where(i => OverdueDecision.Suspend(i, standings.GetValueOrDefault(i.AccountId), now) is not null))
        {
            findings.Add(new ReconciliationFinding("membership-suspended", invoice.AccountId, invoice.InvoiceNumber,
                $"Invoice {invoice.InvoiceNumber} has been overdue since {invoice.OverdueAt:yyyy-MM-dd}, past the grace period, and the " +
                "membership it is for is not suspended.", "SuspendForNonPayment sent"));
            repairs.Add(new SuspendForNonPayment(invoice.Id, invoice.AccountId, invoice.OverdueAt!.Value + invoicing.Value.SuspensionGracePeriod));
        }

        // A suspension rests on an unpaid invoice: its settlement lifts it, or moves it to another invoice overdue past its grace
        // period, in the settlement's transaction under the membership's lock. One still resting on a settled invoice (paid,
        // cancelled, or cancelled and replaced) is lifted or moved now, as that settlement should have.
        var suspendedMembers = await session.Query<AccountMembership>().Where(m => m.Suspension != null).ToListAsync(ct);
        var suspendedFor = (await session.LoadManyAsync<Invoice>(ct, suspendedMembers.Select(m => m.Suspension!.InvoiceId).Distinct().ToArray()))
            .ToDictionary(i => i.Id);
        foreach (var m in suspendedMembers)
        {
            if (suspendedFor.GetValueOrDefault(m.Suspension!.InvoiceId) is not { Status: InvoiceStatus.Paid or InvoiceStatus.Cancelled } invoice
                || pending.Mentions<SettleSuspension>(invoice.Id))
                continue;
            var settledAs = invoice.Status == InvoiceStatus.Paid ? "paid"
                : invoice.ReplacedBy is { } replacement ? $"cancelled and replaced by {replacement}"
                : $"cancelled by credit note {invoice.CreditNote?.CreditNoteNumber}";
            findings.Add(new ReconciliationFinding("suspension-lifted", m.AccountId, invoice.InvoiceNumber,
                $"Membership {m.Membership?.MembershipNumber} is suspended for invoice {invoice.InvoiceNumber}, which is {settledAs}.",
                "SettleSuspension sent"));
            repairs.Add(new SettleSuspension(invoice.Id));
        }

        var cardInvoices = unsettled.Where(i => i.PaymentMethod == PaymentMethod.Card && i.Status == InvoiceStatus.Open).ToList();
        // A declined attempt's e-mail, while it is the open invoice's latest with another to come (CardDeclinedEmails.Owed).
        foreach (var (invoice, attempt) in cardInvoices
                     .Select(i => (Invoice: i, Attempt: CardDeclinedEmails.Owed(i)))
                     .Where(x => x.Attempt is { } a && a.AttemptedAt >= since && a.AttemptedAt <= settled))
        {
            emailsChecked++;
            if (!sent.Contains(CardDeclinedEmails.MessageId(attempt!)) && !pending.Mentions<SendCardDeclinedEmail>(invoice.Id))
            {
                findings.Add(new ReconciliationFinding("card-declined-email-sent", invoice.AccountId, attempt!.IdempotencyKey,
                    $"The e-mail of the declined card charge {attempt.IdempotencyKey} is not recorded as sent.", "SendCardDeclinedEmail sent"));
                repairs.Add(new SendCardDeclinedEmail(invoice.Id, attempt.Attempt));
            }
        }
        foreach (var invoice in cardInvoices.Where(i => DueWork.StartOf(i.DueOn) <= settled && i.ChargeAttempts.Count == 0))
        {
            if (pending.Mentions(invoice.Id))
                continue;
            findings.Add(new ReconciliationFinding("card-invoice-charged", invoice.AccountId, invoice.InvoiceNumber,
                $"Card invoice {invoice.InvoiceNumber} was due on {invoice.DueOn:yyyy-MM-dd} and has no charge attempt.", "ChargeCard sent"));
            repairs.Add(new ChargeCard(invoice.Id, 1, DueWork.StartOf(invoice.DueOn)));
        }

        session.Events.Append(ReconciliationStream.Id, new LedgerReconciled(Guid.CreateVersion7(), now, terms.Count, candidates.Count,
            emailsChecked, cardInvoices.Count, findings));
        if (findings.Count > 0)
            logger.LogWarning("Reconciliation found {Count} broken promise(s) and dispatched {Repairs} repair(s): {Checks}", findings.Count,
                repairs.Count, string.Join(", ", findings.Select(f => $"{f.Check} {f.Subject}")));
        else
            logger.LogInformation("Reconciliation found every promise kept");
        return repairs;
    }

    /// <summary>Accounts whose products and adjustments add up to at least the threshold, with no invitation or membership.</summary>
    /// <summary>What is still in the inbox (waiting, scheduled or being retried): its consequences are on their way.</summary>
    private sealed class PendingMessages(IReadOnlyList<string> bodies, WaitingOffers offers)
    {
        /// <summary>The waiting renewal offers among them, each with the offer time it waits for.</summary>
        public WaitingOffers Offers => offers;

        private readonly string _all = string.Join('\n', bodies);

        public bool Mentions(Guid id) => _all.Contains(id.ToString(), StringComparison.OrdinalIgnoreCase);

        /// <summary>A waiting message of this type about this id (a term's offer and its end both mention the term).</summary>
        public bool Mentions<T>(Guid id) => bodies.Any(b => b.Contains(typeof(T).Name, StringComparison.Ordinal)
                                                             && b.Contains(id.ToString(), StringComparison.OrdinalIgnoreCase));

        public static async Task<PendingMessages> ReadAsync(IDocumentSession session, CancellationToken ct)
        {
            var schema = session.DocumentStore.Options.DatabaseSchemaName;
            // A stored envelope is binary (Wolverine's envelope format) around the message's JSON; its ids read as text, and the
            // message type is put in front so that a check can ask for one kind of message. A waiting renewal offer is read whole too,
            // with its time, for the offer time it waits for (until 2026-12-05 a read of the inbox of its own, after the memberships).
            var rows = await session.QueryAsync<PendingRow>(
                "select json_build_object('Text', message_type || ' ' || encode(body, 'escape'), " +
                "'Offer', case when message_type = ? then encode(body, 'base64') end, 'ExecutionTime', execution_time) " +
                $"from {schema}.wolverine_incoming_envelopes where status <> 'Handled'", ct, WaitingOffers.MessageType);
            return new PendingMessages([.. rows.Select(r => r.Text)],
                WaitingOffers.From(rows.Where(r => r.Offer is not null).Select(r => (r.Offer!, r.ExecutionTime))));
        }

        private sealed record PendingRow(string Text, byte[]? Offer, DateTimeOffset? ExecutionTime);
    }

    private static class SentEmails
    {
        public static async Task<HashSet<string>> ReadAsync(IDocumentSession session, CancellationToken ct) =>
        [
            .. await session.QueryAsync<string>(
                $"select message_id from {EmailDeliveries.QualifiedName(session.DocumentStore)} where sent_at is not null", ct),
        ];
    }
}

public static class ReconciliationEndpoints
{
    [WolverineGet("/api/operations/reconciliation", OperationId = "GetReconciliation")]
    [Authorize(Roles = $"{LedgerRoles.Support},{LedgerRoles.Auditor}")]
    [Tags("Operations")]
    [EndpointSummary("The latest reconciliation: when it ran and the broken promises it found (open until a run no longer finds them)")]
    [ProducesResponseType<ReconciliationReport>(StatusCodes.Status200OK)]
    public static async Task<ReconciliationReport> Get(IQuerySession session, IWolverineRuntime runtime, TimeProvider clock, CancellationToken ct)
    {
        var report = await session.LoadAsync<ReconciliationReport>(ReconciliationStream.Id, ct) ?? new ReconciliationReport { Id = ReconciliationStream.Id };
        return await ReconciliationRegistration.WithScheduleAsync(report, runtime, clock.GetUtcNow(), ct);
    }

    [WolverinePost("/api/operations/reconciliation/runs", OperationId = "RunReconciliation")]
    [Authorize(Roles = LedgerRoles.Support)]
    [Tags("Operations")]
    [EndpointSummary("Run the reconciliation now (support) and answer with what it found")]
    [ProducesResponseType<ReconciliationReport>(StatusCodes.Status200OK)]
    public static async Task<ReconciliationReport> Post(IMessageBus bus, IDocumentStore store, IWolverineRuntime runtime, TimeProvider clock,
        CancellationToken ct)
    {
        await bus.InvokeAsync(new RunReconciliation(clock.GetUtcNow()), ActorRoles.Inline(bus), ct);
        await using var session = store.QuerySession();
        var report = (await session.LoadAsync<ReconciliationReport>(ReconciliationStream.Id, ct))!;
        return await ReconciliationRegistration.WithScheduleAsync(report, runtime, clock.GetUtcNow(), ct);
    }
}

/// <summary>Broken promises found by the latest reconciliation make the service Degraded.</summary>
public sealed class ReconciliationHealthCheck(IDocumentStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await using var session = store.QuerySession();
        var report = await session.LoadAsync<ReconciliationReport>(ReconciliationStream.Id, cancellationToken);
        if (report is null)
            return HealthCheckResult.Healthy("Not run yet");
        return report.OpenFindings.Count == 0
            ? HealthCheckResult.Healthy($"Every promise kept at {report.LastRunAt:u}")
            : HealthCheckResult.Degraded(new StringBuilder($"{report.OpenFindings.Count} broken promise(s) found at {report.LastRunAt:u}: ")
                .AppendJoin(", ", report.OpenFindings.Take(5).Select(f => $"{f.Check} {f.Subject}")).ToString());
    }
}

public static class ReconciliationRegistration
{
    public static void AddReconciliation(this StoreOptions opts) =>
        opts.Projections.Snapshot<ReconciliationReport>(SnapshotLifecycle.Inline);

    public static void AddReconciliation(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ReconciliationOptions>()
            .Bind(builder.Configuration.GetSection(ReconciliationOptions.Section))
            .Validate(o => o.Lookback > TimeSpan.Zero && o.Grace >= TimeSpan.Zero, "Reconciliation:Lookback must be positive and Grace not negative.")
            .ValidateOnStart();
    }

    /// <summary>A recurring message: Wolverine's recurring-message agent runs on one node of the cluster, so each run happens once.</summary>
    public static void ScheduleReconciliation(this WolverineOptions opts, IConfiguration configuration)
    {
        // The recurring-message table is part of the schema whether or not the schedule is on, so every profile and the
        // migrations describe one schema.
        opts.Durability.EnableRecurringMessages = true;
        var o = configuration.GetSection(ReconciliationOptions.Section).Get<ReconciliationOptions>() ?? new ReconciliationOptions();
        if (o.Enabled)
            opts.Schedules.ScheduleRecurring(ScheduleName, o.Cron, at => new RunReconciliation(at));
    }

    public const string ScheduleName = "ledger-reconciliation";

    /// <summary>
    /// The schedule's next occurrence after <paramref name="now"/>, read from the schedule registered with Wolverine (what will run,
    /// not what the settings say now); null when none is registered.
    /// </summary>
    public static DateTimeOffset? NextRunAt(WolverineOptions options, DateTimeOffset now) =>
        options.Schedules.FindByName(ScheduleName)?.Schedule.NextOccurrence(now);

    /// <summary>
    /// The report with the schedule as it stands: paused (since when, and no next run) or its next occurrence after
    /// <paramref name="now"/>. The pause is read from the schedule's durable row, where Wolverine's control writes it.
    /// </summary>
    public static async Task<ReconciliationReport> WithScheduleAsync(ReconciliationReport report, IWolverineRuntime runtime,
        DateTimeOffset now, CancellationToken ct)
    {
        var next = NextRunAt(runtime.Options, now);
        var paused = next is null ? null : await PausedRowAsync(runtime, ct);
        report.SchedulePausedAt = paused?.PausedAt;
        report.NextRunAt = paused is null ? next : null;
        return report;
    }

    private static async Task<RecurringMessageRecord?> PausedRowAsync(IWolverineRuntime runtime, CancellationToken ct)
    {
        var control = runtime.Services.GetRequiredService<IRecurringScheduleControl>();
        var row = (await control.QueryAsync(ct)).FirstOrDefault(r => r.Name == ScheduleName);
        return row is { Paused: true } ? row : null;
    }
}
