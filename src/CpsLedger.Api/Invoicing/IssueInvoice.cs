using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using JasperFx;
using Marten;
using Marten.Exceptions;
using Microsoft.Extensions.Options;
using MimeKit;
using Wolverine;
using Wolverine.Runtime.Handlers;

namespace CpsLedger.Api.Invoicing;

/// <summary>Issue the invoice of a membership; due at <paramref name="IssueAt"/> (the service's clock).</summary>
/// <param name="Kind">A joining's term (the default, as before kinds), a renewal, or an upgrade.</param>
/// <param name="InvoiceId">The invoice's stream id when it is not the term's own (a renewal choice, an upgrade).</param>
/// <param name="UpgradeId">For an upgrade: the upgrade in the membership's tier history.</param>
public sealed record IssueInvoice(Guid AccountId, Guid MembershipId, DateTimeOffset IssueAt, InvoiceKind Kind = InvoiceKind.Membership,
    Guid? InvoiceId = null, Guid? UpgradeId = null);

/// <summary>E-mail the invoice (with its PDF) to the account's contact.</summary>
public sealed record SendInvoiceEmail(Guid InvoiceId);

/// <summary>
/// Scheduled work and the service's clock. Wolverine fires a scheduled message by wall-clock time (the envelope's
/// execution time in PostgreSQL); business time is the injected <see cref="TimeProvider"/>. So each scheduled message
/// carries its due time, is scheduled for the remaining delay on the service's clock, and its handler checks the due time
/// again: one that arrives early (a clock set back, tests that fast-forward) schedules itself again for what remains.
/// </summary>
public static class DueWork
{
    public static object At<T>(T message, DateTimeOffset dueAt, DateTimeOffset now) where T : class =>
        dueAt <= now ? message : message.DelayedFor(dueAt - now);

    /// <summary>Midnight UTC at the start of a day: "on the due date" means from the first moment of it.</summary>
    public static DateTimeOffset StartOf(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    /// <summary>Retries that can only succeed later: a racing writer on the same stream or invoice number counter.</summary>
    public static void RetryOnConflicts(HandlerChain chain) =>
        Platform.ErrorPolicy.RetryInPlace(chain,
            e => e is ConcurrencyException or DocumentAlreadyExistsException or ExistingStreamIdCollisionException or AggregateException,
            "a racing writer", TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500),
            TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
}

/// <summary>Joining asks for the invoice, issued after <see cref="InvoicingOptions.IssueDelay"/> by a durable scheduled message.</summary>
public static class ScheduleInvoiceHandler
{
    // The session makes the handler transactional although it writes no document: the scheduled IssueInvoice is then stored in
    // the same transaction that marks MembershipJoined handled (the outbox). Without it the cascade was stored after the handler
    // had succeeded, and a database crash at that moment lost the invoice (seen in the fault tests).
    public static object Handle(MembershipJoined message, IDocumentSession outbox, TimeProvider clock, IOptions<InvoicingOptions> options)
    {
        var now = clock.GetUtcNow();
        var issueAt = now + options.Value.IssueDelay;
        return DueWork.At(new IssueInvoice(message.AccountId, message.MembershipId, issueAt), issueAt, now);
    }
}

public static class IssueInvoiceDecision
{
    /// <summary>
    /// The invoice of a membership term on a given day: number, seller and payee, the buyer's billing details, the VAT decided
    /// by <see cref="VatRules.Decide"/> from the VAT table in force, lines, total, due date and creditor reference.
    /// </summary>
    /// <param name="kind">What the invoice is for; a renewal or an upgrade passes its <paramref name="charge"/>.</param>
    /// <param name="charge">The line charged; the term's annual fee when null.</param>
    /// <param name="dueOn">The due date when not the payment term from today (a renewal invoice issued ahead: due by the term end).</param>
    /// <param name="periodStart">The first day charged when not the term's (an upgrade: its effective day).</param>
    /// <param name="replaces">The cancelled invoice a corrected invoice replaces.</param>
    public static InvoiceIssued Decide(Guid invoiceId, string invoiceNumber, Guid accountId, AccountView account, MembershipTerm term,
        InvoicingOptions options, InvoiceSeller seller, PayeeAccount payee, VatRateTable vatTable, DateTimeOffset now,
        InvoiceKind kind = InvoiceKind.Membership, InvoiceCharge? charge = null, DateOnly? dueOn = null, DateOnly? periodStart = null,
        ReplacedInvoice? replaces = null)
    {
        var issuedOn = DateOnly.FromDateTime(now.UtcDateTime);
        var buyerCountry = account.BillingAddress?.Country ?? account.Country;
        var vatIdCountry = account.VatId is { Length: > 2 } vatId ? VatIds.CountryOfPrefix(vatId[..2]) : null;
        var vat = VatRules.Decide(seller.Address.Country, buyerCountry, vatIdCountry, vatTable, issuedOn);
        var amounts = InvoiceCalculation.Calculate(charge ?? TermCharge(null, term, InvoiceKind.Membership),
            term.PaymentMethod, buyerCountry, term.Currency, options, vat);
        var due = dueOn is { } d ? (d < issuedOn ? issuedOn : d) : issuedOn.AddDays(options.PaymentTermDays);
        return new InvoiceIssued(invoiceId, invoiceNumber, accountId, term.MembershipId, term.MembershipNumber, account.CompanyName,
            buyerCountry, term.PaymentMethod, term.Currency, amounts.Lines, amounts.Subtotal, amounts.VatRate, amounts.Vat, amounts.Total,
            issuedOn, due, now,
            Seller: seller,
            Buyer: new InvoiceBuyer(account.CompanyName, account.BillingAddress, buyerCountry, account.VatId, account.ContactEmail),
            Payee: payee,
            VatDecision: vat,
            VatTableVersion: vatTable.TableVersion,
            CreditorReference: CreditorReferences.For(invoiceNumber),
            PeriodStart: periodStart ?? term.StartsOn,
            PeriodEnd: term.EndsOn,
            Kind: kind == InvoiceKind.Membership ? null : kind,
            Replaces: replaces);
    }

