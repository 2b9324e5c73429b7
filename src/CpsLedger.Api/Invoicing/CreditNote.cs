using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using FluentValidation;
using JasperFx.Events;
using Marten;
using Marten.Schema;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Http.HttpResults;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace CpsLedger.Api.Invoicing;

/// <summary>Finance cancelled the invoice (issued in error): nothing is owed on it any more. A credit note says so.</summary>
public sealed record InvoiceCancelled(Guid InvoiceId, string InvoiceNumber, Guid AccountId, string CreditNoteNumber, string Reason,
    DateTimeOffset CancelledAt);

/// <summary>
/// The credit note cancelling an invoice in full: the invoice's lines, VAT and total, credited, under its own number series.
/// Issued now, so it carries the seller's details now; the buyer and the VAT decision are the invoice's.
/// </summary>
/// <param name="RefundDue">What had been received on the invoice and not refunded already, to be refunded, in <c>currency</c>; 0 when
/// none is.</param>
/// <param name="InvoiceId">The cancelled invoice's id.</param>
/// <param name="CreditNoteNumber">The credit note's number, from its own series, e.g. "CN-2026-000001".</param>
/// <param name="InvoiceNumber">The number of the invoice it cancels.</param>
/// <param name="InvoiceIssuedOn">The day that invoice was issued.</param>
/// <param name="AccountId">The business account.</param>
/// <param name="Reason">Why the invoice was cancelled, as printed on the credit note.</param>
/// <param name="Seller">The seller's details when the credit note was issued.</param>
/// <param name="Buyer">The buyer as the invoice recorded it.</param>
/// <param name="Currency">ISO 4217 code of every amount, the invoice's.</param>
/// <param name="Lines">The invoice's lines, credited, amounts before VAT.</param>
/// <param name="Subtotal">The lines' total before VAT, credited, in <c>currency</c>.</param>
/// <param name="Vat">How the invoice's VAT was decided; null for invoices issued before it was recorded.</param>
/// <param name="VatRate">The invoice's VAT rate, as a fraction (0.24 is 24 %).</param>
/// <param name="VatAmount">The VAT credited, in <c>currency</c>.</param>
/// <param name="Total">The amount credited: the invoice's total, in <c>currency</c>.</param>
/// <param name="IssuedOn">The credit note's date.</param>
/// <param name="IssuedAt">When it was issued, UTC.</param>
public sealed record CreditNoteIssued(
    Guid InvoiceId,
    string CreditNoteNumber,
    string InvoiceNumber,
    DateOnly InvoiceIssuedOn,
    Guid AccountId,
    string Reason,
    InvoiceSeller Seller,
    InvoiceBuyer Buyer,
    string Currency,
    IReadOnlyList<InvoiceLine> Lines,
    decimal Subtotal,
    VatTreatment? Vat,
    decimal VatRate,
    decimal VatAmount,
    decimal Total,
    decimal RefundDue,
    DateOnly IssuedOn,
    DateTimeOffset IssuedAt);

/// <summary>E-mail the member the credit note that cancelled this invoice (its PDF attached).</summary>
public sealed record SendCreditNoteEmail(Guid InvoiceId);

public static class CreditNoteEmails
{
    /// <summary>
    /// A credit note, once committed, asks for its e-mail (durably, via the outbox), as a suspension and a reinstatement do: forwarded
    /// from the event, so finance's cancellation and every cancellation the ledger makes itself (a lapse, support's cancellation of
    /// the membership, a replaced renewal choice) tell the member alike. Sent once per credit note by its Message-Id (MailDelivery).
    /// </summary>
    public static void ForwardCreditNotesToEmails(this MartenIntegration integration) =>
        integration.SubscribeToEvent<CreditNoteIssued>().TransformedTo(e => new SendCreditNoteEmail(e.Data.InvoiceId));

    /// <summary>One credit note, one Message-Id, as for an invoice: a resend is recognisably the same e-mail and is not sent twice.</summary>
    public static string MessageId(string creditNoteNumber) => $"credit-note-{creditNoteNumber}@cpsledger";
}

