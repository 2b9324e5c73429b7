using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CsCheck;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;
using Xunit.Abstractions;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// An invoice's money on random histories of the real decisions, folded as the projection folds them: bank transfers (partial, exact,
/// beyond the total, a bank reference sent twice), card charges approved and declined until the invoice is overdue, a charge found
/// at the provider after the invoice was settled, refunds (within, beyond and of nothing owed back, a reference sent twice), and a
/// credit note. After every step the invoice agrees with a plain count of the money kept beside it: every amount received is read
/// once (applied, overpaid, refund due or refunded), a refund is refused exactly when it pays back more than is owed, and every
/// figure an event states is what the fold reads after it. A fixed seed on CI, a random one locally (printed;
/// CPSLEDGER_INVOICE_SEED replays one, CPSLEDGER_INVOICE_WALKS=n runs n walks).
/// </summary>
public sealed class InvoiceMoneyPropertyTests(ITestOutputHelper output)
{
    private static readonly InvoicingOptions Options = new() { CardChargeAttempts = 3 };

    /// <summary>What the walk knows from counting, not from the invoice: the truth the fold is checked against.</summary>
    private sealed class Books
    {
        public decimal Received { get; set; }
        public decimal Refunded { get; set; }
        public bool Cancelled { get; set; }
        public int PaidEvents { get; set; }
        /// <summary>The payments covered the total before any cancellation: the invoice was paid, once.</summary>
        public bool CoveredBeforeCancellation { get; set; }
        public decimal? CreditNoteRefundDue { get; set; }
        public HashSet<string> BankReferences { get; } = new(StringComparer.OrdinalIgnoreCase);
        public HashSet<string> RefundReferences { get; } = new(StringComparer.OrdinalIgnoreCase);
    }

    [Fact]
    public void Random_histories_read_every_amount_once_and_state_what_the_invoice_then_reads()
    {
        var (pcg, walks) = Seeds();
        var seed = pcg.ToString();
        output.WriteLine($"Invoice money seed: {seed} (replay with CPSLEDGER_INVOICE_SEED={seed}), {walks} walks");
        // What the walks reached, printed: a walk that never refunds after a credit note checks nothing of it.
        var reached = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (var walk = 0; walk < walks; walk++)
        {
            var log = new List<string>();
            try
            {
                Walk(pcg, log, reached);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException(
                    $"Walk {walk} of seed {seed} failed (replay with CPSLEDGER_INVOICE_SEED={seed}): {e.Message}\nSteps:\n{string.Join("\n", log)}\n{e}");
            }
        }
        output.WriteLine(string.Join("\n", reached.Select(r => $"{r.Value,8} {r.Key}")));
        foreach (var needed in new[] { "PaymentReceived on Overdue", "RefundPaid on Cancelled", "RefundPaid on Paid", "PaymentReceivedAfterCancellation on Cancelled",
                     "refused: Refund exceeds what is owed back", "refused: Payment already recorded", "CreditNoteIssued on Paid" })
            Assert.True(reached.ContainsKey(needed), $"No walk reached {needed}.");
    }

    private static (PCG Pcg, int Walks) Seeds()
    {
        if (Environment.GetEnvironmentVariable("CPSLEDGER_INVOICE_SEED") is { Length: > 0 } replay)
            return (PCG.Parse(replay), Walks(500));
        return string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? (new PCG(7, 20_261_205), 2_000)
            : (new PCG((uint)Random.Shared.Next(), (ulong)Random.Shared.NextInt64()), Walks(2_000));

        static int Walks(int otherwise) =>
            int.TryParse(Environment.GetEnvironmentVariable("CPSLEDGER_INVOICE_WALKS"), out var walks) ? walks : otherwise;
    }