    /// <summary>
    /// What follows an invoice: a card is charged on the due date; a bank transfer is checked the day after it. A renewal invoice
    /// issued ahead of its term (bank transfer) is not: the term end decides (paid: renewed; unpaid: lapsed and cancelled).
    /// </summary>
    public static IReadOnlyList<object> FollowUp(InvoiceIssued issued, DateTimeOffset now) =>
        IsLeftToTermEnd(issued.Kind, issued.PaymentMethod, issued.PeriodStart, issued.IssuedOn) ? []
        : issued.PaymentMethod == PaymentMethod.Card
            ? [DueWork.At(new ChargeCard(issued.InvoiceId, 1, DueWork.StartOf(issued.DueOn)), DueWork.StartOf(issued.DueOn), now)]
            : [DueWork.At(new CheckInvoiceOverdue(issued.InvoiceId, OverdueCheckAt(issued.DueOn)), OverdueCheckAt(issued.DueOn), now)];

    /// <summary>
    /// The annual fee a term's own invoice (joining or renewal) charges: the tier the term began on, not the one it holds when the
    /// invoice is issued. An upgrade made meanwhile is invoiced on its own, pro rata; charging the new tier's fee here as well
    /// would charge the difference twice.
    /// </summary>
    public static InvoiceCharge TermCharge(AccountMembership? membership, MembershipTerm term, InvoiceKind kind)
    {
        var began = membership?.TierHistory.FirstOrDefault(p => p.MembershipId == term.MembershipId && p.Change != TierChange.Upgraded);
        var (tierName, fee) = began is null ? (term.TierName, term.AnnualFee) : (began.TierName, began.AnnualFee);
        return new InvoiceCharge(kind == InvoiceKind.Renewal ? $"CPS {tierName} membership renewal, annual fee" : $"CPS {tierName} membership, annual fee",
            fee);
    }

    /// <summary>A bank-transfer renewal invoiced ahead of its term: no overdue check follows it, the term end decides.</summary>
    public static bool IsLeftToTermEnd(InvoiceKind? kind, PaymentMethod method, DateOnly? periodStart, DateOnly issuedOn) =>
        kind == InvoiceKind.Renewal && method == PaymentMethod.BankTransfer && periodStart > issuedOn;

    /// <summary>When a bank-transfer invoice still open is checked for being overdue: the day after its due date.</summary>
    public static DateTimeOffset OverdueCheckAt(DateOnly dueOn) => DueWork.StartOf(dueOn.AddDays(1));

