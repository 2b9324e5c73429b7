using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Linq.Expressions;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using Marten;
using Marten.Linq;
using Marten.Schema;
using Weasel.Postgresql.Tables;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Api.Invoicing;

/// <summary>Which invoices finance's list shows: <c>open</c> (still owed: neither paid nor cancelled, something outstanding, overdue
/// ones included, as the account summary's <c>owed</c> counts them), <c>overdue</c>, <c>paid</c>, <c>cancelled</c>, or
/// <c>refund_owed</c> (CPS owes money back on it: overpaid, or received on a cancelled invoice, less what was refunded).</summary>
public enum InvoiceListStatus
{
    Open,
    Overdue,
    Paid,
    Cancelled,
    RefundOwed,
}

/// <summary>One invoice on finance's list across accounts.</summary>
/// <param name="InvoiceNumber">The invoice number printed on it, e.g. "INV-2026-000001".</param>
/// <param name="AccountId">The business account invoiced.</param>
/// <param name="CompanyName">The account's company name now (the invoice keeps the name it was issued to).</param>
/// <param name="IssuedOn">The invoice date.</param>
/// <param name="DueOn">The day payment is due.</param>
/// <param name="PeriodStart">The first day the invoice charges for; null on invoices issued before it was recorded.</param>
/// <param name="PeriodEnd">The last day of the membership term the fee is for; null on invoices issued before it was recorded.</param>
/// <param name="Total">What the invoice asks to be paid, VAT included, in <c>currency</c>.</param>
/// <param name="Outstanding">What is still to be paid, in <c>currency</c>: 0 once paid or cancelled.</param>
/// <param name="OwedBack">What CPS owes back on the invoice, in <c>currency</c>: its <c>overpaid</c>, or its <c>refundDue</c> when
/// cancelled; 0 when nothing is.</param>
/// <param name="Received">What was received on it, in <c>currency</c>: every transfer and card charge, an overpayment and a payment after
/// its cancellation included (the invoice's <c>totalReceived</c>).</param>
/// <param name="Refunded">What CPS paid back on it, in <c>currency</c> (the invoice's <c>refunded</c>).</param>
/// <param name="Credited">What its credit note took back, in <c>currency</c>: the credit note's total, 0 unless one was issued. Each line
/// reconciles on its own: <c>total - credited = received - refunded + outstanding - owedBack</c>.</param>
/// <param name="Currency">ISO 4217 code of every amount on the line.</param>
/// <param name="PaymentMethod">How the invoice is paid: <c>card</c> or <c>bank_transfer</c>.</param>
/// <param name="CreditorReference">The ISO 11649 reference a bank transfer quotes (RF..); null on a card invoice.</param>
/// <param name="Status">Where the invoice stands: <c>open</c>, <c>overdue</c>, <c>paid</c> or <c>cancelled</c>.</param>
/// <param name="DaysOverdue">Whole days since the due date, on the service's clock, when the invoice is overdue; null otherwise.</param>
/// <param name="CreditNoteNumber">The credit note that cancelled the invoice, e.g. "CN-2026-000001" (its PDF:
/// <c>/api/accounts/{accountId}/credit-notes/{creditNoteNumber}/pdf</c>); null unless a credit note was issued for it.</param>
public sealed record InvoiceListLine(
    string InvoiceNumber,
    Guid AccountId,
    string CompanyName,
    DateOnly IssuedOn,
    DateOnly DueOn,
    DateOnly? PeriodStart,
    DateOnly? PeriodEnd,
    decimal Total,
    decimal Outstanding,
    decimal OwedBack,
    decimal Received,
    decimal Refunded,
    decimal Credited,
    string Currency,
    PaymentMethod PaymentMethod,
    string? CreditorReference,
    InvoiceStatus Status,
    int? DaysOverdue,
    string? CreditNoteNumber);

