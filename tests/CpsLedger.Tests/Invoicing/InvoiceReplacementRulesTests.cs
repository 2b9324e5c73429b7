using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Tiers;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CpsLedger.Tests.Invoicing;

/// <summary>The corrected invoice's rules as pure functions: which cancelled invoice is replaced, and what the replacement charges.</summary>
public sealed class InvoiceReplacementRulesTests
{
    private static readonly DateTimeOffset Now = TestInvoices.Now;
    private static readonly DateTimeOffset Later = Now.AddDays(10);

    private static Invoice Cancelled(Invoice invoice, string creditNote = "CN-2026-000001")
    {
        foreach (var e in CancelInvoiceDecision.Decide(invoice, new CancelInvoice("Issued without the buyer's VAT ID"), creditNote, TestInvoices.Seller,
                     TestInvoices.Buyer(), Now))
            invoice = e switch
            {
                InvoiceCancelled c => invoice.Apply(c),
                CreditNoteIssued n => invoice.Apply(n),
                _ => invoice,
            };
        return invoice;
    }

    private static MembershipTerm TermOf(Invoice invoice, Guid? renewalInvoiceId = null) =>
        new(invoice.MembershipId, invoice.MembershipNumber, "gold", "Gold", TierKind.Standard, 200m, "EUR", invoice.PaymentMethod,
            new DateOnly(2026, 11, 25), new DateOnly(2027, 11, 24), 1, RenewalInvoiceId: renewalInvoiceId);

    private static AccountMembership InForce(Invoice invoice, Guid? renewalInvoiceId = null) =>
        new() { AccountId = invoice.AccountId, Membership = TermOf(invoice, renewalInvoiceId) };

    private static string? Title(ProblemDetails problem) => ReferenceEquals(problem, WolverineContinue.NoProblems) ? null : problem.Title;

    [Fact]
    public void The_replacement_charges_the_same_line_for_the_same_term_with_vat_decided_again_on_today_s_billing_details()
    {
        var cancelled = Cancelled(TestInvoices.Issued());
        Assert.Equal((VatCategory.Standard, 248.00m), (cancelled.VatTreatment!.Category, cancelled.Total));
        var hamburg = TestInvoices.Buyer("DE", "DE143454214");
        var options = new InvoicingOptions();

        var issued = ReplaceInvoiceDecision.Decide(cancelled, TermOf(cancelled), "INV-2026-000007", hamburg, options, TestInvoices.Seller,
            TestInvoices.Payee, TestInvoices.VatTable(), Later);

        Assert.Equal(InvoiceStream.ForReplacement(cancelled.Id), issued.InvoiceId);
        Assert.Equal(new ReplacedInvoice(cancelled.Id, cancelled.InvoiceNumber, cancelled.IssuedOn, "CN-2026-000001"), issued.Replaces);
        Assert.Equal([cancelled.Lines[0]], issued.Lines);
        Assert.Equal((VatCategory.ReverseCharge, 0m, 200.00m), (issued.VatDecision!.Category, issued.Vat, issued.Total));
        Assert.Equal(("DE143454214", "DE"), (issued.Buyer!.VatId, issued.Country));
        Assert.Equal((cancelled.PeriodStart, cancelled.PeriodEnd), (issued.PeriodStart, issued.PeriodEnd));
        Assert.Equal(DateOnly.FromDateTime(Later.UtcDateTime).AddDays(options.PaymentTermDays), issued.DueOn);
        Assert.Null(issued.Kind); // a joining's term, as the cancelled one

        var replaced = ReplaceInvoiceDecision.Replaced(cancelled, issued, new ReplaceInvoice(" VAT ID added "), Later);
        var shown = Invoice.Create(issued);
        Assert.Equal("Replaces invoice INV-2026-000001 of 2026-11-25, cancelled by credit note CN-2026-000001.", InvoiceWording.Replacement(shown));
        Assert.Equal((issued.InvoiceNumber, "VAT ID added"), (cancelled.Apply(replaced).ReplacedBy, replaced.Reason));
    }