    /// <summary>The term an invoice is for: the membership in force, a past one, or the renewal proposed (issued ahead).</summary>
    public static MembershipTerm? TermOf(AccountMembership? membership, Guid membershipId) =>
        membership?.Membership is { } current && current.MembershipId == membershipId ? current
        : membership?.PastMemberships.FirstOrDefault(t => t.MembershipId == membershipId)
          ?? (membership?.Renewal?.Proposed is { } proposed && proposed.MembershipId == membershipId ? proposed : null);
}

[Platform.SystemActor("invoicing")]
public static class IssueInvoiceHandler
{
    // Two invoices issued at once race on the year's counter (optimistic concurrency) and the number claim (primary key):
    // the loser's transaction rolls back whole, counter included, and its retry takes the next number. No gaps, no twins.
    public static void Configure(HandlerChain chain) => DueWork.RetryOnConflicts(chain);

    public static async Task<OutgoingMessages> Handle(IssueInvoice message, IDocumentSession session, TimeProvider clock,
        IOptions<InvoicingOptions> options, IOptions<SellerOptions> seller, IOptions<MembershipYearOptions> membershipYear, InvoiceIssueTestSeam seam,
        CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (now < message.IssueAt)
            return [DueWork.At(message, message.IssueAt, now)];

        // The membership's lock first (MembershipStream): a cancellation of the term either committed before this reads the membership,
        // or waits for this invoice and cancels it too. Read without it, support's cancellation could miss an invoice issued meanwhile.
        var membership = (await session.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(message.AccountId), ct)).Aggregate;
        var invoiceId = message.InvoiceId ?? InvoiceStream.ForMembership(message.MembershipId);
        // Issued already (a redelivery, or a retry after the commit whose acknowledgement was lost).
        if (await session.Events.FetchStreamStateAsync(invoiceId, ct) is not null)
            return [];

