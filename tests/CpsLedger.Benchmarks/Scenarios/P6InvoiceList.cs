using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Benchmarks.Harness;
using JasperFx.Events;
using Marten;
using Marten.Events;
using Npgsql;
using Weasel.Core;

namespace CpsLedger.Benchmarks.Scenarios;

/// <summary>
/// P6: finance's invoice list across accounts (GET /api/invoices, one client, finance token), first page, by status: open, overdue,
/// refund_owed, paid and no filter, at P5's two ledger sizes. Every seeded account has an invoice, every third one a second (the year
/// before's, paid): most paid, a few percent open, fewer overdue, some cancelled (a third of those after money arrived, so owed back),
/// one in a hundred overpaid. The same read in process (the endpoint's own method on the store, no HTTP) is the baseline, with its
/// database round trips per read. Each filter is read three ways (<see cref="Reads"/>): the page with its sums, the page alone
/// (<c>sums=omit</c>) and the sums alone. Held to P5's target (p99 &lt;= 10 ms; the larger size no worse than 1.5x the smaller).
/// Then, at each size, the whole ledger verified as <c>verify</c> does it (<see cref="VerifyAsync"/>), its invoices' events and
/// number claims included, against a scan of every event: an error, and no time, when it finds a difference.
/// </summary>
public static class P6InvoiceList
{
    public static readonly string?[] Statuses = ["open", "overdue", "refund_owed", "paid", null];

    public static async Task<IReadOnlyList<Figure>> RunAsync(Context ctx)
    {
        var figures = new List<Figure>();
        using var http = ctx.App.ClientAs(LedgerRoles.Finance);
        var store = ctx.App.Store;
        var previous = new Dictionary<string, double>();
        var invoiced = 0;
        var invoices = 0;
        foreach (var size in ctx.Scale.ReadAccounts)
        {
            var seeding = await ctx.Seeder.EnsureAccountsAsync(size);
            var started = System.Diagnostics.Stopwatch.StartNew();
            invoices += await SeedInvoicesAsync(store, ctx.Seeder.Accounts, invoiced, size);
            invoiced = size;
            await Analyze(ctx.ConnectionString);
            ctx.Log($"  P6 seeded to {size:N0} accounts in {seeding.TotalSeconds:F1} s, {invoices:N0} invoices in {started.Elapsed.TotalSeconds:F1} s");

            foreach (var status in Statuses)
            {
                foreach (var read in Reads)
                    figures.Add(await MeasureAsync(ctx, http, store, previous, status, read, size, invoices));
            }

            figures.Add(await VerifyAsync(ctx, store, size, invoices));
        }

        return figures;
    }

    /// <summary>
    /// The three reads of each filter: the list as it was (the page with its sums), the page without them (<c>sums=omit</c>, since
    /// 2026-12-07) and the sums apart (<c>GET /api/invoices/sums</c>), which the console asks for after the page.
    /// </summary>
    public static readonly string[] Reads = ["page with sums", "page, sums=omit", "sums"];

