using System.Globalization;
using CpsLedger.Api.Invoicing;
using JasperFx.Events;

namespace CpsLedger.Api.Audit;

/// <summary>
/// The running totals an invoice's payment and refund events record (what was received, what was refunded, this one included), against
/// the sum of the amounts recorded in the stream up to them. The invoice takes its <c>totalReceived</c> and <c>outstanding</c> from the
/// last payment event, not from a sum (<see cref="Invoice.Apply(PaymentReceived)"/>), so an event whose total was written wrong (or
/// edited in the database, its chain re-hashed) gives a document and a replay that agree on the wrong figure: only this check sees it.
/// Checked: <see cref="PaymentReceived"/>'s <c>TotalReceived</c> and <c>Outstanding</c> (the invoice's total less what was received,
/// never below 0), <see cref="PaymentReceivedAfterCancellation"/>'s and <see cref="InvoicePaid"/>'s <c>TotalReceived</c>, and
/// <see cref="RefundPaid"/>'s <c>Refunded</c>. The balances that also depend on the invoice's state when recorded (overpaid, refund
/// due, still owed back) are not: they are not running totals. The sums go on from the amounts, not from a wrong total, so one event
/// written wrong is one difference.
/// </summary>
public static class RunningTotals
{
    /// <summary>What a difference's <see cref="ProjectionDifference.Field"/> starts with, followed by the event's version in its
    /// stream, its type and the field: "(event 3) payment_received.TotalReceived".</summary>
    public const string FieldPrefix = "(event ";

    /// <summary>The events that record an amount or a running total, and the invoice's issue (its total).</summary>
    public static readonly Type[] Events =
        [typeof(InvoiceIssued), typeof(PaymentReceived), typeof(PaymentReceivedAfterCancellation), typeof(InvoicePaid), typeof(RefundPaid)];

    /// <summary>
    /// Every running total in the events given (any streams' and types'; the invoices' payment events are picked out) that is not the
    /// sum of the amounts before it in its stream: a difference each, <c>stored</c> the event's figure and <c>replayed</c> the sum.
    /// </summary>
    public static IReadOnlyList<ProjectionDifference> Compare(IEnumerable<IEvent> events)
    {
        var differences = new List<ProjectionDifference>();
        foreach (var stream in events.Where(e => Events.Contains(e.EventType)).GroupBy(e => e.StreamId))
        {
            decimal? total = null;
            decimal received = 0, refunded = 0;
            foreach (var e in stream.OrderBy(e => e.Version))
            {
                void Check(string field, decimal recorded, decimal sum)
                {
                    if (recorded != sum)
                        differences.Add(new ProjectionDifference(nameof(Invoice), e.StreamId.ToString(),
                            $"{FieldPrefix}{e.Version}) {e.EventTypeName}.{field}", Json(recorded), Json(sum)));
                }

                switch (e.Data)
                {
                    case InvoiceIssued issued:
                        total = issued.Total;
                        break;
                    case PaymentReceived payment:
                        received += payment.Amount;
                        Check(nameof(payment.TotalReceived), payment.TotalReceived, received);
                        if (total is { } t)
                            Check(nameof(payment.Outstanding), payment.Outstanding, Math.Max(t - received, 0));
                        break;
                    case PaymentReceivedAfterCancellation payment:
                        received += payment.Amount;
                        Check(nameof(payment.TotalReceived), payment.TotalReceived, received);
                        break;
                    case InvoicePaid paid:
                        Check(nameof(paid.TotalReceived), paid.TotalReceived, received);
                        break;
                    case RefundPaid refund:
                        refunded += refund.Amount;
                        Check(nameof(refund.Refunded), refund.Refunded, refunded);
                        break;
                }
            }
        }

        return differences;
    }

    // As the document's figures read in the report's other differences: a JSON number.
    private static string Json(decimal value) => value.ToString(CultureInfo.InvariantCulture);
}
