using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Invoicing;

/// <summary>The account's membership: <c>none</c> (never joined), <c>active</c>, <c>suspended</c> (an invoice unpaid after the
/// grace period) or <c>ended</c>.</summary>
public enum MembershipStatus
{
    None,
    Active,
    Suspended,
    Ended,
}

/// <summary>The account's standing in the programme for the summary: membership status and what is owed.</summary>
/// <param name="AmountOwed">The first of <see cref="Owed"/>: what is owed in the newest open invoice's currency; 0 when nothing is.</param>
/// <param name="Currency">That currency; null when nothing is owed.</param>
public sealed record MembershipStanding(MembershipStatus Status, decimal AmountOwed, string? Currency)
{
    /// <summary>What is owed, per currency, the newest open invoice's currency first; empty when nothing is.</summary>
    public IReadOnlyList<MoneyOwed> Owed { get; init; } = [];

    /// <summary>What CPS owes back to the account, per invoice, newest invoice first.</summary>
    public IReadOnlyList<RefundOwed> RefundsOwed { get; init; } = [];
}

/// <summary>What is still to be paid in one currency, on the account's invoices in that currency that are neither paid nor cancelled.</summary>
/// <param name="Amount">The sum still to be paid, due or not yet due, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code, the invoices'.</param>
public sealed record MoneyOwed(decimal Amount, string Currency);

/// <summary>Money CPS owes back on one invoice: still to be refunded (overpaid, or received on a cancelled invoice, less what was refunded).</summary>
/// <param name="InvoiceNumber">The invoice the money was received on.</param>
/// <param name="Amount">What is to be refunded, in <c>currency</c>.</param>
/// <param name="Currency">ISO 4217 code, the invoice's.</param>
public sealed record RefundOwed(string InvoiceNumber, decimal Amount, string Currency);

public static class InvoiceQueries
{
    /// <summary>Every invoice of the account, newest first (an index lookup on the account id).</summary>
    public static async Task<IReadOnlyList<Invoice>> OfAccount(IQuerySession session, Guid accountId, CancellationToken ct) =>
        [.. await session.QueryAsync(new InvoicesOfAccount { AccountId = accountId }, ct)];

    /// <summary>The invoice with this number, only if it is the account's (another account's invoice is "not found").</summary>
    public static async Task<Invoice?> ByNumber(IQuerySession session, Guid accountId, string invoiceNumber, CancellationToken ct)
    {
        var claim = await session.LoadAsync<InvoiceNumberClaim>(invoiceNumber.Trim().ToUpperInvariant(), ct);
        return claim?.AccountId == accountId ? await session.LoadAsync<Invoice>(claim.InvoiceId, ct) : null;
    }

    /// <summary>
    /// Status from the membership in force and its suspension; owed is what is open on every unpaid invoice, per currency; owed back, per
    /// invoice, what CPS is to refund (overpaid, or received on a cancelled invoice, less what was refunded).
    /// </summary>
    public static MembershipStanding Standing(AccountMembership? membership, IReadOnlyCollection<Invoice> invoices, DateOnly today)
    {
        var status = membership?.Membership is not { } term
            ? membership?.PastMemberships.Count > 0 ? MembershipStatus.Ended : MembershipStatus.None
            : membership.Suspension?.MembershipId == term.MembershipId ? MembershipStatus.Suspended
            : membership.IsMemberOn(today) ? MembershipStatus.Active
            : MembershipStatus.Ended;
        // Newest first here, whoever reads them: time travel replays the invoices in the order their streams are found, and led with the
        // oldest open invoice's currency where the live summary led with the newest's.
        var newestFirst = invoices.OrderByDescending(i => i.IssuedAt).ToList();
        var open = newestFirst.Where(InvoiceList.IsStillOwed).ToList();
        // A tier table has one currency, but a later one may have another: amounts in two currencies are owed apart, never added up.
        // GroupBy keeps the order in which each currency first appears.
        List<MoneyOwed> owed = [.. open.GroupBy(i => i.Currency, StringComparer.Ordinal).Select(g => new MoneyOwed(g.Sum(i => i.Outstanding), g.Key))];
        var first = owed.FirstOrDefault();
        return new MembershipStanding(status, first?.Amount ?? 0m, first?.Currency)
        {
            Owed = owed,
            RefundsOwed = [.. newestFirst.Select(i => new RefundOwed(i.InvoiceNumber, RefundDecision.OwedBack(i), i.Currency)).Where(r => r.Amount > 0)],
        };
    }