/// <summary>The sums of every invoice a list counts (all pages: those finance's filters match, or all of one account's) in one
/// currency: never added across currencies.</summary>
/// <param name="Currency">ISO 4217 code of the sums.</param>
/// <param name="Invoices">How many invoices the list counts in this currency.</param>
/// <param name="Total">Their totals, VAT included.</param>
/// <param name="Outstanding">What is still to be paid on them.</param>
/// <param name="OwedBack">What CPS owes back on them.</param>
/// <param name="Received">What was received on them (each line's <c>received</c>).</param>
/// <param name="Refunded">What CPS paid back on them (each line's <c>refunded</c>).</param>
/// <param name="Credited">What their credit notes took back (each line's <c>credited</c>). The sums reconcile as each line does:
/// <c>total - credited = received - refunded + outstanding - owedBack</c>.</param>
public sealed record InvoiceListTotal(string Currency, int Invoices, decimal Total, decimal Outstanding, decimal OwedBack, decimal Received,
    decimal Refunded, decimal Credited);

/// <summary>One page of finance's invoice list, by due date then invoice number, with the sums of all pages per currency unless
/// <c>sums=omit</c> was asked for (then read them from <c>GET /api/invoices/sums</c>).</summary>
/// <param name="Items">The page's invoices.</param>
/// <param name="Page">The page number, from 1.</param>
/// <param name="PageSize">Invoices per page asked for.</param>
/// <param name="Total">Invoices the filters match, on all pages; null when asked with <c>sums=omit</c> (then counted by
/// <c>GET /api/invoices/sums</c>).</param>
/// <param name="Totals">The sums of the invoices the filters match (all pages), one entry per currency, in currency code order; null when
/// asked with <c>sums=omit</c> (then read from <c>GET /api/invoices/sums</c>).</param>
/// <param name="HasMore">Whether a later page has invoices: page the list by it when <c>total</c> is null (with the sums it is
/// <c>page x pageSize &lt; total</c>).</param>
public sealed record InvoiceListPage(IReadOnlyList<InvoiceListLine> Items, int Page, int PageSize, long? Total, IReadOnlyList<InvoiceListTotal>? Totals,
    bool HasMore);

/// <summary>Whether finance's invoice list page carries the sums of all pages: <c>include</c> (the default, as before 2026-12-07) or
/// <c>omit</c> (the page alone, with <c>hasMore</c>; the sums from <c>GET /api/invoices/sums</c>).</summary>
public enum InvoiceListSumsOption
{
    Include,
    Omit,
}

/// <summary>The count and sums of every invoice finance's list filters match (all pages), as its page carries them without
/// <c>sums=omit</c>.</summary>
/// <param name="Total">Invoices the filters match, on all pages: the page's <c>total</c>.</param>
/// <param name="Totals">Their sums, one entry per currency, in currency code order: the page's <c>totals</c>.</param>
public sealed record InvoiceListSums(long Total, IReadOnlyList<InvoiceListTotal> Totals);

/// <summary>The filters of finance's invoice list, as checked.</summary>
public sealed record InvoiceListFilter(InvoiceListStatus? Status, string? Currency, PaymentMethod? Method, DateOnly? DueBefore,
    DateOnly? IssuedFrom, DateOnly? IssuedTo);