    [Fact]
    public void A_surcharge_follows_today_s_billing_country_and_an_upgrade_keeps_its_kind_and_first_day()
    {
        var upgrade = Cancelled(TestInvoices.Issued() with
        {
            Kind = InvoiceKind.Upgrade,
            Lines = [new InvoiceLine("CPS upgrade Gold to Platinum: 100 of 365 days", 82.19m)],
            PeriodStart = new DateOnly(2027, 8, 17),
        });
        var milan = TestInvoices.Buyer("IT");
        var options = new InvoicingOptions { BankTransferSurcharges = new(StringComparer.OrdinalIgnoreCase) { ["IT"] = new() { ["EUR"] = 2.00m } } };

        var issued = ReplaceInvoiceDecision.Decide(upgrade, TermOf(upgrade), "INV-2026-000008", milan, options, TestInvoices.Seller, TestInvoices.Payee,
            TestInvoices.VatTable(), Later);

        Assert.Equal([new InvoiceLine("CPS upgrade Gold to Platinum: 100 of 365 days", 82.19m), new InvoiceLine("Bank transfer surcharge (IT)", 2.00m)],
            issued.Lines);
        Assert.Equal((InvoiceKind.Upgrade, new DateOnly(2027, 8, 17)), (issued.Kind, issued.PeriodStart));
        Assert.Equal(InvoiceCalculation.Round(84.19m * 1.22m), issued.Total);
    }

    [Fact]
    public void Only_a_cancelled_invoice_is_replaced_once_and_only_while_its_term_still_owes_it()
    {
        var open = TestInvoices.Issued();
        var cancelled = Cancelled(open);
        var membership = InForce(cancelled);

        Assert.Null(Title(ReplaceInvoiceDecision.Validate(cancelled, membership, cancelled.Id, null)));
        Assert.Equal("Invoice not cancelled", Title(ReplaceInvoiceDecision.Validate(open, membership, open.Id, null)));
        Assert.Equal("Invoice already replaced",
            Title(ReplaceInvoiceDecision.Validate(cancelled with { ReplacedBy = "INV-2026-000002" }, membership, cancelled.Id, null)));

        var supportCancelled = new MembershipCancelled(cancelled.AccountId, cancelled.MembershipId, cancelled.MembershipNumber, "Company closed",
            new DateOnly(2026, 12, 1), [], Now);
        var ended = membership.Apply(supportCancelled);
        Assert.Equal("Membership cancelled", Title(ReplaceInvoiceDecision.Validate(cancelled, ended, cancelled.Id, supportCancelled)));
        // A term that ran to its end (lapsed or renewed) still owes its invoice.
        var lapsed = membership.Apply(new MembershipLapsed(cancelled.AccountId, cancelled.MembershipId, cancelled.MembershipNumber, LapseReason.Unpaid,
            new DateOnly(2027, 11, 24), [], Now));
        Assert.Null(Title(ReplaceInvoiceDecision.Validate(cancelled, lapsed, cancelled.Id, null)));
        Assert.Equal("Term never began", Title(ReplaceInvoiceDecision.Validate(cancelled, new AccountMembership(), cancelled.Id, null)));

        // Renewals: the term renewed on this invoice (or on the invoice its replacement chain began with), not a choice replaced before it.
        var renewal = cancelled with { Kind = InvoiceKind.Renewal };
        Assert.Null(Title(ReplaceInvoiceDecision.Validate(renewal, InForce(renewal, renewal.Id), renewal.Id, null)));
        var original = Guid.NewGuid();
        Assert.Null(Title(ReplaceInvoiceDecision.Validate(renewal, InForce(renewal, original), original, null)));
        Assert.Equal("Renewal choice replaced", Title(ReplaceInvoiceDecision.Validate(renewal, InForce(renewal, Guid.NewGuid()), renewal.Id, null)));
        var ahead = new AccountMembership
        {
            Renewal = new RenewalState(Guid.NewGuid(), Now, ["gold"], TermOf(renewal), false, null, renewal.Id, 0),
        };
        Assert.Equal("Renewal term not begun", Title(ReplaceInvoiceDecision.Validate(renewal, ahead, renewal.Id, null)));
    }
}
