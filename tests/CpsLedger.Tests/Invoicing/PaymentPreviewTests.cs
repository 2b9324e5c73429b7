using System.Net;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using Marten;
using Npgsql;

namespace CpsLedger.Tests.Invoicing;

/// <summary>
/// Finance's review of a write before it writes it (a transfer, a refund, a credit note, a replacement): the ledger's own decision on
/// it, run and written nowhere (no event, no message, no idempotency key, no number taken), answering what the write would answer.
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

    private static string InvoiceUrl(Guid account, string number) => $"/api/accounts/{account}/invoices/{number}";

    private async Task<T> PreviewOf<T>(string url, object body)
    {
        var before = await Written();
        var preview = await Finance.PostJson(url, body, Guid.NewGuid().ToString()).ReadAs<T>();
        Assert.Equal(before, await Written());
        return preview;
    }

    [Fact]
    public async Task A_credit_note_is_previewed_with_the_write_s_figures_and_refund_due_and_its_refusals_are_the_write_s()
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var number = invoice.InvoiceNumber;
        var url = InvoiceUrl(account, number) + "/cancellation/preview";
        var reason = new { reason = "Issued to the wrong company" };

        var unpaid = await PreviewOf<CreditNotePreview>(url, reason);
        Assert.Equal((number, account, invoice.CompanyName, "EUR", invoice.Subtotal, invoice.Vat, invoice.Total, invoice.Total, 0m),
            (unpaid.InvoiceNumber, unpaid.AccountId, unpaid.CompanyName, unpaid.Currency, unpaid.Subtotal, unpaid.VatAmount, unpaid.Total,
                unpaid.OutstandingBefore, unpaid.RefundDue));
        Assert.Equal((InvoiceStatus.Cancelled, (MembershipAfterSettlement?)null), (unpaid.InvoiceStatus, unpaid.MembershipAfter));
        Assert.Equal(["InvoiceCancelled", "CreditNoteIssued"], unpaid.Events);

        // Paid in part: what was received becomes the refund due, as the write decides it.
        await App.Tracked(async () => await (await Finance.PostJson(Url, App.BankPayment(number, 20m, "LHV-PART"))).ShouldBe(HttpStatusCode.Created));
        var paid = await PreviewOf<CreditNotePreview>(url, reason);
        Assert.Equal((invoice.Total - 20m, 20m), (paid.OutstandingBefore, paid.RefundDue));
        var written = await App.Tracked(() => Finance.PostJson(InvoiceUrl(account, number) + "/cancellation", reason)
            .ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
        Assert.Equal((paid.Total, paid.RefundDue, false), (written.Total, written.RefundDue, written.MembershipReinstated));

        var again = await Finance.PostJson(url, reason).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Invoice already cancelled", again.Title);
        var writtenAgain = await Finance.PostJson(InvoiceUrl(account, number) + "/cancellation", reason).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal(writtenAgain.Detail, again.Detail);
        await (await Finance.PostJson(InvoiceUrl(account, number[..9] + "000999") + "/cancellation/preview", reason)).ShouldBeProblem(HttpStatusCode.NotFound);
        var shortReason = await Finance.PostJson(url, new { reason = "x" }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(shortReason.Errors.ContainsKey("reason"));
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Support).PostJson(url, reason)).StatusCode);
    }

    private async Task<InvoiceNumberCounter?> InvoiceSeries()
    {
        await using var session = App.Store.QuerySession();
        return await session.LoadAsync<InvoiceNumberCounter>(App.Clock.GetUtcNow().UtcDateTime.Year.ToString("D4"));
    }

    [Fact]
    public async Task A_replacement_is_previewed_as_the_write_issues_it_without_taking_an_invoice_number_and_its_refusals_are_the_write_s()
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var number = invoice.InvoiceNumber;
        var url = InvoiceUrl(account, number) + "/replacement/preview";
        var reason = new { reason = "Reissued with the buyer's VAT ID" };

        var open = await Finance.PostJson(url, reason).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Invoice not cancelled", open.Title);

        var cancelled = await App.Tracked(() => Finance.PostJson(InvoiceUrl(account, number) + "/cancellation", new { reason = "Issued to the wrong company" })
            .ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
        var numbers = (await InvoiceSeries())!.Last;
        var preview = await PreviewOf<ReplacementPreview>(url, reason);
        // A preview takes no number: the series is where it was, and the write takes the next one.
        Assert.Equal(numbers, (await InvoiceSeries())!.Last);
        Assert.Equal((number, cancelled.CreditNoteNumber, account, invoice.CompanyName, invoice.Total, invoice.Total, "EUR"),
            (preview.ReplacesInvoiceNumber, preview.CreditNoteNumber, preview.AccountId, preview.CompanyName, preview.Total, preview.ReplacedTotal,
                preview.Currency));
        Assert.Equal((invoice.PeriodStart, invoice.PeriodEnd), (preview.PeriodStart, preview.PeriodEnd));
        Assert.Equal(["InvoiceIssued", "InvoiceReplaced"], preview.Events);

        var written = await App.Tracked(() => Finance.PostJson(InvoiceUrl(account, number) + "/replacement", reason)
            .ReadAs<InvoiceReplacement>(HttpStatusCode.Created));
        Assert.Equal(InvoiceNumbers.Format(App.Clock.GetUtcNow().UtcDateTime.Year, numbers + 1), written.InvoiceNumber);
        Assert.Equal((preview.Total, preview.Currency, preview.DueOn), (written.Total, written.Currency, written.DueOn));

        var again = await Finance.PostJson(url, reason).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Invoice already replaced", again.Title);
        var writtenAgain = await Finance.PostJson(InvoiceUrl(account, number) + "/replacement", reason).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal(writtenAgain.Detail, again.Detail);
        await (await Finance.PostJson(InvoiceUrl(account, number[..9] + "000999") + "/replacement/preview", reason)).ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Support).PostJson(url, reason)).StatusCode);
    }

    [Fact]
    public async Task A_transfer_or_credit_note_settling_the_invoice_a_suspension_rests_on_is_previewed_as_reinstating_the_membership()
    {
        var (account, member, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var number = invoice.InvoiceNumber;
        await App.FastForward(TimeSpan.FromDays(31)); // overdue
        await App.FastForward(TimeSpan.FromDays(14) + TimeSpan.FromHours(1)); // past its grace period: suspended
        Assert.Equal(MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);

        var part = await PreviewOf<BankPaymentPreview>(PreviewUrl, App.BankPayment(number, 10m, "LATE-1"));
        Assert.Null(part.MembershipAfter);
        var full = await PreviewOf<BankPaymentPreview>(PreviewUrl, App.BankPayment(number, invoice.Total, "LATE-1"));
        Assert.Equal(MembershipAfterSettlement.Reinstated, full.MembershipAfter);
        var cancel = await PreviewOf<CreditNotePreview>(InvoiceUrl(account, number) + "/cancellation/preview", new { reason = "Issued to the wrong company" });
        Assert.Equal(MembershipAfterSettlement.Reinstated, cancel.MembershipAfter);
        Assert.Equal(MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);

        var paid = await App.PayInFull(invoice, "LATE-1");
        Assert.True(paid.MembershipReinstated);
        // Settled: nothing is suspended for it any more.
        await App.Tracked(async () => await (await Finance.PostJson(Url, App.BankPayment(number, 5m, "LATE-2"))).ShouldBe(HttpStatusCode.Created));
    }

    [Fact]
    public async Task A_preview_sent_with_the_idempotency_key_of_a_recorded_transfer_answers_its_own_decision_and_the_write_still_replays()
    {
        var (_, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var number = invoice.InvoiceNumber;
        var key = Guid.NewGuid().ToString();
        var first = await App.Tracked(() => Finance.PostJson(Url, App.BankPayment(number, 10m, "LHV-K"), key));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var recorded = await first.Content.ReadAsStringAsync();

        var before = await Written();
        var response = await Finance.PostJson(PreviewUrl, App.BankPayment(number, 25m, "LHV-OTHER"), key);
        var preview = await response.ReadAs<BankPaymentPreview>();
        Assert.False(response.Headers.Contains(IdempotencyMiddleware.ReplayedHeader));
        Assert.Equal((25m, 35m, invoice.Total - 35m), (preview.Amount, preview.TotalReceived, preview.Outstanding));
        Assert.Equal(before, await Written());

        var replayed = await Finance.PostJson(Url, App.BankPayment(number, 10m, "LHV-K"), key);
        Assert.Equal(HttpStatusCode.Created, replayed.StatusCode);
        Assert.Equal("true", Assert.Single(replayed.Headers.GetValues(IdempotencyMiddleware.ReplayedHeader)));
        Assert.Equal(recorded, await replayed.Content.ReadAsStringAsync());
    }
}