        var term = IssueInvoiceDecision.TermOf(membership, message.MembershipId);
        // A renewal invoice issued ahead whose choice was replaced or stopped meanwhile, or whose term never began: not issued.
        var ahead = term is not null && membership?.Renewal?.Proposed?.MembershipId == term.MembershipId;
        if (message.Kind == InvoiceKind.Renewal && (term is null || (ahead && membership!.Renewal!.InvoiceId != invoiceId)))
            return [];
        if (term is null)
            throw new InvalidOperationException($"Membership {message.MembershipId} of account {message.AccountId} is missing.");
        // Cancelled by support before its invoice was issued (it ended before its last day): nothing is invoiced for it any more.
        if (term.EndedOn is { } endedOn && endedOn < term.EndsOn)
            return [];
        var (charge, dueOn, periodStart) = message.Kind switch
        {
            InvoiceKind.Renewal => (IssueInvoiceDecision.TermCharge(membership, term, InvoiceKind.Renewal),
                ahead ? term.StartsOn.AddDays(-1 - membershipYear.Value.RenewalInvoiceDueDaysBeforeTermEnd) : (DateOnly?)null, (DateOnly?)null),
            InvoiceKind.Upgrade when membership!.TierHistory.FirstOrDefault(t => t.Upgrade?.UpgradeId == message.UpgradeId) is { Upgrade: { } up } period =>
                (new InvoiceCharge($"CPS upgrade {up.FromTierName} to {period.TierName}: {up.DaysRemaining} of {up.DaysInTerm} days", up.Amount),
                    null, period.From),
            InvoiceKind.Upgrade => throw new InvalidOperationException($"Upgrade {message.UpgradeId} of account {message.AccountId} is missing."),
            _ => (IssueInvoiceDecision.TermCharge(membership, term, InvoiceKind.Membership), (DateOnly?)null, (DateOnly?)null),
        };
        var account = await session.LoadAsync<AccountView>(message.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {message.AccountId} is missing.");

        var vatTable = await session.LoadAsync<VatRateTable>(VatTableStream.Id, ct)
                       ?? throw new InvalidOperationException("The VAT rate table is missing (it is loaded on first start).");

        var issued = await InvoiceNumberSeries.IssueAsync(session, now, number => IssueInvoiceDecision.Decide(invoiceId, number, message.AccountId,
            account, term, options.Value, seller.Value.ToInvoiceSeller(), seller.Value.ToPayeeAccount(), vatTable, now, message.Kind, charge, dueOn,
            periodStart), seam, ct);
        return InvoiceNumberSeries.WhatFollows(issued, now);
    }
}

/// <summary>
/// Test seam, one per host (<see cref="Platform.TestSeams"/>: tests set it through InternalsVisibleTo; nothing else does): a step
/// between an invoice's issue, decided on the membership read under its lock, and its commit, given the issuing session, so that a test
/// can cancel the membership meanwhile.
/// </summary>
public sealed class InvoiceIssueTestSeam
{
    internal Func<IDocumentSession, Task>? BeforeIssueCommits { get; set; }
}

/// <summary>
/// The year's gapless invoice number series, for every invoice the ledger issues (a term's, a renewal's, an upgrade's, a corrected one).
/// </summary>
public static class InvoiceNumberSeries
{
    /// <summary>
    /// Takes the year's next number, lets <paramref name="decide"/> make the invoice with it, and records counter, number claim and the
    /// invoice's stream in the caller's session: they commit together or not at all. A racing issue conflicts on the counter (optimistic
    /// concurrency) or the claim (primary key) and its whole transaction rolls back, so numbers have no gaps and no twins.
    /// </summary>
    public static async Task<InvoiceIssued> IssueAsync(IDocumentSession session, DateTimeOffset now, Func<string, InvoiceIssued> decide,
        InvoiceIssueTestSeam seam, CancellationToken ct)
    {
        var year = now.UtcDateTime.Year;
        var counter = await session.LoadAsync<InvoiceNumberCounter>(year.ToString("D4"), ct);
        var sequence = (counter?.Last ?? 0) + 1;
        var issued = decide(InvoiceNumbers.Format(year, sequence));

        if (counter is null)
            session.Insert(new InvoiceNumberCounter { Id = year.ToString("D4"), Last = sequence });
        else
        {
            counter.Last = sequence;
            session.Update(counter);
        }

        session.Insert(new InvoiceNumberClaim { Id = issued.InvoiceNumber, InvoiceId = issued.InvoiceId, AccountId = issued.AccountId });
        session.Events.StartStream<Invoice>(issued.InvoiceId, issued);
        if (seam.BeforeIssueCommits is { } beforeCommit)
            await beforeCommit(session);
        return issued;
    }

    /// <summary>What follows any invoice, stored in its transaction (the outbox): its e-mail, and the card charge or overdue check.</summary>
    public static OutgoingMessages WhatFollows(InvoiceIssued issued, DateTimeOffset now) =>
        [new SendInvoiceEmail(issued.InvoiceId), .. IssueInvoiceDecision.FollowUp(issued, now)];
}

public static class SendInvoiceEmailHandler
{
    public static async Task Handle(SendInvoiceEmail message, IQuerySession session, Platform.MailDelivery mail, IOptions<SellerOptions> seller,
        ILogger<SendInvoiceEmail> logger, CancellationToken ct)
    {
        var invoice = await session.LoadAsync<Invoice>(message.InvoiceId, ct)
                      ?? throw new InvalidOperationException($"Invoice {message.InvoiceId} is missing.");
        var account = await session.LoadAsync<AccountView>(invoice.AccountId, ct)
                      ?? throw new InvalidOperationException($"Account {invoice.AccountId} is missing.");
        var payee = invoice.PaysInto(seller.Value);
        // The e-mail is written once, so it may say whether a card is on file now (the PDF it attaches says what happens either way).
        var cardOnFile = invoice.PaymentMethod == PaymentMethod.Card
            ? await session.LoadAsync<PaymentCard>(PaymentCardStream.For(invoice.AccountId), ct) is not null
            : (bool?)null;
        await mail.SendAsync(InvoiceEmails.Invoice(account, invoice, InvoicePdf.Render(invoice, payee, logger), payee, cardOnFile), ct);
    }
}

public static class InvoiceEmails
{
    /// <summary>
    /// The invoice e-mail: the figures and payment instructions worded as on the PDF (<see cref="InvoiceWording"/>), the PDF attached;
    /// for a card invoice, the instructions say whether a card is on file (<paramref name="cardOnFile"/>) as it is written.
    /// </summary>
    public static MimeMessage Invoice(AccountView account, Invoice invoice, byte[] pdf, PayeeAccount payee, bool? cardOnFile)
    {
        using var culture = MemberEmails.InvariantCulture();
        var figures = Figures(invoice.Currency, [
            .. invoice.Lines.Select(l => (l.Description, l.Amount)),
            ("Subtotal", invoice.Subtotal), (InvoiceWording.VatLabel(invoice), invoice.Vat), ("Total", invoice.Total),
        ]);
        var text = $"""
                    Dear {account.CompanyName},

                    {Opening(invoice)}{(InvoiceWording.Replacement(invoice) is { } replacement ? $"\n{replacement}" : "")}

                      Membership number: {invoice.MembershipNumber}{Period(invoice)}
                      Invoice date:      {invoice.IssuedOn:yyyy-MM-dd}
                      Due date:          {invoice.DueOn:yyyy-MM-dd}

                    {figures}
                    {(InvoiceWording.VatMention(invoice) is { } mention ? $"\n{mention}\n" : "")}
                    {string.Join("\n", InvoiceWording.PaymentInstructions(invoice, payee, cardOnFile))}

                    {InvoiceWording.SellerLine(invoice)}
                    """;
        // One invoice, one Message-Id: a resend after a lost acknowledgement is recognisably the same e-mail.
        return MemberEmails.To(account, $"invoice-{invoice.InvoiceNumber}@cpsledger", $"Invoice {invoice.InvoiceNumber} for your CPS membership",
            MemberEmails.WithPdf(text, $"{invoice.InvoiceNumber}.pdf", pdf));
    }

