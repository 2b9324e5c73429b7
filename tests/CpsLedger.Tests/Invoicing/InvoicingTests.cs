using System.Net;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Npgsql;
using Wolverine.Runtime;
using static CpsLedger.Tests.Harness.CapturedLogs;

namespace CpsLedger.Tests.Invoicing;

[Collection(SecondLedgerCollection.Name)]
public sealed class InvoicingTests : LedgerTest
{
    private readonly SandboxPaymentGateway _sandbox;

    // Cleared with the ledger between tests (LedgerApp.ResetAsync).
    public InvoicingTests(LedgerApp app) : base(app) => _sandbox = app.Services.GetRequiredService<SandboxPaymentGateway>();

    // The year an invoice number carries is its issue date's (not the year when a test asserts, days later).
    private static string YearOf(Invoice invoice) => invoice.IssuedOn.Year.ToString("D4");

    private async Task<int> Count(string eventType)
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == eventType).CountAsync();
    }

    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    // Recording a card charges an open or overdue invoice at once (a message): tracked until that has been handled.
    private Task RecordCard(HttpClient member, Guid account, string cardToken) =>
        App.Tracked(async () => await (await member.PostJson($"/api/accounts/{account}/payment-card", new { cardToken })).ShouldBe(HttpStatusCode.OK));

    [Fact]
    public async Task A_bank_transfer_invoice_is_issued_two_hours_after_joining_with_surcharge_vat_pdf_and_email_and_is_paid_in_parts()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("IT", "bank_transfer");
        var member = App.Member(account);

        Assert.Empty(await member.Invoices(account));
        await App.FastForward(TimeSpan.FromMinutes(90));
        Assert.Empty(await member.Invoices(account));
        await App.FastForward(TimeSpan.FromMinutes(31));

        var invoice = await member.SingleInvoice(account);
        var number = invoice.InvoiceNumber;
        Assert.Equal($"INV-{YearOf(invoice)}-000001", number);
        Assert.Equal(("IT", "Valgus Studio OÜ"), (invoice.Country, invoice.CompanyName));
        Assert.Equal([200.00m, 2.00m], invoice.Lines.Select(l => l.Amount));
        Assert.Equal((202.00m, 0.22m, 44.44m, 246.44m, "EUR"), (invoice.Subtotal, invoice.VatRate, invoice.Vat, invoice.Total, invoice.Currency));
        Assert.Equal(invoice.IssuedOn.AddDays(30), invoice.DueOn);
        Assert.Equal(InvoiceStatus.Open, invoice.Status);

        var one = await member.GetAsync($"/api/accounts/{account}/invoices/{number}").ReadAs<Invoice>();
        Assert.Equal(number, one.InvoiceNumber);
        var pdf = await member.GetAsync($"/api/accounts/{account}/invoices/{number}/pdf");
        Assert.Equal(HttpStatusCode.OK, pdf.StatusCode);
        Assert.Equal("application/pdf", pdf.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("%PDF", System.Text.Encoding.ASCII.GetString(await pdf.Content.ReadAsByteArrayAsync())[..4]);

        var email = Assert.Single(App.SentEmails(), e => e.Subject?.Contains(number) == true);
        Assert.Contains("quoting the reference below:", email.MemberText());
        Assert.Contains("Reference: " + CreditorReferences.Grouped(CreditorReferences.For(number)), email.MemberText());
        Assert.Contains("IBAN: NL91 ABNA 0417 1643 00", email.MemberText());
        var attachment = Assert.Single(email.Attachments.OfType<MimePart>());
        Assert.Equal($"{number}.pdf", attachment.FileName);
        Assert.Equal("application/pdf", attachment.ContentType.MimeType);

        // A partial payment by reference text, then one that pays more than what is left.
        var partial = await Finance.PostJson("/api/payments/bank-transfers", new
        {
            reference = $"CPS membership {number.ToLowerInvariant()} Valgus",
            amount = 100.00m,
            currency = "EUR",
            valueDate = App.ValueDate(),
            bankReference = "BANK-1",
        }).ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal((PaymentKind.Partial, 146.44m, InvoiceStatus.Open), (partial.Kind, partial.Outstanding, partial.InvoiceStatus));
        Assert.Equal(146.44m, (await member.Summary(account)).AmountOwed);

        var over = await Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(number, 150m, "BANK-2"))
            .ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal((PaymentKind.Overpayment, 0m, 3.56m, InvoiceStatus.Paid), (over.Kind, over.Outstanding, over.Overpaid, over.InvoiceStatus));

        var paid = await member.SingleInvoice(account);
        Assert.Equal((InvoiceStatus.Paid, 250.00m), (paid.Status, paid.TotalReceived));
        Assert.Equal([PaymentKind.Partial, PaymentKind.Overpayment], paid.Payments.Select(p => p.Kind));
        var summary = await member.Summary(account);
        Assert.Equal((MembershipStatus.Active, 0m), (summary.MembershipStatus, summary.AmountOwed));
        Assert.Empty(summary.Owed);
    }

    [Fact]
    public async Task A_transfer_whose_reference_names_two_invoices_is_refused_not_recorded_on_the_first_it_names()
    {
        await Billing.ListThousandPointModel(App.Store);
        var first = await App.JoinedAccount("EE", "bank_transfer", email: "first@example.ee");
        var second = await App.JoinedAccount("EE", "bank_transfer", email: "second@example.ee");
        await App.FastForward(Billing.IssueDelay);
        var one = (await App.Member(first).SingleInvoice(first)).InvoiceNumber;
        var other = await App.Member(second).SingleInvoice(second);

        // One transfer for two invoices, one by its number and one by its creditor reference: which invoice gets how much is
        // finance's to say, invoice by invoice; until 2026-12-07 all of it was recorded on the first one named.
        object Transfer(string reference, string bankReference) =>
            new { reference, amount = 100.00m, currency = "EUR", valueDate = App.ValueDate(), bankReference };
        var both = Transfer($"CPS {one} and {CreditorReferences.Grouped(other.CreditorReference)}", "BANK-TWO");
        foreach (var url in new[] { "/api/payments/bank-transfers/preview", "/api/payments/bank-transfers" })
        {
            var refused = await Finance.PostJson(url, both).ReadProblem(HttpStatusCode.BadRequest);
            var error = Assert.Single(refused.Errors["reference"]);
            Assert.Contains(one, error);
            Assert.Contains(other.InvoiceNumber, error);
        }
        Assert.Equal(0, await Count("payment_received"));

        // One invoice named twice, by its number and its creditor reference, is one invoice: recorded on it.
        var same = await Finance.PostJson("/api/payments/bank-transfers",
                Transfer($"{other.InvoiceNumber} {CreditorReferences.Grouped(other.CreditorReference)}", "BANK-SAME"))
            .ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal(other.InvoiceNumber, same.InvoiceNumber);
    }

    [Fact]
    public async Task A_value_date_or_refund_date_of_0001_01_01_is_refused_naming_the_earliest_date_not_as_missing()
    {
        // The first day DateOnly holds was taken for "not given" and answered "... is required." although the date was there.
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "bank_transfer");
        var invoice = await member.SingleInvoice(account);
        var url = "/api/payments/bank-transfers";
        var transfer = new { invoiceNumber = invoice.InvoiceNumber, amount = invoice.Total + 10m, currency = "EUR", valueDate = "0001-01-01", bankReference = "B-1" };
        foreach (var to in new[] { $"{url}/preview", url })
        {
            var refused = await Finance.PostJson(to, transfer).ReadProblem(HttpStatusCode.BadRequest);
            Assert.Contains($"the earliest value date is {invoice.IssuedOn:yyyy-MM-dd}", Assert.Single(refused.Errors["valueDate"]));
        }
        await (await Finance.PostJson(url, transfer with { valueDate = App.ValueDate() })).ShouldBe(HttpStatusCode.Created);

        var refund = new { amount = 10m, currency = "EUR", paidOn = "0001-01-01", reference = "R-1" };
        var refundRefused = await Finance.PostJson($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/refunds", refund)
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("first received money", Assert.Single(refundRefused.Errors["paidOn"]));
    }

    [Fact]
    public async Task A_bank_transfer_renewal_in_another_currency_carries_the_surcharge_configured_in_that_currency()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("IT", "bank_transfer");
        var joining = await member.SingleInvoice(account);
        // The amounts as configured (the service's euro setting, the tests' host's pound setting), read as the settings say them.
        var settings = App.Services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>();
        var surcharges = new[] { "EUR", "GBP" }.ToDictionary(c => c,
            c => decimal.Parse(settings[$"Invoicing:BankTransferSurcharges:IT:{c}"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(("EUR", new InvoiceLine("Bank transfer surcharge (IT)", surcharges["EUR"])), (joining.Currency, joining.Lines[1]));
        await App.PayInFull(joining, "B-1");
        var term = (await member.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Membership!;

        // Finance prices the tiers in pounds: the renewal is invoiced in pounds, and so is its surcharge, at the amount set for pounds
        // (the tests' host sets one; 2.00 from the euro setting would be an amount nobody configured).
        await App.PublishTierTable(Billing.TierTableInPounds());
        await App.FastForwardPastTheOffer(term);
        var renewal = Assert.Single(await member.Invoices(account), i => i.Kind == InvoiceKind.Renewal);
        Assert.Equal("GBP", renewal.Currency);
        Assert.Equal([new InvoiceLine("CPS Gold membership renewal, annual fee", 180.00m), new InvoiceLine("Bank transfer surcharge (IT)", surcharges["GBP"])],
            renewal.Lines);
        Assert.NotEqual(surcharges["EUR"], surcharges["GBP"]);
    }

    [Fact]
    public async Task A_tier_table_in_a_currency_without_a_surcharge_for_each_country_that_has_one_is_refused_naming_the_settings_to_add()
    {
        var finance = App.ClientAs(LedgerRoles.Finance);
        var before = await finance.GetAsync("/api/tiers").ReadAs<Api.Tiers.TierTableView>();
        var inFrancs = new
        {
            invitationThreshold = 500,
            enterpriseAbovePoints = 2500,
            reason = "Priced in Swiss francs",
            tiers = new object[]
            {
                new { code = "silver", name = "Silver", kind = "standard", pointsRequired = 500, annualFee = 95.00m, currency = "CHF" },
                new { code = "gold", name = "Gold", kind = "standard", pointsRequired = 1000, annualFee = 190.00m, currency = "CHF" },
            },
        };

        var refused = await finance.PutJson("/api/tiers", inFrancs).ReadProblem(HttpStatusCode.BadRequest);
        var errors = refused.Errors["tiers"];
        foreach (var country in new[] { "ES", "IT", "PT" })
            Assert.Single(errors, e => e.Contains($"Invoicing:BankTransferSurcharges:{country}:CHF", StringComparison.Ordinal));
        Assert.Equal(3, errors.Length);
        Assert.Equal(before.TableVersion, (await finance.GetAsync("/api/tiers").ReadAs<Api.Tiers.TierTableView>()).TableVersion);
    }

    [Fact]
    public async Task An_unpaid_bank_transfer_invoice_becomes_overdue_after_the_due_date_then_suspends_and_payment_in_full_reinstates()
    {
        var (account, member, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var number = invoice.InvoiceNumber;
        Assert.Single(invoice.Lines); // no surcharge in EE
        Assert.Equal(248.00m, invoice.Total);

        await App.FastForward(TimeSpan.FromDays(30));
        Assert.Equal(InvoiceStatus.Open, (await member.SingleInvoice(account)).Status);
        await App.FastForward(TimeSpan.FromDays(1));
        Assert.Equal(InvoiceStatus.Overdue, (await member.SingleInvoice(account)).Status);
        // The reminder says where to pay and which reference to quote, as the invoice does.
        var reference = CreditorReferences.Grouped(invoice.CreditorReference);
        var reminder = Assert.Single(App.SentEmails(), e => e.Subject == $"Invoice {number} is overdue");
        Assert.Contains($"Reference: {reference} (or quote {number})", reminder.MemberText());
        Assert.Contains("IBAN: ", reminder.MemberText());
        var overdue = await member.Summary(account);
        Assert.Equal((MembershipStatus.Active, 248.00m, "EUR"), (overdue.MembershipStatus, overdue.AmountOwed,
            overdue.OwedCurrency));
        Assert.Equal([new MoneyOwed(248.00m, "EUR")], overdue.Owed);

        await App.FastForward(TimeSpan.FromDays(13));
        Assert.Equal(MembershipStatus.Active, (await member.Summary(account)).MembershipStatus);
        await App.FastForward(TimeSpan.FromDays(1) + TimeSpan.FromHours(1));
        Assert.Equal(MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);
        Assert.Equal(1, await Count("membership_suspended"));
        var membershipNumber = (await member.SingleInvoice(account)).MembershipNumber;
        var suspendedMail = Assert.Single(App.SentEmails(), e => e.Subject == $"Your CPS membership {membershipNumber} is suspended");
        Assert.Contains($"Reference: {reference} (or quote {number})", suspendedMail.MemberText());
        Assert.Contains("248.00 EUR is still open", suspendedMail.MemberText());

        var partial = await Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(number, 48m, "LATE-1"))
            .ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.False(partial.MembershipReinstated);
        Assert.Equal(MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);
        // Tracked until the reinstatement e-mail the payment sets off has been written.
        var rest = await App.Tracked(() => Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(number, 200m, "LATE-2"))
            .ReadAs<BankPaymentRecorded>(HttpStatusCode.Created));
        Assert.True(rest.MembershipReinstated);
        var summary = await member.Summary(account);
        Assert.Equal((MembershipStatus.Active, 0m), (summary.MembershipStatus, summary.AmountOwed));
        Assert.Equal(1, await Count("membership_reinstated"));
        var reinstatedMail = Assert.Single(App.SentEmails(), e => e.Subject == $"Your CPS membership {membershipNumber} is active again");
        Assert.Contains($"invoice {number} is paid in full", reinstatedMail.MemberText());
    }

    /// <summary>
    /// A Gold member that upgraded to Platinum, with the joining and the upgrade's invoice both unpaid, overdue and past their
    /// grace periods: the membership suspended for <c>First</c> (whichever's suspension ran first: both fall due in the same
    /// fast-forward), <c>Second</c> overdue too.
    /// </summary>
    private async Task<(Guid Account, HttpClient Member, Invoice First, Invoice Second)> SuspendedWithTwoInvoicesOverdue()
    {
        var (account, member, invoices) = await UpgradedWithBothInvoicesPastTheirGracePeriods();
        var joining = Assert.Single(invoices, i => i.Kind == InvoiceKind.Membership);
        var upgrade = Assert.Single(invoices, i => i.Kind == InvoiceKind.Upgrade);
        var suspendedFor = (await App.ClientAs(LedgerRoles.Support).GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>())
            .Suspension!.InvoiceNumber;
        var (first, second) = suspendedFor == joining.InvoiceNumber ? (joining, upgrade) : (upgrade, joining);
        Assert.Equal(1, await Count("membership_suspended"));
        return (account, member, first, second);
    }

    /// <summary>
    /// A Gold member by bank transfer that upgraded to Platinum a day after its joining invoice was issued, both invoices (as
    /// issued) unpaid and past their grace periods.
    /// </summary>
    private async Task<(Guid Account, HttpClient Member, List<Invoice> Invoices)> UpgradedWithBothInvoicesPastTheirGracePeriods()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "bank_transfer"); // Gold; the joining invoice, due in 30 days
        await App.FastForward(TimeSpan.FromDays(1));
        await App.Tracked(() => member.Register(account, Products.Products.Complete("S-SECOND", Billing.Thousand)));
        await App.Tracked(async () => await (await member.PostJson($"/api/accounts/{account}/membership/upgrade", new { tier = "platinum" }))
            .ShouldBe(HttpStatusCode.OK)); // the upgrade's invoice, due a day after the joining one
        var invoices = await member.Invoices(account);
        var upgrade = Assert.Single(invoices, i => i.Kind == InvoiceKind.Upgrade);
        await App.FastForward(DueWork.StartOf(upgrade.DueOn.AddDays(1)) + TimeSpan.FromMinutes(1) - App.Clock.GetUtcNow());
        await App.FastForward(TimeSpan.FromDays(14) + TimeSpan.FromHours(1));
        return (account, member, invoices);
    }

    [Fact]
    public async Task Paying_the_invoice_a_suspension_is_for_keeps_it_while_another_invoice_of_the_term_is_overdue_past_its_grace_period()
    {
        var (account, member, first, second) = await SuspendedWithTwoInvoicesOverdue();
        var support = App.ClientAs(LedgerRoles.Support);

        var paid = await App.PayInFull(first, "B-1");
        Assert.False(paid.MembershipReinstated);
        var summary = await member.Summary(account);
        Assert.Equal((MembershipStatus.Suspended, second.Total), (summary.MembershipStatus, summary.AmountOwed));
        Assert.Equal(second.InvoiceNumber,
            (await support.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Suspension!.InvoiceNumber);
        Assert.Equal(0, await Count("membership_reinstated"));
        // The member is told which invoice the suspension now rests on.
        Assert.Contains($"Invoice {second.InvoiceNumber} was due",
            Assert.Single(App.SentEmails(), e => e.MessageId == $"membership-suspended-{second.InvoiceNumber}@cpsledger").MemberText());

        // Paying that one too reinstates.
        var rest = await App.PayInFull(second, "B-2");
        Assert.True(rest.MembershipReinstated);
        Assert.Equal(MembershipStatus.Active, (await member.Summary(account)).MembershipStatus);
    }

    [Fact]
    public async Task The_preview_of_paying_the_invoice_a_suspension_is_for_says_it_moves_while_another_invoice_of_the_term_is_overdue()
    {
        var (_, _, first, second) = await SuspendedWithTwoInvoicesOverdue();

        var preview = await Finance.PostJson("/api/payments/bank-transfers/preview", App.BankPayment(first.InvoiceNumber, first.Total, "B-1"))
            .ReadAs<BankPaymentPreview>();
        Assert.Equal(MembershipAfterSettlement.SuspensionMoved, preview.MembershipAfter);
        // Paying the other one is not what the suspension rests on: nothing to say of the membership.
        var other = await Finance.PostJson("/api/payments/bank-transfers/preview", App.BankPayment(second.InvoiceNumber, second.Total, "B-2"))
            .ReadAs<BankPaymentPreview>();
        Assert.Null(other.MembershipAfter);

        Assert.False((await App.PayInFull(first, "B-1")).MembershipReinstated);
        var last = await Finance.PostJson("/api/payments/bank-transfers/preview", App.BankPayment(second.InvoiceNumber, second.Total, "B-2"))
            .ReadAs<BankPaymentPreview>();
        Assert.Equal(MembershipAfterSettlement.Reinstated, last.MembershipAfter);
    }

    // Sequence order alone would take the invoice's earlier settlement: a reinstatement stored before 2026-12-05 was written before the
    // settlement it was committed with (as here). The commit id says which one it was.
    [Fact]
    public async Task The_history_names_the_settlement_a_reinstatement_was_committed_with_not_an_earlier_one()
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var now = App.Clock.GetUtcNow();
        await using (var earlier = App.Store.LightweightSession())
        {
            // Paid as a transfer pays it: the payment, then the settlement (never an InvoicePaid with nothing received before it).
            earlier.Events.Append(invoice.Id,
                new PaymentReceived(invoice.Id, invoice.InvoiceNumber, account, Guid.CreateVersion7(), PaymentMethod.BankTransfer, invoice.Total,
                    invoice.Currency, DateOnly.FromDateTime(now.UtcDateTime), null, "B-EARLIER", PaymentKind.Full, invoice.Total, 0m, 0m, now),
                new InvoicePaid(invoice.Id, invoice.InvoiceNumber, account, invoice.Total, now));
            await earlier.SaveChangesAsync();
        }
        await using (var settlement = App.Store.LightweightSession())
        {
            settlement.Events.Append(MembershipStream.For(account),
                new MembershipReinstated(account, invoice.MembershipId, invoice.Id, invoice.InvoiceNumber, now));
            settlement.Events.Append(invoice.Id,
                new InvoiceCancelled(invoice.Id, invoice.InvoiceNumber, account, "CN-TEST-000001", "Issued in error", now));
            await settlement.SaveChangesAsync();
        }

        var reinstated = Assert.Single((await App.ClientAs(LedgerRoles.Auditor)
            .GetAsync($"/api/accounts/{account}/history?types=membership_reinstated").ReadAs<HistoryPage>()).Items);
        Assert.Equal($"Membership reinstated: invoice {invoice.InvoiceNumber} was cancelled by credit note CN-TEST-000001", reinstated.Description);
    }

    [Theory]
    [InlineData("paid")]
    [InlineData("cancelled")]
    public async Task The_history_says_a_suspension_moved_to_another_overdue_invoice_and_why_without_changing_the_event(string settledBy)
    {
        var (account, member, first, second) = await SuspendedWithTwoInvoicesOverdue();
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        string how;
        if (settledBy == "paid")
        {
            await App.PayInFull(first, "B-1");
            how = "was paid";
        }
        else
        {
            var cancelled = await App.Tracked(() => Finance.PostJson($"/api/accounts/{account}/invoices/{first.InvoiceNumber}/cancellation",
                new { reason = "Issued in error" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
            how = $"was cancelled by credit note {cancelled.CreditNoteNumber}";
        }

        await App.PayInFull(second, "B-2");

        // Suspended, moved, reinstated: the second suspension is not read as a second one with no reinstatement between.
        const string standing = "types=membership_suspended,membership_reinstated";
        var history = (await auditor.GetAsync($"/api/accounts/{account}/history?{standing}").ReadAs<HistoryPage>()).Items;
        Assert.Equal(["membership_suspended", "membership_suspended", "membership_reinstated"], history.Select(h => h.Type));
        Assert.Equal($"Membership suspended: invoice {first.InvoiceNumber} not paid in full", history[0].Description);
        Assert.Equal($"Membership stays suspended, now for invoice {second.InvoiceNumber} not paid in full: invoice {first.InvoiceNumber}, " +
                     $"which it was suspended for, {how}", history[1].Description);
        // Which settlement lifted it, from the invoice's stream (the event says only which invoice).
        Assert.Equal($"Membership reinstated: invoice {second.InvoiceNumber} was paid", history[2].Description);

        // Derived from the streams, not from the page: read alone, the moved suspension says the same.
        var alone = Assert.Single((await auditor.GetAsync($"/api/accounts/{account}/history?{standing}&pageSize=1&page=2").ReadAs<HistoryPage>()).Items);
        Assert.Equal((history[1].EventId, history[1].Description), (alone.EventId, alone.Description));

        // The event itself is unchanged: a suspension for the second invoice, as the membership replays it.
        var data = (System.Text.Json.JsonElement)history[1].Data;
        Assert.Equal((second.Id.ToString(), second.InvoiceNumber),
            (data.GetProperty("invoiceId").GetString(), data.GetProperty("invoiceNumber").GetString()));
        var verification = await auditor.GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>();
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));
    }

    [Fact]
    public async Task Time_travel_shows_the_membership_status_and_what_was_owed_at_each_moment()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        var member = App.Member(account);
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        var moments = new List<(long Sequence, MembershipStatus Status, decimal Owed)> { (await LastSequence(), MembershipStatus.Active, 0m) };
        await App.FastForward(Billing.IssueDelay);
        var invoice = await member.SingleInvoice(account);
        moments.Add((await LastSequence(), MembershipStatus.Active, 248.00m));
        await (await Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(invoice.InvoiceNumber, 48m, "PART-1"))).ShouldBe(HttpStatusCode.Created);
        moments.Add((await LastSequence(), MembershipStatus.Active, 200.00m));
        await App.FastForward(TimeSpan.FromDays(31));
        await App.FastForward(TimeSpan.FromDays(14) + TimeSpan.FromHours(1));
        Assert.Equal(MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);
        var suspendedAt = await LastSequence();
        moments.Add((suspendedAt, MembershipStatus.Suspended, 200.00m));
        await App.Tracked(() => Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(invoice.InvoiceNumber, 200m, "REST-1")));
        moments.Add((await LastSequence(), MembershipStatus.Active, 0m));
        // The transfer committed the payment, the invoice paid and the reinstatement (written last) together: asked at the payment,
        // time travel shows all of it, never an invoice paid with the membership still suspended.
        await using (var session = App.Store.QuerySession())
        {
            var received = await session.Events.QueryAllRawEvents().Where(e => e.Sequence > suspendedAt).OrderBy(e => e.Sequence).FirstAsync();
            Assert.Equal("payment_received", received.EventTypeName);
            moments.Add((received.Sequence, MembershipStatus.Active, 0m));
        }

        foreach (var (sequence, status, owed) in moments)
        {
            var asOf = await auditor.GetAsync($"/api/accounts/{account}/as-of?sequence={sequence}").ReadAs<Api.Audit.AccountAsOf>();
            Assert.Equal((status, owed, owed == 0 ? null : "EUR"), (asOf.Summary.MembershipStatus, asOf.Summary.AmountOwed, asOf.Summary.OwedCurrency));
        }
        // Before joining, and now (as the live summary says).
        long joinedAt;
        await using (var session = App.Store.QuerySession())
            joinedAt = await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == "cps_joined").MaxAsync(e => e.Sequence);
        var before = await auditor.GetAsync($"/api/accounts/{account}/as-of?sequence={joinedAt - 1}").ReadAs<Api.Audit.AccountAsOf>();
        Assert.Equal(MembershipStatus.None, before.Summary.MembershipStatus);
        var now = await auditor.GetAsync($"/api/accounts/{account}/as-of?timestamp={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"))}")
            .ReadAs<Api.Audit.AccountAsOf>();
        // By value, lists item by item (a record compares its lists by reference).
        Assert.Equivalent(await member.Summary(account), now.Summary, strict: true);
    }

    [Fact]
    public async Task An_invoice_in_euros_and_a_renewal_invoice_in_pounds_are_owed_apart_and_each_is_paid_and_credited_in_its_own_currency()
    {
        var (account, member) = await App.BankMemberOwingInEurosAndPounds();

        // The invoice list: each invoice in its own currency, with the VAT of the buyer's country on its own amounts.
        var invoices = await member.Invoices(account);
        Assert.Equal([InvoiceKind.Renewal, InvoiceKind.Upgrade, InvoiceKind.Membership], invoices.Select(i => i.Kind));
        var (renewal, upgrade) = (invoices[0], invoices[1]);
        Assert.Equal(("GBP", 310.00m, InvoiceStatus.Open), (renewal.Currency, Assert.Single(renewal.Lines).Amount, renewal.Status));
        Assert.Equal(("EUR", InvoiceStatus.Open), (upgrade.Currency, upgrade.Status));
        foreach (var invoice in new[] { renewal, upgrade })
        {
            Assert.Equal(("EE", 0.24m), (invoice.VatTreatment!.Country, invoice.VatTreatment.Rate));
            Assert.Equal((InvoiceCalculation.Round(invoice.Subtotal * 0.24m), invoice.Subtotal + invoice.Vat, invoice.Total),
                (invoice.Vat, invoice.Total, invoice.Outstanding));
        }

        // Owed per currency, the newest open invoice's first, never added up; the same in the summary of that moment.
        MoneyOwed[] bothOwed = [new(renewal.Total, "GBP"), new(upgrade.Total, "EUR")];
        var summary = await member.Summary(account);
        Assert.Equal(bothOwed, summary.Owed);
        Assert.Equal((renewal.Total, "GBP"), (summary.AmountOwed, summary.OwedCurrency));
        var auditor = App.ClientAs(LedgerRoles.Auditor);
        var then = (await auditor.GetAsync($"/api/accounts/{account}/as-of?sequence={await LastSequence()}").ReadAs<AccountAsOf>()).Summary;
        Assert.Equal(bothOwed, then.Owed);
        Assert.Equal((renewal.Total, "GBP"), (then.AmountOwed, then.OwedCurrency));

        // What the portal shows for the renewal is what was invoiced: Platinum at the pounds table's fee.
        var outlook = (await member.GetAsync($"/api/accounts/{account}/eligible-tiers").ReadAs<Api.Tiers.EligibleTiers>()).Membership!;
        Assert.Equal(("platinum", RenewalTableBasis.Offer), (outlook.RenewalTier, outlook.RenewalOptions!.Table));
        var offered = Assert.Single(outlook.RenewalOptions.Standard, t => t.Code == "platinum");
        Assert.Equal((renewal.Lines[0].Amount, renewal.Currency, true), (offered.AnnualFee, offered.Currency, offered.Eligible));

        // The documents: each in its own currency, with its own VAT and total.
        foreach (var invoice in new[] { renewal, upgrade })
        {
            var text = Words(await PdfPictures.Text(await (await member.GetAsync($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/pdf"))
                .Content.ReadAsByteArrayAsync()));
            Assert.Contains($"Amount ({invoice.Currency})", text);
            Assert.Contains($"VAT 24 % (EE) {InvoiceWording.Money(invoice.Vat)}", text);
            Assert.Contains($"Total {invoice.Currency} {InvoiceWording.Money(invoice.Total)}", text);
            Assert.Contains($"Please transfer {InvoiceWording.Money(invoice.Total)} {invoice.Currency} by", text);
            var ubl = System.Xml.Linq.XDocument.Parse(await (await member.GetAsync($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/ubl"))
                .Content.ReadAsStringAsync());
            Assert.Empty(UblRules.Check(ubl));
            Assert.Equal((invoice.Currency, InvoiceWording.Money(invoice.Total)),
                (UblRules.Value(ubl, "cbc:DocumentCurrencyCode"), UblRules.Value(ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount")));
        }

        // A transfer in euros for the invoice in pounds is refused, naming the invoice's currency, and records nothing.
        var before = await LastSequence();
        var wrong = await Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(renewal.InvoiceNumber, renewal.Total, "B-EUR"))
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal([$"Invoice {renewal.InvoiceNumber} is in GBP, not EUR."], wrong.Errors["currency"]);
        Assert.Equal(before, await LastSequence());
        Assert.Equal((0m, renewal.Total), ((await member.Invoices(account))[0].TotalReceived, (await member.Invoices(account))[0].Outstanding));

        // Paid in pounds: what is left is the upgrade, in euros, now first.
        var paid = await App.PayInFull(renewal, "B-GBP");
        Assert.Equal(("GBP", PaymentKind.Full, InvoiceStatus.Paid), (paid.Currency, paid.Kind, paid.InvoiceStatus));
        MoneyOwed[] leftOwed = [new(upgrade.Total, "EUR")];
        var left = await member.Summary(account);
        Assert.Equal(leftOwed, left.Owed);
        Assert.Equal((upgrade.Total, "EUR"), (left.AmountOwed, left.OwedCurrency));
        var leftThen = (await auditor.GetAsync($"/api/accounts/{account}/as-of?sequence={await LastSequence()}").ReadAs<AccountAsOf>()).Summary;
        Assert.Equal(leftOwed, leftThen.Owed);
        Assert.Equal((upgrade.Total, "EUR"), (leftThen.AmountOwed, leftThen.OwedCurrency));

        // Each credit note credits in its invoice's currency: the pounds received to be refunded in pounds, the euros owed no more.
        foreach (var (invoice, settlement) in new[]
                 {
                     (renewal, $"{InvoiceWording.Money(renewal.Total)} GBP received on invoice {renewal.InvoiceNumber} will be refunded to you."),
                     (upgrade, $"Invoice {upgrade.InvoiceNumber} is cancelled in full: nothing is to be paid on it."),
                 })
        {
            var cancelled = await App.Tracked(() => Finance.PostJson($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation",
                new { reason = "Issued in the wrong currency" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
            Assert.Equal((invoice.Total, invoice.Currency), (cancelled.Total, cancelled.Currency));
            var note = Words(await PdfPictures.Text(await (await member.GetAsync($"/api/accounts/{account}/credit-notes/{cancelled.CreditNoteNumber}/pdf"))
                .Content.ReadAsByteArrayAsync()));
            Assert.Contains($"VAT 24 % (EE) {InvoiceWording.Money(invoice.Vat)}", note);
            Assert.Contains($"Total credited {invoice.Currency} {InvoiceWording.Money(invoice.Total)}", note);
            Assert.Contains(settlement, note);
        }

        var settled = await member.Summary(account);
        Assert.Empty(settled.Owed);
        Assert.Equal((0m, null), (settled.AmountOwed, settled.OwedCurrency));
        Assert.Equal([new RefundOwed(renewal.InvoiceNumber, renewal.Total, "GBP")], settled.RefundsOwed);
    }

    private static string Words(string text) => System.Text.RegularExpressions.Regex.Replace(text, @"\s+", " ");

    private async Task<long> LastSequence()
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().MaxAsync(e => e.Sequence);
    }

    [Fact]
    public async Task Paying_two_overdue_invoices_of_a_suspended_term_at_the_same_moment_leaves_no_suspension()
    {
        var (account, member, invoices) = await UpgradedWithBothInvoicesPastTheirGracePeriods();
        var support = App.ClientAs(LedgerRoles.Support);
        Assert.NotNull((await support.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Suspension);

        // Two transfers recorded at the same moment, each as the bank-payment endpoint records it, in a session of its own. Each
        // waits (up to two seconds) for the other to have read the membership too before it commits: without the membership's
        // lock both read the suspension as it was (found in review: one moved it to the other invoice, the other wrote nothing).
        var read = 0;
        var bothRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await Task.WhenAll(invoices.Select((invoice, i) => App.RecordTransferInItsOwnSession(invoice, $"B-{i}", async (_, _) =>
        {
            if (Interlocked.Increment(ref read) == 2)
                bothRead.TrySetResult();
            await Task.WhenAny(bothRead.Task, Task.Delay(TimeSpan.FromSeconds(2)));
        })));

        Assert.All(await member.Invoices(account), i => Assert.Equal(InvoiceStatus.Paid, i.Status));
        Assert.Null((await support.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Suspension);
        Assert.Equal(MembershipStatus.Active, (await member.Summary(account)).MembershipStatus);
    }

    /// <summary>A Gold member by bank transfer whose joining invoice is overdue (checked), its suspension due in a day.</summary>
    private async Task<(Guid Account, HttpClient Member, Invoice Invoice)> OverdueADayBeforeItsSuspension()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "bank_transfer");
        await App.FastForward(TimeSpan.FromDays(31));
        var invoice = await member.SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Overdue, invoice.Status);
        await App.FastForward(TimeSpan.FromDays(13));
        return (account, member, invoice);
    }

    [Fact]
    public async Task An_invoice_paid_while_its_suspension_falls_due_suspends_nothing()
    {
        var (account, member, invoice) = await OverdueADayBeforeItsSuspension();

        // The transfer, as the bank-payment endpoint records it, in a session of its own: it holds the membership's lock (every
        // settlement takes it, suspended or not) and commits once the suspension, falling due meanwhile, has either run or waits
        // for a lock it holds. Found in review: the suspension read the invoice unpaid before the payment committed, and suspended
        // the membership for a paid invoice after it.
        Task? suspension = null;
        await App.RecordTransferInItsOwnSession(invoice, "B-1", async (payment, reinstated) =>
        {
            Assert.False(reinstated);
            suspension = App.FastForward(TimeSpan.FromDays(1) + TimeSpan.FromHours(1));
            await App.UntilDoneOrWaitingForLockOf(suspension, payment.Connection!.ProcessID, LockWaiter.Handling<SuspendForNonPayment>());
        });
        await suspension!;

        Assert.Equal(InvoiceStatus.Paid, (await member.SingleInvoice(account)).Status);
        var support = App.ClientAs(LedgerRoles.Support);
        Assert.Null((await support.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Suspension);
        Assert.Equal(MembershipStatus.Active, (await member.Summary(account)).MembershipStatus);
        Assert.Equal(0, await Count("membership_suspended"));
        Assert.DoesNotContain(App.SentEmails(), e => e.MessageId == $"membership-suspended-{invoice.InvoiceNumber}@cpsledger");
    }

    [Fact]
    public async Task A_transfer_recorded_while_the_suspension_is_decided_waits_for_it_and_lifts_it()
    {
        var (account, member, invoice) = await OverdueADayBeforeItsSuspension();

        // The suspension has read the invoice unpaid and not committed yet: the transfer is recorded through the endpoint then, and
        // the suspension commits once the payment has either committed or waits for a lock the suspension holds. Found in review:
        // the payment committed in between, and the suspension after it, for a paid invoice.
        Task<BankPaymentRecorded>? paying = null;
        var (id, request) = LockWaiter.NewRequest();
        App.Seam<OverdueTestSeam>().BeforeSuspensionCommits = async session =>
        {
            paying = Finance.Correlated(id).PostJson("/api/payments/bank-transfers", App.BankPayment(invoice.InvoiceNumber, invoice.Total, "B-1"))
                .ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
            await App.UntilDoneOrWaitingForLockOf(paying, session.Connection!.ProcessID, request);
        };
        try
        {
            await App.FastForward(TimeSpan.FromDays(1) + TimeSpan.FromHours(1));
        }
        finally
        {
            App.Seam<OverdueTestSeam>().BeforeSuspensionCommits = null;
        }

        // Suspended, then reinstated by the payment, which read the suspension once the lock was its own: the member is told it is
        // active again (the suspension e-mail goes out only if it ran before the payment committed).
        Assert.True((await paying!).MembershipReinstated);
        Assert.Equal(InvoiceStatus.Paid, (await member.SingleInvoice(account)).Status);
        var support = App.ClientAs(LedgerRoles.Support);
        Assert.Null((await support.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Suspension);
        Assert.Equal(MembershipStatus.Active, (await member.Summary(account)).MembershipStatus);
        Assert.Equal((1, 1), (await Count("membership_suspended"), await Count("membership_reinstated")));
        await FaultWaits.Until(async () => App.SentEmails().Any(e => e.MessageId == $"membership-reinstated-{invoice.InvoiceNumber}@cpsledger"),
            "the reinstatement e-mail written", TimeSpan.FromSeconds(30));
        await App.Services.UntilInboxHasNothingToRun();
        Assert.Single(App.SentEmails(), e => e.MessageId == $"membership-reinstated-{invoice.InvoiceNumber}@cpsledger");
    }

    [Fact]
    public async Task A_card_is_charged_nothing_at_joining_and_the_total_on_the_due_date_once()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("IT", "card", SandboxPaymentGateway.Approve);
        var invoice = await member.SingleInvoice(account);
        Assert.Single(invoice.Lines); // no surcharge for a card, even in IT
        Assert.Equal(244.00m, invoice.Total);
        Assert.Empty(_sandbox.Charges);
        // A card is on file when the e-mail is written: it is charged, and the member need do nothing.
        Assert.Contains(App.SentEmails(), e => e.Subject?.Contains(invoice.InvoiceNumber) == true
                                       && e.MemberText()?.Contains($"Your card will be charged 244.00 EUR on {invoice.DueOn:yyyy-MM-dd}; there is nothing to do.") == true);

        await App.FastForward(TimeSpan.FromDays(29));
        Assert.Empty(_sandbox.Charges);
        await App.FastForward(TimeSpan.FromDays(1));
        var charge = Assert.Single(_sandbox.Charges);
        Assert.Equal(($"INV-{YearOf(invoice)}-000001-attempt-1", 244.00m, "EUR"), (charge.IdempotencyKey, charge.Amount, charge.Currency));
        var paid = await member.SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Paid, paid.Status);
        Assert.Equal(ChargeOutcome.Approved, Assert.Single(paid.ChargeAttempts).Outcome);
        Assert.Equal(CpsLedger.Api.Membership.PaymentMethod.Card, Assert.Single(paid.Payments).Method);
        // The attempt is recorded: its key is marked presented no more.
        Assert.Empty(await App.PresentedCharges());
    }

    [Fact]
    public async Task A_card_invoice_without_a_card_on_file_asks_for_a_card_or_a_transfer_by_the_due_date_and_its_pdf_stays_the_same()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("IT", "card"); // no card recorded: the charge on the due date would be declined
        var invoice = await member.SingleInvoice(account);
        var (due, reference) = ($"{invoice.DueOn:yyyy-MM-dd}", CreditorReferences.Grouped(invoice.CreditorReference));
        await (await member.GetAsync($"/api/accounts/{account}/payment-card")).ShouldBeProblem(HttpStatusCode.NotFound);

        // The e-mail, written while no card is on file, says so, and what to do by when.
        var email = Assert.Single(App.SentEmails(), e => e.Subject?.Contains(invoice.InvoiceNumber) == true).MemberText();
        Assert.DoesNotContain("nothing to do", email);
        Assert.DoesNotContain("will be charged", email);
        Assert.Contains($"No card is on file for your account, so nothing can be charged on {due}.", email);
        Assert.Contains($"Please record a card in the CPS portal before {due}, or transfer 244.00 EUR", email);
        Assert.Contains($"by {due}, quoting the reference below:", email);
        Assert.Contains($"Reference: {reference}", email);
        Assert.Contains("Otherwise the charge is declined, the invoice becomes overdue", email);

        // The PDF is drawn from the invoice's facts at every download: its words hold with a card and without one...
        async Task<byte[]> Pdf() => await (await member.GetAsync($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/pdf")).Content.ReadAsByteArrayAsync();
        var pdf = await Pdf();
        var text = await PdfPictures.Text(pdf);
        Assert.DoesNotContain("nothing to do", text);
        Assert.Contains($"The card on file for your account will be charged 244.00 EUR on {due}.", text);
        Assert.Contains($"No card on file yet? Record one in the CPS portal before {due}", text);
        Assert.Contains(reference, text);

        // ...it is the e-mail's attachment to the byte (drawn when the e-mail was written)...
        var attachment = Assert.Single(Assert.Single(App.SentEmails(), e => e.Subject?.Contains(invoice.InvoiceNumber) == true)
            .Attachments.OfType<MimePart>());
        using (var attached = new MemoryStream())
        {
            await attachment.Content!.DecodeToAsync(attached);
            Assert.Equal(pdf, attached.ToArray());
        }

        // ...so a card recorded afterwards leaves the document as it was, to the byte.
        await RecordCard(member, account, SandboxPaymentGateway.Approve);
        Assert.Equal(pdf, await Pdf());
    }

    [Fact]
    public async Task The_card_is_presented_once_the_key_is_marked_presented_for_good_and_recording_the_attempt_removes_the_mark()
    {
        var (account, _) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Approve);

        // Just before the card is presented, the mark is already committed: another connection reads it while the charge's transaction
        // (which a timeout or a crash would roll back) is still open.
        IReadOnlyList<PresentedCharge>? marked = null;
        App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = async _ =>
        {
            App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = null;
            marked = await App.PresentedCharges();
        };
        try
        {
            await App.FastForward(TimeSpan.FromDays(30));
        }
        finally
        {
            App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = null;
        }

        var invoice = await App.Member(account).SingleInvoice(account);
        var mark = Assert.Single(marked!);
        Assert.Equal(($"{invoice.InvoiceNumber}-attempt-1", invoice.Id, 1), (mark.Id, mark.InvoiceId, mark.Attempt));
        Assert.Equal(InvoiceStatus.Paid, invoice.Status);
        Assert.Equal(mark.Id, Assert.Single(invoice.ChargeAttempts).IdempotencyKey);
        Assert.Empty(await App.PresentedCharges());
    }

    [Fact]
    public async Task A_card_invoice_paid_by_transfer_before_its_due_date_is_charged_nothing_without_asking_the_gateway_even_when_it_is_down()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Approve);
        var invoice = await member.SingleInvoice(account);
        var transfer = await Finance.PostJson("/api/payments/bank-transfers", App.BankPayment(invoice.InvoiceNumber, invoice.Total, "LHV-1"))
            .ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal(InvoiceStatus.Paid, transfer.InvoiceStatus);

        // The charge falls due on the paid invoice while the gateway cannot be reached. No delivery presented the card (nothing is marked
        // presented), so nothing can have been charged, and the gateway is not asked: the charge is done. It used to ask on every such
        // delivery, and, the gateway unreachable, was retried for hours, holding the member's lock up to Invoicing:GatewayTimeout each time.
        _sandbox.Unreachable = true;
        await App.FastForward(TimeSpan.FromDays(30));

        Assert.Empty(_sandbox.LookedUp);
        Assert.Empty(_sandbox.Charges);
        var paid = await member.SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Paid, paid.Status);
        Assert.Empty(paid.ChargeAttempts);
        Assert.Equal(CpsLedger.Api.Membership.PaymentMethod.BankTransfer, Assert.Single(paid.Payments).Method);
        Assert.Equal(0, await Count("card_charge_attempted"));
        Assert.Equal(0, await App.ChargeCardsInFlight());
        Assert.Empty(await App.PresentedCharges());
    }

    [Theory]
    [InlineData("paid")]
    [InlineData("cancelled")]
    public async Task An_overdue_or_suspension_email_for_an_invoice_settled_meanwhile_is_not_sent_and_the_log_says_which_and_why(string settled)
    {
        // Until 2026-12-06 both handlers returned without a word when the invoice was paid, or finance cancelled it (a credit note),
        // before the e-mail went out.
        var (account, _, _, joining) = await App.BankMemberWithItsJoiningInvoice();
        if (settled == "paid")
            await App.PayInFull(joining, "B-1");
        else
            await App.Tracked(() => Finance.PostJson($"/api/accounts/{account}/invoices/{joining.InvoiceNumber}/cancellation",
                new { reason = "Issued in error" }).ReadAs<InvoiceCancellation>(HttpStatusCode.Created));
        var emails = App.SentEmails().Length;
        var logs = App.Logs.Mark();

        await App.Tracked(async () =>
        {
            await App.Invoke(new SendOverdueEmail(joining.Id, DateOnly.FromDateTime(App.Clock.GetUtcNow().UtcDateTime)));
            await App.Invoke(new SendSuspensionEmail(joining.Id, App.Clock.GetUtcNow()));
        });

        Assert.Equal(emails, App.SentEmails().Length);
        foreach (var (email, message) in new[] { ("Overdue", nameof(SendOverdueEmail)), ("Suspension", nameof(SendSuspensionEmail)) })
            AssertSkipLogged(App.Logs.Since(logs), $"{email} e-mail", joining, account, message, $"the invoice is {settled}");
    }

    [Fact]
    public async Task A_card_declined_email_for_an_invoice_paid_meanwhile_is_not_sent_and_the_log_says_which_and_why()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Decline);
        await App.FastForward(TimeSpan.FromDays(30));
        var invoice = await member.SingleInvoice(account);
        Assert.Equal(ChargeOutcome.Declined, Assert.Single(invoice.ChargeAttempts).Outcome);
        await App.PayInFull(invoice, "B-1");
        var emails = App.SentEmails().Length;
        var logs = App.Logs.Mark();

        await App.Tracked(() => App.Invoke(new SendCardDeclinedEmail(invoice.Id, 1)));

        Assert.Equal(emails, App.SentEmails().Length);
        var skipped = AssertSkipLogged(App.Logs.Since(logs), "Card-declined e-mail", invoice, account, nameof(SendCardDeclinedEmail));
        Assert.Equal(1, Scalar<int>(skipped, "Attempt"));
    }

    private static Serilog.Events.LogEvent AssertSkipLogged(IEnumerable<Serilog.Events.LogEvent> logs, string start, Invoice invoice, Guid account,
        string messageType, string reason = "the invoice is paid")
    {
        var skipped = Assert.Single(logs, e => e.MessageTemplate.Text.StartsWith(start, StringComparison.Ordinal));
        Assert.Equal(Serilog.Events.LogEventLevel.Information, skipped.Level);
        Assert.Equal((invoice.InvoiceNumber, invoice.Id, account, messageType, reason),
            (Scalar<string>(skipped, "InvoiceNumber"), Scalar<Guid>(skipped, "InvoiceId"), Scalar<Guid>(skipped, "AccountId"),
                Scalar<string>(skipped, "MessageType"), Scalar<string>(skipped, "Reason")));
        return skipped;
    }

    [Fact]
    public async Task A_declined_card_is_retried_a_day_apart_and_after_the_third_failure_the_invoice_is_overdue()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Decline);
        await App.FastForward(TimeSpan.FromDays(30));
        var first = Assert.Single((await member.SingleInvoice(account)).ChargeAttempts);
        // The invoice e-mail said the card would be charged: a declined attempt with another to come tells the member at once,
        // what was declined, when the card is tried again and how to record another card or pay by transfer instead.
        var declined = Assert.Single(App.SentEmails(), e => e.MessageId == $"card-declined-{first.IdempotencyKey}@cpsledger");
        var number = (await member.SingleInvoice(account)).InvoiceNumber;
        Assert.Equal($"Your card was declined for invoice {number}", declined.Subject);
        // The amount, then the card it was asked of ("could not charge your card (Visa ending 0002) 248.00 EUR" read as one name).
        Assert.Contains($"We could not charge {InvoiceWording.Money(first.Amount)} EUR to your card (Visa ending 0002) for invoice {number} on " +
                        $"{first.AttemptedAt:yyyy-MM-dd}: card declined (insufficient funds).", declined.MemberText());
        Assert.Contains($"We try again on {first.NextAttemptOn:yyyy-MM-dd}", declined.MemberText());
        Assert.Contains("record another card in the CPS portal", declined.MemberText());
        Assert.Contains("pay by bank transfer, quoting the reference below:\nAccount holder:", declined.MemberText()!.ReplaceLineEndings("\n"));
        Assert.Contains("Reference: RF", declined.MemberText());
        await App.FastForward(TimeSpan.FromDays(1));
        Assert.Equal(InvoiceStatus.Open, (await member.SingleInvoice(account)).Status);
        await App.FastForward(TimeSpan.FromDays(1));

        var invoice = await member.SingleInvoice(account);
        Assert.Equal([1, 2, 3], invoice.ChargeAttempts.Select(a => a.Attempt));
        Assert.All(invoice.ChargeAttempts, a => Assert.Equal(ChargeOutcome.Declined, a.Outcome));
        Assert.Equal(InvoiceStatus.Overdue, invoice.Status);
        Assert.Empty(_sandbox.Charges);
        Assert.Contains(App.SentEmails(), e => e.Subject?.EndsWith("is overdue") == true);
        // One e-mail per declined attempt with another to come; the last one's is the overdue reminder.
        Assert.Equal([$"card-declined-{number}-attempt-1@cpsledger", $"card-declined-{number}-attempt-2@cpsledger"],
            App.SentEmails().Select(e => e.MessageId).Where(id => id?.StartsWith("card-declined-") == true).Order());
        Assert.Equal(2, Directory.GetFiles(App.MailFolder, "card-declined-*.eml").Length);

        // The history says the decline once, with the gateway's reason.
        var attempts = (await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types=card_charge_attempted")
            .ReadAs<HistoryPage>()).Items;
        Assert.Equal($"Card charge 1 for {invoice.InvoiceNumber} (Visa ending 0002): {invoice.ChargeAttempts[0].Amount:0.00} {invoice.Currency}, " +
                     "declined: insufficient funds", attempts[0].Description);

        // No fourth attempt; each declined attempt recorded leaves no key marked presented.
        await App.FastForward(TimeSpan.FromDays(2));
        Assert.Equal(3, (await member.SingleInvoice(account)).ChargeAttempts.Count);
        Assert.Empty(await App.PresentedCharges());
    }

    // The e-mail of a declined attempt is written when it goes, which a mail outage or a retry can put after the member replaced the card.
    private async Task SendDeclinedEmailAgain(Guid invoiceId, int attempt)
    {
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var forget = new NpgsqlCommand($"delete from {App.SchemaName}.email_deliveries where message_id like 'card-declined-%'", connection);
            await forget.ExecuteNonQueryAsync();
        }
        foreach (var file in Directory.GetFiles(App.MailFolder, "card-declined-*.eml"))
            File.Delete(file);
        await App.Tracked(() => App.Invoke(new SendCardDeclinedEmail(invoiceId, attempt)));
    }

    [Fact]
    public async Task The_declined_email_names_the_card_that_was_charged_even_when_the_member_replaced_it_before_the_email_went()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Decline);
        await App.FastForward(TimeSpan.FromDays(30));
        var invoice = await member.SingleInvoice(account);
        // The attempt records the card it presented, as the member sees a card: brand and last four, never the token or reference.
        Assert.Equal(new ChargedCard("Visa", "0002"), Assert.Single(invoice.ChargeAttempts).Card);

        // Another card recorded before the e-mail goes (the invoice is open: nothing is charged until the next attempt).
        App.Clock.Advance(TimeSpan.FromMinutes(5));
        await RecordCard(member, account, SandboxPaymentGateway.Error); // Visa ending 0119
        await SendDeclinedEmailAgain(invoice.Id, 1);

        var declined = Assert.Single(App.SentEmails(), e => e.MessageId?.StartsWith("card-declined-") == true);
        Assert.Contains("EUR to your card (Visa ending 0002) for invoice", declined.MemberText());
        Assert.DoesNotContain("0119", declined.MemberText());

        // The history names the card the attempt charged too.
        var attempt = Assert.Single((await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types=card_charge_attempted")
            .ReadAs<HistoryPage>()).Items);
        Assert.StartsWith($"Card charge 1 for {invoice.InvoiceNumber} (Visa ending 0002): ", attempt.Description);
    }

    [Fact]
    public async Task A_declined_attempt_stored_before_attempts_named_their_card_still_reads_and_its_email_names_no_card_it_cannot_vouch_for()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Decline);
        var issued = await member.SingleInvoice(account);

        // As the previous version stored a declined attempt: the JSON has no Card. Appended raw with Marten's own append function (the hash
        // chain's trigger links it as any append), and the invoice's snapshot folded again from its stream, as its projection would.
        var attemptedAt = App.Clock.GetUtcNow();
        var old = System.Text.Json.JsonSerializer.Serialize(new
        {
            InvoiceId = issued.Id,
            issued.InvoiceNumber,
            Attempt = 1,
            IdempotencyKey = ChargeCardDecision.IdempotencyKey(issued.InvoiceNumber, 1),
            Amount = issued.Outstanding,
            issued.Currency,
            Outcome = "Declined",
            GatewayReference = (string?)null,
            Reason = "card declined (insufficient funds)",
            NextAttemptOn = DateOnly.FromDateTime(attemptedAt.UtcDateTime).AddDays(1),
            AttemptedAt = attemptedAt,
        });
        Assert.DoesNotContain("Card\"", old);
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var append = new NpgsqlCommand(
                $"select {App.SchemaName}.mt_quick_append_events(@stream, 'invoice', '*DEFAULT*', array[@id], array['card_charge_attempted'], " +
                "array[@type], array[@data::jsonb], array[null]::bytea[], array[null]::varchar[], array[null]::varchar[], array[null]::jsonb[], " +
                "array['system:card-charging']::varchar[], array[@at])", connection);
            append.Parameters.AddWithValue("stream", issued.Id);
            append.Parameters.AddWithValue("id", Guid.NewGuid());
            append.Parameters.AddWithValue("type", $"{typeof(CardChargeAttempted).FullName}, {typeof(CardChargeAttempted).Assembly.GetName().Name}");
            append.Parameters.AddWithValue("data", old);
            append.Parameters.AddWithValue("at", attemptedAt);
            await append.ExecuteNonQueryAsync();
        }
        await using (var session = App.Store.LightweightSession())
        {
            var read = Assert.Single(await session.Events.FetchStreamAsync(issued.Id), e => e.Data is CardChargeAttempted);
            Assert.Null(((CardChargeAttempted)read.Data).Card);
            session.Store((await session.Events.AggregateStreamAsync<Invoice>(issued.Id))!);
            await session.SaveChangesAsync();
        }
        var attempt = Assert.Single((await member.SingleInvoice(account)).ChargeAttempts);
        Assert.Equal((ChargeOutcome.Declined, (ChargedCard?)null), (attempt.Outcome, attempt.Card));
        var history = Assert.Single((await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types=card_charge_attempted")
            .ReadAs<HistoryPage>()).Items);
        Assert.Equal($"Card charge 1 for {issued.InvoiceNumber}: {attempt.Amount:0.00} EUR, declined: insufficient funds", history.Description);

        // The card on file was recorded before the attempt and not replaced since: it is the card that was charged, named as before.
        await SendDeclinedEmailAgain(issued.Id, 1);
        Assert.Contains("EUR to your card (Visa ending 0002) for invoice",
            Assert.Single(App.SentEmails(), e => e.MessageId?.StartsWith("card-declined-") == true).MemberText());

        // Replaced since: the attempt does not say which card it charged, so the e-mail names none rather than the wrong one.
        App.Clock.Advance(TimeSpan.FromMinutes(5));
        await RecordCard(member, account, SandboxPaymentGateway.Error);
        await SendDeclinedEmailAgain(issued.Id, 1);
        var declined = Assert.Single(App.SentEmails(), e => e.MessageId?.StartsWith("card-declined-") == true);
        Assert.Contains($"We could not charge {InvoiceWording.Money(attempt.Amount)} EUR to your card for invoice {issued.InvoiceNumber}", declined.MemberText());
        Assert.DoesNotContain("ending", declined.MemberText());
    }

    [Fact]
    public async Task A_card_recorded_after_the_invoice_became_overdue_is_charged_at_once_and_a_decline_is_only_recorded()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Decline);
        foreach (var days in new[] { 30, 1, 1 }) // the due date, then a retry a day apart (each step fires what is due)
            await App.FastForward(TimeSpan.FromDays(days));
        Assert.Equal(InvoiceStatus.Overdue, (await member.SingleInvoice(account)).Status);

        // Another card that is declined too: the attempt is recorded, the invoice stays overdue once, nothing more is scheduled.
        await RecordCard(member, account, SandboxPaymentGateway.Decline);
        var declined = await member.SingleInvoice(account);
        Assert.Equal((InvoiceStatus.Overdue, 4), (declined.Status, declined.ChargeAttempts.Count));
        Assert.Equal(1, await Count("invoice_became_overdue"));
        await App.FastForward(TimeSpan.FromDays(2));
        Assert.Equal(4, (await member.SingleInvoice(account)).ChargeAttempts.Count);

        // A good card: charged at once as attempt 5, with its own idempotency key.
        await RecordCard(member, account, SandboxPaymentGateway.Approve);
        var paid = await member.SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Paid, paid.Status);
        Assert.Equal($"{paid.InvoiceNumber}-attempt-5", Assert.Single(_sandbox.Charges).IdempotencyKey);
        Assert.Equal((MembershipStatus.Active, 0m), ((await member.Summary(account)).MembershipStatus,
            (await member.Summary(account)).AmountOwed));

        // Recording a card again charges nothing more.
        await RecordCard(member, account, SandboxPaymentGateway.Approve);
        Assert.Single(_sandbox.Charges);
    }

    [Fact]
    public async Task A_suspended_card_member_who_records_a_good_card_is_charged_and_reinstated_with_an_e_mail()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Decline);
        foreach (var days in new[] { 30, 1, 1, 13 })
            await App.FastForward(TimeSpan.FromDays(days));
        await App.FastForward(TimeSpan.FromDays(1) + TimeSpan.FromHours(1));
        Assert.Equal(MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);
        var membershipNumber = (await member.SingleInvoice(account)).MembershipNumber;
        var suspendedMail = Assert.Single(App.SentEmails(), e => e.Subject == $"Your CPS membership {membershipNumber} is suspended");
        Assert.Contains("Record a valid card in the CPS portal (it is charged at once)", suspendedMail.MemberText());

        await RecordCard(member, account, SandboxPaymentGateway.Approve);
        Assert.Equal(InvoiceStatus.Paid, (await member.SingleInvoice(account)).Status);
        Assert.Equal(MembershipStatus.Active, (await member.Summary(account)).MembershipStatus);
        Assert.Equal(1, await Count("membership_reinstated"));
        Assert.Single(App.SentEmails(), e => e.Subject == $"Your CPS membership {membershipNumber} is active again");
    }

    // The settlement takes the membership's lock before it reads the invoice, so Marten used to write the reinstatement first in the
    // commit: the history read the effect before its cause.
    [Theory]
    [InlineData("transfer")]
    [InlineData("card")]
    public async Task The_history_lists_the_payment_before_the_reinstatement_it_caused(string paidBy)
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", paidBy == "card" ? "card" : "bank_transfer",
            paidBy == "card" ? SandboxPaymentGateway.Decline : null);
        foreach (var days in new[] { 30, 1, 1, 13 })
            await App.FastForward(TimeSpan.FromDays(days));
        await App.FastForward(TimeSpan.FromDays(1) + TimeSpan.FromHours(1));
        Assert.Equal(MembershipStatus.Suspended, (await member.Summary(account)).MembershipStatus);
        var invoice = await member.SingleInvoice(account);

        if (paidBy == "card")
            await RecordCard(member, account, SandboxPaymentGateway.Approve);
        else
            await App.PayInFull(invoice, "LATE-1");

        var history = (await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?pageSize=500")
            .ReadAs<HistoryPage>()).Items;
        var reinstated = Assert.Single(history, h => h.Type == "membership_reinstated");
        var settlement = history.Where(h => h.Commit == reinstated.Commit).ToList();
        var expected = paidBy == "card"
            ? new[] { "card_charge_attempted", "payment_received", "invoice_paid", "membership_reinstated" }
            : ["payment_received", "invoice_paid", "membership_reinstated"];
        Assert.Equal(expected, settlement.Select(h => h.Type));
        Assert.Equal(settlement.Select(h => h.Sequence).Order(), settlement.Select(h => h.Sequence));
        var verification = await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>();
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));
    }

    [Fact]
    public async Task A_crash_after_the_gateway_approved_but_before_the_event_was_stored_charges_exactly_once()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.ApproveResponseLost);
        await App.FastForward(TimeSpan.FromDays(30));

        // The first try charged the card and then failed (the response was lost); the retry used the same key.
        var charge = Assert.Single(_sandbox.Charges);
        Assert.EndsWith("-attempt-1", charge.IdempotencyKey);
        var invoice = await member.SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Paid, invoice.Status);
        Assert.Single(invoice.ChargeAttempts);
        Assert.Equal(1, await Count("card_charge_attempted"));
        Assert.Equal(1, await Count("payment_received"));
        // The mark the first try committed outlived its rollback; the retry presented the key again (the invoice still owed, nothing
        // to look up) and took the mark away with the recorded attempt.
        Assert.Empty(_sandbox.LookedUp);
        Assert.Empty(await App.PresentedCharges());
    }

    [Fact]
    public async Task A_gateway_slower_than_its_timeout_is_given_up_on_and_asked_again_with_the_same_key_charging_once()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.ApproveSlow);
        var started = DateTimeOffset.UtcNow;
        await App.FastForward(TimeSpan.FromDays(30));

        // The gateway charged the card but would have answered after a minute; the charge gave up after Invoicing:GatewayTimeout (200 ms
        // here) as after a lost response, and the retry with the same key got the first result at once.
        Assert.True(DateTimeOffset.UtcNow - started < SandboxPaymentGateway.SlowAnswer / 2, "the charge waited for the gateway's slow answer");
        var charge = Assert.Single(_sandbox.Charges);
        Assert.EndsWith("-attempt-1", charge.IdempotencyKey);
        var invoice = await member.SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Paid, invoice.Status);
        Assert.Equal(ChargeOutcome.Approved, Assert.Single(invoice.ChargeAttempts).Outcome);
        Assert.Equal(1, await Count("payment_received"));
    }

    [Fact]
    public async Task Migration_014_marks_the_keys_of_card_charges_in_flight_presented_except_attempts_already_recorded()
    {
        await Billing.ListThousandPointModel(App.Store);
        // A declined card: attempt 1 recorded on the due date, attempt 2 scheduled a day later (in the inbox).
        var declined = await App.JoinedAccount("EE", "card", SandboxPaymentGateway.Decline, email: "declined@example.ee");
        await App.FastForward(Billing.IssueDelay);
        await App.FastForward(TimeSpan.FromDays(30));
        // Another card's first charge, scheduled for its due date, then moved to the dead letters.
        var scheduled = await App.JoinedAccount("EE", "card", SandboxPaymentGateway.Approve, email: "scheduled@example.ee");
        await App.FastForward(Billing.IssueDelay);
        var declinedInvoice = await App.Member(declined).SingleInvoice(declined);
        var scheduledInvoice = await App.Member(scheduled).SingleInvoice(scheduled);
        Assert.Equal([1], declinedInvoice.ChargeAttempts.Select(a => a.Attempt));
        Assert.Empty(await App.PresentedCharges());

        // Wolverine's own dead-lettering, so the rows are as it stores them: the scheduled charge, and the handled attempt 1 (recorded).
        var storage = App.Services.GetRequiredService<IWolverineRuntime>().Storage;
        var web = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        var charges = (await storage.Admin.AllIncomingAsync()).Where(e => e.MessageType == typeof(ChargeCard).FullName)
            .Select(e => (Envelope: e, Message: System.Text.Json.JsonSerializer.Deserialize<ChargeCard>(e.Data!, web)!)).ToList();
        foreach (var (envelope, _) in charges.Where(c => c.Message.InvoiceId == scheduledInvoice.Id
                                                          || (c.Message.InvoiceId == declinedInvoice.Id && c.Message.Attempt == 1)))
            await storage.Inbox.MoveToDeadLetterStorageAsync(envelope, new InvalidOperationException("Test: dead-lettered"));

        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        var script = await File.ReadAllTextAsync(Path.Combine(Snapshots.RepositoryRoot(), "eventstore-migrations", "014_presented_charges_marten.sql"));
        var start = script.IndexOf("-- begin backfill:presented-charges", StringComparison.Ordinal);
        var end = script.IndexOf("-- end backfill:presented-charges", StringComparison.Ordinal);
        Assert.True(start > 0 && end > start, "the backfill is no longer where this test looks for it");
        var backfill = script[start..end].Replace("cpsledger.", $"{App.SchemaName}.");
        await Execute(backfill);
        await Execute(backfill); // run again, it changes nothing

        // Marten reads what the script wrote as it reads what the charge writes (the declined invoice was numbered first).
        Assert.Equal([($"{declinedInvoice.InvoiceNumber}-attempt-2", declinedInvoice.Id, 2), ($"{scheduledInvoice.InvoiceNumber}-attempt-1", scheduledInvoice.Id, 1)],
            (await App.PresentedCharges()).Select(p => (p.Id, p.InvoiceId, p.Attempt)));

        // A charge's envelope it cannot read stops it, writing nothing.
        await Execute($"delete from {App.SchemaName}.mt_doc_presentedcharge; insert into {App.SchemaName}.wolverine_dead_letters (id, body, message_type) " +
                      $"values ('{Guid.NewGuid()}', '\\x0102'::bytea, '{typeof(ChargeCard).FullName}')");
        var unreadable = await Assert.ThrowsAsync<PostgresException>(() => Execute(backfill));
        Assert.Contains("could not be read", unreadable.MessageText);
        Assert.Empty(await App.PresentedCharges());

        async Task Execute(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task Invoice_numbers_are_consecutive_within_the_year_across_accounts()
    {
        await Billing.ListThousandPointModel(App.Store);
        var accounts = new List<Guid>();
        for (var i = 0; i < 4; i++)
            accounts.Add(await App.JoinedAccount("EE", i % 2 == 0 ? "card" : "bank_transfer", email: $"n{i}@example.ee"));
        await App.FastForward(Billing.IssueDelay);

        var invoices = new List<Invoice>();
        foreach (var account in accounts)
            invoices.Add(await App.Member(account).SingleInvoice(account));
        var year = invoices[0].IssuedOn.Year;
        Assert.Equal(Enumerable.Range(1, 4).Select(n => InvoiceNumbers.Format(year, n)), invoices.Select(i => i.InvoiceNumber).Order());
    }

    [Fact]
    public async Task Reading_invoices_is_for_the_account_s_own_member_and_staff()
    {
        var (account, _, _, joining) = await App.BankMemberWithItsJoiningInvoice();
        var number = joining.InvoiceNumber;
        var other = await App.OpenAccount("other@example.ee");

        foreach (var path in new[] { "invoices", $"invoices/{number}", $"invoices/{number}/pdf" })
        {
            var url = $"/api/accounts/{account}/{path}";
            Assert.Equal(HttpStatusCode.Unauthorized, (await App.Anonymous().GetAsync(url)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(other).GetAsync(url)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await App.ClientAs(LedgerRoles.Auditor).GetAsync(url)).StatusCode);
            await (await App.ClientAs(LedgerRoles.Support).GetAsync($"/api/accounts/{Guid.NewGuid()}/{path}")).ShouldBeProblem(HttpStatusCode.NotFound);
        }

        // Another account's invoice number is not found under this account; nor is a number never issued.
        await (await App.Member(other).GetAsync($"/api/accounts/{other}/invoices/{number}")).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.Member(account).GetAsync($"/api/accounts/{account}/invoices/INV-1999-000001/pdf")).ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.Empty(await App.Member(other).Invoices(other));

        // Worded as the other 404s: the number is in the request (and the problem's instance), not said again.
        foreach (var (path, title, detail) in new[]
                 {
                     ("invoices/INV-1999-000001/ubl", "Invoice not found", "This account has no invoice with this number."),
                     ("credit-notes/CN-1999-000001", "Credit note not found", "This account has no credit note with this number."),
                 })
        {
            var problem = await (await App.Member(account).GetAsync($"/api/accounts/{account}/{path}")).ReadProblem(HttpStatusCode.NotFound);
            Assert.Equal((title, detail), (problem.Title, problem.Detail));
        }
    }

    [Fact]
    public async Task Recording_a_bank_payment_is_for_finance_validated_and_a_payment_matching_no_invoice_records_nothing()
    {
        var (account, _, _, joining) = await App.BankMemberWithItsJoiningInvoice();
        var number = joining.InvoiceNumber;
        const string url = "/api/payments/bank-transfers";

        Assert.Equal(HttpStatusCode.Unauthorized, (await App.Anonymous().PostJson(url, App.BankPayment(number, 1m, "X"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(account).PostJson(url, App.BankPayment(number, 1m, "X"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Support).PostJson(url, App.BankPayment(number, 1m, "X"))).StatusCode);

        var invalid = await Finance.PostJson(url, new { amount = 0m, currency = "eur", valueDate = "2999-01-01", bankReference = "" })
            .ReadProblem(HttpStatusCode.BadRequest);
        foreach (var field in new[] { "reference", "amount", "currency", "valueDate", "bankReference" })
            Assert.True(invalid.Errors.ContainsKey(field), field);
        await (await Finance.PostJson(url, App.BankPayment(number, 1.001m, "X"))).ShouldBeProblem(HttpStatusCode.BadRequest);
        var currency = await Finance.PostJson(url, App.BankPayment(number, 10m, "X", currency: "USD")).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("is in EUR", currency.Errors["currency"][0]);

        var unknown = await Finance.PostJson(url, App.BankPayment(number[..9] + "000999", 10m, "X")).ReadProblem(HttpStatusCode.NotFound);
        Assert.Contains("Nothing was recorded", unknown.Detail);
        await (await Finance.PostJson(url, new
        {
            reference = "membership fee Valgus",
            amount = 10m,
            currency = "EUR",
            valueDate = "2026-01-05",
            bankReference = "Y",
        })).ShouldBeProblem(HttpStatusCode.NotFound);
        Assert.Equal(0, await Count("payment_received"));

        await (await Finance.PostJson(url, App.BankPayment(number, 10m, "DUP"))).ShouldBe(HttpStatusCode.Created);
        var duplicate = await Finance.PostJson(url, App.BankPayment(number, 10m, "DUP")).ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Payment already recorded", duplicate.Title);
        Assert.Equal(1, await Count("payment_received"));
    }

    [Fact]
    public async Task A_transfer_credited_before_the_invoice_s_issue_date_is_refused_naming_the_earliest_value_date()
    {
        // A transfer quoting the invoice's reference cannot predate the invoice: a value date before the issue date printed on it is
        // a typing error, refused (nothing recorded) with the earliest date allowed, never stored as received before it was owed.
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        await App.FastForward(TimeSpan.FromDays(3));
        const string url = "/api/payments/bank-transfers";
        var issuedOn = invoice.IssuedOn.ToString("yyyy-MM-dd");

        var early = await Finance.PostJson(url, new
        {
            invoiceNumber = invoice.InvoiceNumber,
            amount = 10m,
            currency = "EUR",
            valueDate = invoice.IssuedOn.AddDays(-1).ToString("yyyy-MM-dd"),
            bankReference = "EARLY-1",
        }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains(issuedOn, Assert.Single(early.Errors["valueDate"]));
        Assert.Equal(["valueDate"], early.Errors.Keys);
        Assert.Equal(0, await Count("payment_received"));

        // Credited on the day the invoice was issued, or later (today on the service's clock): recorded.
        var onTheDay = await Finance.PostJson(url, new
        {
            invoiceNumber = invoice.InvoiceNumber,
            amount = 10m,
            currency = "EUR",
            valueDate = issuedOn,
            bankReference = "ON-THE-DAY",
        }).ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal(PaymentKind.Partial, onTheDay.Kind);
        await (await Finance.PostJson(url, App.BankPayment(invoice.InvoiceNumber, 10m, "TODAY"))).ShouldBe(HttpStatusCode.Created);
        Assert.Equal(2, await Count("payment_received"));
    }

    [Fact]
    public async Task Recording_a_card_is_for_the_account_s_member_validated_and_never_echoes_the_token()
    {
        var account = await App.OpenAccount();
        var other = await App.OpenAccount("other@example.ee");
        var url = $"/api/accounts/{account}/payment-card";
        var card = new { cardToken = SandboxPaymentGateway.Approve };

        Assert.Equal(HttpStatusCode.Unauthorized, (await App.Anonymous().PostJson(url, card)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.Member(other).PostJson(url, card)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientAs(LedgerRoles.Auditor).PostJson(url, card)).StatusCode);
        var invalid = await App.Member(account).PostJson(url, new { cardToken = "4111 1111 1111 1111" }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(invalid.Errors.ContainsKey("cardToken"));
        await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{Guid.NewGuid()}/payment-card", card)).ShouldBeProblem(HttpStatusCode.NotFound);

        var unknown = await App.Member(account).PostJson(url, new { cardToken = "tok_never_issued" }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("did not accept this card", unknown.Errors["cardToken"][0]);

        var response = await App.Member(account).PostJson(url, card);
        var recorded = await response.ReadAs<CardOnFile>();
        Assert.Equal(("Visa", "4242", 12, 2030), (recorded.Brand, recorded.Last4, recorded.ExpiryMonth, recorded.ExpiryYear));
        var text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("tok_", text);
        Assert.DoesNotContain("pm_", text);
    }

    [Fact]
    public async Task The_scheduled_invoice_and_card_charge_survive_restarts_of_the_service()
    {
        // A host of its own schema, stopped and started again: never two hosts on one schema at the same time.
        var schema = $"cpsledger_restart_{Guid.NewGuid():N}"[..30];
        var sandboxCharges = new List<ChargeRequest>();
        Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> Host() =>
            App.WithWebHostBuilder(b => b.UseSetting("Ledger:SchemaName", schema));

        Guid account;
        await using (var first = Host())
        {
            await Billing.ListThousandPointModel(first.Services.GetRequiredService<IDocumentStore>());
            account = await Billing.JoinedAccount(App, first.CreateClient(), first.Services, "EE", "card", SandboxPaymentGateway.Approve);
            // The invoice, and the term's renewal offer and end, stored in PostgreSQL.
            Assert.Equal(3, await first.Services.ScheduledMessageCount());
        }

        await using (var second = Host())
        {
            await Billing.FastForward(App, second.Services, Billing.IssueDelay);
            var invoice = await second.Client(App, LedgerRoles.Member, account).SingleInvoice(account);
            Assert.Equal(InvoiceStatus.Open, invoice.Status);
            Assert.Equal(3, await second.Services.ScheduledMessageCount()); // the charge on the due date, the renewal offer, the term end
        }

        await using (var third = Host())
        {
            await Billing.FastForward(App, third.Services, TimeSpan.FromDays(30));
            var invoice = await third.Client(App, LedgerRoles.Member, account).SingleInvoice(account);
            Assert.Equal(InvoiceStatus.Paid, invoice.Status);
            sandboxCharges.AddRange(third.Services.GetRequiredService<SandboxPaymentGateway>().Charges);
        }

        Assert.Single(sandboxCharges);
        await ServiceProcess.DropSchemaAsync(App, schema);
    }
}