public static class SendCreditNoteEmailHandler
{
    public static async Task Handle(SendCreditNoteEmail message, IQuerySession session, MailDelivery mail, IOptions<SellerOptions> seller,
        ILogger<SendCreditNoteEmail> logger, CancellationToken ct)
    {
        var (invoice, account) = await InvoiceAndAccount.LoadAsync(session, message.InvoiceId, ct);
        var note = invoice.CreditNote ?? throw new InvalidOperationException($"Invoice {invoice.InvoiceNumber} has no credit note.");
        // The PDF the member downloads (GET .../credit-notes/{number}/pdf): older invoices recorded no payee, the one configured now.
        var pdf = InvoicePdf.RenderCreditNote(invoice, note, invoice.PaysInto(seller.Value), logger);
        await mail.SendAsync(InvoiceEmails.CreditNote(account, invoice, note, pdf), ct);
    }
}

/// <summary>Credit note numbers "CN-2026-000001": gapless per calendar year of the issue date, like invoice numbers.</summary>
public static class CreditNoteNumbers
{
    public static string Format(int year, int sequence) => $"CN-{year:D4}-{sequence:D6}";
}

/// <summary>The last credit note number of a year (id: the year); updated in the cancelling transaction, so there are no gaps.</summary>
[UseOptimisticConcurrency]
public sealed class CreditNoteNumberCounter
{
    public string Id { get; set; } = "";
    public int Last { get; set; }
}

/// <summary>The credit note number's claim: the database refuses a number issued twice; the lookup by number.</summary>
[ConflictDescription("Credit note number already issued", "The credit note number could not be assigned. Please try again.")]
public sealed class CreditNoteNumberClaim
{
    public string Id { get; set; } = "";
    public Guid InvoiceId { get; set; }
    public Guid AccountId { get; set; }
}

/// <summary>Cancel an invoice issued in error (finance): a credit note is issued for it in full.</summary>
/// <param name="Reason">Why, for the buyer (printed on the credit note) and the audit trail.</param>
public sealed record CancelInvoice(string Reason);

public sealed class CancelInvoiceValidator : AbstractValidator<CancelInvoice>
{
    public CancelInvoiceValidator() =>
        RuleFor(x => x.Reason).ValidReason(Support.SupportReason.MaxPrintedReasonLength).PrintableOnInvoices(lineBreaks: true); // printed on the credit note
}

/// <summary>What finance sees after cancelling.</summary>
/// <param name="InvoiceNumber">The cancelled invoice's number.</param>
/// <param name="CreditNoteNumber">The number of the credit note that cancels it.</param>
/// <param name="Total">The amount credited (the invoice's total), in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code.</param>
/// <param name="RefundDue">What was received on the invoice and is now to be refunded, in <c>currency</c>; 0 when nothing was
/// paid.</param>
/// <param name="MembershipReinstated">True when the cancelled invoice was what kept the membership suspended, and it is active
/// again.</param>
public sealed record InvoiceCancellation(string InvoiceNumber, string CreditNoteNumber, decimal Total, string Currency, decimal RefundDue,
    bool MembershipReinstated);

public static class CancelInvoiceDecision
{
    /// <summary>An invoice is cancelled once: a second cancellation names the credit note that did it.</summary>
    public static ProblemDetails Validate(Invoice invoice) => invoice.Status == InvoiceStatus.Cancelled
        ? Problems.Conflict("Invoice already cancelled",
            $"Invoice {invoice.InvoiceNumber} was cancelled by credit note {invoice.CreditNote?.CreditNoteNumber}.")
        : WolverineContinue.NoProblems;

