using System.Net;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Marten;

namespace CpsLedger.Tests.Invoicing;

/// <summary>Finance records the refunds it paid; the member sees what CPS still owes back; history and verification keep up.</summary>
public sealed class RefundTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    private static string RefundsUrl(Guid account, string number) => $"/api/accounts/{account}/invoices/{number}/refunds";

    private object Refund(decimal amount, string reference, string currency = "EUR") =>
        new { amount, currency, paidOn = App.ValueDate(), reference };

    private async Task<(Guid Account, Invoice Invoice)> Invoiced()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        await App.FastForward(Billing.IssueDelay);
        return (account, await App.Member(account).SingleInvoice(account));
    }

    private async Task Pay(string number, decimal amount, string bankReference) =>
        await App.Tracked(async () => await (await Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(number, amount, bankReference)))
            .ShouldBe(HttpStatusCode.Created));

    private async Task<int> Count(string eventType)
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == eventType).CountAsync();
    }

    private Task<AccountSummary> Summary(Guid account) => App.Member(account).GetAsync($"/api/accounts/{account}/summary").ReadAs<AccountSummary>();

    [Fact]
    public async Task Finance_records_a_refund_of_an_overpayment_and_the_member_sees_what_is_still_owed_back()
    {
        var (account, invoice) = await Invoiced();
        var number = invoice.InvoiceNumber;
        Assert.Empty((await Summary(account)).RefundsOwed);
        await Pay(number, invoice.Total + 50m, "LHV-IN-1");

        Assert.Equal([new RefundOwed(number, 50m, "EUR")], (await Summary(account)).RefundsOwed);

        // Sent twice with one Idempotency-Key (a retry after a lost response): one refund, the first answer replayed.
        var key = Guid.NewGuid().ToString();
        var first = await Finance.PostJson(RefundsUrl(account, number), Refund(20m, "LHV-OUT-1"), key);
        var recorded = await first.ReadAs<RefundRecorded>(HttpStatusCode.Created);
        Assert.Equal((number, account, 20m, "EUR", RefundOf.Overpayment, 20m, 30m, InvoiceStatus.Paid),
            (recorded.InvoiceNumber, recorded.AccountId, recorded.Amount, recorded.Currency, recorded.Of, recorded.Refunded, recorded.StillOwedBack,
                recorded.InvoiceStatus));
        Assert.Equal($"/api/accounts/{account}/invoices/{number}", first.Headers.Location?.ToString());
        var replay = await Finance.PostJson(RefundsUrl(account, number), Refund(20m, "LHV-OUT-1"), key);
        Assert.Equal(recorded, await replay.ReadAs<RefundRecorded>(HttpStatusCode.Created));
        Assert.True(replay.Headers.Contains(IdempotencyMiddleware.ReplayedHeader));
        Assert.Equal(1, await Count("refund_paid"));

        // The same refund sent again without the key is recognised by its reference: nothing recorded twice.
        var again = await Finance.PostJson(RefundsUrl(account, number), Refund(20m, "lhv-out-1")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Refund already recorded", again.Title);

        var read = await App.Member(account).GetAsync($"/api/accounts/{account}/invoices/{number}").ReadAs<Invoice>();
        Assert.Equal((invoice.Total + 50m, 30m, 0m, 20m), (read.TotalReceived, read.Overpaid, read.RefundDue, read.Refunded));
        Assert.Equal(("LHV-OUT-1", 20m), (Assert.Single(read.Refunds).Reference, read.Refunds[0].Amount));
        Assert.Equal([new RefundOwed(number, 30m, "EUR")], (await Summary(account)).RefundsOwed);

        var tooMuch = await Finance.PostJson(RefundsUrl(account, number), Refund(30.01m, "LHV-OUT-2")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Refund exceeds what is owed back", tooMuch.Title);
        var otherCurrency = await Finance.PostJson(RefundsUrl(account, number), Refund(10m, "LHV-OUT-2", "USD")).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal([$"Invoice {number} is in EUR, not USD: a refund is recorded in the currency received."], otherCurrency.Errors["currency"]);

        await (await Finance.PostJson(RefundsUrl(account, number), Refund(30m, "LHV-OUT-2"))).ShouldBe(HttpStatusCode.Created);
        Assert.Empty((await Summary(account)).RefundsOwed);
        var nothing = await Finance.PostJson(RefundsUrl(account, number), Refund(1m, "LHV-OUT-3")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Nothing to refund", nothing.Title);
        Assert.Equal(2, await Count("refund_paid"));

        var auditor = App.ClientAs(LedgerRoles.Auditor);
        var history = (await auditor.GetAsync($"/api/accounts/{account}/history?types=refund_paid").ReadAs<HistoryPage>()).Items;
        Assert.Equal([
            $"Refund of 20.00 EUR paid for {number} on {App.ValueDate()} (reference LHV-OUT-1): overpayment; 30.00 EUR still to refund",
            $"Refund of 30.00 EUR paid for {number} on {App.ValueDate()} (reference LHV-OUT-2): overpayment; nothing more to refund",
        ], history.Select(h => h.Description));
        Assert.All(history, h => Assert.Equal("test-finance", h.By));
        var verification = await auditor.GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>();
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));
    }

    [Fact]
    public async Task A_refund_on_a_cancelled_invoice_reduces_its_refund_due()
    {
        var (account, invoice) = await Invoiced();
        var number = invoice.InvoiceNumber;
        await Pay(number, 100m, "LHV-IN-1");
        await App.Tracked(async () => await (await Finance.PostJson($"/api/accounts/{account}/invoices/{number}/cancellation",
            new { reason = "Issued to the wrong company" })).ShouldBe(HttpStatusCode.Created));
        Assert.Equal([new RefundOwed(number, 100m, "EUR")], (await Summary(account)).RefundsOwed);

        var recorded = await Finance.PostJson(RefundsUrl(account, number), Refund(100m, "LHV-OUT-1")).ReadAs<RefundRecorded>(HttpStatusCode.Created);
        Assert.Equal((RefundOf.Cancellation, 100m, 0m, InvoiceStatus.Cancelled), (recorded.Of, recorded.Refunded, recorded.StillOwedBack, recorded.InvoiceStatus));

        var read = await App.Member(account).GetAsync($"/api/accounts/{account}/invoices/{number}").ReadAs<Invoice>();
        Assert.Equal((100m, 0m, 0m, 100m), (read.TotalReceived, read.RefundDue, read.Overpaid, read.Refunded));
        Assert.Empty((await Summary(account)).RefundsOwed);
        var history = Assert.Single((await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types=refund_paid")
            .ReadAs<HistoryPage>()).Items);
        // The money was received before the cancellation: the entry names the invoice cancelled, not when the money came.
        Assert.Equal($"Refund of 100.00 EUR paid for {number} on {App.ValueDate()} (reference LHV-OUT-1): received on the cancelled invoice; " +
                     "nothing more to refund", history.Description);
    }

    [Fact]
    public async Task Recording_a_refund_is_for_finance_validated_and_refused_where_nothing_is_owed_back_recording_nothing()
    {
        var (account, invoice) = await Invoiced();
        var number = invoice.InvoiceNumber;
        var url = RefundsUrl(account, number);

        Assert.Equal(HttpStatusCode.Unauthorized, (await App.Anonymous().PostJson(url, Refund(1m, "X"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(account).PostJson(url, Refund(1m, "X"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Support).PostJson(url, Refund(1m, "X"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Auditor).PostJson(url, Refund(1m, "X"))).StatusCode);

        var invalid = await Finance.PostJson(url, new { amount = 0m, currency = "eur", paidOn = "2999-01-01", reference = "" })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["amount", "currency", "paidOn", "reference"], invalid.Errors.Keys.Order());
        await (await Finance.PostJson(url, Refund(1.001m, "X"))).ShouldBeProblem(HttpStatusCode.BadRequest);
        // A missing field is never given a default.
        foreach (var field in new[] { "amount", "currency", "paidOn", "reference" })
        {
            var body = new Dictionary<string, object> { ["amount"] = 1m, ["currency"] = "EUR", ["paidOn"] = App.ValueDate(), ["reference"] = "X" };
            body.Remove(field);
            var missing = await Finance.PostJson(url, body).ReadProblem(HttpStatusCode.BadRequest);
            Assert.True(missing.Errors.ContainsKey(field), field);
        }

        // An invoice number never issued, another account's invoice, an account that does not exist: not found.
        await (await Finance.PostJson(RefundsUrl(account, number[..9] + "000999"), Refund(1m, "X"))).ShouldBeProblem(HttpStatusCode.NotFound);
        var other = await App.JoinedAccount("EE", "bank_transfer", email: "other@example.ee");
        await (await Finance.PostJson(RefundsUrl(other, number), Refund(1m, "X"))).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await Finance.PostJson(RefundsUrl(Guid.NewGuid(), number), Refund(1m, "X"))).ShouldBeProblem(HttpStatusCode.NotFound);

        // Open and unpaid, then paid in part: nothing is owed back.
        var open = await Finance.PostJson(url, Refund(1m, "X")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Nothing to refund", open.Title);
        await Pay(number, 10m, "LHV-IN-1");
        Assert.Equal("Nothing to refund", (await Finance.PostJson(url, Refund(1m, "X")).ReadProblem(HttpStatusCode.Conflict)).Title);

        // Overpaid, but dated before any money came in: a mistyped date.
        await Pay(number, invoice.Total, "LHV-IN-2");
        var early = await Finance.PostJson(url, new { amount = 1m, currency = "EUR", paidOn = invoice.IssuedOn.AddDays(-1).ToString("yyyy-MM-dd"), reference = "X" })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["paidOn"], early.Errors.Keys);
        Assert.Equal(0, await Count("refund_paid"));
        await (await Finance.PostJson(url, Refund(10m, "X"))).ShouldBe(HttpStatusCode.Created);
        Assert.Equal(1, await Count("refund_paid"));
    }
}