    /// <summary>
    /// The credit note e-mail: which invoice it cancels and why, the figures credited and what becomes of money received, worded as on
    /// the credit note's PDF (<see cref="InvoiceWording"/>), the PDF attached.
    /// </summary>
    public static MimeMessage CreditNote(AccountView account, Invoice invoice, CreditNoteIssued note, byte[] pdf)
    {
        using var culture = MemberEmails.InvariantCulture();
        var figures = Figures(note.Currency, [
            .. note.Lines.Select(l => (l.Description, l.Amount)),
            ("Subtotal", note.Subtotal), (InvoiceWording.VatLabel(invoice), note.VatAmount), ("Total credited", note.Total),
        ]);
        // The refund itself is made outside the ledger (docs/invoicing.md), so the e-mail promises it and no more.
        var refund = note.RefundDue > 0 ? "\nThe refund is made separately from this credit note." : "";
        var text = $"""
                    Dear {account.CompanyName},

                    Invoice {note.InvoiceNumber} of {note.InvoiceIssuedOn:yyyy-MM-dd} is cancelled by credit note {note.CreditNoteNumber}, attached.
                    Reason: {note.Reason}

                      Credit note number: {note.CreditNoteNumber}
                      Credit note date:   {note.IssuedOn:yyyy-MM-dd}
                      Membership number:  {invoice.MembershipNumber}

                    {figures}

                    {string.Join("\n", InvoiceWording.CreditNoteSettlement(invoice, note))}{refund}

                    {InvoiceWording.SellerLine(invoice)}
                    """;
        return MemberEmails.To(account, CreditNoteEmails.MessageId(note.CreditNoteNumber),
            $"Credit note {note.CreditNoteNumber} for your CPS membership", MemberEmails.WithPdf(text, $"{note.CreditNoteNumber}.pdf", pdf));
    }

    // The term (or its rest) the invoice is for, as the PDF says it; an invoice whose event records no period says none.
    private static string Period(Invoice invoice) => invoice is { PeriodStart: { } start, PeriodEnd: { } end }
        ? $"\n  Period:            {start:yyyy-MM-dd} to {end:yyyy-MM-dd}"
        : "";

    /// <summary>The longest line of the figures: a phone's window shows about 47 characters of a fixed font at 400 pixels.</summary>
    public const int FiguresLineLength = 47;