    private static async Task<Figure> MeasureAsync(Context ctx, HttpClient http, IDocumentStore store, Dictionary<string, double> previous,
        string? status, string read, int size, int invoices)
    {
        var name = $"{status ?? "no filter"}, {read}";
        var query = status is null ? "" : $"status={status}";
        var url = read switch
        {
            "sums" => $"/api/invoices/sums{(query.Length == 0 ? "" : "?")}{query}",
            "page, sums=omit" => $"/api/invoices?{(query.Length == 0 ? "" : $"{query}&")}sums=omit",
            _ => $"/api/invoices{(query.Length == 0 ? "" : "?")}{query}",
        };

        var viaHttp = Load.Get(http, () => url);

        // The endpoint's own method, as its generated handler calls it (a query session of its own per request).
        async Task<string?> Direct(int _, int __)
        {
            await using var session = store.QuerySession();
            if (read == "sums")
            {
                var sums = await ListInvoiceSumsEndpoint.Get(new InvoiceListQuery { Status = status }, session, CancellationToken.None);
                return sums.Total > 0 ? null : "no invoice counted";
            }

            var page = await ListInvoicesEndpoint.Get(new InvoiceListQuery { Status = status }, null, null, read.EndsWith("sums=omit", StringComparison.Ordinal) ? "omit" : null,
                session, TimeProvider.System, new Microsoft.AspNetCore.Http.DefaultHttpContext(), CancellationToken.None);
            return page.Items.Count > 0 ? null : "an empty page";
        }

        await Load.RunAsync(3, 1, viaHttp);
        var warm = await Load.RunAsync(3, 1, Direct);
        long trips;
        using (var counter = new RoundTrips())
        {
            await Load.RunAsync(5, 1, Direct);
            trips = counter.Count;
        }

        // As many reads as fit in about 20 s a side (slow reads would otherwise take minutes), within P5's count.
        var count = (int)Math.Clamp(20_000 / Math.Max(warm.Latency.P50, 0.1), 20, Math.Max(20, ctx.Scale.ReadsPerLevel / 2));
        var (direct, result) = await Load.TakingTurnsAsync(4, count, 1, Direct, viaHttp);
        ctx.Log($"  P6 {name} at {size:N0}: p50 {result.Latency.P50:F2} p99 {result.Latency.P99:F2} ms; in process p50 " +
                $"{direct.Latency.P50:F2} p99 {direct.Latency.P99:F2} ms; {trips / 5.0:F1} round trips; {result.Ops} reads a side");
        return P5AccountReads.AtSize(ctx, previous, "P6", name, $"invoice list, {name}, {size:N0} accounts ({invoices:N0} invoices)",
            result, direct, Load.FailureNote(result, direct),
            $"{result.Ops} reads a side; {trips / 5.0:F1} database round trips per read (in process)");
    }

    /// <summary>
    /// The whole ledger verified (<see cref="LedgerVerification"/>): P4 verifies a ledger of accounts and products only when it runs
    /// alone, so this is where the invoices' checks are measured at scale (since 2026-12-07 the invoices' events read once for their
    /// running totals and the number claims' check, and every invoice and credit note number claim read). What the ledger holds
    /// besides P6's accounts and invoices is what the scenarios before it in the run left.
    /// </summary>
    private static async Task<Figure> VerifyAsync(Context ctx, IDocumentStore store, int size, int invoices)
    {
        var (scanned, scanElapsed) = await LedgerVerification.ScanAllEventsAsync(ctx.ConnectionString);
        var (elapsed, report, error) = await LedgerVerification.RunAsync(store);
        int invoiceClaims, creditNoteClaims, invoiceEvents;
        await using (var session = store.QuerySession())
        {
            invoiceClaims = await session.Query<InvoiceNumberClaim>().CountAsync();
            creditNoteClaims = await session.Query<CreditNoteNumberClaim>().CountAsync();
            Type[] checkedEvents = [.. CpsLedger.Api.Audit.RunningTotals.Events.Union(CpsLedger.Api.Audit.DocumentNumberClaims.Events)];
            invoiceEvents = await session.Events.QueryAllRawEvents().Where(e => e.EventTypesAre(checkedEvents)).CountAsync();
        }

        var what = $"{invoiceEvents:N0} invoice events (issued, payments, credit notes), {invoiceClaims:N0} invoice and {creditNoteClaims:N0} credit note number claims";
        ctx.Log($"  P6 verification of the whole ledger at {size:N0} accounts: {elapsed.TotalSeconds:F1} s, scan {scanElapsed.TotalSeconds:F1} s; {what}" +
                (error is null ? "" : $"; {error}"));
        return new Figure
        {
            Scenario = "P6",
            Name = $"verify the whole ledger, {invoices:N0} invoices of {size:N0} accounts ({scanned:N0} events)",
            Unit = "events/s",
            Value = error is null ? scanned / elapsed.TotalSeconds : null,
            BaselineName = "Npgsql scan + deserialize",
            Baseline = scanned / scanElapsed.TotalSeconds,
            Status = error is null ? null : "error",
            Note = error ?? $"{elapsed.TotalSeconds:F1} s, scan {scanElapsed.TotalSeconds:F1} s: {report!.DocumentsChecked:N0} documents of " +
                $"{report.AccountsChecked:N0} accounts, {what}, hash chains included",
        };
    }

