using CpsLedger.Api.Audit;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Products;
using CpsLedger.Api.Tiers;

namespace CpsLedger.Tests.Audit;

/// <summary>The history's sentences as pure functions of their events: true in every order the events can come in.</summary>
public sealed class HistorySentenceTests
{
    private static PaymentReceivedAfterCancellation FoundCharge(decimal amount, decimal totalReceived, decimal refundDue) =>
        new(Guid.NewGuid(), "INV-2026-000001", Guid.NewGuid(), Guid.NewGuid(), PaymentMethod.Card, amount, "EUR", new DateOnly(2026, 12, 5),
            "INV-2026-000001-attempt-1", "sandbox-ch-1", "CN-2026-000001", totalReceived, refundDue, DateTimeOffset.UnixEpoch);

    [Fact]
    public void An_overpayment_says_by_how_much_the_invoice_is_overpaid_as_the_invoice_reads_it()
    {
        // 248.00 EUR; 300.00 received, 20.00 of the excess refunded, then 10.00 more: what is overpaid is the invoice's own figure
        // after each payment (received beyond the total, less what was refunded), not the payment's excess alone.
        var invoice = Tests.Invoicing.TestInvoices.Issued();
        (Invoice Invoice, string Sentence) Pay(Invoice before, decimal amount, string bankReference)
        {
            var events = InvoicePayments.Receive(before, Guid.NewGuid(), PaymentMethod.BankTransfer, amount, "EUR", new DateOnly(2026, 12, 1), null,
                bankReference, DateTimeOffset.UnixEpoch);
            var received = events.OfType<PaymentReceived>().Single();
            var after = events.Aggregate(before.Apply(received), (i, e) => e is InvoicePaid paid ? i.Apply(paid) : i);
            return (after, AccountHistory.Describe(received));
        }

        var (paid, first) = Pay(invoice, 300m, "B1");
        Assert.Equal("300.00 EUR received for INV-2026-000001 (overpayment, bank transfer); the invoice is now overpaid by 52.00 EUR", first);
        var refunded = paid.Apply(RefundDecision.Decide(paid, new RecordRefund(20m, "EUR", new DateOnly(2026, 12, 3), "R1"), Guid.NewGuid(),
            DateTimeOffset.UnixEpoch));
        var (again, second) = Pay(refunded, 10m, "B2");
        Assert.Equal(42m, again.Overpaid);
        Assert.Equal("10.00 EUR received for INV-2026-000001 (overpayment, bank transfer); the invoice is now overpaid by 42.00 EUR", second);

        // A partial or full payment says nothing of an excess.
        Assert.Equal("100.00 EUR received for INV-2026-000001 (partial, bank transfer)", Pay(invoice, 100m, "B3").Sentence);
    }

    [Fact]
    public void Amounts_are_written_as_the_invoice_writes_them_with_thousands_grouped()
    {
        // The history, the e-mails and the PDF name the same sum the same way: 1,248.00, not 1248.00 here and 1,248.00 there.
        Assert.Equal("1,248.00 EUR charged to the card for INV-2026-000001, found approved at the payment provider after the invoice was " +
                     "cancelled by credit note CN-2026-000001: all of it to refund, 12,348.50 EUR on the invoice in all",
            AccountHistory.Describe(FoundCharge(1248m, 12348.5m, 12348.5m)));
    }

    [Fact]
    public void A_card_charge_found_after_the_cancellation_is_not_said_to_be_received_after_it()
    {
        // The card was presented before the cancellation committed (its answer lost): only the finding came after.
        Assert.Equal("248.00 EUR charged to the card for INV-2026-000001, found approved at the payment provider after the invoice was " +
                     "cancelled by credit note CN-2026-000001: 248.00 EUR to refund",
            AccountHistory.Describe(FoundCharge(248m, 248m, 248m)));
    }

    [Fact]
    public void A_card_charge_found_after_the_cancellation_says_what_is_to_refund_on_the_invoice_beside_it()
    {
        // The credit note had 100.00 received on the invoice to refund already: the charge adds all of itself to it.
        Assert.Equal("248.00 EUR charged to the card for INV-2026-000001, found approved at the payment provider after the invoice was " +
                     "cancelled by credit note CN-2026-000001: all of it to refund, 348.00 EUR on the invoice in all",
            AccountHistory.Describe(FoundCharge(248m, 348m, 348m)));
    }