    /// <summary>
    /// The figures as a table, each amount ending in one column: the labels as wide as the longest, the amounts as the widest. Padded
    /// to at least 44 and 12 characters (until 2026-12-07), every line was 63 long: a phone's window, about 47 characters of a fixed
    /// font at 400 pixels, put each amount on a line of its own. A label too long for a line of <see cref="FiguresLineLength"/> with its
    /// amount (a renewal's "CPS Gold membership renewal, annual fee", an upgrade's days) is written on a line of its own, its amount
    /// below it in the column: beside it, the amount wrapped to the left margin at 400 pixels.
    /// </summary>
    private static string Figures(string currency, IReadOnlyList<(string Label, decimal Amount)> rows)
    {
        var amounts = rows.Max(r => InvoiceWording.Money(r.Amount).Length);
        var room = FiguresLineLength - 2 - 1 - amounts - 1 - currency.Length;
        var width = rows.Select(r => r.Label.Length).Where(length => length <= room).DefaultIfEmpty(0).Max();
        return string.Join("\n", rows.Select(r => r.Label.Length <= width
            ? $"  {r.Label.PadRight(width)} {InvoiceWording.Money(r.Amount).PadLeft(amounts)} {currency}"
            : $"  {r.Label}\n  {new string(' ', width)} {InvoiceWording.Money(r.Amount).PadLeft(amounts)} {currency}"));
    }

    private static string Opening(Invoice invoice) => invoice.Kind switch
    {
        // Finance's correction of a cancelled invoice, perhaps weeks after the join: not thanked for joining again. The line after
        // this one names the invoice it replaces (InvoiceWording.Replacement).
        _ when invoice.Replaces is not null => $"Your corrected invoice {invoice.InvoiceNumber} for your CPS membership is attached.",
        // Issued before its term starts (a bank-transfer renewal, e-mailed with the offer): nothing is renewed yet, payment renews it.
        InvoiceKind.Renewal when invoice.PeriodStart is { } start && invoice.IssuedOn < start =>
            $"Invoice {invoice.InvoiceNumber} for the renewal of your CPS membership for {start:yyyy-MM-dd} to {invoice.PeriodEnd:yyyy-MM-dd} is attached.\n" +
            $"Please pay it by {invoice.DueOn:yyyy-MM-dd}" + (invoice.DueOn == start.AddDays(-1) ? ", the last day of your current term" : "") +
            ": your membership renews once it is paid.",
        InvoiceKind.Renewal => $"Thank you for renewing your CPS membership for {invoice.PeriodStart:yyyy-MM-dd} to {invoice.PeriodEnd:yyyy-MM-dd}. " +
                               $"Your invoice {invoice.InvoiceNumber} is attached.",
        InvoiceKind.Upgrade => $"Thank you for upgrading your CPS membership. Your invoice {invoice.InvoiceNumber} for the rest of the term is attached.",
        _ => $"Thank you for joining Canon Professional Services. Your invoice {invoice.InvoiceNumber} is attached.",
    };

    public static MimeMessage Overdue(AccountView account, Invoice invoice, DateOnly suspensionOn, PayeeAccount payee)
    {
        using var culture = MemberEmails.InvariantCulture();
        // The last whole day before the suspension. A grace shorter than a day (Invoicing:SuspensionGracePeriod allows any) leaves
        // none: the day before the suspension's was a date already past when the e-mail went (seen in a QA drill with 40 s).
        var payBy = suspensionOn.AddDays(-1);
        var overdueOn = invoice.OverdueAt is { } at ? DateOnly.FromDateTime(at.UtcDateTime) : payBy;
        var ask = payBy >= overdueOn ? $"Please pay by {payBy:yyyy-MM-dd}." : "Please pay now.";
        // What will happen, not what is decided: the suspension falls only on an invoice still not paid in full then (a part paid does
        // not stop it: OverdueDecision.Suspend), and a later payment in full lifts it, as the suspension e-mail says.
        return MemberEmails.Plain(account, $"invoice-overdue-{invoice.InvoiceNumber}@cpsledger", $"Invoice {invoice.InvoiceNumber} is overdue", $"""
                        Dear {account.CompanyName},

                        Invoice {invoice.InvoiceNumber} was due on {invoice.DueOn:yyyy-MM-dd} and {InvoiceWording.Money(invoice.Outstanding)} {invoice.Currency} is still open.
                        {(invoice.PaymentMethod == PaymentMethod.Card ? "We could not charge your card. Please record a valid card in the CPS portal or pay by bank transfer.\n" : "")}
                        {ask} Unless the invoice is paid in full, your CPS membership ({invoice.MembershipNumber}) will be suspended on {suspensionOn:yyyy-MM-dd}; paying in full later lifts the suspension.

                        To pay by bank transfer, quote the reference below:
                        {string.Join("\n", InvoiceWording.TransferDetails(invoice, payee))}

                        Canon Professional Services
                        """);
    }