/// <summary>
/// Finance's "what is open, overdue, owed back, across all accounts": the invoices a filter matches, a page at a time, and their sums
/// per currency. Every amount is the invoice document's own (<see cref="Invoice.Outstanding"/>, <see cref="RefundDecision.OwedBack"/>).
/// </summary>
public static class InvoiceList
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 200;

    /// <summary>The index the status filters are served by (status, then due date), so the list reads the invoices of one status, not every invoice.</summary>
    public const string StatusIndex = "mt_doc_invoice_idx_status_due_on";

    /// <summary>The index the unfiltered page is served by: every invoice in the list's order (due date, then number), carrying the id.</summary>
    public const string OrderIndex = "mt_doc_invoice_idx_due_on_invoice_number";

    /// <summary>
    /// What the list filters, orders and sums by, in columns of their own beside the document (Marten's duplicated fields, written
    /// from the document's members on every write), so no invoice's JSON is read but the page's (BENCHMARKS.md, P6).
    /// </summary>
    public static void AddInvoiceListColumns(this StoreOptions opts) =>
        opts.Schema.For<Invoice>()
            // Marten indexes every duplicated column; each index is one the planner may pick, so each is exact or cheap to ignore. A
            // btree on the due date alone let it walk that in the list's order for a LIMIT, testing every invoice's status on the way
            // (1.5 s for open invoices at 100,000 accounts, the open ones being the latest due): the dates get BRIN indexes, which
            // order nothing and serve date ranges (invoices are written about in date order). A BRIN index on the status or on
            // what is outstanding, which follow no order of the table, was a lossy bitmap of the whole table that the planner took
            // for cheap (1.2 s for overdue invoices): those are btrees, what is outstanding only where it is above zero.
            .Duplicate(i => i.Status).Duplicate(i => i.Currency).Duplicate(i => i.PaymentMethod)
            .Duplicate(i => i.DueOn, configure: Brin).Duplicate(i => i.IssuedOn, configure: Brin)
            // Only ever added up: what was invoiced, received, paid back and credited (a line's received, refunded and credited).
            .Duplicate(i => i.Total, configure: Brin)
            .Duplicate(i => i.TotalReceived, configure: Brin).Duplicate(i => i.Refunded, configure: Brin)
            // Null without a credit note (the column of a member of a member that is null); a sum leaves it out, as 0.
            .Duplicate(i => i.CreditNote!.Total, configure: Brin)
            // The predicates are written as PostgreSQL prints them back, or the schema check (db-assert) would see them differ from
            // the model forever.
            .Duplicate(i => i.Outstanding, configure: index => index.Predicate = "outstanding > (0)::numeric")
            // The few invoices owing money back, indexed alone: refund_owed reads them instead of every invoice.
            .Duplicate(i => i.Overpaid, configure: index => index.Predicate = "overpaid > (0)::numeric")
            .Duplicate(i => i.RefundDue, configure: index => index.Predicate = "refund_due > (0)::numeric")
            // A status's invoices in the list's order, carrying the id and what the sums, the filters and the order read: a status's
            // sums and page, and every invoice's sums, are read from this index alone, not from the table's rows with their JSON.
            .Index([i => i.Status, i => i.DueOn], index =>
            {
                index.Name = StatusIndex;
                index.IncludeColumns = SummedColumns;
            })
            // Every invoice in the list's order, carrying the id: the unfiltered page is the index's first entries (its LIMIT stops
            // the walk), not a sort of every invoice. Partial on a predicate only that page states (PageIds), so no filtered page can
            // use it: the planner, taking matches to be spread evenly, walked it for refund_owed's page and tested each invoice on the
            // way (1.4 s at 100,000 accounts: the few owing money back are not among the earliest due), as it did the due date's btree.
            .Index([i => i.DueOn, i => i.InvoiceNumber], index =>
            {
                index.Name = OrderIndex;
                index.IncludeColumns = ["id"];
                index.Predicate = "invoice_number IS NOT NULL";
            })
            // The open invoices in the list's order, carrying what StatusIndex carries and the status: open's page is the index's
            // first entries, and its sums (and overdue's, a status of them) can be read from it alone, as a status's from StatusIndex.
            // Without it open's page was a bitmap of the status and outstanding indexes, every open invoice's row read and sorted
            // (43 ms for 6,000 at 100,000 accounts, against 0.07 ms here: BENCHMARKS.md, P6). The predicate is StillOwed's, as
            // PostgreSQL prints it.
            .Index([i => i.DueOn, i => i.InvoiceNumber], index =>
            {
                index.Name = StillOwedIndex;
                index.IncludeColumns = PageColumns;
                index.Predicate = "(((status)::text = 'Open'::text) OR ((status)::text = 'Overdue'::text)) AND (outstanding > (0)::numeric)";
            })
            // The same for the invoices CPS owes money back on (OwesBack): refund_owed's page was a bitmap of the overpaid and
            // refund-due indexes, every such invoice's row read and sorted (8.4 ms at p50 at 100,000 accounts, p99 14 ms).
            .Index([i => i.DueOn, i => i.InvoiceNumber], index =>
            {
                index.Name = OwedBackIndex;
                index.IncludeColumns = PageColumns;
                index.Predicate = "(overpaid > (0)::numeric) OR (refund_due > (0)::numeric)";
            });

    /// <summary>The index open's page is served by: the invoices still owed (<see cref="StillOwed"/>) in the list's order, carrying the id.</summary>
    public const string StillOwedIndex = "mt_doc_invoice_idx_still_owed";

    /// <summary>The index refund_owed's page is served by: the invoices CPS owes money back on in the list's order, carrying the id.</summary>
    public const string OwedBackIndex = "mt_doc_invoice_idx_owed_back";

    // The id and number, and every column the sums add up or group by.
    private static readonly string[] SummedColumns =
        ["id", "invoice_number", "currency", "total", "outstanding", "overpaid", "refund_due", "total_received", "refunded", CreditedColumn];

    // What the open and owed-back indexes carry beside their key (the due date and the number): the sums' columns and the status.
    private static readonly string[] PageColumns = [.. SummedColumns.Where(c => c != "invoice_number"), "status"];

    private static void Brin(DocumentIndex index) => index.Method = IndexMethod.brin;

    /// <summary>The column of the credit note's total (Marten names a nested member's column by its path).</summary>
    public const string CreditedColumn = "credit_note_total";

    /// <summary>Still owed, as the account summary counts it (<see cref="InvoiceQueries.Standing"/>): neither paid nor cancelled, something outstanding.</summary>
    public static readonly Expression<Func<Invoice, bool>> StillOwed =
        i => (i.Status == InvoiceStatus.Open || i.Status == InvoiceStatus.Overdue) && i.Outstanding > 0;

    public static readonly Func<Invoice, bool> IsStillOwed = StillOwed.Compile();

    /// <summary>
    /// Invoices CPS owes money back on: <see cref="RefundDecision.OwedBack"/> is <see cref="Invoice.Overpaid"/> plus
    /// <see cref="Invoice.RefundDue"/>, neither below zero, so it is above zero when either is. Both are the document's own members,
    /// stored in columns of their own (<see cref="AddInvoiceListColumns"/>): the rule is not written again in SQL.
    /// </summary>
    private static readonly Expression<Func<Invoice, bool>> OwesBack = i => i.Overpaid > 0 || i.RefundDue > 0;

    /// <summary>The invoices the filter matches, as the database selects them (the status through <see cref="StatusIndex"/>).</summary>
    public static IQueryable<Invoice> Matching(IQuerySession session, InvoiceListFilter filter)
    {
        IQueryable<Invoice> query = session.Query<Invoice>();
        query = filter.Status switch
        {
            InvoiceListStatus.Open => query.Where(StillOwed),
            InvoiceListStatus.Overdue => query.Where(i => i.Status == InvoiceStatus.Overdue && i.Outstanding > 0),
            InvoiceListStatus.Paid => query.Where(i => i.Status == InvoiceStatus.Paid),
            InvoiceListStatus.Cancelled => query.Where(i => i.Status == InvoiceStatus.Cancelled),
            InvoiceListStatus.RefundOwed => query.Where(OwesBack),
            _ => query,
        };
        if (filter.Currency is { } currency)
            query = query.Where(i => i.Currency == currency);
        if (filter.Method is { } method)
            query = query.Where(i => i.PaymentMethod == method);
        if (filter.DueBefore is { } dueBefore)
            query = query.Where(i => i.DueOn < dueBefore);
        if (filter.IssuedFrom is { } from)
            query = query.Where(i => i.IssuedOn >= from);
        if (filter.IssuedTo is { } to)
            query = query.Where(i => i.IssuedOn <= to);
        return query;
    }

    /// <summary>
    /// The sums of all pages per currency, added up by PostgreSQL over the list's columns; then the page's invoices in the list's order,
    /// and their accounts by id. Without the sums (<paramref name="withSums"/> false) only the page, in one statement
    /// (<see cref="PageCommand"/>): adding up every matching invoice is most of the read at 100,000 accounts (BENCHMARKS.md, P6).
    /// </summary>
    public static async Task<InvoiceListPage> ReadAsync(IQuerySession session, InvoiceListFilter filter, int page, int pageSize, bool withSums,
        DateOnly today, CancellationToken ct)
    {
        // (page - 1) x pageSize fits an int: Paging.MaxPage x MaxPageSize.
        var skip = (int)Math.Min((long)(page - 1) * pageSize, int.MaxValue);
        if (!withSums)
        {
            // One invoice past the page says whether another page follows, without counting them all.
            var read = await PageAsync(session, filter, skip, pageSize + 1, today, ct);
            return new InvoiceListPage([.. read.Take(pageSize)], page, pageSize, null, null, read.Count > pageSize);
        }

        var sums = await SumsAsync(session, filter, ct);
        // Nothing past the last page is asked for. The page's ids first (a status's come from StatusIndex's entries, which carry the
        // id), then only their documents: ordering whole rows would read every matching invoice's JSON. The sums and the page are two
        // statements: a write between them may show in one and not the other, as with any page read after its count.
        IReadOnlyList<Guid> ids = skip >= sums.Total
            ? []
            : await PageIds(session, filter, skip, pageSize).ToListAsync(ct);
        var invoices = ids.Count == 0 ? [] : (await session.LoadManyAsync<Invoice>(ct, ids)).ToDictionary(i => i.Id);
        var accounts = invoices.Count == 0 ? [] : (await session.LoadManyAsync<AccountView>(ct, invoices.Values.Select(i => i.AccountId).Distinct()))
            .ToDictionary(a => a.Id);
        var items = ids.Where(invoices.ContainsKey).Select(id => Line(invoices[id], accounts.GetValueOrDefault(invoices[id].AccountId), today)).ToList();
        return new InvoiceListPage(items, page, pageSize, sums.Total, sums.Totals, (long)page * pageSize < sums.Total);
    }

    /// <summary>The count and the sums per currency of every invoice the filter matches: one statement (<see cref="TotalsCommand"/>).</summary>
    public static async Task<InvoiceListSums> SumsAsync(IQuerySession session, InvoiceListFilter filter, CancellationToken ct)
    {
        var totals = await TotalsAsync(session, filter, ct);
        return new InvoiceListSums(totals.Sum(t => (long)t.Invoices), totals);
    }

    /// <summary>The lines of the page's invoices in the list's order, read by <see cref="PageCommand"/>.</summary>
    private static async Task<List<InvoiceListLine>> PageAsync(IQuerySession session, InvoiceListFilter filter, int skip, int take, DateOnly today,
        CancellationToken ct)
    {
        var lines = new List<InvoiceListLine>();
        await using var reader = await session.ExecuteReaderAsync(PageCommand(session, filter, skip, take), ct);
        while (await reader.ReadAsync(ct))
            lines.Add(Line(session.DocumentStore.Options.Serializer().FromJson<Invoice>(reader, 0),
                await reader.IsDBNullAsync(1, ct) ? null : session.DocumentStore.Options.Serializer().FromJson<AccountView>(reader, 1), today));
        return lines;
    }

    /// <summary>
    /// One page of the invoices the filter matches, with each one's account, in one statement: <see cref="PageIds"/>' own SQL (so the same
    /// indexes serve it), its ids kept in their order, then only those invoices' documents and their accounts' (none when the account is
    /// gone). Three round trips as Marten loads them (the ids, the invoices, the accounts): one here.
    /// </summary>
    public static Npgsql.NpgsqlCommand PageCommand(IQuerySession session, InvoiceListFilter filter, int skip, int take)
    {
        var command = PageIds(session, filter, skip, take).ToCommand();
        var ids = command.CommandText.Trim().TrimEnd(';');
        if (!ids.StartsWith("select d.id from ", StringComparison.Ordinal))
            throw new InvalidOperationException($"Marten wrote the invoice list's page in a shape not expected here: {ids}");
        var options = session.DocumentStore.Options;
        var invoices = options.FindOrResolveDocumentType(typeof(Invoice)).TableName.QualifiedName;
        var accounts = options.FindOrResolveDocumentType(typeof(AccountView)).TableName.QualifiedName;
        // array(...) keeps the order its subquery's ORDER BY gave; unnest's ordinality carries it through the joins.
        command.CommandText =
            $"select i.data, a.data from unnest(array({ids})) with ordinality as p(id, n) join {invoices} as i on i.id = p.id " +
            // account_id: the duplicated column InvoicingSetup keeps beside the document.
            $"left join {accounts} as a on a.id = i.account_id order by p.n";
        return command;
    }

    /// <summary>The ids of one page of the invoices the filter matches, in the list's order: due date, then number.</summary>
    public static IQueryable<Guid> PageIds(IQuerySession session, InvoiceListFilter filter, int skip, int take)
    {
        var matching = Matching(session, filter);
        // Every invoice has a number: the condition changes nothing but lets the unfiltered page read OrderIndex, whose predicate it is.
        if (filter == Unfiltered)
            matching = matching.Where(i => i.InvoiceNumber != null);
        return matching.OrderBy(i => i.DueOn).ThenBy(i => i.InvoiceNumber).Skip(skip).Take(take).Select(i => i.Id);
    }

    /// <summary>No filter: every invoice.</summary>
    public static readonly InvoiceListFilter Unfiltered = new(null, null, null, null, null, null);

    /// <summary>
    /// The sums per currency of every invoice the filter matches. The filter is <see cref="Matching"/>'s own SQL (Marten's, from the one
    /// LINQ expression), with the list's columns selected in place of the id and added up around it.
    /// </summary>
    private static async Task<List<InvoiceListTotal>> TotalsAsync(IQuerySession session, InvoiceListFilter filter, CancellationToken ct)
    {
        var totals = new List<InvoiceListTotal>();
        await using var reader = await session.ExecuteReaderAsync(TotalsCommand(session, filter), ct);
        while (await reader.ReadAsync(ct))
            totals.Add(new InvoiceListTotal(reader.GetString(0), checked((int)reader.GetInt64(1)), reader.GetDecimal(2), reader.GetDecimal(3),
                reader.GetDecimal(4), reader.GetDecimal(5), reader.GetDecimal(6), reader.GetDecimal(7)));
        return totals;
    }

    /// <summary>
    /// The statement of <see cref="TotalsAsync"/>: every column it adds up is one <see cref="StatusIndex"/> carries, so a status's sums,
    /// and every invoice's, are read from that index alone (BENCHMARKS.md, P6).
    /// </summary>
    public static Npgsql.NpgsqlCommand TotalsCommand(IQuerySession session, InvoiceListFilter filter)
    {
        var command = Matching(session, filter).Select(i => i.Id).ToCommand();
        const string selectId = "select d.id from ";
        var matching = command.CommandText.Trim().TrimEnd(';');
        if (!matching.StartsWith(selectId, StringComparison.Ordinal))
            throw new InvalidOperationException($"Marten wrote the invoice list's filter in a shape not expected here: {matching}");
        command.CommandText =
            "select m.currency, count(*), coalesce(sum(m.total), 0), coalesce(sum(m.outstanding), 0), coalesce(sum(m.overpaid + m.refund_due), 0), " +
            // Null where the document was stored before the member existed (no refund could be recorded then) or, credited, without a
            // credit note: a sum leaves it out.
            "coalesce(sum(m.total_received), 0), coalesce(sum(m.refunded), 0), coalesce(sum(m.credited), 0) " +
            $"from (select d.currency, d.total, d.outstanding, d.overpaid, d.refund_due, d.total_received, d.refunded, d.{CreditedColumn} as credited " +
            $"from {matching[selectId.Length..]}) as m " +
            // Currency codes are upper-case ASCII letters: byte order is their alphabetical order whatever the database's collation.
            "group by m.currency order by m.currency collate \"C\"";
        return command;
    }

    /// <summary>One line of the list: the invoice's own figures; the account's name now (the invoiced one if the account is gone).</summary>
    public static InvoiceListLine Line(Invoice invoice, AccountView? account, DateOnly today) => new(
        invoice.InvoiceNumber,
        invoice.AccountId,
        account?.CompanyName ?? invoice.CompanyName,
        invoice.IssuedOn,
        invoice.DueOn,
        invoice.PeriodStart,
        invoice.PeriodEnd,
        invoice.Total,
        invoice.Outstanding,
        RefundDecision.OwedBack(invoice),
        invoice.TotalReceived,
        invoice.Refunded,
        invoice.CreditNote?.Total ?? 0m,
        invoice.Currency,
        invoice.PaymentMethod,
        invoice.PaymentMethod == PaymentMethod.BankTransfer ? invoice.CreditorReference : null,
        invoice.Status,
        invoice.Status == InvoiceStatus.Overdue ? Math.Max(today.DayNumber - invoice.DueOn.DayNumber, 0) : null,
        invoice.CreditNote?.CreditNoteNumber);

    /// <summary>
    /// The filters checked from the raw query string: a currency not an ISO 4217 code is a field error, never read as "no filter";
    /// an unknown status or method is refused by the request gate (their <see cref="OneOfAttribute"/>), and so are malformed dates,
    /// whose order is checked here.
    /// </summary>
    public static ProblemDetails Validate(HttpRequest request, DateOnly? issuedFrom, DateOnly? issuedTo)
    {
        var errors = new Dictionary<string, string[]>();
        if (request.Query["currency"].ToString() is { Length: > 0 } currency && !CurrencyCodeAttribute.IsValid(currency))
            errors["currency"] = [$"\"{currency}\" is not an ISO 4217 code in upper case, e.g. \"EUR\"."];
        if (issuedFrom > issuedTo)
            errors["issuedTo"] = ["Must not be before issuedFrom."];
        return errors.Count == 0
            ? WolverineContinue.NoProblems
            : Problems.Invalid(errors);
    }

    /// <summary>Who reads the list and its sums: finance, and auditors.</summary>
    public const string Roles = $"{LedgerRoles.Finance},{LedgerRoles.Auditor}";

    // The filters' words (InvoiceListQuery's members carry them).
    public const string StatusDescription = "Only invoices that stand so: open (still owed, overdue ones included), overdue, paid, cancelled, or refund_owed " +
                                            "(CPS owes money back: overpaid, or money received on a cancelled invoice, less what was refunded). Any letter case. Left out: every invoice.";

    public const string CurrencyDescription = "Only invoices in this currency: an ISO 4217 code in upper case, e.g. EUR (any other value is a 400).";
    public const string MethodDescription = "Only invoices paid this way. Any letter case.";
    public const string DueBeforeDescription = "Only invoices due before this day (the day itself not included), e.g. 2026-12-01.";
    public const string IssuedFromDescription = "Only invoices issued on or after this day (included).";
    public const string IssuedToDescription = "Only invoices issued on or before this day (included); not before issuedFrom.";

    /// <summary>The filter of the query's values, as the request gate and <see cref="Validate"/> let them through.</summary>
    public static InvoiceListFilter Filter(string? status, string? currency, string? method, DateOnly? dueBefore, DateOnly? issuedFrom,
        DateOnly? issuedTo) =>
        new(Parse<InvoiceListStatus>(status), string.IsNullOrEmpty(currency) ? null : currency, Parse<PaymentMethod>(method), dueBefore,
            issuedFrom, issuedTo);

    /// <summary>An enum value by its snake_case name in any letter case, as the API writes it; null for anything else.</summary>
    public static T? Parse<T>(string? text) where T : struct, Enum =>
        text is null ? null : Enum.GetValues<T>().Cast<T?>().FirstOrDefault(v => string.Equals(LedgerJson.NameOf(v!.Value), text.Trim(), StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// The filters finance's list and its sums take from the query string, declared once for both ([AsParameters]). Wolverine describes
/// each member as a query parameter with the member's attributes, so the OpenAPI document and the request gate read them as they read
/// an endpoint method's parameters; a Validate method takes the object, as Wolverine binds its members into it, not as locals.
/// </summary>
public sealed class InvoiceListQuery
{
    [FromQuery(Name = "status")]
    [Description(InvoiceList.StatusDescription)]
    [OneOf(typeof(InvoiceListStatus))]
    public string? Status { get; set; }

    [FromQuery(Name = "currency")]
    [Description(InvoiceList.CurrencyDescription)]
    [CurrencyCode]
    public string? Currency { get; set; }

    [FromQuery(Name = "method")]
    [Description(InvoiceList.MethodDescription)]
    [OneOf(typeof(PaymentMethod))]
    public string? Method { get; set; }

    [FromQuery(Name = "dueBefore")]
    [Description(InvoiceList.DueBeforeDescription)]
    public DateOnly? DueBefore { get; set; }

    [FromQuery(Name = "issuedFrom")]
    [Description(InvoiceList.IssuedFromDescription)]
    public DateOnly? IssuedFrom { get; set; }

    [FromQuery(Name = "issuedTo")]
    [Description(InvoiceList.IssuedToDescription)]
    public DateOnly? IssuedTo { get; set; }

    public InvoiceListFilter Filter() => InvoiceList.Filter(Status, Currency, Method, DueBefore, IssuedFrom, IssuedTo);
}

public static class ListInvoicesEndpoint
{
    public static ProblemDetails Validate(HttpRequest request, InvoiceListQuery query) =>
        InvoiceList.Validate(request, query.IssuedFrom, query.IssuedTo);

    [WolverineGet("/api/invoices", OperationId = "ListInvoices")]
    [Authorize(Roles = InvoiceList.Roles)]
    [EndpointSummary("Invoices across accounts for finance and auditors: filter by status (open, overdue, paid, cancelled, refund_owed), currency, method and dates; by due date then number, a page at a time, with sums per currency unless sums=omit")]
    [ProducesResponseType<InvoiceListPage>(StatusCodes.Status200OK)]
    [ProducesResponseType<HttpValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    public static async Task<InvoiceListPage> Get(
        [AsParameters] InvoiceListQuery query,
        [Description("The page, from 1 (default 1); a page past the last has no items.")][Range(1, Paging.MaxPage)] int? page,
        [Description("Invoices per page (default 50).")][Range(1, InvoiceList.MaxPageSize)] int? pageSize,
        [Description("include (the default): the page carries total and totals, the count and sums of every invoice the filters match. " +
                     "omit: they are null and the page is read without adding every matching invoice up (at 100,000 accounts the sums are " +
                     "most of the read); page by hasMore, and read the count and sums from GET /api/invoices/sums with the same filters. " +
                     "Any letter case.")]
        [OneOf(typeof(InvoiceListSumsOption))] string? sums,
        IQuerySession session, TimeProvider clock, HttpContext http, CancellationToken ct)
    {
        var filter = query.Filter();
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var withSums = InvoiceList.Parse<InvoiceListSumsOption>(sums) != InvoiceListSumsOption.Omit;
        var read = await InvoiceList.ReadAsync(session, filter, page ?? 1, pageSize ?? InvoiceList.DefaultPageSize, withSums, today, ct);
        Paging.Links(http, read.Page, read.PageSize, read.Total, read.HasMore);
        return read;
    }
}

public static class ListInvoiceSumsEndpoint
{
    public static ProblemDetails Validate(HttpRequest request, InvoiceListQuery query) =>
        InvoiceList.Validate(request, query.IssuedFrom, query.IssuedTo);

    [WolverineGet("/api/invoices/sums", OperationId = "ListInvoiceSums")]
    [Authorize(Roles = InvoiceList.Roles)]
    [EndpointSummary("The count and sums per currency of the invoices finance's list filters match (all pages): what GET /api/invoices carries beside its page, read apart from it (sums=omit there)")]
    [ProducesResponseType<InvoiceListSums>(StatusCodes.Status200OK)]
    [ProducesResponseType<HttpValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    public static Task<InvoiceListSums> Get(
        [AsParameters] InvoiceListQuery query,
        IQuerySession session, CancellationToken ct) =>
        InvoiceList.SumsAsync(session, query.Filter(), ct);
}
