using System.Net;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Invoicing;

/// <summary>Invoices of several accounts in every state, stored as the events the ledger writes: what finance's list reads.</summary>
public static class InvoicesAcrossAccounts
{
    /// <summary>
    /// Two accounts: Alpha Studio owes an overdue EUR invoice (248.00, due 10 days ago) and an open GBP card invoice (124.00) and had
    /// one cancelled after 24.00 was paid on it; Beta Foto part-paid an open one (100.00 of 124.00 outstanding), overpaid another by
    /// 30.00 and had one cancelled with nothing paid. Numbered INV-2026-000001 to 000006 in that order.
    /// </summary>
    public static async Task<(Guid Alpha, Guid Beta)> InvoicesOfTwoAccounts(this LedgerApp app)
    {
        var now = app.Clock.GetUtcNow();
        var alpha = await Account(app, "Alpha Studio", "alpha@example.ee");
        var beta = await Account(app, "Beta Foto", "beta@example.ee");
        await Invoice(app, alpha, "INV-2026-000001", 40, 200m, then: i => [Overdue(i, now)]);
        await Invoice(app, alpha, "INV-2026-000002", 5, 100m, "GBP", PaymentMethod.Card);
        await Invoice(app, beta, "INV-2026-000003", 3, 100m, then: i => Pay(i, 24m, "B-1", now));
        await Invoice(app, beta, "INV-2026-000004", 20, 200m, then: i => Pay(i, 278m, "B-2", now));
        await Invoice(app, alpha, "INV-2026-000005", 10, 100m, then: i =>
        {
            var paid = (PaymentReceived)Pay(i, 24m, "B-3", now).Single();
            return [paid, .. Cancelled(i.Apply(paid), "CN-2026-000001", now)];
        });
        await Invoice(app, beta, "INV-2026-000006", 8, 200m, then: i => Cancelled(i, "CN-2026-000002", now));
        return (alpha, beta);
    }

    /// <summary>
    /// One account, Gamma Studio, owing <paramref name="count"/> open EUR bank-transfer invoices (issued 1 to <paramref name="count"/>
    /// days ago, none overdue yet), numbered INV-2026-000101 on: a list longer than a laptop screen.
    /// </summary>
    public static async Task<(Guid Account, IReadOnlyList<string> Numbers)> OpenInvoicesOfOneAccount(this LedgerApp app, int count)
    {
        var account = await Account(app, "Gamma Studio", "gamma@example.ee");
        var numbers = Enumerable.Range(101, count).Select(n => $"INV-2026-{n:000000}").ToList();
        for (var n = 0; n < count; n++)
            await Invoice(app, account, numbers[n], count - n, 100m);
        return (account, numbers);
    }

    /// <summary>
    /// One account, Delta Studio, with open EUR or GBP bank-transfer invoices all issued at one instant (30 days ago), written in the
    /// order given (not their numbers' order): a list whose order among ties only the tie-break decides.
    /// </summary>
    public static async Task<Guid> InvoicesIssuedAtOneInstant(this LedgerApp app, params (string Number, decimal Fee, string Currency)[] invoices)
    {
        var account = await Account(app, "Delta Studio", "delta@example.ee");
        var at = app.Clock.GetUtcNow() - TimeSpan.FromDays(30);
        foreach (var (number, fee, currency) in invoices)
            await Invoice(app, account, number, 0, fee, currency, issuedAt: at);
        return account;
    }

    private static async Task<Guid> Account(LedgerApp app, string company, string email) =>
        (await app.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Accounts.Accounts.Opening(email, company))
            .ReadAs<BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;

    /// <summary>An invoice issued <paramref name="daysAgo"/> days ago (due 30 days after issue), then whatever <paramref name="then"/> appends.</summary>
    private static async Task Invoice(LedgerApp app, Guid account, string number, int daysAgo, decimal fee, string currency = "EUR",
        PaymentMethod method = PaymentMethod.BankTransfer, Func<Invoice, IEnumerable<object>>? then = null, DateTimeOffset? issuedAt = null)
    {
        var buyer = TestInvoices.Buyer();
        buyer.Id = account;
        var issued = TestInvoices.IssuedEvent(method, buyer, issuedAt ?? app.Clock.GetUtcNow() - TimeSpan.FromDays(daysAgo), number, fee, currency);
        await using var session = app.Store.LightweightSession();
        var events = then?.Invoke(Api.Invoicing.Invoice.Create(issued)).ToList() ?? [];
        session.Events.StartStream<Invoice>(issued.InvoiceId, [issued, .. events]);
        // The numbers' claims, as issuing and cancelling write them: the invoice's and credit note's PDFs and a transfer find them.
        session.Insert(new InvoiceNumberClaim { Id = number, InvoiceId = issued.InvoiceId, AccountId = account });
        foreach (var note in events.OfType<CreditNoteIssued>())
            session.Insert(new CreditNoteNumberClaim { Id = note.CreditNoteNumber, InvoiceId = issued.InvoiceId, AccountId = account });
        await session.SaveChangesAsync();
    }

    private static IEnumerable<object> Pay(Invoice invoice, decimal amount, string bankReference, DateTimeOffset now) =>
        InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, amount, invoice.Currency, invoice.IssuedOn, null, bankReference, now);

    private static object Overdue(Invoice invoice, DateTimeOffset now) => new InvoiceBecameOverdue(invoice.Id, invoice.InvoiceNumber, invoice.AccountId,
        invoice.Outstanding, invoice.Currency, invoice.DueOn, invoice.DueOn.AddDays(14), now);

    /// <summary>The cancellation and its credit note, as every cancellation the ledger makes writes them.</summary>
    private static IEnumerable<object> Cancelled(Invoice invoice, string creditNote, DateTimeOffset now) =>
        CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Issued in error"), creditNote, TestInvoices.Seller, TestInvoices.Buyer(), now);
}
