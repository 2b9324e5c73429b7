using System.Net;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CpsLedger.Tests.Membership;

/// <summary>
/// The membership's lock (<see cref="MembershipStream"/>): a suspension and a settlement append to the membership stream under it, so
/// every other write to a membership in force takes it before it reads anything, and so do the issue of an invoice for its term, the
/// card charge of one, its overdue check, a transfer and finance's credit note.
/// Each test lets one writer hold the lock and runs the other into it, waiting on the database (pg_blocking_pids), never on a clock,
/// until that writer (its request, or its handler) waits: not any session, as a fast-forward also runs handlers that queue for the lock.
/// </summary>
[Collection(SecondLedgerCollection.Name)]
public sealed class MembershipLockTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Support => App.ClientAs(LedgerRoles.Support);
    private HttpClient Finance => App.ClientAs(LedgerRoles.Finance);

    private Task<AccountMembership> Membership(Guid account) =>
        Support.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();

    private async Task<int> Count(string eventType)
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == eventType).CountAsync();
    }

    /// <summary>A member paying by bank transfer (Gold), suspended for its joining invoice, unpaid past the grace period.</summary>
    private async Task<(Guid Account, MembershipTerm Term, Invoice Invoice)> SuspendedMember()
    {
        var (account, member, term, _) = await App.BankMemberWithItsJoiningInvoice();
        await App.FastForward(TimeSpan.FromDays(31));
        await App.FastForward(TimeSpan.FromDays(15));
        Assert.NotNull((await Membership(account)).Suspension);
        return (account, term, await member.SingleInvoice(account));
    }

    /// <summary>
    /// The transfer paying <paramref name="invoice"/> in full, as the bank-payment endpoint records it, in a session of its own: it takes
    /// the membership's lock and lifts the suspension, an event on the membership stream. <paramref name="meanwhile"/> starts then, and
    /// the transfer commits once that has finished or <paramref name="waiter"/> (the session <paramref name="meanwhile"/> runs) waits
    /// for a lock the transfer holds. Found in review: a write that did not take the
    /// lock first inserted its event into the membership stream, then waited for the stream's row; the reinstatement, at the same
    /// version, waited for that insert, and PostgreSQL broke the deadlock after a second by failing the other write (a 409 over HTTP).
    /// </summary>
    private async Task<T> WhileATransferLiftsTheSuspension<T>(Invoice invoice, LockWaiter waiter, Func<Task<T>> meanwhile)
    {
        var logs = App.Logs.Mark();
        Task<T>? running = null;
        await App.RecordTransferInItsOwnSession(invoice, "B-1", async (payment, reinstated) =>
        {
            Assert.True(reinstated);
            running = meanwhile();
            await App.UntilDoneOrWaitingForLockOf(running, payment.Connection!.ProcessID, waiter);
        });

        var result = await running!;
        Assert.Empty(App.Logs.DeadlocksSince(logs));
        return result;
    }

    private static async Task<bool> Done(Task work)
    {
        await work;
        return true;
    }

    /// <summary>
    /// A member paying by bank transfer (Gold), its joining invoice issued and still open on its due date, the clock moved to the moment
    /// its overdue check falls due. The check is then handled by the test (<see cref="Invoke"/>), not by running every scheduled message:
    /// another of them waiting for the membership's lock (the renewal offer and the term end take it before they look at their due
    /// time) was seen waiting instead of the check. The scheduled check itself, a day away in real time, later finds nothing to do.
    /// </summary>
    private async Task<(Guid Account, Invoice Invoice, CheckInvoiceOverdue Check)> InvoiceFallingOverdue()
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var checkAt = IssueInvoiceDecision.OverdueCheckAt(invoice.DueOn);
        await App.FastForwardTo(checkAt - TimeSpan.FromDays(1));
        Assert.Equal(InvoiceStatus.Open, (await App.Member(account).SingleInvoice(account)).Status);
        App.Clock.Advance(checkAt - App.Clock.GetUtcNow());
        return (account, invoice, new CheckInvoiceOverdue(invoice.Id, checkAt));
    }

    [Fact]
    public async Task The_overdue_check_falling_due_while_a_transfer_pays_the_invoice_waits_for_it_and_finds_it_paid()
    {
        var (account, invoice, check) = await InvoiceFallingOverdue();
        var logs = App.Logs.Mark();

        // The transfer in full as the bank-payment endpoint records it (the membership's lock, then the invoice), in a session of its own;
        // the check falls due then. Found in review: the check took no lock, read the invoice open, committed it overdue first, and the
        // transfer failed the invoice's version check (409 "Concurrent change" over HTTP). Now the check waits, and reads the payment.
        await using (var payment = App.Store.LightweightSession())
        {
            await payment.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(account));
            var stream = await payment.Events.FetchForWriting<Invoice>(invoice.Id);
            var now = App.Clock.GetUtcNow();
            stream.AppendMany(InvoicePayments.Receive(stream.Aggregate!, Guid.CreateVersion7(), PaymentMethod.BankTransfer,
                stream.Aggregate!.Outstanding, stream.Aggregate.Currency, DateOnly.FromDateTime(now.UtcDateTime), null, "LHV-1", now));
            var checking = App.Invoke(check);
            await App.UntilDoneOrWaitingForLockOf(checking, payment.Connection!.ProcessID, LockWaiter.Handling<CheckInvoiceOverdue>());
            await payment.SaveChangesAsync();
            await checking;
        }

        var paid = await App.Member(account).SingleInvoice(account);
        Assert.Equal((InvoiceStatus.Paid, (DateTimeOffset?)null), (paid.Status, paid.OverdueAt));
        Assert.Equal((1, 0), (await Count("invoice_paid"), await Count("invoice_became_overdue")));
        await App.Services.UntilInboxHasNothingToRun();
        Assert.DoesNotContain(App.SentEmails(), e => e.MessageId == $"invoice-overdue-{invoice.InvoiceNumber}@cpsledger");
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }

    [Fact]
    public async Task A_transfer_recorded_while_the_overdue_check_decides_waits_for_it_and_pays_the_invoice_overdue()
    {
        var (account, invoice, check) = await InvoiceFallingOverdue();
        var logs = App.Logs.Mark();

        // The check has read the invoice open under the membership's lock and made it overdue; finance records the transfer in full then.
        // Without the lock the transfer went first and the check failed its version check (retried, it found the invoice paid); or, the
        // other way round, the transfer was answered 409 "Concurrent change". Now the transfer waits and pays the overdue invoice.
        Task<HttpResponseMessage>? recording = null;
        var (id, request) = LockWaiter.NewRequest();
        App.Seam<OverdueTestSeam>().BeforeOverdueCommits = async session =>
        {
            App.Seam<OverdueTestSeam>().BeforeOverdueCommits = null;
            recording = Finance.Correlated(id).PostJson("/api/payments/bank-transfers",
                App.BankPayment(invoice.InvoiceNumber, invoice.Total, "LHV-1"));
            await (session.Connection is { } connection ? App.UntilDoneOrWaitingForLockOf(recording, connection.ProcessID, request) : recording);
        };
        try
        {
            await App.Invoke(check);
        }
        finally
        {
            App.Seam<OverdueTestSeam>().BeforeOverdueCommits = null;
        }

        var transfer = await recording!.ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal((PaymentKind.Full, InvoiceStatus.Paid, false), (transfer.Kind, transfer.InvoiceStatus, transfer.MembershipReinstated));
        var paid = await App.Member(account).SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Paid, paid.Status);
        Assert.True(paid.OverdueAt >= check.DueAt, "made overdue when the check fell due, then paid");
        Assert.Equal((1, 1), (await Count("invoice_became_overdue"), await Count("invoice_paid")));
        Assert.Null((await Membership(account)).Suspension);
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }

    [Fact]
    public async Task Support_cancelling_while_a_transfer_lifts_the_suspension_waits_for_it_and_credits_no_paid_invoice()
    {
        var (account, term, invoice) = await SuspendedMember();

        var (id, request) = LockWaiter.NewRequest();
        var cancelling = await WhileATransferLiftsTheSuspension(invoice, request, () => Support.Correlated(id).PostJson(
            $"/api/accounts/{account}/membership/cancellation", new { reason = "Company closed (ticket 4711)", ticketReference = "CPS-SUP-4711" }));

        // Read once the transfer had committed: the invoice is paid, so nothing is credited (paid invoices are not refunded).
        Assert.Empty((await cancelling.ReadAs<MembershipCancellation>()).CancelledInvoices);
        Assert.Equal(InvoiceStatus.Paid, (await App.Member(account).SingleInvoice(account)).Status);
        var membership = await Membership(account);
        Assert.Null(membership.Membership);
        Assert.Null(membership.Suspension);
        Assert.Equal((1, 1, 0), (await Count("membership_reinstated"), await Count("membership_cancelled"), await Count("invoice_cancelled")));
        await FaultWaits.Until(async () => App.SentEmails().Any(e => e.MessageId == $"membership-ended-{term.MembershipId:N}@cpsledger"),
            "the membership-ended e-mail written", TimeSpan.FromSeconds(30));
        await App.Services.UntilInboxHasNothingToRun();
        Assert.Single(App.SentEmails(), e => e.MessageId == $"membership-ended-{term.MembershipId:N}@cpsledger");
    }

    [Fact]
    public async Task Stopping_the_renewal_while_a_transfer_lifts_the_suspension_waits_for_it_and_credits_the_renewal_invoice()
    {
        var (account, term, invoice) = await SuspendedMember();
        await App.FastForwardPastTheOffer(term);
        var renewalInvoice = Assert.Single(await App.Member(account).Invoices(account), i => i.Kind == InvoiceKind.Renewal);

        var (id, request) = LockWaiter.NewRequest();
        var stopping = await WhileATransferLiftsTheSuspension(invoice, request, () => App.Member(account).Correlated(id).PutJson(
            $"/api/accounts/{account}/membership/renewal", new { renew = false }));

        var plan = await stopping.ReadAs<RenewalPlan>();
        Assert.False(plan.Renews);
        Assert.Equal([renewalInvoice.InvoiceNumber], plan.CancelledInvoices);
        var invoices = await App.Member(account).Invoices(account);
        Assert.Equal(InvoiceStatus.Paid, invoices.Single(i => i.Id == invoice.Id).Status);
        Assert.Equal(InvoiceStatus.Cancelled, invoices.Single(i => i.Id == renewalInvoice.Id).Status);
        var membership = await Membership(account);
        Assert.Null(membership.Suspension);
        Assert.NotNull(membership.Renewal?.StoppedAt);
    }

    [Fact]
    public async Task The_renewal_offer_while_a_transfer_lifts_the_suspension_waits_for_it_without_a_deadlock()
    {
        var (account, term, invoice) = await SuspendedMember();
        await App.FastForwardTo(Billing.OfferAt(term) - TimeSpan.FromMinutes(1));

        await WhileATransferLiftsTheSuspension(invoice, LockWaiter.Handling<OfferRenewal>(),
            () => Done(App.FastForwardPastTheOffer(term)));

        var membership = await Membership(account);
        Assert.Null(membership.Suspension);
        Assert.NotNull(membership.Renewal?.OfferedAt);
        Assert.Equal(1, await Count("renewal_offered"));
        Assert.Single(await App.Member(account).Invoices(account), i => i.Kind == InvoiceKind.Renewal);
    }

    [Fact]
    public async Task The_term_end_while_a_transfer_lifts_the_suspension_waits_for_it_without_a_deadlock()
    {
        var (account, term, invoice) = await SuspendedMember();
        await App.FastForwardPastTheOffer(term); // the renewal invoice, issued ahead, stays unpaid
        await App.FastForwardTo(RenewalDecision.EndAt(term) - TimeSpan.FromMinutes(1));

        await WhileATransferLiftsTheSuspension(invoice, LockWaiter.Handling<EndTerm>(),
            () => Done(App.FastForwardPastTheTermEnd(term)));

        // Lapsed for the unpaid renewal invoice, which is credited; the joining invoice stays paid.
        var membership = await Membership(account);
        Assert.Null(membership.Membership);
        Assert.Equal("lapsed, not paid by the end of the term", Assert.Single(membership.PastMemberships).EndedBecause);
        var invoices = await App.Member(account).Invoices(account);
        Assert.Equal(InvoiceStatus.Paid, invoices.Single(i => i.Id == invoice.Id).Status);
        Assert.Equal(InvoiceStatus.Cancelled, invoices.Single(i => i.Kind == InvoiceKind.Renewal).Status);
        Assert.Equal((1, 1), (await Count("membership_reinstated"), await Count("membership_lapsed")));
    }

    [Fact]
    public async Task Old_membership_numbers_recorded_while_a_transfer_lifts_the_suspension_wait_for_it_without_a_deadlock()
    {
        await App.ImportLegacy(LegacyFiles.Csv($"{LegacyFiles.Kadri},{LegacyFiles.KadriNumber},,,,,"));
        var (account, _, invoice) = await SuspendedMember();
        await (await Support.PostJson($"/api/accounts/{account}/old-cps-emails", new { email = LegacyFiles.Kadri, reason = "Ticket 4711", ticketReference = "CPS-SUP-1" }))
            .ShouldBe(HttpStatusCode.OK);

        var (id, request) = LockWaiter.NewRequest();
        var migrated = await WhileATransferLiftsTheSuspension(invoice, request, () => App.Member(account).Correlated(id).Migrate(account));

        Assert.Equal([LegacyFiles.KadriNumber], migrated.MembershipNumbersRecorded);
        var membership = await Membership(account);
        Assert.Contains(LegacyFiles.KadriNumber, membership.MembershipNumbers);
        Assert.Null(membership.Suspension);
    }

    [Fact]
    public async Task An_upgrade_while_the_suspension_is_decided_waits_for_it_and_is_refused_as_suspended()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer"); // Gold
        var member = App.Member(account);
        await App.Tracked(() => member.Register(account, Products.Products.Complete("S-SECOND", Billing.Thousand))); // 2000 points: Platinum
        await App.FastForward(Billing.IssueDelay);
        await App.FastForward(TimeSpan.FromDays(31));
        await App.FastForward(TimeSpan.FromDays(13));
        var logs = App.Logs.Mark();

        // The suspension has read the invoice unpaid and holds the membership's lock; the member upgrades then.
        Task<HttpResponseMessage>? upgrading = null;
        var (id, request) = LockWaiter.NewRequest();
        App.Seam<OverdueTestSeam>().BeforeSuspensionCommits = async session =>
        {
            upgrading = App.Member(account).Correlated(id).PostJson($"/api/accounts/{account}/membership/upgrade", new { tier = "platinum" });
            await App.UntilDoneOrWaitingForLockOf(upgrading, session.Connection!.ProcessID, request);
        };
        try
        {
            await App.FastForward(TimeSpan.FromDays(1) + TimeSpan.FromHours(1));
        }
        finally
        {
            App.Seam<OverdueTestSeam>().BeforeSuspensionCommits = null;
        }

        // Read once the suspension had committed: refused as an upgrade of a suspended membership is, nothing written.
        Assert.Equal("Membership suspended", (await upgrading!.ReadProblem(HttpStatusCode.Conflict)).Title);
        var membership = await Membership(account);
        Assert.NotNull(membership.Suspension);
        Assert.Equal("gold", membership.Membership!.TierCode);
        Assert.Equal(0, await Count("tier_upgraded"));
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }

    /// <summary>Support cancels the membership while an invoice for its term, decided on the membership in force, is about to commit.</summary>
    private Func<IDocumentSession, Task> CancelledMeanwhile(Guid account, Action<Task<HttpResponseMessage>> started) => async session =>
    {
        App.Seam<InvoiceIssueTestSeam>().BeforeIssueCommits = null;
        var (id, request) = LockWaiter.NewRequest();
        var cancelling = Support.Correlated(id).PostJson($"/api/accounts/{account}/membership/cancellation",
            new { reason = "Company closed (ticket 4711)", ticketReference = "CPS-SUP-4711" });
        started(cancelling);
        await (session.Connection is { } connection ? App.UntilDoneOrWaitingForLockOf(cancelling, connection.ProcessID, request) : cancelling);
    };

    [Fact]
    public async Task An_invoice_issued_while_support_cancels_the_membership_is_credited_with_it()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");

        // Found in review: the cancellation read the term's invoices before the joining invoice committed and credited nothing, and the
        // invoice stayed owed (and would have been charged, paying by card) for a membership that had ended.
        Task<HttpResponseMessage>? cancelling = null;
        App.Seam<InvoiceIssueTestSeam>().BeforeIssueCommits = CancelledMeanwhile(account, started => cancelling = started);
        try
        {
            await App.FastForward(Billing.IssueDelay);
        }
        finally
        {
            App.Seam<InvoiceIssueTestSeam>().BeforeIssueCommits = null;
        }

        var cancellation = await cancelling!.ReadAs<MembershipCancellation>();
        var invoice = await App.Member(account).SingleInvoice(account);
        Assert.Equal([invoice.InvoiceNumber], cancellation.CancelledInvoices);
        Assert.Equal(InvoiceStatus.Cancelled, invoice.Status);
        Assert.Null((await Membership(account)).Membership);
    }

    [Fact]
    public async Task A_corrected_invoice_issued_while_support_cancels_the_membership_is_credited_with_it()
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        await Finance.PostJson($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/cancellation", new { reason = "Issued without the buyer's VAT ID" })
            .ReadAs<InvoiceCancellation>(HttpStatusCode.Created);

        // Found in review: the cancellation read the term's invoices before the corrected one committed, and it stayed owed for a
        // membership support had ended (a replacement asked for after the cancellation is refused: nothing is owed for that term).
        Task<HttpResponseMessage>? cancelling = null;
        App.Seam<InvoiceIssueTestSeam>().BeforeIssueCommits = CancelledMeanwhile(account, started => cancelling = started);
        InvoiceReplacement replacement;
        try
        {
            replacement = await App.Tracked(() => Finance.PostJson($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}/replacement",
                new { reason = "Reissued with the buyer's VAT ID" }).ReadAs<InvoiceReplacement>(HttpStatusCode.Created));
        }
        finally
        {
            App.Seam<InvoiceIssueTestSeam>().BeforeIssueCommits = null;
        }

        Assert.Equal([replacement.InvoiceNumber], (await cancelling!.ReadAs<MembershipCancellation>()).CancelledInvoices);
        var corrected = await Finance.GetAsync($"/api/accounts/{account}/invoices/{replacement.InvoiceNumber}").ReadAs<Invoice>();
        Assert.Equal(InvoiceStatus.Cancelled, corrected.Status);
        Assert.Null((await Membership(account)).Membership);
    }

    private SandboxPaymentGateway Sandbox => App.Services.GetRequiredService<SandboxPaymentGateway>();

    /// <summary>
    /// The card of the term's invoice charged on its due date; <paramref name="cancel"/> starts once the gateway has approved and before
    /// the charge commits, and the charge commits once that has finished or <paramref name="waiter"/> (its request) waits for a lock the
    /// charge holds.
    /// </summary>
    private async Task<HttpResponseMessage> CancelledWhileTheCardIsCharged(LockWaiter waiter, Func<Task<HttpResponseMessage>> cancel)
    {
        Task<HttpResponseMessage>? cancelling = null;
        App.Seam<ChargeCardTestSeam>().AfterGatewayAnswered = async session =>
        {
            App.Seam<ChargeCardTestSeam>().AfterGatewayAnswered = null;
            cancelling = cancel();
            await (session.Connection is { } connection ? App.UntilDoneOrWaitingForLockOf(cancelling, connection.ProcessID, waiter) : cancelling);
        };
        try
        {
            await App.FastForward(TimeSpan.FromDays(30));
        }
        finally
        {
            App.Seam<ChargeCardTestSeam>().AfterGatewayAnswered = null;
        }
        return await cancelling!;
    }

    /// <summary>The card was charged once, and the invoice records that payment: the money is in the ledger.</summary>
    private async Task<ChargeRequest> ChargedAndRecorded(Guid account)
    {
        var charge = Assert.Single(Sandbox.Charges);
        var invoice = await App.Member(account).SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Paid, invoice.Status);
        Assert.Equal(ChargeOutcome.Approved, Assert.Single(invoice.ChargeAttempts).Outcome);
        var payment = Assert.Single(invoice.Payments);
        Assert.Equal((PaymentMethod.Card, charge.Amount, charge.IdempotencyKey), (payment.Method, payment.Amount, payment.Reference));
        return charge;
    }

    [Fact]
    public async Task Support_cancelling_while_the_card_is_charged_waits_for_the_charge_and_credits_nothing_paid()
    {
        var (account, _) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Approve);
        var logs = App.Logs.Mark();

        // Found in review: the cancellation committed between the charge's read of the invoice and its append, the append failed its
        // version check, and the retry read the invoice cancelled and recorded nothing: the card was charged, the ledger had no payment.
        var (id, request) = LockWaiter.NewRequest();
        var cancelling = await CancelledWhileTheCardIsCharged(request, () => Support.Correlated(id).PostJson(
            $"/api/accounts/{account}/membership/cancellation", new { reason = "Company closed (ticket 4711)", ticketReference = "CPS-SUP-4711" }));

        await ChargedAndRecorded(account);
        Assert.Empty((await cancelling.ReadAs<MembershipCancellation>()).CancelledInvoices);
        Assert.Null((await Membership(account)).Membership);
        Assert.Equal(0, await Count("invoice_cancelled"));
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }

    [Fact]
    public async Task Finance_cancelling_the_invoice_while_the_card_is_charged_waits_and_credits_the_payment_as_a_refund()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Approve);
        var number = (await member.SingleInvoice(account)).InvoiceNumber;
        var logs = App.Logs.Mark();

        // Finance's credit note takes the charge's lock before it reads the invoice, so it reads the payment: the credit note makes what the
        // card paid a refund due at once. It used to read the invoice open first and fail its version check (409, a refund only if asked again).
        var (id, request) = LockWaiter.NewRequest();
        var cancelling = await CancelledWhileTheCardIsCharged(request, () => Finance.Correlated(id).PostJson(
            $"/api/accounts/{account}/invoices/{number}/cancellation", new { reason = "Issued without the buyer's VAT ID" }));

        var cancellation = await cancelling.ReadAs<InvoiceCancellation>(HttpStatusCode.Created);
        var charge = Assert.Single(Sandbox.Charges);
        Assert.Equal(charge.Amount, cancellation.RefundDue);
        var invoice = await App.Member(account).SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Cancelled, invoice.Status);
        Assert.Equal((PaymentMethod.Card, charge.Amount), (Assert.Single(invoice.Payments).Method, invoice.TotalReceived));
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }

    /// <summary>
    /// The term's invoice credited under the membership's lock, as support's cancellation of the membership (or a replaced renewal choice,
    /// a term end) does; <paramref name="meanwhile"/> starts then, and the cancellation commits once that has finished or
    /// <paramref name="waiter"/> (its session) waits for its lock.
    /// </summary>
    private async Task<T> WhileTheTermIsCancelled<T>(Guid account, Invoice invoice, LockWaiter waiter, Func<Task<T>> meanwhile)
    {
        var seller = App.Services.GetRequiredService<IOptions<SellerOptions>>().Value.ToInvoiceSeller();
        var logs = App.Logs.Mark();
        Task<T> running;
        await using (var cancellation = App.Store.LightweightSession())
        {
            await cancellation.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(account));
            Assert.Equal([invoice.InvoiceNumber], await InvoiceCancellations.CancelOwedAsync(cancellation, [invoice.Id], "Company closed",
                seller, App.Clock.GetUtcNow(), default));
            running = meanwhile();
            await App.UntilDoneOrWaitingForLockOf(running, cancellation.Connection!.ProcessID, waiter);
            await cancellation.SaveChangesAsync();
        }

        var result = await running;
        Assert.Empty(App.Logs.DeadlocksSince(logs));
        return result;
    }

    [Theory]
    [InlineData(true)] // in full: it would lift a suspension, so it took the lock, but only after reading the invoice
    [InlineData(false)] // in part: it took no lock at all
    public async Task A_transfer_recorded_while_the_term_is_cancelled_waits_and_is_refused_for_the_cancelled_invoice(bool inFull)
    {
        var (account, _, _, invoice) = await App.BankMemberWithItsJoiningInvoice();
        var amount = inFull ? invoice.Total : 10m;

        // Found in a scratch test: the transfer read the invoice open before the cancellation committed, then failed the version check
        // (409 "Concurrent change"), and only when sent again was it refused for the cancelled invoice. It now waits for the membership's
        // lock before it reads the invoice, and gives that answer the first time.
        var (id, request) = LockWaiter.NewRequest();
        var recording = await WhileTheTermIsCancelled(account, invoice, request, () =>
            Finance.Correlated(id).PostJson("/api/payments/bank-transfers", App.BankPayment(invoice.InvoiceNumber, amount, "LHV-1")));

        var problem = await recording.ReadProblem(HttpStatusCode.Conflict);
        Assert.Equal("Invoice cancelled", problem.Title);
        Assert.Contains("Refund the transfer", problem.Detail);
        var cancelled = await App.Member(account).SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Cancelled, cancelled.Status);
        Assert.Empty(cancelled.Payments);
        Assert.Equal(0, await Count("payment_received"));
    }

    [Fact]
    public async Task Support_cancelling_while_the_gateway_is_slower_than_its_timeout_goes_on_and_the_card_money_is_recorded_as_a_refund_due()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.ApproveSlow);
        var number = (await member.SingleInvoice(account)).InvoiceNumber;

        // The charge holds the membership's lock while the gateway answers. Without a gateway timeout it held it for the gateway's
        // minute, and the cancellation waiting for it failed on Npgsql's 30 s command timeout; now the charge gives up after
        // Invoicing:GatewayTimeout (outcome unknown, rolled back: the lock is released) and the cancellation goes on.
        Task<HttpResponseMessage>? cancelling = null;
        var (id, request) = LockWaiter.NewRequest();
        App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = async session =>
        {
            App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = null;
            cancelling = Support.Correlated(id).PostJson($"/api/accounts/{account}/membership/cancellation",
                new { reason = "Company closed (ticket 4711)", ticketReference = "CPS-SUP-4711" });
            await App.UntilDoneOrWaitingForLockOf(cancelling, session.Connection!.ProcessID, request);
        };
        try
        {
            await App.FastForward(TimeSpan.FromDays(30));
        }
        finally
        {
            App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = null;
        }

        // It read the invoice as the rolled-back charge left it, unpaid, and credited it (nothing to refund then); the charge's retry read
        // it cancelled and presented no other key. The gateway had charged the first: the retry asked it what it holds for the key and
        // recorded the money on the cancelled invoice, all of it a refund due. Before, the retry recorded nothing: money taken, unrecorded.
        var cancellation = await cancelling!.ReadAs<MembershipCancellation>();
        Assert.Equal([number], cancellation.CancelledInvoices);
        Assert.Null((await Membership(account)).Membership);
        var charge = Assert.Single(Sandbox.Charges);
        Assert.EndsWith("-attempt-1", charge.IdempotencyKey);
        await CardMoneyRecordedOnceAsARefundDue(account, charge);
        // Asked because the first delivery had marked the key presented before it presented the card; the mark outlived that delivery's
        // rollback and went with the recorded attempt.
        Assert.Equal([charge.IdempotencyKey], Sandbox.LookedUp);
        Assert.Empty(await App.PresentedCharges());

        // The retry delivered again, twice at once: the attempt is recorded, nothing more is (nor asked).
        var retry = new ChargeCard((await App.Member(account).SingleInvoice(account)).Id, 1, App.Clock.GetUtcNow());
        await App.Tracked(() => Task.WhenAll(App.Invoke(retry), App.Invoke(retry)));
        await CardMoneyRecordedOnceAsARefundDue(account, charge);
        Assert.Equal([charge.IdempotencyKey], Sandbox.LookedUp);
    }

    /// <summary>The card's money on the cancelled invoice, once: the attempt, the payment after the cancellation, a refund due of all of it.</summary>
    private async Task CardMoneyRecordedOnceAsARefundDue(Guid account, ChargeRequest charge)
    {
        var invoice = await Finance.GetAsync($"/api/accounts/{account}/invoices/{charge.IdempotencyKey[..^"-attempt-1".Length]}").ReadAs<Invoice>();
        Assert.Equal(InvoiceStatus.Cancelled, invoice.Status);
        var attempt = Assert.Single(invoice.ChargeAttempts);
        Assert.Equal((1, ChargeOutcome.Approved, charge.Amount), (attempt.Attempt, attempt.Outcome, attempt.Amount));
        var payment = Assert.Single(invoice.Payments);
        Assert.Equal((PaymentMethod.Card, charge.Amount, PaymentKind.AfterCancellation, charge.IdempotencyKey),
            (payment.Method, payment.Amount, payment.Kind, payment.Reference));
        Assert.Equal((charge.Amount, 0m, charge.Amount), (invoice.TotalReceived, invoice.Outstanding, invoice.RefundDue));
        // The credit note was issued before the money was known: it stays as it was, with nothing to refund.
        Assert.Equal(0m, invoice.CreditNote!.RefundDue);
        Assert.Equal(1, await Count("payment_received_after_cancellation"));
        Assert.Equal(0, await Count("payment_received"));

        var history = await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types=payment_received_after_cancellation")
            .ReadAs<Api.Audit.HistoryPage>();
        Assert.Equal($"{charge.Amount:0.00} EUR charged to the card for {invoice.InvoiceNumber}, found approved at the payment provider after the " +
                     $"invoice was cancelled by credit note {invoice.CreditNote.CreditNoteNumber}: {charge.Amount:0.00} EUR to refund",
            Assert.Single(history.Items).Description);
        var verification = await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/audit/verification?accountId={account}")
            .ReadAs<Api.Audit.VerificationReport>();
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));
    }

    [Fact]
    public async Task A_transfer_paying_the_invoice_while_the_charge_s_answer_is_lost_leaves_the_card_money_recorded_as_an_overpayment()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.ApproveResponseLost);
        var invoice = await member.SingleInvoice(account);

        // Finance records a transfer in full while the card is being charged: it waits for the charge's lock, which the lost answer
        // (outcome unknown) releases with the rollback, and pays the invoice; the charge's retry reads it paid and presents nothing more.
        Task<HttpResponseMessage>? recording = null;
        var (id, request) = LockWaiter.NewRequest();
        App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = async session =>
        {
            App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = null;
            recording = Finance.Correlated(id).PostJson("/api/payments/bank-transfers",
                App.BankPayment(invoice.InvoiceNumber, invoice.Total, "LHV-1"));
            await App.UntilDoneOrWaitingForLockOf(recording, session.Connection!.ProcessID, request);
        };
        try
        {
            await App.FastForward(TimeSpan.FromDays(30));
        }
        finally
        {
            App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = null;
        }

        var transfer = await recording!.ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal((PaymentKind.Full, InvoiceStatus.Paid), (transfer.Kind, transfer.InvoiceStatus));
        // The gateway had charged the card: the retry found the charge by its key and recorded it, an overpayment of the paid invoice.
        // Before, it recorded nothing.
        var charge = Assert.Single(Sandbox.Charges);
        var paid = await Finance.GetAsync($"/api/accounts/{account}/invoices/{invoice.InvoiceNumber}").ReadAs<Invoice>();
        Assert.Equal(InvoiceStatus.Paid, paid.Status);
        Assert.Equal([(PaymentMethod.BankTransfer, PaymentKind.Full, invoice.Total), (PaymentMethod.Card, PaymentKind.Overpayment, charge.Amount)],
            paid.Payments.Select(p => (p.Method, p.Kind, p.Amount)));
        Assert.Equal((invoice.Total + charge.Amount, charge.Amount, 0m), (paid.TotalReceived, paid.Overpaid, paid.Outstanding));
        var attempt = Assert.Single(paid.ChargeAttempts);
        Assert.Equal((charge.IdempotencyKey, ChargeOutcome.Approved), (attempt.IdempotencyKey, attempt.Outcome));
        Assert.Equal(1, await Count("invoice_paid"));
        // The key was marked presented before the lost answer, and the mark went with the recorded attempt.
        Assert.Equal([charge.IdempotencyKey], Sandbox.LookedUp);
        Assert.Empty(await App.PresentedCharges());
    }

    [Fact]
    public async Task A_card_charged_while_the_term_s_invoices_are_cancelled_waits_and_charges_nothing()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Approve);
        var invoice = await member.SingleInvoice(account);
        var seller = App.Services.GetRequiredService<IOptions<SellerOptions>>().Value.ToInvoiceSeller();

        // A cancellation of the term (support's, a replaced renewal choice, a term end) credits its invoices under the membership's lock;
        // the charge falls due then, waits for it, and reads the invoice cancelled.
        await using (var cancellation = App.Store.LightweightSession())
        {
            await cancellation.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(account));
            Assert.Equal([invoice.InvoiceNumber], await InvoiceCancellations.CancelOwedAsync(cancellation, [invoice.Id], "Company closed",
                seller, App.Clock.GetUtcNow(), default));
            var charging = App.FastForward(TimeSpan.FromDays(30));
            await App.UntilDoneOrWaitingForLockOf(charging, cancellation.Connection!.ProcessID, LockWaiter.Handling<ChargeCard>());
            await cancellation.SaveChangesAsync();
            await charging;
        }

        Assert.Empty(Sandbox.Charges);
        var cancelled = await App.Member(account).SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Cancelled, cancelled.Status);
        Assert.Empty(cancelled.ChargeAttempts);
        Assert.Equal(0, await Count("card_charge_attempted"));
        // No delivery presented the card (none marked its key presented), so it did not ask the gateway either: nothing can have been
        // charged. It used to ask on every delivery finding its invoice settled.
        Assert.Empty(Sandbox.LookedUp);
        Assert.Empty(cancelled.Payments);
        Assert.Empty(await App.PresentedCharges());
    }

    [Fact]
    public async Task A_charge_ending_before_it_presented_the_card_while_a_transfer_paid_the_invoice_asks_the_gateway_and_records_nothing()
    {
        var (account, member) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Approve);
        var invoice = await member.SingleInvoice(account);
        var key = $"{invoice.InvoiceNumber}-attempt-1";

        // The charge has marked its key presented (committed) and ends before presenting the card, as in a crash between the two; a
        // transfer waiting for its lock then pays the invoice.
        Task<HttpResponseMessage>? recording = null;
        var (id, request) = LockWaiter.NewRequest();
        App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = async session =>
        {
            App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = null;
            recording = Finance.Correlated(id).PostJson("/api/payments/bank-transfers",
                App.BankPayment(invoice.InvoiceNumber, invoice.Total, "LHV-1"));
            await App.UntilDoneOrWaitingForLockOf(recording, session.Connection!.ProcessID, request);
            throw new InvalidOperationException("Test: the charge ends before the card is presented.");
        };
        try
        {
            await App.FastForward(TimeSpan.FromDays(30));
        }
        finally
        {
            App.Seam<ChargeCardTestSeam>().BeforeGatewayCalled = null;
        }

        // The retry read the invoice paid and the key marked: it asked the gateway, which holds nothing for it, and recorded nothing.
        await recording!.ReadAs<BankPaymentRecorded>(HttpStatusCode.Created);
        Assert.Equal([key], Sandbox.LookedUp);
        Assert.Empty(Sandbox.Charges);
        var paid = await App.Member(account).SingleInvoice(account);
        Assert.Equal(InvoiceStatus.Paid, paid.Status);
        Assert.Empty(paid.ChargeAttempts);
        Assert.Equal(PaymentMethod.BankTransfer, Assert.Single(paid.Payments).Method);
        Assert.Equal(0, await Count("card_charge_attempted"));
        Assert.Empty(await App.PresentedCharges());
    }

    [Fact]
    public async Task A_card_recorded_while_the_last_attempt_is_declined_waits_for_it_and_charges_the_invoice_made_overdue()
    {
        var (account, _) = await App.MemberWithItsJoiningInvoice("EE", "card", SandboxPaymentGateway.Decline);
        foreach (var days in new[] { 30, 1 }) // the due date, then the second attempt a day later (each step fires what is due)
            await App.FastForward(TimeSpan.FromDays(days));
        Assert.Equal((InvoiceStatus.Open, 2), ((await App.Member(account).SingleInvoice(account)).Status,
            (await App.Member(account).SingleInvoice(account)).ChargeAttempts.Count));
        var logs = App.Logs.Mark();

        // The last attempt is declined with the old card and makes the invoice overdue; the member records a good card before that commits.
        // Found in review: the card's request read the account's overdue card invoices (none yet) without a lock, the charge had read the
        // old card, and both committed: a good card on file, the invoice overdue and charged with nothing, the membership suspended after
        // the grace period. Now the card waits for the charge's lock on the membership and then reads the invoice overdue.
        Task<HttpResponseMessage>? recording = null;
        var (id, request) = LockWaiter.NewRequest();
        App.Seam<ChargeCardTestSeam>().AfterGatewayAnswered = async session =>
        {
            App.Seam<ChargeCardTestSeam>().AfterGatewayAnswered = null;
            recording = App.Member(account).Correlated(id).PostJson($"/api/accounts/{account}/payment-card",
                new { cardToken = SandboxPaymentGateway.Approve });
            await App.UntilDoneOrWaitingForLockOf(recording, session.Connection!.ProcessID, request);
        };
        try
        {
            await App.FastForward(TimeSpan.FromDays(1));
        }
        finally
        {
            App.Seam<ChargeCardTestSeam>().AfterGatewayAnswered = null;
        }

        await (await recording!).ShouldBe(HttpStatusCode.OK);
        await FaultWaits.Until(async () => await App.ChargeCardsInFlight() == 0, "the charges handled");
        var invoice = await App.Member(account).SingleInvoice(account);
        Assert.Equal([1, 2, 3, 4], invoice.ChargeAttempts.Select(a => a.Attempt));
        Assert.Equal(InvoiceStatus.Paid, invoice.Status);
        Assert.Equal($"{invoice.InvoiceNumber}-attempt-4", Assert.Single(Sandbox.Charges).IdempotencyKey);
        Assert.Equal(1, await Count("invoice_became_overdue"));
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }

    [Fact]
    public async Task Joining_while_a_card_is_recorded_under_the_membership_s_lock_waits_for_it_without_a_deadlock()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = (await App.ClientAs(LedgerRoles.Portal).PostJson("/api/accounts", Accounts.Accounts.Opening("join@example.ee"))
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;
        await App.Tracked(async () => await (await App.Member(account).PostJson($"/api/accounts/{account}/products",
            Products.Products.Complete("S-JOIN-1", Billing.Thousand))).ShouldBe(HttpStatusCode.Created));
        await FaultWaits.Until(async () => (await Membership(account)).Invitation is not null, "the account invited");
        var logs = App.Logs.Mark();

        // The card's request holds the membership's lock (it reads the overdue card invoices under it) and appends to the card stream on
        // the account's hash chain; the join, which fetches the membership without the lock, appends to it meanwhile. The join's event
        // waits for the stream's row (its foreign key) before its chain trigger takes the account's chain, so it holds nothing the card
        // needs: it waits, and joins once the card has committed.
        await using (var card = App.Store.LightweightSession())
        {
            await card.Events.FetchForExclusiveWriting<AccountMembership>(MembershipStream.For(account));
            card.Events.Append(PaymentCardStream.For(account),
                new PaymentCardSaved(account, "pm_sandbox_1", "visa", "4242", 12, 2031, App.Clock.GetUtcNow()));
            var (id, request) = LockWaiter.NewRequest();
            var joining = App.Member(account).Correlated(id).PostJson($"/api/accounts/{account}/membership",
                new { tier = "gold", paymentMethod = "card" });
            await App.UntilDoneOrWaitingForLockOf(joining, card.Connection!.ProcessID, request);
            await card.SaveChangesAsync();
            await (await joining).ShouldBe(HttpStatusCode.Created);
        }

        Assert.NotNull((await Membership(account)).Membership);
        Assert.Empty(App.Logs.DeadlocksSince(logs));
    }
}
