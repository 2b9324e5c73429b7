using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using CpsLedger.Api.Accounts;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Tiers;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Invoicing;

public sealed class InvoicingRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 14, 0, 0, TimeSpan.Zero);

    private static InvoicingOptions Options() => new()
    {
        BankTransferSurcharges = new(StringComparer.OrdinalIgnoreCase)
        {
            ["IT"] = new() { ["EUR"] = 2.00m, ["GBP"] = 1.70m },
            ["PT"] = new() { ["EUR"] = 1.505m },
        },
    };

    private static VatTreatment Standard(string country, decimal rate) => new(VatCategory.Standard, rate, country, null, null);

    [Fact]
    public void A_bank_transfer_in_a_country_with_a_surcharge_gets_the_surcharge_line_and_vat_on_both_lines()
    {
        var amounts = InvoiceCalculation.Calculate("Gold", 200m, PaymentMethod.BankTransfer, "IT", "EUR", Options(), Standard("IT", 0.22m));
        Assert.Equal([200.00m, 2.00m], amounts.Lines.Select(l => l.Amount));
        Assert.Equal("Bank transfer surcharge (IT)", amounts.Lines[1].Description);
        Assert.Equal(202.00m, amounts.Subtotal);
        Assert.Equal(44.44m, amounts.Vat);
        Assert.Equal(246.44m, amounts.Total);
    }

    [Fact]
    public void A_surcharge_is_charged_at_the_amount_stated_for_the_invoice_s_currency()
    {
        var amounts = InvoiceCalculation.Calculate("Gold", 180m, PaymentMethod.BankTransfer, "IT", "GBP", Options(), Standard("IT", 0.22m));
        Assert.Equal([new InvoiceLine("CPS Gold membership, annual fee", 180.00m), new InvoiceLine("Bank transfer surcharge (IT)", 1.70m)],
            amounts.Lines);
        Assert.Equal((181.70m, 39.97m, 221.67m), (amounts.Subtotal, amounts.Vat, amounts.Total));
    }

    [Fact]
    public void An_invoice_in_a_currency_the_country_s_surcharge_has_no_amount_in_is_not_calculated_and_the_setting_to_add_is_named()
    {
        // PT has a surcharge in euros only: an invoice in pounds has no true surcharge, and none is made up.
        var failure = Assert.Throws<MissingSurchargeException>(() =>
            InvoiceCalculation.Calculate("Gold", 180m, PaymentMethod.BankTransfer, "PT", "GBP", Options(), Standard("PT", 0.23m)));
        Assert.Contains("Invoicing:BankTransferSurcharges:PT:GBP", failure.Message);
        Assert.Equal("Invoicing:BankTransferSurcharges:PT:GBP", failure.Setting);
        // A card pays no surcharge, and a country without one needs none in any currency.
        Assert.Single(InvoiceCalculation.Calculate("Gold", 180m, PaymentMethod.Card, "PT", "GBP", Options(), Standard("PT", 0.23m)).Lines);
        Assert.Single(InvoiceCalculation.Calculate("Gold", 180m, PaymentMethod.BankTransfer, "EE", "GBP", Options(), Standard("EE", 0.24m)).Lines);
        Assert.Equal(["PT"], Options().CountriesWithoutSurchargeIn("GBP"));
        Assert.Equal(["IT", "PT"], Options().CountriesWithoutSurchargeIn("CHF"));
    }

    [Fact]
    public void An_invoice_is_issued_in_its_term_s_currency_with_the_surcharge_stated_in_it()
    {
        // What a renewal, an upgrade or a corrected invoice of a term priced in pounds goes through (IssueInvoiceDecision.Decide).
        var term = new MembershipTerm(Guid.NewGuid(), "CPS-482-173-905", "gold", "Gold", TierKind.Standard, 180m, "GBP", PaymentMethod.BankTransfer,
            new DateOnly(2026, 11, 25), new DateOnly(2027, 11, 24), 2);
        var buyer = TestInvoices.Buyer("IT");
        var issued = IssueInvoiceDecision.Decide(Guid.NewGuid(), "INV-2026-000002", buyer.Id, buyer, term, Options(), TestInvoices.Seller,
            TestInvoices.Payee, TestInvoices.VatTable(), Now);
        Assert.Equal(("GBP", 1.70m), (issued.Currency, issued.Lines[1].Amount));
    }

    [Fact]
    public void A_card_payment_never_has_a_surcharge_even_where_bank_transfers_have_one()
    {
        var amounts = InvoiceCalculation.Calculate("Gold", 200m, PaymentMethod.Card, "IT", "EUR", Options(), Standard("IT", 0.22m));
        Assert.Single(amounts.Lines);
        Assert.Equal(244.00m, amounts.Total);
    }

    [Fact]
    public void A_bank_transfer_in_a_country_without_a_surcharge_has_only_the_fee_line()
    {
        var amounts = InvoiceCalculation.Calculate("Silver", 100m, PaymentMethod.BankTransfer, "EE", "EUR", Options(), Standard("EE", 0.24m));
        Assert.Single(amounts.Lines);
        Assert.Equal((100.00m, 24.00m, 124.00m), (amounts.Subtotal, amounts.Vat, amounts.Total));
    }

    [Fact]
    public void A_zero_rate_decision_gives_no_vat()
    {
        var amounts = InvoiceCalculation.Calculate("Silver", 100m, PaymentMethod.Card, "US", "EUR", Options(),
            new VatTreatment(VatCategory.OutsideScope, 0m, "US", VatRules.OutsideScopeMention, "VATEX-EU-O"));
        Assert.Equal((0m, 0.00m, 100.00m), (amounts.VatRate, amounts.Vat, amounts.Total));
    }

    [Theory]
    [InlineData(0.125, 0.13)] // half away from zero, not to even
    [InlineData(0.135, 0.14)]
    [InlineData(0.124, 0.12)]
    [InlineData(2.675, 2.68)]
    [InlineData(-0.125, -0.13)]
    public void Amounts_round_half_away_from_zero_to_cents(decimal amount, decimal rounded) =>
        Assert.Equal(rounded, InvoiceCalculation.Round(amount));

    [Fact]
    public void Vat_is_rounded_once_on_the_sum_of_rounded_lines()
    {
        // 350 + 1.505 -> 351.51 (line rounded up at the midpoint); 351.51 x 8.1 % = 28.47231 -> 28.47.
        var amounts = InvoiceCalculation.Calculate("Platinum", 350m, PaymentMethod.BankTransfer, "PT", "EUR", Options(), Standard("PT", 0.081m));
        Assert.Equal([350.00m, 1.51m], amounts.Lines.Select(l => l.Amount));
        Assert.Equal(28.47m, amounts.Vat);
        Assert.Equal(379.98m, amounts.Total);
        Assert.Equal(amounts.Total, amounts.Lines.Sum(l => l.Amount) + amounts.Vat);
    }

    [Fact]
    public void Vat_at_a_midpoint_rounds_up()
    {
        // 10.75 x 22 % = 2.365: 2.37 (banker's rounding would give 2.36). A fee of 2.025 is a 2.03 line; 2.03 x 20 % = 0.406 -> 0.41.
        Assert.Equal(2.37m, InvoiceCalculation.Calculate("X", 10.75m, PaymentMethod.Card, "IT", "EUR", Options(), Standard("IT", 0.22m)).Vat);
        Assert.Equal(0.41m, InvoiceCalculation.Calculate("X", 2.025m, PaymentMethod.Card, "FR", "EUR", Options(), Standard("FR", 0.20m)).Vat);
    }

    [Fact]
    public void Invoice_numbers_are_per_year_with_six_digits_and_are_found_in_a_bank_reference()
    {
        Assert.Equal("INV-2026-000001", InvoiceNumbers.Format(2026, 1));
        Assert.Equal("INV-2027-012345", InvoiceNumbers.Format(2027, 12345));
        Assert.Equal("INV-2026-000042", InvoiceNumbers.FindIn("CPS membership inv-2026-000042 Valgus"));
        Assert.Null(InvoiceNumbers.FindIn("membership CPS-482-173-905"));
        Assert.True(InvoiceNumbers.IsWellFormed("INV-2026-000001"));
        Assert.False(InvoiceNumbers.IsWellFormed("INV-2026-1"));
    }

    private static Invoice IssuedInvoice(PaymentMethod method = PaymentMethod.BankTransfer) => TestInvoices.Issued(method, now: Now);

    [Fact]
    public void The_invoice_is_due_thirty_days_after_issue_and_a_card_is_charged_from_the_first_moment_of_the_due_date()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        Assert.Equal((new DateOnly(2026, 11, 25), new DateOnly(2026, 12, 25)), (invoice.IssuedOn, invoice.DueOn));
        Assert.Equal(248.00m, invoice.Total);
    }

    [Fact]
    public void Payments_are_partial_until_they_cover_the_total_and_an_overpayment_is_recorded_as_such()
    {
        var invoice = IssuedInvoice();
        var first = InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, 100m, "EUR", new DateOnly(2026, 12, 1), null, "B1", Now);
        var partial = Assert.IsType<PaymentReceived>(Assert.Single(first));
        Assert.Equal((PaymentKind.Partial, 100m, 148m, 0m), (partial.Kind, partial.TotalReceived, partial.Outstanding, partial.Overpaid));
        invoice = invoice.Apply(partial);

        var second = InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, 150m, "EUR", new DateOnly(2026, 12, 2), null, "B2", Now);
        var over = Assert.IsType<PaymentReceived>(second[0]);
        Assert.Equal((PaymentKind.Overpayment, 250m, 0m, 2m), (over.Kind, over.TotalReceived, over.Outstanding, over.Overpaid));
        Assert.IsType<InvoicePaid>(second[1]);
    }

    [Fact]
    public void A_declined_charge_is_retried_a_day_later_until_the_last_attempt_makes_the_invoice_overdue()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        var declined = new ChargeResult(ChargeOutcome.Declined, null, "card declined");

        var (events, messages) = ChargeCardDecision.Decide(invoice, 1, declined, Guid.NewGuid(), Options(), Now);
        var attempt = Assert.IsType<CardChargeAttempted>(Assert.Single(events));
        Assert.Equal(("INV-2026-000001-attempt-1", new DateOnly(2026, 11, 26)), (attempt.IdempotencyKey, attempt.NextAttemptOn));
        Assert.Single(messages);

        var (last, followUps) = ChargeCardDecision.Decide(invoice, 3, declined, Guid.NewGuid(), Options(), Now);
        Assert.Null(Assert.IsType<CardChargeAttempted>(last[0]).NextAttemptOn);
        var overdue = Assert.IsType<InvoiceBecameOverdue>(last[1]);
        Assert.Equal(new DateOnly(2026, 12, 9), overdue.SuspensionOn);
        Assert.Equal(2, followUps.Count);
    }

    [Fact]
    public void Every_attempt_names_the_card_it_presented_and_one_that_does_not_is_told_by_a_card_recorded_before_it_only()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        var visa = new ChargedCard("Visa", "0002");
        foreach (var (outcome, attempt) in new[] { (ChargeOutcome.Declined, 1), (ChargeOutcome.Error, 3), (ChargeOutcome.Approved, 2) })
        {
            var (events, _) = ChargeCardDecision.Decide(invoice, attempt, new ChargeResult(outcome, null, null), Guid.NewGuid(), Options(), Now, visa);
            Assert.Equal(visa, Assert.IsType<CardChargeAttempted>(events[0]).Card);
        }

        // An attempt recorded before attempts named their card: the card on file is the one charged only if recorded before it.
        var old = new ChargeAttempt(1, "INV-2026-000001-attempt-1", 248m, ChargeOutcome.Declined, null, "card declined", null, Now);
        var saved = new PaymentCard { Brand = "Visa", Last4 = "0002", PaymentMethodReference = "pm_1", RecordedAt = Now.AddDays(-30) };
        Assert.Equal(visa, CardDeclinedEmails.ChargedBefore(old, saved));
        Assert.Null(CardDeclinedEmails.ChargedBefore(old, saved with { Last4 = "0119", RecordedAt = Now.AddMinutes(5) }));
        Assert.Null(CardDeclinedEmails.ChargedBefore(old, saved with { RecordedAt = Now }));
        Assert.Null(CardDeclinedEmails.ChargedBefore(old, new PaymentCard { CardToken = "tok_old_1234", RecordedAt = Now.AddDays(-30) }));
        Assert.Null(CardDeclinedEmails.ChargedBefore(old, null));
    }

    [Fact]
    public void An_overdue_invoice_charged_again_and_declined_records_the_attempt_only_and_the_next_attempt_follows_the_last()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        var declined = new ChargeResult(ChargeOutcome.Declined, null, "card declined");
        var (last, _) = ChargeCardDecision.Decide(invoice, 3, declined, Guid.NewGuid(), Options(), Now);
        invoice = invoice.Apply((CardChargeAttempted)last[0]);
        invoice = invoice.Apply((InvoiceBecameOverdue)last[1]);

        var again = ChargeCardDecision.ChargeOverdue(invoice, Now);
        Assert.Equal((invoice.Id, 4, Now), (again.InvoiceId, again.Attempt, again.DueAt));
        var (events, messages) = ChargeCardDecision.Decide(invoice, again.Attempt, declined, Guid.NewGuid(), Options(), Now);
        var attempt = Assert.IsType<CardChargeAttempted>(Assert.Single(events));
        Assert.Equal(("INV-2026-000001-attempt-4", null), (attempt.IdempotencyKey, attempt.NextAttemptOn));
        Assert.Empty(messages);
    }

    [Fact]
    public void An_approved_charge_pays_the_outstanding_amount()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        var (events, messages) = ChargeCardDecision.Decide(invoice, 2, new ChargeResult(ChargeOutcome.Approved, "sbx_1", null), Guid.NewGuid(),
            Options(), Now);
        Assert.Equal([typeof(CardChargeAttempted), typeof(PaymentReceived), typeof(InvoicePaid)], events.Select(e => e.GetType()));
        Assert.Equal(248.00m, ((PaymentReceived)events[1]).Amount);
        Assert.Empty(messages);
    }

    private static Invoice Applied(Invoice invoice, IEnumerable<object> events) => events.Aggregate(invoice, (i, e) => e switch
    {
        CardChargeAttempted a => i.Apply(a),
        PaymentReceived r => i.Apply(r),
        PaymentReceivedAfterCancellation r => i.Apply(r),
        InvoicePaid p => i.Apply(p),
        InvoiceCancelled c => i.Apply(c),
        CreditNoteIssued n => i.Apply(n),
        _ => throw new InvalidOperationException(e.GetType().Name),
    });

    private static readonly FoundCharge Charged = new(ChargeOutcome.Approved, 248.00m, "EUR", "sbx_1", null);

    [Fact]
    public void A_charge_found_on_an_invoice_paid_by_transfer_meanwhile_is_recorded_as_an_overpayment()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        invoice = Applied(invoice, InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, 248m, "EUR", new DateOnly(2026, 12, 1),
            null, "B1", Now));
        Assert.Equal(InvoiceStatus.Paid, invoice.Status);

        var events = ChargeCardDecision.DecideFound(invoice, 1, Charged, Guid.NewGuid(), Now);
        Assert.Equal([typeof(CardChargeAttempted), typeof(PaymentReceived)], events.Select(e => e.GetType()));
        var attempt = (CardChargeAttempted)events[0];
        Assert.Equal(("INV-2026-000001-attempt-1", 248.00m, ChargeOutcome.Approved, "sbx_1"),
            (attempt.IdempotencyKey, attempt.Amount, attempt.Outcome, attempt.GatewayReference));
        var received = (PaymentReceived)events[1];
        Assert.Equal((PaymentKind.Overpayment, PaymentMethod.Card, 248m, 496m, 248m), (received.Kind, received.Method, received.Amount,
            received.TotalReceived, received.Overpaid));
        var after = Applied(invoice, events);
        Assert.Equal((InvoiceStatus.Paid, 248m, 0m), (after.Status, after.Overpaid, after.RefundDue));
    }

    [Fact]
    public void A_charge_found_on_an_invoice_cancelled_meanwhile_is_recorded_as_received_after_the_cancellation_and_all_of_it_refunded()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        invoice = Applied(invoice, CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Company closed"), "CN-2026-000001", TestInvoices.Seller,
            TestInvoices.Buyer(), Now));
        Assert.Equal((InvoiceStatus.Cancelled, 0m), (invoice.Status, invoice.RefundDue));

        var events = ChargeCardDecision.DecideFound(invoice, 1, Charged, Guid.NewGuid(), Now);
        Assert.Equal([typeof(CardChargeAttempted), typeof(PaymentReceivedAfterCancellation)], events.Select(e => e.GetType()));
        var received = (PaymentReceivedAfterCancellation)events[1];
        Assert.Equal(("CN-2026-000001", 248m, 248m, 248m, "INV-2026-000001-attempt-1", "sbx_1"), (received.CreditNoteNumber, received.Amount,
            received.TotalReceived, received.RefundDue, received.Reference, received.BankReference));
        var after = Applied(invoice, events);
        Assert.Equal((InvoiceStatus.Cancelled, 248m, 0m, 248m), (after.Status, after.TotalReceived, after.Outstanding, after.RefundDue));
        Assert.Equal(PaymentKind.AfterCancellation, Assert.Single(after.Payments).Kind);
        Assert.Equal(ChargeOutcome.Approved, Assert.Single(after.ChargeAttempts).Outcome);
    }

    [Fact]
    public void A_cancelled_invoice_s_refund_due_adds_what_was_received_before_the_cancellation_to_what_came_after()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        invoice = Applied(invoice, InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, 48m, "EUR", new DateOnly(2026, 12, 1),
            null, "B1", Now));
        invoice = Applied(invoice, CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Company closed"), "CN-2026-000001", TestInvoices.Seller,
            TestInvoices.Buyer(), Now));
        Assert.Equal((48m, 48m), (invoice.CreditNote!.RefundDue, invoice.RefundDue));

        var received = Assert.IsType<PaymentReceivedAfterCancellation>(ChargeCardDecision.DecideFound(invoice, 1, Charged with { Amount = 200m },
            Guid.NewGuid(), Now)[1]);
        Assert.Equal((200m, 248m, 248m), (received.Amount, received.TotalReceived, received.RefundDue));
    }

    // Found by a finance QA pass: an overpaid invoice cancelled by a credit note read both overpaid (the excess) and refundDue
    // (everything received, the excess included), the same money twice. What an invoice has received is said once: applied to it
    // (the total less outstanding), overpaid on an invoice that is owed, or a refund due on a cancelled one, never two of them.
    [Theory]
    [InlineData("open", new double[0], false, false, 248, 0, 0)]
    [InlineData("part-paid", new[] { 100.0 }, false, false, 148, 0, 0)]
    [InlineData("paid", new[] { 248.0 }, false, false, 0, 0, 0)]
    [InlineData("overpaid", new[] { 248.0, 50.0 }, false, false, 0, 50, 0)]
    [InlineData("cancelled unpaid", new double[0], true, false, 0, 0, 0)]
    [InlineData("cancelled part-paid", new[] { 100.0 }, true, false, 0, 0, 100)]
    [InlineData("cancelled paid", new[] { 248.0 }, true, false, 0, 0, 248)]
    [InlineData("cancelled overpaid", new[] { 248.0, 50.0 }, true, false, 0, 0, 298)]
    [InlineData("cancelled overpaid, replaced", new[] { 248.0, 50.0 }, true, true, 0, 0, 298)]
    public void What_an_invoice_received_is_read_once_in_every_state_it_can_reach(string state, double[] payments, bool cancelled, bool replaced,
        double outstanding, double overpaid, double refundDue)
    {
        var invoice = IssuedInvoice();
        foreach (var (amount, i) in payments.Select((a, i) => ((decimal)a, i)))
            invoice = Applied(invoice, InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, amount, "EUR",
                new DateOnly(2026, 12, 1), null, $"B{i}", Now));
        if (cancelled)
            invoice = Applied(invoice, CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Issued in error"), "CN-2026-000001",
                TestInvoices.Seller, TestInvoices.Buyer(), Now));
        if (replaced)
            invoice = invoice.Apply(new InvoiceReplaced(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, Guid.NewGuid(), "INV-2026-000002",
                "VAT ID added", Now));

        Assert.Equal(((decimal)outstanding, (decimal)overpaid, (decimal)refundDue), (invoice.Outstanding, invoice.Overpaid, invoice.RefundDue));
        var applied = invoice.Status == InvoiceStatus.Cancelled ? 0m : invoice.Total - invoice.Outstanding;
        Assert.True(invoice.TotalReceived == applied + invoice.Overpaid + invoice.RefundDue, state);
        // The credit note, a document of its moment, says the same refund.
        if (cancelled)
            Assert.Equal(invoice.RefundDue, invoice.CreditNote!.RefundDue);
    }

    [Fact]
    public void A_paid_invoice_cancelled_and_then_found_charged_refunds_everything_and_reads_nothing_overpaid()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        invoice = Applied(invoice, InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, 248m, "EUR", new DateOnly(2026, 12, 1),
            null, "B1", Now));
        invoice = Applied(invoice, ChargeCardDecision.DecideFound(invoice, 1, Charged, Guid.NewGuid(), Now));
        Assert.Equal((InvoiceStatus.Paid, 248m, 0m), (invoice.Status, invoice.Overpaid, invoice.RefundDue));

        invoice = Applied(invoice, CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Company closed"), "CN-2026-000001", TestInvoices.Seller,
            TestInvoices.Buyer(), Now));
        Assert.Equal((InvoiceStatus.Cancelled, 496m, 0m, 0m, 496m), (invoice.Status, invoice.TotalReceived, invoice.Outstanding, invoice.Overpaid,
            invoice.RefundDue));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(ChargeOutcome.Declined)]
    [InlineData(ChargeOutcome.Error)]
    public void Nothing_found_or_a_charge_found_that_moved_no_money_records_nothing(ChargeOutcome? outcome)
    {
        var found = outcome is { } o ? new FoundCharge(o, 248m, "EUR", null, "card declined") : null;
        var invoice = IssuedInvoice(PaymentMethod.Card);
        var cancelled = Applied(invoice, CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Company closed"), "CN-2026-000001",
            TestInvoices.Seller, TestInvoices.Buyer(), Now));
        var paid = Applied(invoice, InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, 248m, "EUR", new DateOnly(2026, 12, 1),
            null, "B1", Now));

        Assert.Empty(ChargeCardDecision.DecideFound(cancelled, 1, found, Guid.NewGuid(), Now));
        Assert.Empty(ChargeCardDecision.DecideFound(paid, 1, found, Guid.NewGuid(), Now));
    }

    [Fact]
    public void A_charge_found_in_another_currency_than_the_invoice_s_is_not_recorded()
    {
        var invoice = IssuedInvoice(PaymentMethod.Card);
        var paid = Applied(invoice, InvoicePayments.Receive(invoice, Guid.NewGuid(), PaymentMethod.BankTransfer, 248m, "EUR", new DateOnly(2026, 12, 1),
            null, "B1", Now));
        Assert.Contains("in USD", Assert.Throws<InvalidOperationException>(() =>
            ChargeCardDecision.DecideFound(paid, 1, Charged with { Currency = "USD" }, Guid.NewGuid(), Now)).Message);
    }

    [Fact]
    public void What_is_owed_in_two_currencies_is_never_added_up()
    {
        // A later tier table may price in another currency: an open invoice of the old term and one of the new are then owed apart.
        // The account's invoices are read newest first.
        var eurNew = TestInvoices.Issued(number: "INV-2027-000003");
        var gbp = TestInvoices.Issued(number: "INV-2027-000002", fee: 150m) with { Currency = "GBP" };
        var eurOld = TestInvoices.Issued(number: "INV-2026-000001", fee: 100m);

        var standing = InvoiceQueries.Standing(null, [eurNew, gbp, eurOld], new DateOnly(2026, 12, 1));

        Assert.Equal([new MoneyOwed(eurNew.Outstanding + eurOld.Outstanding, "EUR"), new MoneyOwed(gbp.Outstanding, "GBP")], standing.Owed);
        Assert.Equal((eurNew.Outstanding + eurOld.Outstanding, "EUR"), (standing.AmountOwed, standing.Currency));
        Assert.Empty(InvoiceQueries.Standing(null, [], new DateOnly(2026, 12, 1)).Owed);
    }

    [Fact]
    public void The_newest_open_invoices_currency_leads_what_is_owed_in_whatever_order_the_invoices_are_read()
    {
        // Time travel replays an account's invoices in the order their streams are found, not newest first as the invoice list reads
        // them: the summary of a moment led with the oldest invoice's currency, the live summary with the newest's.
        var eur = TestInvoices.Issued(number: "INV-2026-000001", now: Now);
        var gbp = TestInvoices.Issued(number: "INV-2027-000002", fee: 310m, now: Now.AddDays(330)) with { Currency = "GBP" };

        foreach (Invoice[] read in new[] { new[] { eur, gbp }, new[] { gbp, eur } })
        {
            var standing = InvoiceQueries.Standing(null, read, new DateOnly(2027, 10, 21));
            Assert.Equal([new MoneyOwed(gbp.Outstanding, "GBP"), new MoneyOwed(eur.Outstanding, "EUR")], standing.Owed);
            Assert.Equal((gbp.Outstanding, "GBP"), (standing.AmountOwed, standing.Currency));
        }
    }

    [Fact]
    public void Suspension_needs_the_invoice_unpaid_and_its_membership_in_force_and_payment_in_full_reinstates()
    {
        var invoice = IssuedInvoice();
        var membership = new AccountMembership
        {
            AccountId = invoice.AccountId,
            Membership = new MembershipTerm(invoice.MembershipId, invoice.MembershipNumber, "gold", "Gold", TierKind.Standard, 200m, "EUR",
                PaymentMethod.BankTransfer, new DateOnly(2026, 11, 25), new DateOnly(2027, 11, 24), 1),
        };
        var suspended = OverdueDecision.Suspend(invoice, membership, Now);
        Assert.NotNull(suspended);
        membership = membership.Apply(suspended);
        Assert.Null(OverdueDecision.Suspend(invoice, membership, Now)); // once
        Assert.Equal(MembershipStatus.Suspended, InvoiceQueries.Standing(membership, [invoice], new DateOnly(2026, 12, 30)).Status);
        Assert.IsType<MembershipReinstated>(OverdueDecision.AfterSettlement(invoice, membership, [invoice], Options().SuspensionGracePeriod, Now));

        invoice = invoice.Apply(new InvoicePaid(invoice.Id, invoice.InvoiceNumber, invoice.AccountId, invoice.Total, Now));
        Assert.Null(OverdueDecision.Suspend(invoice, new AccountMembership { Membership = membership.Membership }, Now));
    }

    [Fact]
    public void Settling_the_invoice_a_suspension_is_for_moves_it_to_another_invoice_of_the_term_overdue_past_its_grace_period()
    {
        var grace = Options().SuspensionGracePeriod;
        var first = IssuedInvoice();
        var membership = new AccountMembership
        {
            AccountId = first.AccountId,
            Membership = new MembershipTerm(first.MembershipId, first.MembershipNumber, "gold", "Gold", TierKind.Standard, 200m, "EUR",
                PaymentMethod.BankTransfer, new DateOnly(2026, 11, 25), new DateOnly(2027, 11, 24), 1),
        };
        membership = membership.Apply(OverdueDecision.Suspend(first, membership, Now)!);
        Invoice OverdueSince(DateTimeOffset at, Guid? membershipId = null) => IssuedInvoice() with
        {
            Id = Guid.NewGuid(),
            InvoiceNumber = $"INV-2026-{at:HHmmss}",
            MembershipId = membershipId ?? first.MembershipId,
            Status = InvoiceStatus.Overdue,
            OverdueAt = at,
        };

        var pastGrace = OverdueSince(Now - grace - TimeSpan.FromHours(1));
        var older = OverdueSince(Now - grace - TimeSpan.FromDays(2));
        var carried = Assert.IsType<MembershipSuspended>(OverdueDecision.AfterSettlement(first, membership, [first, pastGrace, older], grace, Now));
        Assert.Equal((older.Id, older.InvoiceNumber, first.MembershipId), (carried.InvoiceId, carried.InvoiceNumber, carried.MembershipId));
        Assert.Equal(older.Id, membership.Apply(carried).Suspension!.InvoiceId);

        // Still within its grace period, settled already, or of another term: the membership is reinstated.
        Assert.IsType<MembershipReinstated>(OverdueDecision.AfterSettlement(first, membership, [OverdueSince(Now - grace + TimeSpan.FromHours(1))], grace, Now));
        Assert.IsType<MembershipReinstated>(OverdueDecision.AfterSettlement(first, membership, [pastGrace with { Status = InvoiceStatus.Paid }], grace, Now));
        Assert.IsType<MembershipReinstated>(OverdueDecision.AfterSettlement(first, membership, [OverdueSince(Now - grace * 2, Guid.NewGuid())], grace, Now));
        // Not the invoice the suspension is for: nothing changes.
        Assert.Null(OverdueDecision.AfterSettlement(pastGrace, membership, [first, pastGrace], grace, Now));
    }

    [Fact]
    public void The_pdf_is_a_pdf_document_in_every_environment_without_a_licence_choice()
    {
        var pdf = InvoicePdf.Render(IssuedInvoice(), TestInvoices.Payee);
        Assert.Equal("%PDF", System.Text.Encoding.ASCII.GetString(pdf, 0, 4));
        Assert.True(pdf.Length > 1000);
    }

    [Fact]
    public void The_overdue_e_mail_asks_for_payment_by_the_day_before_the_suspension_and_never_by_a_day_already_past()
    {
        var overdueAt = new DateTimeOffset(2026, 12, 4, 9, 0, 0, TimeSpan.Zero);
        var invoice = TestInvoices.Issued() with { Status = InvoiceStatus.Overdue, OverdueAt = overdueAt };
        string Body(DateOnly suspensionOn) =>
            InvoiceEmails.Overdue(TestInvoices.Buyer(), invoice, suspensionOn, TestInvoices.Payee).MemberText()!.ReplaceLineEndings("\n");

        var fortnight = Body(new DateOnly(2026, 12, 18));
        // What will happen unless the invoice is paid in full (a partial payment does not stop it), not what is decided already.
        Assert.Contains("Please pay by 2026-12-17. Unless the invoice is paid in full, your CPS membership (CPS-482-173-905) will be " +
                        "suspended on 2026-12-18; paying in full later lifts the suspension.", fortnight);
        Assert.DoesNotContain("is suspended on", fortnight);

        // A grace of 40 seconds: the suspension falls on the day the invoice went overdue.
        var sameDay = Body(new DateOnly(2026, 12, 4));
        Assert.Contains("Please pay now. Unless the invoice is paid in full, your CPS membership", sameDay);
        Assert.DoesNotContain("2026-12-03", sameDay);
    }

    [Fact]
    public void Every_e_mail_with_the_transfer_details_points_to_the_reference_below_as_the_invoice_does()
    {
        // The invoice says "quoting the reference below:" above its details; the overdue e-mail put them under its sentence about the
        // suspension with no word, the card-declined one called it "the creditor reference" and the suspension's ran its sentence
        // into them.
        var invoice = TestInvoices.Issued(PaymentMethod.Card) with { Status = InvoiceStatus.Overdue, OverdueAt = TestInvoices.Now };
        var attempt = new ChargeAttempt(1, "charge-1", invoice.Total, ChargeOutcome.Declined, null, "insufficient funds", new DateOnly(2026, 12, 20),
            TestInvoices.Now);
        foreach (var email in new[]
                 {
                     InvoiceEmails.Overdue(TestInvoices.Buyer(), invoice, new DateOnly(2026, 12, 18), TestInvoices.Payee),
                     InvoiceEmails.CardDeclined(TestInvoices.Buyer(), invoice, attempt, new ChargedCard("Visa", "0002"), TestInvoices.Payee),
                     InvoiceEmails.Suspended(TestInvoices.Buyer(), invoice, TestInvoices.Now, TestInvoices.Payee),
                 })
        {
            var lines = email.MemberText()!.ReplaceLineEndings("\n").Split('\n');
            var details = Array.FindIndex(lines, line => line.StartsWith("Account holder:", StringComparison.Ordinal));
            var before = lines[..details].Last(line => line.Length > 0);
            Assert.True(before.EndsWith("the reference below:", StringComparison.Ordinal), $"{email.Subject}: the details follow \"{before}\"");
        }
    }

    [Fact]
    public void A_card_invoice_e_mail_says_the_card_is_charged_when_one_is_on_file_and_asks_for_one_or_a_transfer_when_none_is()
    {
        var invoice = TestInvoices.Issued(PaymentMethod.Card, TestInvoices.Buyer("IT"));
        var (due, reference) = ($"{invoice.DueOn:yyyy-MM-dd}", CreditorReferences.Grouped(invoice.CreditorReference));
        string Body(bool cardOnFile) => InvoiceEmails.Invoice(TestInvoices.Buyer("IT"), invoice, [], TestInvoices.Payee, cardOnFile).MemberText()!.ReplaceLineEndings("\n");

        var withCard = Body(cardOnFile: true);
        Assert.Contains($"Your card will be charged 244.00 EUR on {due}; there is nothing to do.", withCard);
        Assert.Contains($"To pay by bank transfer instead, quote the reference below:\nAccount holder: {TestInvoices.Payee.AccountName}", withCard);

        var withoutCard = Body(cardOnFile: false);
        Assert.DoesNotContain("nothing to do", withoutCard);
        Assert.DoesNotContain("will be charged", withoutCard);
        // A sentence the PDF breaks over two lines is one in the e-mail, which the reader's window wraps (MemberEmails.Text).
        Assert.Contains($"No card is on file for your account, so nothing can be charged on {due}.\n" +
                        $"Please record a card in the CPS portal before {due}, or transfer 244.00 EUR " +
                        $"by {due}, quoting the reference below:\nAccount holder:", withoutCard);
        Assert.Contains($"Reference: {reference} (or quote {invoice.InvoiceNumber})\n" +
                        "Otherwise the charge is declined, the invoice becomes overdue and your CPS membership is suspended until it is paid.", withoutCard);
    }

    [Fact]
    public void Payment_instructions_are_whole_sentences_which_the_pdf_wraps_to_its_box_and_the_e_mail_to_the_reader_s_window()
    {
        // Broken by hand for the PDF, a sentence was two elements that the e-mail had to guess back together.
        var invoice = TestInvoices.Issued(PaymentMethod.Card, TestInvoices.Buyer("IT"));
        var due = $"{invoice.DueOn:yyyy-MM-dd}";
        var account = InvoiceWording.TransferDetails(invoice, TestInvoices.Payee);
        const string otherwise = "Otherwise the charge is declined, the invoice becomes overdue and your CPS membership is suspended until it is paid.";

        Assert.Equal([
            $"The card on file for your account will be charged 244.00 EUR on {due}.",
            $"No card on file yet? Record one in the CPS portal before {due}, or transfer 244.00 EUR by {due}, quoting the reference below:",
            .. account, otherwise,
        ], InvoiceWording.PaymentInstructions(invoice, TestInvoices.Payee));
        Assert.Equal([
            $"No card is on file for your account, so nothing can be charged on {due}.",
            $"Please record a card in the CPS portal before {due}, or transfer 244.00 EUR by {due}, quoting the reference below:",
            .. account, otherwise,
        ], InvoiceWording.PaymentInstructions(invoice, TestInvoices.Payee, cardOnFile: false));
    }

    [Theory]
    [InlineData(PaymentMethod.BankTransfer, null)]
    [InlineData(PaymentMethod.Card, null)]
    [InlineData(PaymentMethod.Card, true)]
    [InlineData(PaymentMethod.Card, false)]
    public async Task The_creditor_reference_is_named_once_in_the_payment_instructions_of_the_pdf_and_the_e_mail(PaymentMethod method, bool? cardOnFile)
    {
        // The sentence said "quoting the reference RF…:" above a block whose "Reference:" line named it again.
        var invoice = TestInvoices.Issued(method, TestInvoices.Buyer("IT"));
        var reference = CreditorReferences.Grouped(invoice.CreditorReference);
        int Times(string text) => text.Split(reference).Length - 1;

        var pdf = await Harness.PdfPictures.Text(InvoicePdf.Render(invoice, TestInvoices.Payee));
        var email = InvoiceEmails.Invoice(TestInvoices.Buyer("IT"), invoice, [], TestInvoices.Payee, cardOnFile).MemberText()!;
        Assert.Equal((1, 1), (Times(pdf), Times(email)));
        Assert.Contains($"Reference: {reference} (or quote {invoice.InvoiceNumber})", email);
    }

    [Fact]
    public async Task A_long_payee_account_name_wraps_in_the_pdf_footer_and_the_iban_and_bic_stay_on_the_page()
    {
        // Drawn as one line, the footer's payment line ran off the page: with this name its IBAN was cut and its BIC lost.
        var options = TestInvoices.SellerOptions();
        options.Payee.AccountName = "Canon Professional Services Europe B.V. - Client Money Account for Membership Fees and Subscriptions";
        var layout = await Harness.PdfPictures.Text(InvoicePdf.Render(TestInvoices.Issued(), options.ToPayeeAccount()));

        Assert.Contains($"Payments: {options.Payee.AccountName} · IBAN NL91 ABNA 0417 1643 00 · BIC ABNANL2A",
            System.Text.RegularExpressions.Regex.Replace(layout, @"\s+", " "));
        // Its last line still the rounding note, at the foot of the page.
        Assert.EndsWith("Amounts are rounded to cents per line and on VAT (half away from zero).", layout.TrimEnd());
    }

    [Fact]
    public async Task A_long_seller_address_wraps_in_its_column_and_leaves_the_invoice_facts_beside_it_alone()
    {
        // The seller's lines were drawn as they are, in the left column: a long one ran into the invoice's facts on the right (its
        // end over "Invoice number", seen at 150 dpi).
        const string street = "Professor Doctor Johannes Diderik van der Waalsstraat 1234, Building C, Floor 7, Suite 701";
        var invoice = TestInvoices.Issued();
        invoice = invoice with { Seller = invoice.Seller! with { Address = invoice.Seller.Address with { Street = street } } };
        var layout = (await Harness.PdfPictures.Text(InvoicePdf.Render(invoice, TestInvoices.Payee))).ReplaceLineEndings("\n");

        // pdftotext -layout: each line's left column is its text up to the gap before the right column.
        var left = layout[..layout.IndexOf("Bill to", StringComparison.Ordinal)].Split('\n')
            .Select(line => System.Text.RegularExpressions.Regex.Split(line, @"\s{3,}")[0].Trim()).ToList();
        Assert.Contains(street, string.Join(" ", left));
        Assert.All(left, line => Assert.True(line.Length <= 64, $"Wider than the seller's column ({line.Length} characters): {line}"));
    }

    [Fact]
    public async Task A_card_invoice_pdf_says_what_happens_with_a_card_on_file_and_without_one()
    {
        // Drawn again from the invoice's facts at every download, while a card may be recorded after the issue: no card state goes in.
        var invoice = TestInvoices.Issued(PaymentMethod.Card, TestInvoices.Buyer("IT"));
        var text = (await Harness.PdfPictures.Text(InvoicePdf.Render(invoice, TestInvoices.Payee))).ReplaceLineEndings("\n");
        var due = $"{invoice.DueOn:yyyy-MM-dd}";
        Assert.DoesNotContain("nothing to do", text);
        foreach (var expected in new[]
                 {
                     $"The card on file for your account will be charged 244.00 EUR on {due}.",
                     // Each sentence wrapped to the box by its measured width (pdftotext -layout: one line as drawn).
                     // An amount stays with its currency and a date with its "by" (until 2026-12-07 "… 244.00 EUR by" then
                     // "2026-12-25, quoting …").
                     $"No card on file yet? Record one in the CPS portal before {due}, or transfer 244.00 EUR\n",
                     $"by {due}, quoting the reference below:",
                     "Otherwise the charge is declined, the invoice becomes overdue and your CPS membership is\n",
                     "suspended until it is paid.",
                 })
            Assert.Contains(expected, text);
    }

    [Fact]
    public void A_surcharge_configured_as_a_bare_amount_stops_the_service_at_start_saying_what_to_write_instead()
    {
        // The shape before surcharges stated their currency: an amount that became whatever currency a tier table was priced in.
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Invoicing:BankTransferSurcharges:IT"] = "2.00" });
        builder.AddInvoicing();
        using var services = builder.Services.BuildServiceProvider();

        var failure = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            services.GetRequiredService<Microsoft.Extensions.Options.IOptions<InvoicingOptions>>().Value);
        Assert.Contains("Invoicing:BankTransferSurcharges:IT is a bare amount (2.00)", failure.Message);
        Assert.Contains("\"IT\": { \"EUR\": 2.00 }", failure.Message);
    }

    [Theory]
    [InlineData("EUR", "2.00", null)]
    [InlineData("eur", "2.00", "is not an ISO 4217 code in upper case")]
    [InlineData("EUR", "-1", "must not be negative")]
    public void A_surcharge_s_currency_and_amount_are_checked_at_start(string currency, string amount, string? failure)
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [$"Invoicing:BankTransferSurcharges:IT:{currency}"] = amount });
        builder.AddInvoicing();
        using var services = builder.Services.BuildServiceProvider();

        InvoicingOptions Read() => services.GetRequiredService<Microsoft.Extensions.Options.IOptions<InvoicingOptions>>().Value;
        if (failure is null)
            Assert.Equal(2.00m, Read().BankTransferSurcharge("IT", currency));
        else
            Assert.Contains($"Invoicing:BankTransferSurcharges:IT:{currency}", Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(Read).Message);
        if (failure is not null)
            Assert.Contains(failure, Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(Read).Message);
    }

    [Fact]
    public void The_shipped_surcharges_have_an_amount_in_the_currency_of_the_tier_table_loaded_on_first_start()
    {
        // The service's own settings (Production's; Development adds no surcharge) against the table TierTableDefaults loads.
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."));
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddJsonFile(Path.Combine(root, "src", "CpsLedger.Api", "appsettings.json"), optional: false);
        builder.AddInvoicing();
        using var services = builder.Services.BuildServiceProvider();
        var options = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<InvoicingOptions>>().Value;

        Assert.NotEmpty(options.BankTransferSurcharges);
        foreach (var currency in TierTableStream.Defaults(Now).Tiers.Select(t => t.Currency).Distinct())
            Assert.Empty(options.CountriesWithoutSurchargeIn(currency));
    }

    [Fact]
    public void The_service_does_not_start_when_the_tier_table_in_force_is_priced_in_a_currency_a_surcharge_lacks()
    {
        // A setting removed after a table in its currency was published: stopped at start, naming what to add.
        var table = TierTableViewProjection.Create(TierTableStream.Defaults(Now) with
        {
            Tiers = TierTableStream.Defaults(Now).Tiers.Select(t => t with { Currency = "GBP" }).ToList(),
        });
        var gap = TierTableDefaults.SurchargeGap(table, Options());
        Assert.NotNull(gap);
        Assert.Contains("Invoicing:BankTransferSurcharges:PT:GBP", gap);
        Assert.DoesNotContain("IT:GBP", gap);
        Assert.Null(TierTableDefaults.SurchargeGap(TierTableViewProjection.Create(TierTableStream.Defaults(Now)), Options()));
        Assert.Null(TierTableDefaults.SurchargeGap(null, Options()));
    }

    [Fact]
    public void The_service_does_not_start_when_a_term_still_invoiced_is_priced_in_a_currency_a_surcharge_lacks()
    {
        // The table in force in euros (every surcharge has euros); terms from an earlier table in pounds and in francs.
        var euros = TierTableViewProjection.Create(TierTableStream.Defaults(Now));
        var gap = TierTableDefaults.SurchargeGap(euros, Options(), ["EUR", "GBP", "CHF"]);
        Assert.NotNull(gap);
        Assert.Contains("Invoicing:BankTransferSurcharges:PT:GBP", gap);
        Assert.Contains("Invoicing:BankTransferSurcharges:IT:CHF, Invoicing:BankTransferSurcharges:PT:CHF", gap);
        Assert.DoesNotContain("IT:GBP", gap);
        Assert.DoesNotContain("EUR", gap);
        // Terms only in currencies every surcharge has: nothing stops the start, whatever the table.
        Assert.Null(TierTableDefaults.SurchargeGap(euros, Options(), ["EUR"]));
        Assert.Null(TierTableDefaults.SurchargeGap(null, Options(), []));
        Assert.Null(TierTableDefaults.SurchargeGap(euros, new InvoicingOptions(), ["GBP", "CHF"]));
    }

    [Theory]
    [InlineData("00:00:20", null, true)] // the default, under Npgsql's default 30 s
    [InlineData("00:00:25", null, true)]
    [InlineData("00:00:26", null, false)] // a write waiting for the charge's lock would have less than 5 s left
    [InlineData("00:00:00", null, false)]
    [InlineData("00:00:55", "Host=db;Command Timeout=60", true)]
    [InlineData("00:00:56", "Host=db;Command Timeout=60", false)]
    [InlineData("00:05:00", "Host=db;Command Timeout=0", true)] // no command timeout: nothing to stay under
    public void The_gateway_timeout_is_checked_when_the_service_starts_against_the_database_s_command_timeout(string timeout,
        string? connectionString, bool valid)
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder();
        builder.Configuration["Invoicing:GatewayTimeout"] = timeout;
        builder.Configuration["ConnectionStrings:Marten"] = connectionString;
        builder.AddInvoicing();
        using var services = builder.Services.BuildServiceProvider();

        InvoicingOptions Read() => services.GetRequiredService<Microsoft.Extensions.Options.IOptions<InvoicingOptions>>().Value;
        if (valid)
            Assert.Equal(TimeSpan.Parse(timeout, System.Globalization.CultureInfo.InvariantCulture), Read().GatewayTimeout);
        else
            Assert.Contains("Invoicing:GatewayTimeout", Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(Read).Message);
    }
}
