using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using Marten;
using Microsoft.AspNetCore.Http;

namespace CpsLedger.Tests.Support;

/// <summary>
/// "Every change has an author and a reason": support acting on a member's (or a company's) behalf through a call the member or
/// the portal makes too (joining, upgrading, the renewal, billing details, a card, an old e-mail's code asked for or entered, a
/// migration, an account opened) gives a reason and a ticket. Without them: a 400 naming each, nothing written, no default. With
/// them: on every event the request writes, each of those events listed among the overrides, replayed by verification. A member or
/// the portal acting for itself gives neither (a 400 if it does) and is never listed.
/// </summary>
public sealed class SupportOnBehalfTests(LedgerApp app) : LedgerTest(app)
{
    private const string Agent = "support-anna";

    private HttpClient SupportAgent => App.ClientAs(LedgerRoles.Support, subject: Agent);
    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor, subject: "auditor-ines");

    [Fact]
    public async Task Support_opening_an_account_gives_a_reason_and_ticket_and_the_portal_gives_none()
    {
        var portal = App.ClientAs(LedgerRoles.Portal);
        await MayNotGiveOne(portal, HttpMethod.Post, "/api/accounts", Accounts.Accounts.Opening("portal@example.ee"));
        var byPortal = await portal.PostJson("/api/accounts", Accounts.Accounts.Opening("portal@example.ee")).ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created);
        Assert.Equal(0, (await Overrides(byPortal.AccountId)).Total);

        var refused = await RefusedWithoutReasonAndTicket(HttpMethod.Post, "/api/accounts", Accounts.Accounts.Opening("support@example.ee"));
        Assert.Equal("Support acts on someone else's behalf here, so it says why, in words an auditor understands later (at least 5 characters).",
            Assert.Single(refused.Errors["supportReason"]));

        var opened = await Send(SupportAgent, HttpMethod.Post, "/api/accounts", OnBehalf.BySupport(Accounts.Accounts.Opening("support@example.ee")), "open-1")
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created);
        var overrides = await OnRecord(opened.AccountId, "open-1", "business_account_opened");
        Assert.Equal("Account opened for Valgus Studio OÜ (support@example.ee, EE)", Assert.Single(overrides).Description);
    }

    [Fact]
    public async Task Support_joining_for_a_member_gives_a_reason_and_ticket_the_invoice_that_follows_is_the_ledgers_caused_by_support()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await FaultWaits.InvitedAccount(App, App.CreateClient(), "studio@example.ee");
        var url = $"/api/accounts/{account}/membership";
        var join = new { tier = "gold", paymentMethod = "bank_transfer" };
        await MayNotGiveOne(App.Member(account), HttpMethod.Post, url, join);
        await RefusedWithoutReasonAndTicket(HttpMethod.Post, url, join);
        Assert.Null((await Membership(account)).Membership);

        await App.Tracked(() => Send(SupportAgent, HttpMethod.Post, url, OnBehalf.BySupport(join), "join-1").ReadAs<MembershipConfirmation>(HttpStatusCode.Created));
        var overrides = await OnRecord(account, "join-1", "cps_joined");
        Assert.StartsWith("Joined CPS: Gold, 200.00 EUR a year before VAT, paying by bank transfer", Assert.Single(overrides).Description);

        // The invoice follows in a transaction of its own (hours later): the ledger's doing, set off by support's request, whose
        // correlation id it keeps; not an override, and without the reason (it is in the join's event).
        await App.FastForward(Billing.IssueDelay);
        var followUps = await WrittenFor("join-1", byAgent: false);
        var issued = Assert.Single(followUps, e => e.Type == "invoice_issued");
        Assert.Equal(("system:invoicing", "join-1", Agent, "join-1", (string?)null, (string?)null),
            (issued.User, issued.CorrelationId, issued.CausedBy, issued.CausedByCorrelationId, issued.Reason, issued.Ticket));
        Assert.Equal(["cps_joined"], (await Overrides(account)).Items.Select(o => o.Action));

        // Verification replays these rows as it does the others: one gone is named, for the account and the whole ledger.
        await OnBehalf.VerificationNamesTheOverrideRowOnceDeleted(App, Auditor, account, overrides.Single().Id);
    }

    /// <summary>
    /// An account's verification replays its overrides from the events its hash chain links (an index, where the events' AccountId
    /// has none). An override whose event lost its link is still found out, twice: its row is one no replayed event makes, and the
    /// account's chain has an event without a link.
    /// </summary>
    [Fact]
    public async Task An_override_whose_event_lost_its_chain_link_is_reported_by_the_accounts_verification()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await FaultWaits.InvitedAccount(App, App.CreateClient(), "unlinked@example.ee");
        var join = new { tier = "gold", paymentMethod = "bank_transfer" };
        await App.Tracked(() => Send(SupportAgent, HttpMethod.Post, $"/api/accounts/{account}/membership", OnBehalf.BySupport(join), "join-u")
            .ReadAs<MembershipConfirmation>(HttpStatusCode.Created));
        var joined = Assert.Single(await OnRecord(account, "join-u", "cps_joined"));

        await using (var connection = new Npgsql.NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var unlink = new Npgsql.NpgsqlCommand($"delete from {App.SchemaName}.account_chain where event_id = '{joined.Id}'", connection);
            Assert.Equal(1, await unlink.ExecuteNonQueryAsync());
        }

        var report = await Verification(account);
        Assert.Equal([new ProjectionDifference("SupportOverride", joined.Id.ToString(), "(document)", "present", null)], report.Differences);
        Assert.Contains(report.ChainBreaks, b => b.EventId == joined.Id);
    }

    [Fact]
    public async Task Support_upgrading_for_a_member_gives_a_reason_and_ticket()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        await App.Tracked(() => App.Member(account).Register(account, Products.Products.Complete("S-SECOND", Billing.Thousand)));
        var url = $"/api/accounts/{account}/membership/upgrade";
        await MayNotGiveOne(App.Member(account), HttpMethod.Post, url, new { tier = "platinum" });
        await RefusedWithoutReasonAndTicket(HttpMethod.Post, url, new { tier = "platinum" });
        Assert.Equal("gold", (await Membership(account)).Membership!.TierCode);

        await App.Tracked(() => Send(SupportAgent, HttpMethod.Post, url, OnBehalf.BySupport(new { tier = "platinum" }), "upgrade-1")
            .ReadAs<TierUpgradeConfirmation>());
        var overrides = await OnRecord(account, "upgrade-1", "tier_upgraded");
        Assert.StartsWith("Upgraded from Gold to Platinum", Assert.Single(overrides).Description);
        // Its pro-rated invoice is issued at once, by the ledger in a transaction of its own, caused by support's request.
        var issued = Assert.Single(await WrittenFor("upgrade-1", byAgent: false), e => e.Type == "invoice_issued");
        Assert.Equal(("system:invoicing", Agent, (string?)null), (issued.User, issued.CausedBy, issued.Reason));
    }

    [Fact]
    public async Task Support_stopping_a_renewal_gives_a_reason_and_ticket_on_the_stop_and_on_the_credit_note_of_the_invoice_it_replaces()
    {
        var (account, member, _, _) = await App.BankMemberOfferedItsRenewal();
        var renewalInvoice = (await member.Invoices(account)).Single(i => i.Kind == InvoiceKind.Renewal);
        var url = $"/api/accounts/{account}/membership/renewal";
        await MayNotGiveOne(member, HttpMethod.Put, url, new { renew = false });
        await RefusedWithoutReasonAndTicket(HttpMethod.Put, url, new { renew = false });
        Assert.Equal(InvoiceStatus.Open, (await member.Invoices(account)).Single(i => i.Id == renewalInvoice.Id).Status);

        var plan = await App.Tracked(() => Send(SupportAgent, HttpMethod.Put, url, OnBehalf.BySupport(new { renew = false }), "renewal-1")
            .ReadAs<RenewalPlan>());
        Assert.Equal([renewalInvoice.InvoiceNumber], plan.CancelledInvoices);
        var overrides = await OnRecord(account, "renewal-1", "renewal_stopped", "invoice_cancelled", "credit_note_issued");
        Assert.StartsWith($"Invoice {renewalInvoice.InvoiceNumber} cancelled by credit note",
            overrides.Single(o => o.Action == "invoice_cancelled").Description);
    }

    [Fact]
    public async Task Support_changing_billing_details_gives_a_reason_and_ticket_before_the_vat_id_is_checked()
    {
        var account = await App.OpenAccount();
        var url = $"/api/accounts/{account}/billing-details";
        var details = new { address = new { street = "Kanalstraße 12", postalCode = "20095", city = "Hamburg", country = "DE" }, vatId = "DE143454214" };
        await MayNotGiveOne(App.Member(account), HttpMethod.Put, url, details);
        // Refused before the VAT ID is looked at: a wrong one is not what the answer names.
        await RefusedWithoutReasonAndTicket(HttpMethod.Put, url, details with { vatId = "DE000000000" });

        await Send(SupportAgent, HttpMethod.Put, url, OnBehalf.BySupport(details), "billing-1").ReadAs<Api.Accounts.BillingDetails>();
        var overrides = await OnRecord(account, "billing-1", "billing_details_changed");
        Assert.Equal("Billing details set: Kanalstraße 12, 20095 Hamburg, Germany, VAT ID DE143454214", Assert.Single(overrides).Description);
    }

    [Fact]
    public async Task Support_recording_a_card_gives_a_reason_and_ticket_before_the_card_goes_to_the_provider()
    {
        var account = await App.OpenAccount();
        var url = $"/api/accounts/{account}/payment-card";
        await MayNotGiveOne(App.Member(account), HttpMethod.Post, url, new { cardToken = SandboxPaymentGateway.Approve });
        // Refused before the provider sees the card: a token it would refuse is not what the answer names.
        await RefusedWithoutReasonAndTicket(HttpMethod.Post, url, new { cardToken = "tok_not_a_sandbox_card" });

        await Send(SupportAgent, HttpMethod.Post, url, OnBehalf.BySupport(new { cardToken = SandboxPaymentGateway.Approve }), "card-1")
            .ReadAs<CardOnFile>();
        var overrides = await OnRecord(account, "card-1", "payment_card_saved");
        Assert.StartsWith("Payment card recorded: Visa ending 4242", Assert.Single(overrides).Description);
    }

    [Fact]
    public async Task Support_asking_for_an_old_email_code_gives_a_reason_and_ticket_refused_it_sends_and_counts_nothing()
    {
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        var url = OldEmails.CodesUrl(account);
        await MayNotGiveOne(App.Member(account), HttpMethod.Post, url, new { email = LegacyFiles.Kadri });
        await RefusedWithoutReasonAndTicket(HttpMethod.Post, url, new { email = LegacyFiles.Kadri });
        Assert.False(Directory.Exists(App.MailFolder) && Directory.GetFiles(App.MailFolder, "old-cps-email-code-*").Length > 0);
        await using (var session = App.Store.QuerySession())
            Assert.Null(await session.LoadAsync<OldEmailCodeRequests>(OldEmailCodeRequests.IdFor(LegacyFiles.Kadri)));

        await App.Tracked(() => Send(SupportAgent, HttpMethod.Post, url, OnBehalf.BySupport(new { email = LegacyFiles.Kadri }), "code-1")
            .ReadAs<OldEmailCodeSent>(HttpStatusCode.Accepted));
        var overrides = await OnRecord(account, "code-1", "old_cps_email_verification_requested");
        Assert.StartsWith($"Verification code sent to old CPS e-mail {LegacyFiles.Kadri}", Assert.Single(overrides).Description);
        Assert.NotEmpty(await App.CodeSentTo(account, LegacyFiles.Kadri));
    }

    [Fact]
    public async Task Support_entering_the_code_a_member_reads_out_gives_a_reason_and_ticket_on_every_attempt_and_refused_uses_none()
    {
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.RequestCode(App.Member(account), account, LegacyFiles.Kadri);
        var code = await App.CodeSentTo(account, LegacyFiles.Kadri);
        var url = OldEmails.VerifyUrl(account);
        var wrong = code.StartsWith('1') ? "2222 2222" : "1111 1111";
        await MayNotGiveOne(App.Member(account), HttpMethod.Post, url, new { email = LegacyFiles.Kadri, code });
        await RefusedWithoutReasonAndTicket(HttpMethod.Post, url, new { email = LegacyFiles.Kadri, code = wrong });

        // A wrong code read out on the phone is an attempt on the record like any other: with support's reason.
        var attempt = await Send(SupportAgent, HttpMethod.Post, url, OnBehalf.BySupport(new { email = LegacyFiles.Kadri, code = wrong }), "verify-1")
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(("wrong_code", "4"), (attempt.Extension("reason"), attempt.Extension("attemptsLeft")));
        await OnRecord(account, "verify-1", "old_cps_email_verification_failed");
        await Send(SupportAgent, HttpMethod.Post, url, OnBehalf.BySupport(new { email = LegacyFiles.Kadri, code }), "verify-2")
            .ReadAs<OldEmailVerified>();
        Assert.Equal(["old_cps_email_verification_failed", "old_cps_email_verified"],
            (await OnRecord(account, "verify-2", false, "old_cps_email_verified")).Select(o => o.Action).Order());
    }

    [Fact]
    public async Task Support_migrating_for_a_member_gives_a_reason_and_ticket_on_every_step_and_a_members_migration_takes_no_body()
    {
        var account = await AccountWithKadrisOldAccountToMigrate();
        var url = LegacyFiles.MigrationUrl(account);
        await MayNotGiveOne(App.Member(account), HttpMethod.Post, url, new { });
        // The member's call has no body; support's without one, or with an empty one, names both.
        var before = await EventCount();
        var bare = await SupportAgent.PostAsync(url, null).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason", "ticketReference"], bare.Errors.Keys.Order());
        await RefusedWithoutReasonAndTicket(HttpMethod.Post, url, new { });
        Assert.Equal(before, await EventCount());

        var result = await Send(SupportAgent, HttpMethod.Post, url, OnBehalf.BySupport(new { }), "migrate-1").ReadAs<MigrationResult>();
        Assert.Equal((3, 235), (result.Migrated, result.PointsAllocated));
        // Each step is its own transaction, the caller's: the number, then the products, each event with the reason.
        await OnRecord(account, "migrate-1", "legacy_membership_number_recorded", "legacy_product_migrated", "legacy_product_migrated",
            "legacy_product_migrated", "product_registered", "product_registered", "product_registered", "points_allocated");
        // Support reads its reason on the line; the member only the ticket (docs/security.md, "Who and why").
        var line = Assert.Single((await SupportAgent.Explanation(account)).Lines);
        Assert.Equal((OnBehalf.Reason, OnBehalf.Ticket, Agent), (line.Reason, line.TicketReference, line.By));

        // A member's migration is unchanged: no body (also none as null, or empty), never listed.
        var member = App.Member(account);
        await (await member.PostAsync(url, null)).ShouldBe(HttpStatusCode.OK);
        await (await member.PostRaw(url, "null")).ShouldBe(HttpStatusCode.OK);
        await (await member.PostJson(url, new { })).ShouldBe(HttpStatusCode.OK);
        Assert.Equal(8, (await Overrides(account)).Total);
    }

    [Fact]
    public async Task Overrides_at_one_instant_are_listed_once_each_on_pages_of_any_size_in_the_whole_lists_order()
    {
        // A migration for a member writes its products' events at one instant: the list ordered by time alone gave them in no set
        // order, so a page boundary among them could repeat one and drop another.
        var account = await AccountWithKadrisOldAccountToMigrate();
        await Send(SupportAgent, HttpMethod.Post, LegacyFiles.MigrationUrl(account), OnBehalf.BySupport(new { }), "migrate-ties")
            .ReadAs<MigrationResult>();

        var whole = (await Overrides(account)).Items;
        Assert.Contains(whole.GroupBy(o => o.At), at => at.Count() > 2);
        foreach (var size in new[] { 1, 2, 3, 5 })
        {
            var paged = new List<Guid>();
            for (var page = 1; (page - 1) * size < whole.Count; page++)
            {
                paged.AddRange((await Auditor.GetAsync($"/api/support/overrides?accountId={account}&page={page}&pageSize={size}")
                    .ReadAs<SupportOverridePage>()).Items.Select(o => o.Id));
            }

            Assert.Equal(whole.Select(o => o.Id), paged);
        }
    }

    // ---- what each test checks ---------------------------------------------------------------------------------------

    /// <summary>An account whose verified old e-mail is Kadri's old CPS account, its three products' models listed: ready to migrate.</summary>
    private async Task<Guid> AccountWithKadrisOldAccountToMigrate()
    {
        await App.ListModel(Products.Products.R5, "EOS R5", "camera_body", 235);
        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);
        return account;
    }

    /// <summary>A member or the portal acting for itself gives no reason or ticket: sending either is a 400, nothing written.</summary>
    private async Task MayNotGiveOne(HttpClient client, HttpMethod method, string url, object body)
    {
        var before = await EventCount();
        var refused = await Send(client, method, url, OnBehalf.BySupport(body)).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason", "ticketReference"], refused.Errors.Keys.Order());
        Assert.Equal(before, await EventCount());
    }

    /// <summary>Support without a reason and ticket, with a blank or short reason, with a blank ticket: a 400 naming each, nothing written.</summary>
    private async Task<HttpValidationProblemDetails> RefusedWithoutReasonAndTicket(HttpMethod method, string url, object body)
    {
        var before = await EventCount();
        var overrides = (await Auditor.GetAsync("/api/support/overrides").ReadAs<SupportOverridePage>()).Total;

        var neither = await Send(SupportAgent, method, url, body).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason", "ticketReference"], neither.Errors.Keys.Order());
        var blank = await Send(SupportAgent, method, url, OnBehalf.BySupport(body, reason: "  ")).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason"], blank.Errors.Keys);
        var tooShort = await Send(SupportAgent, method, url, OnBehalf.BySupport(body, reason: "ok")).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason"], tooShort.Errors.Keys);
        var noTicket = await Send(SupportAgent, method, url, OnBehalf.BySupport(body, ticket: " ")).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["ticketReference"], noTicket.Errors.Keys);

        Assert.Equal(before, await EventCount());
        Assert.Equal(overrides, (await Auditor.GetAsync("/api/support/overrides").ReadAs<SupportOverridePage>()).Total);
        return neither;
    }

    /// <summary>
    /// What support's request wrote (its correlation id, support its user): exactly <paramref name="types"/>, each with the reason
    /// and ticket in its headers and listed among the account's overrides (action: its type; when <paramref name="allOfTheAccount"/>,
    /// nothing else is listed), and verification agrees with the rows.
    /// </summary>
    private async Task<IReadOnlyList<SupportOverride>> OnRecord(Guid account, string correlationId, params string[] types) =>
        await OnRecord(account, correlationId, true, types);

    private async Task<IReadOnlyList<SupportOverride>> OnRecord(Guid account, string correlationId, bool allOfTheAccount, params string[] types)
    {
        var written = await WrittenFor(correlationId, byAgent: true);
        Assert.Equal(types.Order(), written.Select(e => e.Type).Order());
        Assert.All(written, e => Assert.Equal((OnBehalf.Reason, OnBehalf.Ticket), (e.Reason, e.Ticket)));

        var overrides = (await Overrides(account)).Items;
        var listed = overrides.Where(o => written.Any(e => e.Id == o.Id)).ToList();
        Assert.Equal(written.Select(e => (e.Id, e.Type)).Order(), listed.Select(o => (o.Id, o.Action)).Order());
        if (allOfTheAccount)
            Assert.Equal(listed.Count, overrides.Count);
        Assert.All(listed, o => Assert.Equal((account, OnBehalf.Reason, OnBehalf.Ticket, Agent), (o.AccountId, o.Reason, o.TicketReference, o.By)));

        var history = (await Auditor.GetAsync($"/api/accounts/{account}/history?pageSize=200").ReadAs<HistoryPage>()).Items;
        Assert.All(history.Where(h => written.Any(e => e.Id == h.EventId)),
            h => Assert.Equal((OnBehalf.Reason, OnBehalf.Ticket, Agent), (h.Reason, h.TicketReference, h.By)));

        var verification = await Verification(account);
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));
        return allOfTheAccount ? listed : overrides;
    }

    private sealed record Written(Guid Id, string Type, string? User, string? CorrelationId, string? Reason, string? Ticket, string? CausedBy,
        string? CausedByCorrelationId);

    /// <summary>
    /// The events of a request, as stored: those it wrote itself (<paramref name="byAgent"/>: its correlation id, support the user),
    /// or what the ledger wrote later because of it (the correlation id it was caused by, a system actor the user).
    /// </summary>
    private async Task<List<Written>> WrittenFor(string correlationId, bool byAgent)
    {
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            $"select id, type, user_name, correlation_id, headers::text from {App.SchemaName}.mt_events " +
            $"where correlation_id = $1 or headers ->> '{SystemActor.CausedByCorrelationHeader}' = $1 order by seq_id", connection)
        {
            Parameters = { new() { Value = correlationId } },
        };
        var found = new List<Written>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            using var headers = JsonDocument.Parse(reader.IsDBNull(4) ? "{}" : reader.GetString(4));
            found.Add(new Written(reader.GetGuid(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                Header(headers, SupportReason.ReasonHeader), Header(headers, SupportReason.TicketHeader),
                Header(headers, SystemActor.CausedByUserHeader), Header(headers, SystemActor.CausedByCorrelationHeader)));
        }

        return [.. found.Where(e => (e.User == Agent) == byAgent)];

        static string? Header(JsonDocument headers, string name) =>
            headers.RootElement.TryGetProperty(name, out var value) ? value.GetString() : null;
    }

    private static Task<HttpResponseMessage> Send(HttpClient client, HttpMethod method, string url, object body, string? correlationId = null)
    {
        var request = new HttpRequestMessage(method, url) { Content = JsonContent.Create(body) };
        if (correlationId is not null)
            request.Headers.Add("X-Correlation-Id", correlationId);
        return client.SendAsync(request);
    }

    private Task<AccountMembership> Membership(Guid account) =>
        Auditor.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>();

    private Task<SupportOverridePage> Overrides(Guid account) =>
        Auditor.GetAsync($"/api/support/overrides?accountId={account}&pageSize=200").ReadAs<SupportOverridePage>();

    private Task<VerificationReport> Verification(Guid account) =>
        Auditor.GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>();

    private async Task<int> EventCount()
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().CountAsync();
    }
}