    /// <summary>
    /// Invoices for the accounts from <paramref name="from"/> to <paramref name="to"/>, as the invoice handlers leave them: each invoice's
    /// stream (issued, then its payments, overdue or cancellation and its credit note) bulk-appended, and its inline snapshot (the
    /// <see cref="Invoice"/> document) built with the snapshot's own Create/Apply and bulk-inserted, and its numbers' claims. Returns how
    /// many.
    /// </summary>
    public static async Task<int> SeedInvoicesAsync(IDocumentStore store, IReadOnlyList<Guid> accounts, int from, int to)
    {
        var events = (Marten.Events.EventGraph)((DocumentStore)store).Options.Events;
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var seeded = 0;
        const int chunk = 5_000;
        for (var start = from; start < to; start += chunk)
        {
            var streams = new List<StreamAction>();
            var documents = new List<Invoice>();
            var claims = new List<InvoiceNumberClaim>();
            var creditNoteClaims = new List<CreditNoteNumberClaim>();
            for (var n = start; n < Math.Min(start + chunk, to); n++)
            {
                // This year's invoice, whatever its fate; every third account also last year's, paid.
                Add(n, 0, (n * 37) % 100);
                if (n % 3 == 0)
                    Add(n, 1, 99);
            }

            await store.BulkInsertEventsAsync(streams, 5_000);
            await store.BulkInsertDocumentsAsync(documents, BulkInsertMode.InsertsOnly, 5_000);
            await store.BulkInsertDocumentsAsync(claims, BulkInsertMode.InsertsOnly, 5_000);
            await store.BulkInsertDocumentsAsync(creditNoteClaims, BulkInsertMode.InsertsOnly, 5_000);
            seeded += documents.Count;

            void Add(int n, int yearsAgo, int fate)
            {
                var account = accounts[n];
                var id = Guid.CreateVersion7();
                var number = $"INV-{today.Year - yearsAgo:D4}-{n % 1_000_000:D6}";
                // Open invoices are recent (not due yet); the rest were issued over the year before.
                var issuedOn = fate < 4 ? today.AddDays(-(n % 10)) : today.AddDays(-15 - (n % 340) - 365 * yearsAgo);
                var issuedAt = new DateTimeOffset(issuedOn.ToDateTime(new TimeOnly(9, 0)), TimeSpan.Zero);
                var (currency, total) = (n % 10) switch
                {
                    < 7 => ("EUR", 248m),
                    < 9 => ("SEK", 2_790m),
                    _ => ("PLN", 1_080m),
                };
                var method = n % 2 == 0 ? PaymentMethod.BankTransfer : PaymentMethod.Card;
                var vat = Math.Round(total - total / 1.24m, 2);
                var issued = new InvoiceIssued(id, number, account, Guid.CreateVersion7(), $"CPS-B-{n}", $"Bench Studio {n}", "EE", method, currency,
                    [new InvoiceLine("CPS Gold, 12 months", total - vat)], total - vat, 0.24m, vat, total, issuedOn, issuedOn.AddDays(14), issuedAt,
                    CreditorReference: CreditorReferences.For(number), PeriodStart: issuedOn, PeriodEnd: issuedOn.AddYears(1).AddDays(-1));
                // With its number's claim, as the issue writes it: verification (P4's, on the same ledger) compares claims with events.
                claims.Add(new InvoiceNumberClaim { Id = number, InvoiceId = id, AccountId = account });
                var stream = new List<object> { issued };
                var at = issuedAt.AddDays(3);
                PaymentReceived Payment(decimal amount, PaymentKind kind) => new(id, number, account, Guid.CreateVersion7(), method, amount, currency,
                    DateOnly.FromDateTime(at.UtcDateTime), number, $"B-{n}-{yearsAgo}", kind, amount, Math.Max(total - amount, 0), Math.Max(amount - total, 0), at);
                switch (fate)
                {
                    case < 4: // open, not due yet
                        break;
                    case < 6: // overdue
                        stream.Add(new InvoiceBecameOverdue(id, number, account, total, currency, issuedOn.AddDays(14), issuedOn.AddDays(44), issuedAt.AddDays(15)));
                        break;
                    case < 9: // cancelled by a credit note, as CancelInvoiceDecision does; one in three after the money arrived, which is owed back
                        if (fate == 8)
                            stream.Add(Payment(total, PaymentKind.Full));
                        var creditNote = $"CN-{today.Year - yearsAgo:D4}-{n % 1_000_000:D6}";
                        var cancelledAt = at.AddDays(1);
                        stream.Add(new InvoiceCancelled(id, number, account, creditNote, "Joined by mistake", cancelledAt));
                        stream.Add(new CreditNoteIssued(id, creditNote, number, issuedOn, account, "Joined by mistake", Seller,
                            new InvoiceBuyer($"Bench Studio {n}", null, "EE", null, $"owner{n}@bench.example"), currency, issued.Lines, issued.Subtotal,
                            null, issued.VatRate, issued.Vat, total, fate == 8 ? total : 0m, DateOnly.FromDateTime(cancelledAt.UtcDateTime), cancelledAt));
                        creditNoteClaims.Add(new CreditNoteNumberClaim { Id = creditNote, InvoiceId = id, AccountId = account });
                        break;
                    case 9: // overpaid: paid twice over by mistake
                        stream.Add(Payment(total * 2, PaymentKind.Overpayment));
                        stream.Add(new InvoicePaid(id, number, account, total * 2, at));
                        break;
                    default:
                        stream.Add(Payment(total, PaymentKind.Full));
                        stream.Add(new InvoicePaid(id, number, account, total, at));
                        break;
                }

                var action = StreamAction.Start(events, id, [.. stream]);
                action.AggregateType = typeof(Invoice);
                streams.Add(action);
                var invoice = Invoice.Create(issued);
                foreach (var e in stream.Skip(1))
                {
                    invoice = e switch
                    {
                        PaymentReceived p => invoice.Apply(p),
                        InvoicePaid p => invoice.Apply(p),
                        InvoiceBecameOverdue o => invoice.Apply(o),
                        InvoiceCancelled c => invoice.Apply(c),
                        CreditNoteIssued c => invoice.Apply(c),
                        _ => throw new InvalidOperationException(e.GetType().Name),
                    };
                }

                documents.Add(invoice);
            }
        }

        return seeded;
    }

    /// <summary>The seller on the seeded credit notes.</summary>
    private static readonly InvoiceSeller Seller = new("Bench Seller OÜ", "Bench Seller", new CpsLedger.Api.Accounts.PostalAddress("Bench 1", null, "10111", "Tallinn", "EE"),
        "EE100000001", "10000001", null, "finance@bench.example");

    // After the bulk load, as the seeder does for the accounts: the list's tables, and what verification reads that the invoices added to.
    private static async Task Analyze(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"analyze {BenchApp.Schema}.mt_doc_invoice; analyze {BenchApp.Schema}.mt_doc_accountview; " +
            $"analyze {BenchApp.Schema}.mt_events, {BenchApp.Schema}.mt_streams, {BenchApp.Schema}.account_chain, " +
            $"{BenchApp.Schema}.mt_doc_invoicenumberclaim, {BenchApp.Schema}.mt_doc_creditnotenumberclaim", connection);
        await cmd.ExecuteNonQueryAsync();
    }
}
