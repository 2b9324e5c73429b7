using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Tiers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Invoicing;

/// <summary>Refunds as pure decisions: what is owed back on an invoice, what a refund may pay, and that each amount is read once.</summary>
public sealed class RefundRulesTests
{
    private static readonly DateTimeOffset Now = TestInvoices.Now;
    private static readonly DateOnly Paid = new(2026, 12, 1);

    // 248.00 EUR (200.00 and 24% VAT, Estonia), paid by transfer.
    private static Invoice Received(Invoice invoice, decimal amount, string bankReference) =>
        InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, amount, "EUR", Paid, null, bankReference, Now)
            .Aggregate(invoice, (i, e) => e switch
            {
                PaymentReceived r => i.Apply(r),
                InvoicePaid p => i.Apply(p),
                _ => throw new InvalidOperationException(e.GetType().Name),
            });

    private static Invoice Cancelled(Invoice invoice)
    {
        var events = CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Issued to the wrong company"), "CN-2026-000001",
            TestInvoices.Seller, TestInvoices.Buyer(), Now);
        return invoice.Apply((InvoiceCancelled)events[0]).Apply((CreditNoteIssued)events[1]);
    }

    private static RecordRefund Refund(decimal amount, string reference, string currency = "EUR", DateOnly? paidOn = null) =>
        new(amount, currency, paidOn ?? new DateOnly(2026, 12, 3), reference);

    private static Invoice Refunded(Invoice invoice, RecordRefund refund)
    {
        Assert.Same(WolverineContinue.NoProblems, RefundDecision.Validate(invoice, refund));
        return invoice.Apply(RefundDecision.Decide(invoice, refund, Guid.NewGuid(), Now));
    }

    private static void AssertReadOnce(Invoice invoice)
    {
        // Every amount received is read in one place: applied to the invoice, still owed back, or refunded.
        var applied = invoice.Status == InvoiceStatus.Cancelled ? 0 : Math.Min(invoice.TotalReceived, invoice.Total);
        Assert.Equal(invoice.TotalReceived, applied + invoice.Overpaid + invoice.RefundDue + invoice.Refunded);
    }

    [Fact]
    public void A_refund_of_an_overpayment_reduces_what_is_overpaid_and_is_read_as_refunded()
    {
        var invoice = Received(TestInvoices.Issued(), 300m, "B1");
        Assert.Equal((InvoiceStatus.Paid, 52m), (invoice.Status, invoice.Overpaid));

        var refund = RefundDecision.Decide(invoice, Refund(20m, "R1"), Guid.NewGuid(), Now);
        Assert.Equal((RefundOf.Overpayment, 20m, "EUR", 20m, 32m), (refund.Of, refund.Amount, refund.Currency, refund.Refunded, refund.StillOwedBack));

        invoice = invoice.Apply(refund);
        Assert.Equal((300m, 32m, 0m, 20m), (invoice.TotalReceived, invoice.Overpaid, invoice.RefundDue, invoice.Refunded));
        Assert.Equal(32m, RefundDecision.OwedBack(invoice));
        Assert.Equal(InvoiceStatus.Paid, invoice.Status);
        Assert.Equal(("R1", 20m), (Assert.Single(invoice.Refunds).Reference, invoice.Refunds[0].Amount));
        AssertReadOnce(invoice);

        invoice = Refunded(invoice, Refund(32m, "R2"));
        Assert.Equal((0m, 52m), (invoice.Overpaid, invoice.Refunded));
        AssertReadOnce(invoice);
    }

    [Fact]
    public void A_refund_on_a_cancelled_invoice_reduces_the_refund_due()
    {
        var invoice = Cancelled(Received(TestInvoices.Issued(), 100m, "B1"));
        Assert.Equal(100m, invoice.RefundDue);

        var refund = RefundDecision.Decide(invoice, Refund(60m, "R1"), Guid.NewGuid(), Now);
        Assert.Equal((RefundOf.Cancellation, 60m, 40m), (refund.Of, refund.Refunded, refund.StillOwedBack));
        invoice = invoice.Apply(refund);
        Assert.Equal((0m, 40m, 60m), (invoice.Overpaid, invoice.RefundDue, invoice.Refunded));
        AssertReadOnce(invoice);

        invoice = Refunded(invoice, Refund(40m, "R2"));
        Assert.Equal((0m, 100m), (invoice.RefundDue, invoice.Refunded));
        AssertReadOnce(invoice);
    }

    [Fact]
    public void An_overpayment_refunded_in_part_then_cancelled_owes_back_only_what_was_not_refunded_and_the_credit_note_says_so()
    {
        var invoice = Refunded(Received(TestInvoices.Issued(), 300m, "B1"), Refund(52m, "R1"));
        Assert.Equal(0m, invoice.Overpaid);

        var events = CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Issued to the wrong company"), "CN-2026-000001",
            TestInvoices.Seller, TestInvoices.Buyer(), Now);
        Assert.Equal(248m, ((CreditNoteIssued)events[1]).RefundDue);
        invoice = invoice.Apply((InvoiceCancelled)events[0]).Apply((CreditNoteIssued)events[1]);
        Assert.Equal((248m, 52m, 300m), (invoice.RefundDue, invoice.Refunded, invoice.TotalReceived));
        AssertReadOnce(invoice);
    }

    [Fact]
    public void A_credit_note_after_an_earlier_refund_names_what_was_received_and_refunded_before_what_it_refunds()
    {
        var invoice = Refunded(Received(TestInvoices.Issued(), 300m, "B1"), Refund(52m, "R1"));
        var note = (CreditNoteIssued)CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Issued to the wrong company"), "CN-2026-000001",
            TestInvoices.Seller, TestInvoices.Buyer(), Now)[1];

        // 248.00 is what is refunded, not what was received: 300.00 was, 52.00 of it refunded as an overpayment before the cancellation.
        Assert.Equal(["Received on invoice INV-2026-000001: 300.00 EUR; refunded already: 52.00 EUR.",
            "The remaining 248.00 EUR will be refunded to you."], InvoiceWording.CreditNoteSettlement(invoice, note));
    }

    [Fact]
    public void A_credit_note_with_nothing_refunded_before_says_what_was_received_will_be_refunded()
    {
        var invoice = Received(TestInvoices.Issued(), 100m, "B1");
        var note = (CreditNoteIssued)CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Issued to the wrong company"), "CN-2026-000001",
            TestInvoices.Seller, TestInvoices.Buyer(), Now)[1];

        Assert.Equal(["100.00 EUR received on invoice INV-2026-000001 will be refunded to you."], InvoiceWording.CreditNoteSettlement(invoice, note));
    }

    [Fact]
    public void The_membership_ended_email_names_what_was_received_and_refunded_before_what_is_to_be_refunded()
    {
        var invoice = Cancelled(Refunded(Received(TestInvoices.Issued(), 300m, "B1"), Refund(52m, "R1")));
        var term = new MembershipTerm(invoice.MembershipId, invoice.MembershipNumber, "gold", "Gold", TierKind.Standard, 200m, "EUR",
            PaymentMethod.BankTransfer, new DateOnly(2026, 1, 1), new DateOnly(2026, 12, 31), 1, new DateOnly(2026, 12, 5), "lapsed");

        var body = MembershipYearEmails.Ended(TestInvoices.Buyer(), term, bySupport: true, [invoice]).MemberText();

        Assert.Contains($"Invoice {invoice.InvoiceNumber} is cancelled by credit note CN-2026-000001: there is nothing to pay on it. Of the 300.00 EUR " +
                        "received on it, 52.00 EUR was refunded already; the remaining 248.00 EUR is to be refunded to you.", body);
    }

    [Fact]
    public void A_payment_after_a_refund_records_what_is_overpaid_now()
    {
        var invoice = Refunded(Received(TestInvoices.Issued(), 300m, "B1"), Refund(52m, "R1"));
        var again = InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, 10m, "EUR", Paid, null, "B2", Now);
        var received = Assert.IsType<PaymentReceived>(Assert.Single(again));
        Assert.Equal((PaymentKind.Overpayment, 310m, 10m), (received.Kind, received.TotalReceived, received.Overpaid));
        Assert.Equal(10m, invoice.Apply(received).Overpaid);
    }

    [Fact]
    public void Nothing_is_refunded_on_an_invoice_that_owes_nothing_back()
    {
        var unpaid = TestInvoices.Issued();
        var partly = Received(unpaid, 100m, "B1");
        var exactly = Received(unpaid, 248m, "B1");
        var cancelledUnpaid = Cancelled(unpaid);
        var refundedInFull = Refunded(Received(unpaid, 300m, "B1"), Refund(52m, "R1"));

        foreach (var invoice in new[] { unpaid, partly, exactly, cancelledUnpaid, refundedInFull })
        {
            var problem = RefundDecision.Validate(invoice, Refund(1m, "R9"));
            Assert.Equal((409, "Nothing to refund"), (problem.Status, problem.Title));
        }
    }

    [Fact]
    public void A_refund_more_than_owed_back_in_another_currency_or_with_a_reference_recorded_before_is_refused()
    {
        var invoice = Refunded(Received(TestInvoices.Issued(), 300m, "B1"), Refund(2m, "R1"));

        ProblemDetails Problem(RecordRefund refund) => RefundDecision.Validate(invoice, refund);
        Assert.Equal((409, "Refund exceeds what is owed back"), (Problem(Refund(50.01m, "R2")).Status, Problem(Refund(50.01m, "R2")).Title));
        Assert.Contains("50.00 EUR is owed back", Problem(Refund(50.01m, "R2")).Detail);
        // Thousands grouped as on the invoice and in the e-mails.
        var large = Refunded(Received(TestInvoices.Issued(), 2300m, "B1"), Refund(2m, "R1"));
        Assert.Contains("2,050.00 EUR is owed back on invoice", RefundDecision.Validate(large, Refund(2050.01m, "R2")).Detail);
        Assert.Contains("not 2,050.01.", RefundDecision.Validate(large, Refund(2050.01m, "R2")).Detail);
        // A currency the invoice was never in is a mistyped field, as on a transfer: a 400 naming it, not a conflict with what was recorded.
        var otherCurrency = Assert.IsType<HttpValidationProblemDetails>(Problem(Refund(10m, "R2", "USD")));
        Assert.Equal(400, otherCurrency.Status);
        Assert.Equal([$"Invoice {invoice.InvoiceNumber} is in EUR, not USD: a refund is recorded in the currency received."], otherCurrency.Errors["currency"]);
        Assert.Equal((409, "Refund already recorded"), (Problem(Refund(10m, " r1 ")).Status, Problem(Refund(10m, " r1 ")).Title));
        Assert.Same(WolverineContinue.NoProblems, Problem(Refund(50m, "R2")));
    }

    [Fact]
    public void A_refund_dated_before_the_invoice_first_received_money_is_a_mistyped_date()
    {
        var invoice = Received(TestInvoices.Issued(), 300m, "B1");
        var early = Assert.IsType<HttpValidationProblemDetails>(RefundDecision.Validate(invoice, Refund(10m, "R1", paidOn: Paid.AddDays(-1))));
        Assert.Contains("2026-12-01", Assert.Single(early.Errors["paidOn"]));
        Assert.Same(WolverineContinue.NoProblems, RefundDecision.Validate(invoice, Refund(10m, "R1", paidOn: Paid)));
    }
}