    /// <summary>
    /// The cancellation and its credit note. The credit note mirrors the invoice's figures; money already received becomes a
    /// refund due, less any overpayment refunded already. Older invoices without recorded buyer details are credited to the company and country they were issued to.
    /// </summary>
    public static IReadOnlyList<object> Decide(Invoice invoice, CancelInvoice command, string creditNoteNumber, InvoiceSeller seller,
        AccountView account, DateTimeOffset now)
    {
        var reason = command.Reason.Trim();
        var buyer = invoice.Buyer ?? new InvoiceBuyer(invoice.CompanyName, null, invoice.Country, null, account.ContactEmail);
        return
        [
            new InvoiceCancelled(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, creditNoteNumber, reason, now),
            new CreditNoteIssued(invoice.Id, creditNoteNumber, invoice.InvoiceNumber, invoice.IssuedOn, invoice.AccountId, reason, seller, buyer,
                invoice.Currency, invoice.Lines, invoice.Subtotal, invoice.VatTreatment, invoice.VatRate, invoice.Vat, invoice.Total,
                invoice.TotalReceived - invoice.Refunded, DateOnly.FromDateTime(now.UtcDateTime), now),
        ];
    }
}

/// <summary>
/// What cancelling needs besides the invoice: its claim (null: not this account's), the account, the year's credit note counter, and the
/// account's membership stream, locked (null without a claim).
/// </summary>
public sealed record CancellationContext(InvoiceNumberClaim? Claim, AccountView Account, CreditNoteNumberCounter? Counter, int Year,
    IEventStream<AccountMembership>? Membership = null);

public static class CancelInvoiceEndpoint
{
    // The membership's lock before the invoice is read (the workflow fetches it after this), as every settlement: a card charge or a
    // transfer holding it commits first and the credit note reads the payment (a refund due), instead of failing the version check on
    // an invoice read open (409 "Concurrent change", and the refund due only when asked again).
    public static async Task<CancellationContext> LoadAsync(Guid accountId, string invoiceNumber, IDocumentSession session, TimeProvider clock,
        CancellationToken ct)
    {
        var claim = await session.LoadAsync<InvoiceNumberClaim>(invoiceNumber.Trim().ToUpperInvariant(), ct);
        var account = await session.LoadAsync<AccountView>(accountId, ct) ?? throw new AccountNotFoundException(accountId);
        var year = clock.GetUtcNow().UtcDateTime.Year;
        if (claim?.AccountId != accountId)
            return new CancellationContext(null, account, null, year);
        var membership = await session.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(accountId), ct);
        return new CancellationContext(claim, account, await session.LoadAsync<CreditNoteNumberCounter>(year.ToString("D4"), ct), year, membership);
    }

    public static ProblemDetails Before(CancellationContext context, string invoiceNumber) =>
        context.Claim is null ? InvoiceQueries.InvoiceNotFound : WolverineContinue.NoProblems;

    public static Guid InvoiceStreamId(CancellationContext context) => InvoiceNumberClaims.StreamOf(context.Claim);

    public static ProblemDetails Validate(Invoice? invoice) => invoice is null ? WolverineContinue.NoProblems : CancelInvoiceDecision.Validate(invoice);

    [WolverinePost("/api/accounts/{accountId}/invoices/{invoiceNumber}/cancellation", OperationId = "CancelInvoice")]
    [RequestExample("""{"reason":"Issued to the wrong company: the buyer's VAT ID was missing"}""")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("Cancel an invoice issued in error (finance, with a reason): a credit note is issued, nothing is owed, a suspension for it is lifted")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    public static async Task<(Created<InvoiceCancellation>, Events)> Post(Guid accountId, CancelInvoice command, CancellationContext context,
        [WriteAggregate(FromMethod = nameof(InvoiceStreamId), Required = false)] Invoice? claimed, IDocumentSession session,
        IOptions<SellerOptions> seller, IOptions<InvoicingOptions> invoicing, TimeProvider clock, CancellationToken ct)
    {
        // Before answered 404 without a claim; a claimed invoice exists (both are written in one transaction).
        var invoice = claimed ?? throw new InvalidOperationException("A claimed invoice is missing.");
        var now = clock.GetUtcNow();
        var number = CreditNoteNumbers.Format(context.Year, (context.Counter?.Last ?? 0) + 1);
        var events = CancelInvoiceDecision.Decide(invoice, command, number, seller.Value.ToInvoiceSeller(), context.Account, now);

        // The counter and the claim commit with the events or not at all: a racing cancellation conflicts (409), numbers have no gaps.
        if (context.Counter is null)
            session.Insert(new CreditNoteNumberCounter { Id = context.Year.ToString("D4"), Last = 1 });
        else
        {
            // The counter loaded in this session: its version is tracked, so a racing cancellation conflicts.
            context.Counter.Last++;
            session.Update(context.Counter);
        }
        session.Insert(new CreditNoteNumberClaim { Id = number, InvoiceId = invoice.Id, AccountId = accountId });
        // A suspension for this invoice no longer has a debt behind it: lifted (or moved to another overdue invoice) in the same transaction.
        var reinstated = await OverdueDecision.ReinstateIfSuspendedAsync(session, invoice, invoicing.Value, now, ct, context.Membership);
        Support.SupportReason.Record(session, command.Reason.Trim());
        var note = (CreditNoteIssued)events[1];
        return (TypedResults.Created($"/api/accounts/{accountId}/credit-notes/{number}",
            new InvoiceCancellation(invoice.InvoiceNumber, number, note.Total, note.Currency, note.RefundDue, reinstated)), [.. events]);
    }
}