    [Fact]
    public void A_stopped_renewal_does_not_say_the_membership_ends_as_a_later_choice_resumes_it()
    {
        // Choosing a tier after stopping resumes the renewal (ChooseRenewal's Decide): the stop alone does not end the membership.
        Assert.Equal("Renewal stopped: the membership is not renewed at its term end unless a renewal tier is chosen again before then",
            AccountHistory.Describe(new RenewalStopped(Guid.NewGuid(), Guid.NewGuid(), DateTimeOffset.UnixEpoch)));
    }

    [Fact]
    public void Joining_names_the_fee_before_vat_and_how_it_is_to_be_paid_not_a_payment()
    {
        // Joining pays nothing: the invoice follows, 248.00 with VAT. "200.00 EUR by bank transfer" read as money received.
        var joined = new CpsJoined(Guid.NewGuid(), Guid.NewGuid(), "CPS-482-173-905", "gold", "Gold", TierKind.Standard, 200m, "EUR",
            PaymentMethod.BankTransfer, new DateOnly(2026, 12, 5), new DateOnly(2027, 12, 4), 1, 1000, 2, DateTimeOffset.UnixEpoch);

        Assert.Equal("Joined CPS: Gold, 200.00 EUR a year before VAT, paying by bank transfer, 2026-12-05 to 2027-12-04, membership number " +
                     "CPS-482-173-905", AccountHistory.Describe(joined));
    }

    [Fact]
    public void An_upgrade_names_its_pro_rata_amount_as_before_vat()
    {
        var upgraded = new TierUpgraded(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), "gold", "Gold", 200m, "platinum", "Platinum",
            TierKind.Standard, 350m, "EUR", new DateOnly(2026, 12, 5), 120, 365, 49.32m, 1, 1600, 3, Guid.NewGuid(), DateTimeOffset.UnixEpoch);

        Assert.Equal("Upgraded from Gold to Platinum on 2026-12-05: 49.32 EUR before VAT for 120 of 365 days", AccountHistory.Describe(upgraded));
    }

    [Fact]
    public void A_renewal_offer_and_a_tier_chosen_name_the_fee_as_before_vat()
    {
        var offered = new RenewalOffered(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), "CPS-482-173-905", new DateOnly(2027, 12, 4), ["silver", "gold"],
            "gold", "Gold", TierKind.Standard, 200m, "EUR", PaymentMethod.BankTransfer, 1, 1000, 2, Guid.NewGuid(), DateTimeOffset.UnixEpoch);
        var chosen = new RenewalTierChosen(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), "silver", "Silver", TierKind.Standard, 100m, "EUR", 1,
            1000, 2, Guid.NewGuid(), DateTimeOffset.UnixEpoch);

        Assert.Equal("Renewal offered for the term ending 2027-12-04: Gold pre-selected (200.00 EUR a year before VAT); eligible: silver, gold",
            AccountHistory.Describe(offered));
        Assert.Equal("Renewal tier chosen: Silver (100.00 EUR a year before VAT)", AccountHistory.Describe(chosen));
    }

    [Fact]
    public void A_suspension_does_not_call_a_partly_paid_invoice_unpaid()
    {
        // Suspended after the grace period with part of the invoice paid: what is true in every case is that it was not paid in full.
        var suspended = new MembershipSuspended(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), "INV-2026-000002", DateTimeOffset.UnixEpoch);

        Assert.Equal("Membership suspended: invoice INV-2026-000002 not paid in full", AccountHistory.Describe(suspended));
        Assert.Equal("Membership stays suspended, now for invoice INV-2026-000002 not paid in full: invoice INV-2026-000001, which it was " +
                     "suspended for, was paid",
            AccountHistory.DescribeMovedSuspension(suspended, "INV-2026-000001",
                new InvoicePaid(Guid.NewGuid(), "INV-2026-000001", Guid.NewGuid(), 248m, DateTimeOffset.UnixEpoch)));
    }

    [Fact]
    public void A_deregistration_names_the_serial_of_the_product_that_left()
    {
        // Two EOS R5 on one account: "EOS-R5 deregistered (sold)" did not say which one left, though the event records its serial.
        var deregistered = new ProductDeregistered(Guid.NewGuid(), Guid.NewGuid(), "EOS-R5", "0123 4567", DeregistrationReason.Sold, "Sold to a friend",
            DateTimeOffset.UnixEpoch);

        Assert.Equal("EOS-R5 serial 0123 4567 deregistered (sold): Sold to a friend", AccountHistory.Describe(deregistered));
        // One registered without a serial (migrated from an old file that had none) says nothing of one.
        Assert.Equal("EOS-R5 deregistered (lost)",
            AccountHistory.Describe(deregistered with { SerialNumber = null, Reason = DeregistrationReason.Lost, Note = null }));
    }
}