    /// <summary>Adds what the standing is computed from to a batched query; the task completes when the batch has run.</summary>
    public static Task<MembershipStanding> StandingIn(Marten.Services.BatchQuerying.IBatchedQuery batch, Guid accountId, DateOnly today)
    {
        var membership = batch.Load<AccountMembership>(MembershipStream.For(accountId));
        var invoices = batch.Query(new InvoicesOfAccount { AccountId = accountId });
        return Combine(membership, invoices, today);

        static async Task<MembershipStanding> Combine(Task<AccountMembership?> membership, Task<IEnumerable<Invoice>> invoices, DateOnly today) =>
            Standing(await membership, [.. await invoices], today);
    }

    public static async Task<MembershipStanding> StandingAsync(IQuerySession session, Guid accountId, DateOnly today, CancellationToken ct) =>
        Standing(await session.LoadAsync<AccountMembership>(MembershipStream.For(accountId), ct), await OfAccount(session, accountId, ct), today);

    /// <summary>The sums of these invoices' figures per currency, in currency code order: never added across currencies.</summary>
    public static IReadOnlyList<InvoiceListTotal> Totals(IEnumerable<InvoiceFigures> invoices) =>
    [
        .. invoices.GroupBy(i => i.Currency, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new InvoiceListTotal(g.Key, g.Count(), g.Sum(i => i.Total), g.Sum(i => i.Outstanding),
                g.Sum(i => RefundDecision.OwedBackOf(i.Overpaid, i.RefundDue)),
                g.Sum(i => i.TotalReceived ?? 0m), g.Sum(i => i.Refunded ?? 0m), g.Sum(i => i.Credited ?? 0m))),
    ];

    /// <summary>
    /// One page of the account's invoices in <see cref="InvoicesOfAccount"/>'s order, and the figures of every one of them that
    /// <see cref="Totals"/> adds up, in one batch (one round trip): the page by offset and limit, the rest as their list columns
    /// (<see cref="InvoiceList.AddInvoiceListColumns"/>), never their documents. Two statements: a write between them may show in
    /// one and not the other, as with the list across accounts.
    /// </summary>
    public static async Task<(IReadOnlyList<Invoice> Page, IReadOnlyList<InvoiceFigures> All)> PageOfAccount(IQuerySession session,
        Guid accountId, int page, int pageSize, CancellationToken ct)
    {
        var batch = session.CreateBatchQuery();
        var all = batch.Query<Invoice>().Where(i => i.AccountId == accountId)
            .Select(i => new InvoiceFigures
            {
                Currency = i.Currency,
                Total = i.Total,
                Outstanding = i.Outstanding,
                Overpaid = i.Overpaid,
                RefundDue = i.RefundDue,
                TotalReceived = i.TotalReceived,
                Refunded = i.Refunded,
                Credited = i.CreditNote!.Total,
            })
            .ToList();
        // (page - 1) x pageSize fits an int: Paging.MaxPage x Paging.AccountListMaxPageSize.
        var rows = batch.Query<Invoice>().Where(i => i.AccountId == accountId)
            .OrderByDescending(i => i.IssuedAt).ThenByDescending(i => i.InvoiceNumber)
            .Skip((page - 1) * pageSize).Take(pageSize).ToList();
        await batch.Execute(ct);
        return (await rows, await all);
    }

    // The number is in the request's path (and the problem's instance): said again, the detail read "no invoice INV-… " after it.
    internal static ProblemDetails InvoiceNotFound => Problems.NotFound("Invoice not found", "This account has no invoice with this number.");
}

/// <summary>What the sums of an account's invoices read of each: its list columns, not its document.</summary>
public sealed class InvoiceFigures
{
    public string Currency { get; set; } = "";
    public decimal Total { get; set; }
    public decimal Outstanding { get; set; }
    public decimal Overpaid { get; set; }
    public decimal RefundDue { get; set; }
    // Null where a document was stored before the member existed (no refund could be recorded then), and without a credit note:
    // added up as 0, as the list across accounts does.
    public decimal? TotalReceived { get; set; }
    public decimal? Refunded { get; set; }
    public decimal? Credited { get; set; }
}

/// <summary>One page of an account's invoices, newest first, with the sums of all of them per currency.</summary>
/// <param name="AccountId">The business account.</param>
/// <param name="Items">The page's invoices, newest first (by when issued; invoices issued at the same instant by invoice number,
/// descending).</param>
/// <param name="Page">The page number, from 1.</param>
/// <param name="PageSize">Invoices per page asked for.</param>
/// <param name="Total">The account's invoices on all pages: a figure of the whole account, never of the page.</param>
/// <param name="Totals">The sums of all the account's invoices (every page, paid and cancelled ones included), one entry per
/// currency, in currency code order, never added across currencies: the same figures on every page.</param>
public sealed record AccountInvoicePage(Guid AccountId, IReadOnlyList<Invoice> Items, int Page, int PageSize, long Total,
    IReadOnlyList<InvoiceListTotal> Totals);