/// <summary>
/// What cancelling an invoice would record, decided now by the same rules as the write and written nowhere: finance's review before it
/// cancels. No credit note number is taken (the write numbers it).
/// </summary>
/// <param name="InvoiceNumber">The invoice that would be cancelled.</param>
/// <param name="AccountId">The invoice's business account.</param>
/// <param name="CompanyName">The buyer the credit note would be addressed to.</param>
/// <param name="Currency">ISO 4217 code of every amount, the invoice's.</param>
/// <param name="Subtotal">The lines' total before VAT the credit note would credit.</param>
/// <param name="VatAmount">The VAT it would credit.</param>
/// <param name="Total">The amount it would credit: the invoice's total.</param>
/// <param name="OutstandingBefore">What is to be paid on the invoice now; nothing is owed on it after.</param>
/// <param name="RefundDue">What was received on the invoice and not refunded, then owed back to the payer; 0 when none.</param>
/// <param name="InvoiceStatus">The invoice's status after: <c>cancelled</c>.</param>
/// <param name="Events">The events the write would append to the invoice, by type name, in order.</param>
/// <param name="MembershipAfter">What cancelling would do to the membership a suspension of this invoice holds: <c>reinstated</c>, or
/// <c>suspension_moved</c> to another invoice of the term overdue past its grace period; null when the membership is left as it is.</param>
public sealed record CreditNotePreview(
    string InvoiceNumber,
    Guid AccountId,
    string CompanyName,
    string Currency,
    decimal Subtotal,
    decimal VatAmount,
    decimal Total,
    decimal OutstandingBefore,
    decimal RefundDue,
    InvoiceStatus InvoiceStatus,
    IReadOnlyList<string> Events,
    MembershipAfterSettlement? MembershipAfter);

/// <summary>The account's invoice by that number (both null: not this account's), and the account.</summary>
public sealed record PreviewedCancellation(InvoiceNumberClaim? Claim, Invoice? Invoice, AccountView Account);

/// <summary>
/// Finance's review of a cancellation before it writes it: the write's lookup, <see cref="CancelInvoiceDecision.Validate"/> and
/// <see cref="CancelInvoiceDecision.Decide"/> on the invoice as it stands, and what the settlement would do to a suspension
/// (<see cref="OverdueDecision.AfterSettlement"/>), written nowhere (a query session: no event, no number, no message, no key).
/// </summary>
public static class PreviewCancellationEndpoint
{
    // The invoice as the write reads it (its inline snapshot), without the membership's lock: nothing is written.
    public static async Task<PreviewedCancellation> LoadAsync(Guid accountId, string invoiceNumber, IQuerySession session, CancellationToken ct)
    {
        var account = await session.LoadAsync<AccountView>(accountId, ct) ?? throw new AccountNotFoundException(accountId);
        var claim = await RecordRefundEndpoint.ClaimAsync(accountId, invoiceNumber, session, ct);
        return new PreviewedCancellation(claim, claim is null ? null : await session.LoadAsync<Invoice>(claim.InvoiceId, ct), account);
    }

