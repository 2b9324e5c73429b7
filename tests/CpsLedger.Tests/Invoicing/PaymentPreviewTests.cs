using System.Net;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Marten;
using Npgsql;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// Finance's review of a transfer before it records it: the ledger's own decision on it, run and written nowhere (no event, no message,
/// no idempotency key), answering what the write would answer.
/// </summary>
public sealed class PaymentPreviewTests(LedgerApp app) : LedgerTest(app)
{
    private const string Url = "/api/payments/bank-transfers";
    private const string PreviewUrl = "/api/payments/bank-transfers/preview";

    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    // Everything a preview could leave behind: events, messages waiting (sent or to be handled) and idempotency keys.
    private async Task<(long Events, long Messages, long Keys)> Written()
    {
        await using var session = App.Store.QuerySession();
        var events = await session.Events.QueryAllRawEvents().CountAsync();
        var keys = await session.Query<IdempotencyRecord>().CountAsync();
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select (select count(*) from {App.SchemaName}.wolverine_outgoing_envelopes) + (select count(*) from {App.SchemaName}.wolverine_incoming_envelopes)",
            connection);
        return (events, (long)(await command.ExecuteScalarAsync())!, keys);
    }

    private async Task<BankPaymentPreview> Preview(object body)
    {
        var before = await Written();
        var preview = await Finance.PostJson(PreviewUrl, body, Guid.NewGuid().ToString()).ReadAs<BankPaymentPreview>();
        Assert.Equal(before, await Written());
        return preview;
    }

    [Fact]
    public async Task A_partial_transfer_is_previewed_as_the_write_then_records_it_and_the_preview_writes_nothing()
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();

        var preview = await Preview(App.BankPayment(invoice.InvoiceNumber, 10m, "LHV-1"));

        Assert.Equal((invoice.InvoiceNumber, account, invoice.CompanyName, 10m, "EUR"),
            (preview.InvoiceNumber, preview.AccountId, preview.CompanyName, preview.Amount, preview.Currency));
        Assert.Equal((PaymentKind.Partial, invoice.Total, invoice.Outstanding, 10m, invoice.Outstanding - 10m, 0m, InvoiceStatus.Open),
            (preview.Kind, preview.InvoiceTotal, preview.OutstandingBefore, preview.TotalReceived, preview.Outstanding, preview.Overpaid,
                preview.InvoiceStatus));
        Assert.Equal(["PaymentReceived"], preview.Events);

        var recorded = await Finance.PostJson(Url, App.BankPayment(invoice.InvoiceNumber, 10m, "LHV-1")).ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal((recorded.Kind, recorded.TotalReceived, recorded.Outstanding, recorded.Overpaid, recorded.InvoiceStatus),
            (preview.Kind, preview.TotalReceived, preview.Outstanding, preview.Overpaid, preview.InvoiceStatus));

        // Once it is recorded, the same bank reference is refused as the write refuses it.
        var again = await Finance.PostJson(PreviewUrl, App.BankPayment(invoice.InvoiceNumber, 10m, "LHV-1")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Payment already recorded", again.Title);
    }

    [Fact]
    public async Task A_transfer_of_the_outstanding_is_previewed_in_full_and_one_above_it_as_an_overpayment_owed_back()
    {
        var (_, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var number = invoice.InvoiceNumber;

        var full = await Preview(App.BankPayment(number, invoice.Total, "LHV-FULL"));
        Assert.Equal((PaymentKind.Full, 0m, 0m, InvoiceStatus.Paid), (full.Kind, full.Outstanding, full.Overpaid, full.InvoiceStatus));
        Assert.Equal(["PaymentReceived", "InvoicePaid"], full.Events);

        var over = await Preview(App.BankPayment(number, invoice.Total + 5.5m, "LHV-OVER"));
        Assert.Equal((PaymentKind.Overpayment, invoice.Total, 0m, 5.5m, InvoiceStatus.Paid),
            (over.Kind, over.OutstandingBefore, over.Outstanding, over.Overpaid, over.InvoiceStatus));

        // Paid in part first: the preview reads what was received since.
        await App.Tracked(async () => await (await Finance.PostJson(Url, App.BankPayment(number, 20m, "LHV-PART"))).ShouldBe(HttpStatusCode.Created));
        var rest = await Preview(App.BankPayment(number, invoice.Total, "LHV-REST"));
        Assert.Equal((PaymentKind.Overpayment, invoice.Total - 20m, invoice.Total + 20m, 0m, 20m),
            (rest.Kind, rest.OutstandingBefore, rest.TotalReceived, rest.Outstanding, rest.Overpaid));
    }

    [Fact]
    public async Task A_preview_answers_the_write_s_refusals_cancelled_other_currency_unknown_invoice_and_roles()
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var number = invoice.InvoiceNumber;

        var currency = await Finance.PostJson(PreviewUrl, App.BankPayment(number, 10m, "X", currency: "USD")).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("is in EUR", Assert.Single(currency.Errors["currency"]));
        var invalid = await Finance.PostJson(PreviewUrl, new { amount = 0m, currency = "EUR", valueDate = App.ValueDate(), bankReference = "X" })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(invalid.Errors.ContainsKey("amount"));
        var unknown = await Finance.PostJson(PreviewUrl, App.BankPayment(number[..9] + "000999", 10m, "X")).ReadProblem(HttpStatusCode.NotFound);
        Assert.Equal("No matching invoice", unknown.Title);

        Assert.Equal(HttpStatusCode.Unauthorized, (await App.Anonymous().PostJson(PreviewUrl, App.BankPayment(number, 1m, "X"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(account).PostJson(PreviewUrl, App.BankPayment(number, 1m, "X"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Support).PostJson(PreviewUrl, App.BankPayment(number, 1m, "X"))).StatusCode);

        await App.Tracked(async () => await (await Finance.PostJson($"/api/accounts/{account}/invoices/{number}/cancellation",
            new { reason = "Issued to the wrong company" })).ShouldBe(HttpStatusCode.Created));
        var before = await Written();
        var cancelled = await Finance.PostJson(PreviewUrl, App.BankPayment(number, 10m, "X")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Invoice cancelled", cancelled.Title);
        Assert.Equal(before, await Written());
        var written = await Finance.PostJson(Url, App.BankPayment(number, 10m, "X")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal(written.Detail, cancelled.Detail);
    }

    private static string RefundPreviewUrl(Guid account, string number) => $"/api/accounts/{account}/invoices/{number}/refunds/preview";

    private object Refund(decimal amount, string reference, string currency = "EUR") =>
        new { amount, currency, paidOn = App.ValueDate(), reference };

    [Fact]
    public async Task A_refund_is_previewed_as_the_write_decides_it_and_its_refusals_are_the_write_s()
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var number = invoice.InvoiceNumber;
        var url = RefundPreviewUrl(account, number);

        var nothing = await Finance.PostJson(url, Refund(1m, "OUT-0")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Nothing to refund", nothing.Title);

        await App.Tracked(async () => await (await Finance.PostJson(Url, App.BankPayment(number, invoice.Total + 30m, "LHV-OVER"))).ShouldBe(HttpStatusCode.Created));
        var before = await Written();
        var preview = await Finance.PostJson(url, Refund(10m, "OUT-1"), Guid.NewGuid().ToString()).ReadAs<RefundPreview>();
        Assert.Equal(before, await Written());
        Assert.Equal((number, account, invoice.CompanyName, 10m, "EUR", RefundOf.Overpayment, 30m, 10m, 20m, InvoiceStatus.Paid),
            (preview.InvoiceNumber, preview.AccountId, preview.CompanyName, preview.Amount, preview.Currency, preview.Of, preview.OwedBackBefore,
                preview.Refunded, preview.StillOwedBack, preview.InvoiceStatus));
        var recorded = await Finance.PostJson($"/api/accounts/{account}/invoices/{number}/refunds", Refund(10m, "OUT-1"))
            .ReadAs<RefundRecorded>(HttpStatusCode.Created);
        Assert.Equal((recorded.Of, recorded.Refunded, recorded.StillOwedBack), (preview.Of, preview.Refunded, preview.StillOwedBack));

        var more = await Finance.PostJson(url, Refund(20.01m, "OUT-2")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Refund exceeds what is owed back", more.Title);
        var currency = await Finance.PostJson(url, Refund(5m, "OUT-2", currency: "USD")).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("is in EUR", Assert.Single(currency.Errors["currency"]));
        await (await Finance.PostJson(RefundPreviewUrl(account, number[..9] + "000999"), Refund(5m, "OUT-2"))).ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Support).PostJson(url, Refund(5m, "OUT-2"))).StatusCode);

        await App.Tracked(async () => await (await Finance.PostJson($"/api/accounts/{account}/invoices/{number}/cancellation",
            new { reason = "Issued to the wrong company" })).ShouldBe(HttpStatusCode.Created));
        var cancelled = await Finance.PostJson(url, Refund(5m, "OUT-2")).ReadAs<RefundPreview>();
        Assert.Equal((RefundOf.Cancellation, invoice.Total + 20m, invoice.Total + 15m, InvoiceStatus.Cancelled),
            (cancelled.Of, cancelled.OwedBackBefore, cancelled.StillOwedBack, cancelled.InvoiceStatus));
    }
}