public static class GetInvoicesEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/invoices", OperationId = "GetInvoices")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("The account's invoices, newest first: lines, VAT, total, due date, payments, card attempts and status; whole, or a page at a time with page or pageSize")]
    [EndpointDescription("The account's invoices, newest first (by when issued; invoices issued at the same instant by invoice number, " +
                         "descending: a page boundary never repeats or drops one): lines, VAT, total, due date, payments, card attempts " +
                         "and status. Without page and pageSize the answer is every invoice, as an array, as before the list was paged; " +
                         "with either, one page (pageSize default 50) with total, the account's invoices on all pages, and totals, their " +
                         "sums per currency (total, outstanding, owed back, received, refunded, credited) over all pages.")]
    [WholeWithoutPaging(typeof(Invoice))]
    [ProducesResponseType<AccountInvoicePage>(StatusCodes.Status200OK)]
    public static async Task<IResult> Get(Guid accountId,
        [System.ComponentModel.Description("The page, from 1 (default 1); a page past the last has no items. Given (or pageSize), the " +
                                          "answer is a page; neither: every invoice, as an array.")]
        [System.ComponentModel.DataAnnotations.Range(1, Paging.MaxPage)] int? page,
        [System.ComponentModel.Description("Invoices per page (default 50). Given (or page), the answer is a page; neither: every " +
                                          "invoice, as an array.")]
        [System.ComponentModel.DataAnnotations.Range(1, Paging.AccountListMaxPageSize)] int? pageSize,
        IQuerySession session, HttpContext http, CancellationToken ct)
    {
        if (Paging.Asked(page, pageSize) is not { } asked)
            return Results.Ok(await InvoiceQueries.OfAccount(session, accountId, ct));
        var (number, size) = asked;
        // The page's documents only; the sums over every page from the figures of all of them.
        var (items, all) = await InvoiceQueries.PageOfAccount(session, accountId, number, size, ct);
        Paging.Links(http, number, size, all.Count);
        return Results.Ok(new AccountInvoicePage(accountId, items, number, size, all.Count, InvoiceQueries.Totals(all)));
    }
}

public static class GetInvoiceEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/invoices/{invoiceNumber}", OperationId = "GetInvoice")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("One invoice by its number")]
    public static async Task<Results<Ok<Invoice>, ProblemHttpResult>> Get(Guid accountId, string invoiceNumber, IQuerySession session,
        CancellationToken ct) =>
        await InvoiceQueries.ByNumber(session, accountId, invoiceNumber, ct) is { } invoice
            ? TypedResults.Ok(invoice)
            : TypedResults.Problem(InvoiceQueries.InvoiceNotFound);
}

public static class GetInvoicePdfEndpoint
{
    [WolverineGet("/api/accounts/{accountId}/invoices/{invoiceNumber}/pdf", OperationId = "GetInvoicePdf")]
    [Authorize(Roles = LedgerRoles.Readers)]
    [EndpointSummary("One invoice as a PDF document (the same one the invoice e-mail attaches)")]
    [ProducesResponseType<byte[]>(StatusCodes.Status200OK, "application/pdf")]
    public static async Task<IResult> Get(Guid accountId, string invoiceNumber, IQuerySession session,
        Microsoft.Extensions.Options.IOptions<SellerOptions> seller, ILogger<Invoice> logger, CancellationToken ct)
    {
        if (await InvoiceQueries.ByNumber(session, accountId, invoiceNumber, ct) is not { } invoice)
            return Results.Problem(InvoiceQueries.InvoiceNotFound);
        // Older invoices recorded no payee: where to pay is the account configured now.
        return Results.File(InvoicePdf.Render(invoice, invoice.PaysInto(seller.Value), logger), "application/pdf", $"{invoice.InvoiceNumber}.pdf");
    }
}

/// <summary>
/// An account's invoices, newest first, as a compiled query (the summary reads it on every call). Invoices issued at the same instant
/// by number, descending: the order is the same on every read, so a page of the account's invoices never repeats or drops one.
/// </summary>
public sealed class InvoicesOfAccount : Marten.Linq.ICompiledListQuery<Invoice>
{
    public Guid AccountId { get; set; }

    public System.Linq.Expressions.Expression<Func<Marten.Linq.IMartenQueryable<Invoice>, IEnumerable<Invoice>>> QueryIs() =>
        q => q.Where(i => i.AccountId == AccountId).OrderByDescending(i => i.IssuedAt).ThenByDescending(i => i.InvoiceNumber);
}