    /// <summary>The write's refusals, in its order: no such invoice on the account (404), then already cancelled (409).</summary>
    public static ProblemDetails Before(PreviewedCancellation previewed, string invoiceNumber) =>
        previewed.Claim is null ? InvoiceQueries.InvoiceNotFound : CancelInvoiceEndpoint.Validate(previewed.Invoice);

    // The write's path and body with "/preview", as for a transfer (PreviewBankPaymentEndpoint says why): 200, never 201.
    [WolverinePost("/api/accounts/{accountId}/invoices/{invoiceNumber}/cancellation/preview", OperationId = "PreviewCancelInvoice")]
    [RequestExample("""{"reason":"Issued to the wrong company: the buyer's VAT ID was missing"}""")]
    [Authorize(Roles = LedgerRoles.Finance)]
    [EndpointSummary("What cancelling this invoice by credit note would record (or the write's refusal), decided by the same rules and written nowhere")]
    [ProducesResponseType(StatusCodes.Status404NotFound)]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    [WritesNothing]
    public static async Task<CreditNotePreview> Post(Guid accountId, CancelInvoice command, PreviewedCancellation previewed, IQuerySession session,
        IOptions<SellerOptions> seller, IOptions<InvoicingOptions> invoicing, TimeProvider clock, CancellationToken ct)
    {
        // Before answered 404 without a claim; a claimed invoice exists (both are written in one transaction).
        var invoice = previewed.Invoice ?? throw new InvalidOperationException("A claimed invoice is missing.");
        var now = clock.GetUtcNow();
        // Sequence 0 is never issued: the decision needs a number, and the preview takes none from the series.
        var events = CancelInvoiceDecision.Decide(invoice, command, CreditNoteNumbers.Format(now.UtcDateTime.Year, 0), seller.Value.ToInvoiceSeller(),
            previewed.Account, now);
        var note = events.OfType<CreditNoteIssued>().Single();
        return new CreditNotePreview(invoice.InvoiceNumber, accountId, invoice.CompanyName, note.Currency, note.Subtotal, note.VatAmount,
            note.Total, invoice.Outstanding, note.RefundDue, InvoiceStatus.Cancelled, [.. events.Select(e => e.GetType().Name)],
            await OverdueDecision.PreviewAfterSettlementAsync(session, invoice, invoicing.Value, now, ct));
    }
}

public static class CreditNoteQueries
{
    /// <summary>The invoice a credit note of this account cancelled, with the note; null when the account has no such note.</summary>
    public static async Task<(Invoice Invoice, CreditNoteIssued Note)?> ByNumber(IQuerySession session, Guid accountId, string number,
        CancellationToken ct)
    {
        var claim = await session.LoadAsync<CreditNoteNumberClaim>(number.Trim().ToUpperInvariant(), ct);
        if (claim?.AccountId != accountId || await session.LoadAsync<Invoice>(claim.InvoiceId, ct) is not { CreditNote: { } note } invoice)
            return null;
        return (invoice, note);
    }

    internal static ProblemDetails NotFound => Problems.NotFound("Credit note not found", "This account has no credit note with this number.");
}

public static class GetCreditNoteEndpoints
{
    [WolverineGet("/api/accounts/{accountId}/credit-notes/{creditNoteNumber}", OperationId = "GetCreditNote")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("One credit note by its number: the invoice it cancels, the reason, the figures credited")]
    [ProducesResponseType<CreditNoteIssued>(StatusCodes.Status200OK)]
    public static async Task<IResult> Get(Guid accountId, string creditNoteNumber, IQuerySession session, CancellationToken ct) =>
        await CreditNoteQueries.ByNumber(session, accountId, creditNoteNumber, ct) is { } found
            ? Results.Ok(found.Note)
            : Results.Problem(CreditNoteQueries.NotFound);