    private static void Walk(PCG pcg, List<string> log, SortedDictionary<string, int> reached)
    {
        int Draw(int below) => Gen.Int[0, below - 1].Generate(pcg, null, out _);
        decimal Cents(decimal upTo) => upTo <= 0.01m ? 0.01m : Gen.Int[1, (int)(upTo * 100)].Generate(pcg, null, out _) / 100m;

        var method = Draw(2) == 0 ? PaymentMethod.Card : PaymentMethod.BankTransfer;
        var fee = Cents(900m) + 10m;
        var issued = TestInvoices.IssuedEvent(method, fee: fee);
        var invoice = Invoice.Create(issued);
        var books = new Books();
        var now = TestInvoices.Now;
        var attempt = 0;
        log.Add($"issued {invoice.InvoiceNumber}: total {invoice.Total:0.00}, {method}");

        for (var step = 0; step < 3 + Draw(12); step++)
        {
            now = now.AddHours(1 + Draw(48));
            var today = DateOnly.FromDateTime(now.UtcDateTime);
            IReadOnlyList<object> events;
            switch (Draw(7))
            {
                case 0 or 1:
                    {
                        // A transfer: exactly what is outstanding, a part of it, or more than the total; now and then a bank reference again.
                        var amount = Draw(3) switch
                        {
                            0 when invoice.Outstanding > 0 => invoice.Outstanding,
                            1 => Cents(Math.Max(invoice.Outstanding, 1m)),
                            _ => Cents(invoice.Total * 1.5m),
                        };
                        var reference = books.BankReferences.Count > 0 && Draw(6) == 0 ? books.BankReferences.First() : $"BANK-{step}";
                        var transfer = new RecordBankPayment(invoice.InvoiceNumber, null, amount, invoice.Currency, today, reference);
                        var refusal = RecordBankPaymentEndpoint.Validate(invoice, transfer);
                        log.Add($"transfer {amount:0.00} ref {reference}: {Describe(refusal)}");
                        var expected = books.Cancelled ? "Invoice cancelled" : books.BankReferences.Contains(reference) ? "Payment already recorded" : null;
                        Assert.Equal(expected, Title(refusal));
                        if (expected is not null)
                        {
                            Count(reached, $"refused: {expected}");
                            continue;
                        }
                        events = RecordBankPaymentEndpoint.Decide(invoice, transfer, Guid.NewGuid(), now);
                        books.Received += amount;
                        books.BankReferences.Add(reference);
                        break;
                    }
                case 2:
                    {
                        // The card on its due day or a retry: the handler charges only an invoice still owed.
                        if (invoice.Status is InvoiceStatus.Paid or InvoiceStatus.Cancelled)
                            continue;
                        attempt++;
                        var approved = Draw(2) == 0;
                        var result = approved
                            ? new ChargeResult(ChargeOutcome.Approved, $"gw-{attempt}", null)
                            : new ChargeResult(ChargeOutcome.Declined, null, "insufficient funds");
                        log.Add($"card attempt {attempt}: {result.Outcome} on outstanding {invoice.Outstanding:0.00}");
                        events = ChargeCardDecision.Decide(invoice, attempt, result, Guid.NewGuid(), Options, now).Events;
                        if (approved)
                            books.Received += invoice.Outstanding;
                        break;
                    }
                case 3:
                    {
                        // The overdue check on the day after the due date finds only an open invoice to act on.
                        if (invoice.Status != InvoiceStatus.Open)
                            continue;
                        log.Add($"overdue with {invoice.Outstanding:0.00} outstanding");
                        events = [OverdueDecision.Decide(invoice, Options, now).Overdue];
                        break;
                    }
                case 4:
                    {
                        // A charge whose answer was lost, found at the provider once the invoice was settled another way.
                        if (invoice.Status is not (InvoiceStatus.Paid or InvoiceStatus.Cancelled))
                            continue;
                        attempt++;
                        var amount = Cents(invoice.Total);
                        log.Add($"charge found for attempt {attempt}: {amount:0.00}");
                        events = ChargeCardDecision.DecideFound(invoice, attempt,
                            new FoundCharge(ChargeOutcome.Approved, amount, invoice.Currency, $"gw-{attempt}", null), Guid.NewGuid(), now);
                        books.Received += amount;
                        break;
                    }
                case 5:
                    {
                        var owed = books.Cancelled ? books.Received - books.Refunded : Math.Max(books.Received - invoice.Total - books.Refunded, 0);
                        var amount = Draw(3) switch
                        {
                            0 when owed > 0 => owed,
                            1 => Cents(Math.Max(owed, 0.01m)),
                            _ => Cents(invoice.Total),
                        };
                        var reference = books.RefundReferences.Count > 0 && Draw(6) == 0 ? books.RefundReferences.First() : $"REFUND-{step}";
                        // A refund cannot be paid before money came in; each is dated after every payment.
                        var refund = new RecordRefund(amount, invoice.Currency, today, reference);
                        var refusal = invoice.Payments.Count == 0 ? Refused("no payment") : RefundDecision.Validate(invoice, refund);
                        log.Add($"refund {amount:0.00} ref {reference} with {owed:0.00} owed back: {Describe(refusal)}");
                        var expected = books.RefundReferences.Contains(reference) ? "Refund already recorded"
                            : owed <= 0 ? "Nothing to refund"
                            : amount > owed ? "Refund exceeds what is owed back"
                            : null;
                        if (invoice.Payments.Count == 0)
                        {
                            Assert.Equal(0m, owed);
                            continue;
                        }
                        Assert.Equal(expected, Title(refusal));
                        if (expected is not null)
                        {
                            Count(reached, $"refused: {expected}");
                            continue;
                        }
                        var paid = RefundDecision.Decide(invoice, refund, Guid.NewGuid(), now);
                        Assert.Equal(owed - amount, paid.StillOwedBack);
                        events = [paid];
                        books.Refunded += amount;
                        books.RefundReferences.Add(reference);
                        break;
                    }
                default:
                    {
                        var refusal = CancelInvoiceDecision.Validate(invoice);
                        log.Add($"credit note with {books.Received - books.Refunded:0.00} kept: {Describe(refusal)}");
                        Assert.Equal(books.Cancelled ? "Invoice already cancelled" : null, Title(refusal));
                        if (books.Cancelled)
                        {
                            Count(reached, "refused: Invoice already cancelled");
                            continue;
                        }
                        events = CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Issued to the wrong company"), "CN-2026-000001",
                            TestInvoices.Seller, TestInvoices.Buyer(), now);
                        books.Cancelled = true;
                        books.CreditNoteRefundDue = books.Received - books.Refunded;
                        break;
                    }
            }

            if (!books.Cancelled && books.Received >= invoice.Total)
                books.CoveredBeforeCancellation = true;
            var before = invoice;
            invoice = events.Aggregate(invoice, Apply);
            foreach (var e in events)
                Count(reached, $"{e.GetType().Name} on {before.Status}");
            books.PaidEvents += events.OfType<InvoicePaid>().Count();
            log.Add($"  -> {string.Join(", ", events.Select(e => e.GetType().Name))}: {invoice.Status}, received {invoice.TotalReceived:0.00}, " +
                    $"outstanding {invoice.Outstanding:0.00}, overpaid {invoice.Overpaid:0.00}, refund due {invoice.RefundDue:0.00}, refunded {invoice.Refunded:0.00}");
            AssertAgrees(before, invoice, events, books);
        }
    }

    private static void Count(SortedDictionary<string, int> reached, string what) =>
        reached[what] = reached.GetValueOrDefault(what) + 1;

    private static void AssertAgrees(Invoice before, Invoice invoice, IReadOnlyList<object> events, Books books)
    {
        Assert.Equal(books.Received, invoice.TotalReceived);
        Assert.Equal(books.Received, invoice.Payments.Sum(p => p.Amount));
        Assert.Equal(books.Refunded, invoice.Refunded);
        Assert.Equal(books.Cancelled, invoice.Status == InvoiceStatus.Cancelled);

        // Every amount received is read in one place: applied to the invoice, still owed back, or refunded.
        var applied = books.Cancelled ? 0 : Math.Min(books.Received, invoice.Total);
        Assert.Equal(books.Received, applied + invoice.Overpaid + invoice.RefundDue + invoice.Refunded);
        Assert.True(invoice.Overpaid >= 0 && invoice.RefundDue >= 0 && invoice.Outstanding >= 0);
        Assert.Equal(invoice.Overpaid + invoice.RefundDue, RefundDecision.OwedBack(invoice));
        if (books.Cancelled)
        {
            Assert.Equal((0m, 0m, books.Received - books.Refunded), (invoice.Outstanding, invoice.Overpaid, invoice.RefundDue));
            Assert.Equal(books.CreditNoteRefundDue, invoice.CreditNote?.RefundDue);
        }
        else
        {
            // A refund pays back only an excess: what paid the invoice stays paid.
            Assert.Equal(Math.Max(invoice.Total - books.Received, 0), invoice.Outstanding);
            Assert.Equal(Math.Max(books.Received - invoice.Total - books.Refunded, 0), invoice.Overpaid);
            Assert.True(books.Refunded <= Math.Max(books.Received - invoice.Total, 0));
            Assert.Equal(books.Received >= invoice.Total, invoice.Status == InvoiceStatus.Paid);
        }
        // Paid once, however much more comes in, and never after the cancellation.
        Assert.Equal(books.CoveredBeforeCancellation ? 1 : 0, books.PaidEvents);
        Assert.Equal(books.CoveredBeforeCancellation, invoice.PaidAt is not null);

        // What each event states is what the invoice reads after it.
        foreach (var e in events)
        {
            switch (e)
            {
                case PaymentReceived r:
                    Assert.Equal((invoice.TotalReceived, invoice.Outstanding, invoice.Overpaid), (r.TotalReceived, r.Outstanding, r.Overpaid));
                    var expectedKind = r.TotalReceived < invoice.Total ? PaymentKind.Partial
                        : r.TotalReceived == invoice.Total ? PaymentKind.Full
                        : PaymentKind.Overpayment;
                    Assert.Equal(expectedKind, r.Kind);
                    break;
                case PaymentReceivedAfterCancellation a:
                    Assert.Equal((invoice.TotalReceived, invoice.RefundDue), (a.TotalReceived, a.RefundDue));
                    break;
                case RefundPaid p:
                    Assert.Equal((invoice.Refunded, RefundDecision.OwedBack(invoice)), (p.Refunded, p.StillOwedBack));
                    Assert.Equal(books.Cancelled ? RefundOf.Cancellation : RefundOf.Overpayment, p.Of);
                    break;
                case CardChargeAttempted { Outcome: ChargeOutcome.Approved } c when before.Status != InvoiceStatus.Cancelled
                                                                                   && before.Status != InvoiceStatus.Paid:
                    Assert.Equal(before.Outstanding, c.Amount);
                    break;
            }
        }
    }

    private static Invoice Apply(Invoice invoice, object e) => e switch
    {
        CardChargeAttempted x => invoice.Apply(x),
        PaymentReceived x => invoice.Apply(x),
        PaymentReceivedAfterCancellation x => invoice.Apply(x),
        RefundPaid x => invoice.Apply(x),
        InvoicePaid x => invoice.Apply(x),
        InvoiceBecameOverdue x => invoice.Apply(x),
        InvoiceCancelled x => invoice.Apply(x),
        CreditNoteIssued x => invoice.Apply(x),
        _ => throw new InvalidOperationException($"The walk does not fold {e.GetType().Name}."),
    };

    private static ProblemDetails Refused(string title) => new() { Title = title };

    private static string? Title(ProblemDetails refusal) => ReferenceEquals(refusal, WolverineContinue.NoProblems) ? null : refusal.Title;

    private static string Describe(ProblemDetails refusal) => Title(refusal) is { } title ? $"refused ({title}: {refusal.Detail})" : "accepted";
}