    /// <summary>
    /// A declined (or failed) card attempt with another to come: the invoice e-mail said the card would be charged, so the member hears
    /// at once what was declined, when the card is tried again, and how to record another card or transfer instead.
    /// </summary>
    /// <param name="card">The card the attempt charged (null: not known, or none; the attempt's reason says so).</param>
    public static MimeMessage CardDeclined(AccountView account, Invoice invoice, ChargeAttempt attempt, ChargedCard? card, PayeeAccount payee)
    {
        using var culture = MemberEmails.InvariantCulture();
        // The amount first: "charge your card (Visa ending 0002) 200.00 EUR" read as if the amount were part of the card's name.
        var which = card is { } charged ? $"your card ({charged.Brand} ending {charged.Last4})" : "your card";
        var why = attempt.Reason ?? (attempt.Outcome == ChargeOutcome.Error ? "the payment could not be processed" : "declined");
        return MemberEmails.Plain(account, CardDeclinedEmails.MessageId(attempt), $"Your card was declined for invoice {invoice.InvoiceNumber}", $"""
                        Dear {account.CompanyName},

                        We could not charge {InvoiceWording.Money(attempt.Amount)} {invoice.Currency} to {which} for invoice {invoice.InvoiceNumber} on {attempt.AttemptedAt:yyyy-MM-dd}: {why}.

                        We try again on {attempt.NextAttemptOn:yyyy-MM-dd}. Before then you can record another card in the CPS portal (it is charged on that day), or pay by bank transfer, quoting the reference below:
                        {string.Join("\n", InvoiceWording.TransferDetails(invoice, payee))}

                        If the card cannot be charged by the last attempt, the invoice becomes overdue and your CPS membership ({invoice.MembershipNumber}) may be suspended.

                        Canon Professional Services
                        """);
    }

    public static MimeMessage Suspended(AccountView account, Invoice invoice, DateTimeOffset suspendedAt, PayeeAccount payee)
    {
        using var culture = MemberEmails.InvariantCulture();
        return MemberEmails.Plain(account, $"membership-suspended-{invoice.InvoiceNumber}@cpsledger", $"Your CPS membership {invoice.MembershipNumber} is suspended", $"""
                        Dear {account.CompanyName},

                        Invoice {invoice.InvoiceNumber} was due on {invoice.DueOn:yyyy-MM-dd} and {InvoiceWording.Money(invoice.Outstanding)} {invoice.Currency} is still open, so your CPS membership ({invoice.MembershipNumber}) is suspended from {suspendedAt:yyyy-MM-dd}.

                        The membership is active again as soon as the invoice is paid in full. {(invoice.PaymentMethod == PaymentMethod.Card ? "Record a valid card in the CPS portal (it is charged at once), or pay" : "Pay")} the open amount by bank transfer, quoting the reference below:
                        {string.Join("\n", InvoiceWording.TransferDetails(invoice, payee))}

                        Canon Professional Services
                        """);
    }

    public static MimeMessage Reinstated(AccountView account, Invoice invoice, DateTimeOffset reinstatedAt)
    {
        using var culture = MemberEmails.InvariantCulture();
        return MemberEmails.Plain(account, $"membership-reinstated-{invoice.InvoiceNumber}@cpsledger", $"Your CPS membership {invoice.MembershipNumber} is active again", $"""
                        Dear {account.CompanyName},

                        {(invoice.Status == InvoiceStatus.Cancelled ? $"Invoice {invoice.InvoiceNumber} is cancelled (credit note {invoice.CreditNote?.CreditNoteNumber}), nothing is owed on it," : $"Thank you: invoice {invoice.InvoiceNumber} is paid in full,")} and your CPS membership ({invoice.MembershipNumber}) is active again from {reinstatedAt:yyyy-MM-dd}.

                        Canon Professional Services
                        """);
    }

}