    [WolverineGet("/api/accounts/{accountId}/credit-notes/{creditNoteNumber}/pdf", OperationId = "GetCreditNotePdf")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("One credit note as a PDF document")]
    [ProducesResponseType<byte[]>(StatusCodes.Status200OK, "application/pdf")]
    public static async Task<IResult> GetPdf(Guid accountId, string creditNoteNumber, IQuerySession session, IOptions<SellerOptions> seller,
        ILogger<Invoice> logger, CancellationToken ct) =>
        await CreditNoteQueries.ByNumber(session, accountId, creditNoteNumber, ct) is { } found
            ? Results.File(InvoicePdf.RenderCreditNote(found.Invoice, found.Note, found.Invoice.PaysInto(seller.Value), logger),
                "application/pdf", $"{found.Note.CreditNoteNumber}.pdf")
            : Results.Problem(CreditNoteQueries.NotFound);

    [WolverineGet("/api/accounts/{accountId}/credit-notes/{creditNoteNumber}/ubl", OperationId = "GetCreditNoteUbl")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("One credit note as an EN 16931 e-invoice: UBL 2.1 CreditNote, Peppol BIS Billing 3.0")]
    [ProducesResponseType<string>(StatusCodes.Status200OK, "application/xml")]
    public static async Task<IResult> GetUbl(Guid accountId, string creditNoteNumber, IQuerySession session, IOptions<SellerOptions> seller,
        CancellationToken ct) =>
        await CreditNoteQueries.ByNumber(session, accountId, creditNoteNumber, ct) is { } found
            ? Results.Bytes(EInvoice.CreditNote(found.Invoice, found.Note, found.Invoice.PaysInto(seller.Value)),
                "application/xml", $"{found.Note.CreditNoteNumber}.xml")
            : Results.Problem(CreditNoteQueries.NotFound);
}

/// <summary>
/// Invoices of a membership cancelled by the ledger itself (a lapse, a support cancellation, a replaced renewal choice): each still
/// owed is cancelled with a credit note, exactly as finance's cancellation does (<see cref="CancelInvoiceDecision.Decide"/>), in the
/// caller's session so that the membership's event and the credit notes commit together.
/// </summary>
public static class InvoiceCancellations
{
    /// <returns>The numbers of the invoices cancelled.</returns>
    /// <param name="evenIfPaid">Which paid invoices to cancel too (their payment becomes a refund due): a renewal paid ahead whose term
    /// never began. Null: none.</param>
    public static async Task<IReadOnlyList<string>> CancelOwedAsync(IDocumentSession session, IEnumerable<Guid> invoiceIds, string reason,
        InvoiceSeller seller, DateTimeOffset now, CancellationToken ct, Func<Invoice, bool>? evenIfPaid = null)
    {
        var year = now.UtcDateTime.Year;
        CreditNoteNumberCounter? counter = null;
        var counterLoaded = false;
        var cancelled = new List<string>();
        foreach (var id in invoiceIds.Distinct())
        {
            var stream = await session.Events.FetchForWriting<Invoice>(id, ct);
            if (stream.Aggregate is not { } invoice || invoice.Status == InvoiceStatus.Cancelled || (invoice.Status == InvoiceStatus.Paid && evenIfPaid?.Invoke(invoice) != true))
                continue;
            if (!counterLoaded)
            {
                counter = await session.LoadAsync<CreditNoteNumberCounter>(year.ToString("D4"), ct);
                counterLoaded = true;
            }

            var number = CreditNoteNumbers.Format(year, (counter?.Last ?? 0) + cancelled.Count + 1);
            var account = await session.LoadAsync<AccountView>(invoice.AccountId, ct) ?? throw new AccountNotFoundException(invoice.AccountId);
            stream.AppendMany(CancelInvoiceDecision.Decide(invoice, new CancelInvoice(reason), number, seller, account, now));
            session.Insert(new CreditNoteNumberClaim { Id = number, InvoiceId = invoice.Id, AccountId = invoice.AccountId });
            cancelled.Add(invoice.InvoiceNumber);
        }

        if (cancelled.Count == 0)
            return cancelled;
        // The year's counter moves with the credit notes, under optimistic concurrency: a racing cancellation makes this one retry.
        if (counter is null)
            session.Insert(new CreditNoteNumberCounter { Id = year.ToString("D4"), Last = cancelled.Count });
        else
        {
            counter.Last += cancelled.Count;
            session.Update(counter);
        }
        return cancelled;
    }
}
