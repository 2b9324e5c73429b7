using System.Globalization;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Tiers;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// The member e-mails are English with ISO dates and amounts written 248.00, whatever locale the machine running the service
/// has: a host with LANG=et_EE.UTF-8 (the process's culture) once wrote "248,00 EUR" beside the invoice's "248.00 EUR".
/// </summary>
public sealed class EmailLocaleTests
{
    [Theory]
    [InlineData("et-EE")] // a decimal comma
    [InlineData("th-TH")] // the Buddhist calendar: 2026 is 2569
    public void Amounts_and_dates_in_the_e_mails_do_not_follow_the_machine_locale(string locale)
    {
        var invoice = TestInvoices.Issued() with { Status = InvoiceStatus.Overdue, OverdueAt = TestInvoices.Now };
        var term = new MembershipTerm(invoice.MembershipId, invoice.MembershipNumber, "gold", "Gold", TierKind.Standard, 1234.5m, "EUR",
            PaymentMethod.BankTransfer, new DateOnly(2026, 1, 1), new DateOnly(2026, 12, 31), 1, new DateOnly(2026, 12, 5), "lapsed");

        var before = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo(locale);
        try
        {
            var overdue = InvoiceEmails.Overdue(TestInvoices.Buyer(), invoice, new DateOnly(2026, 12, 18), TestInvoices.Payee).MemberText()!;
            Assert.Contains($"and {InvoiceWording.Money(invoice.Outstanding)} EUR is still open", overdue);
            Assert.Contains("will be suspended on 2026-12-18", overdue);

            var suspended = InvoiceEmails.Suspended(TestInvoices.Buyer(), invoice, TestInvoices.Now, TestInvoices.Payee).MemberText()!;
            Assert.Contains($"and {InvoiceWording.Money(invoice.Outstanding)} EUR is still open", suspended);

            var renewed = MembershipYearEmails.Renewed(TestInvoices.Buyer(), term);
            // Written as the invoice writes money (InvoiceWording.Money), thousands grouped: the e-mails once wrote 1234.50 beside its 1,234.50.
            Assert.Contains("Annual fee:        1,234.50 EUR", renewed.MemberText());
            Assert.Contains("Term:              2026-01-01 to 2026-12-31", renewed.MemberText());
        }
        finally
        {
            CultureInfo.CurrentCulture = before;
        }
    }
}
