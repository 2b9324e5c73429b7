using System.Net;
using System.Net.Http.Headers;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Support;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CpsLedger.Tests.Support;

/// <summary>
/// The role a person acted in is recorded on what their request wrote and on what the ledger did because of it, and the member
/// reads staff by it (docs/security.md, "Who and why").
/// </summary>
public sealed class ActorRoleTests(LedgerApp app) : LedgerTest(app)
{
    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor, subject: "auditor-ines");

    private Task<HistoryPage> History(HttpClient reader, Guid account) =>
        reader.GetAsync($"/api/accounts/{account}/history?pageSize=500").ReadAs<HistoryPage>();

    private async Task<List<IEvent>> EventsBy(string user)
    {
        await using var session = App.Store.QuerySession();
        return [.. await session.Events.QueryAllRawEvents().Where(e => e.UserName == user).OrderBy(e => e.Sequence).ToListAsync()];
    }

    private HttpClient ClientWithRoles(string subject, params string[] roles)
    {
        var client = App.CreateClient();
        var token = new DevTokenIssuer(App.Services.GetRequiredService<IOptions<AuthOptions>>(), TimeProvider.System).Issue(subject, roles);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    // The gap the marks could not close: the agent who ran the reconciliation never acted on the account with a ticket or an event
    // only support writes, so the repair it caused showed the agent's name to the member.
    [Fact]
    public async Task A_repair_by_a_reconciliation_support_ran_reads_as_cps_support_to_the_member_and_by_name_to_the_auditor()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.OpenAccount();
        await using (var session = App.Store.LightweightSession())
        {
            // An invitation standing below the threshold (a withdrawal lost): the reconciliation sends its review.
            session.Events.Append(MembershipStream.For(account), new InvitationIssued(account, Guid.CreateVersion7(), 1000, 500, 1, App.Clock.GetUtcNow()));
            await session.SaveChangesAsync();
        }

        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Support, subject: "support-ron")
            .PostJson("/api/operations/reconciliation/runs", new { })).ShouldBe(HttpStatusCode.OK));

        var withdrawn = Assert.Single((await History(Auditor, account)).Items, e => e.Type == "invitation_withdrawn");
        Assert.StartsWith(SystemActor.Prefix, withdrawn.By);
        Assert.Equal(("support-ron", "support"), (withdrawn.CausedBy?.User, withdrawn.CausedBy?.Role));

        var member = App.Member(account, "kadri");
        var raw = await (await member.GetAsync($"/api/accounts/{account}/history?pageSize=500")).Content.ReadAsStringAsync();
        Assert.DoesNotContain("support-ron", raw, StringComparison.Ordinal);
        var theirs = Assert.Single((await History(member, account)).Items, e => e.Type == "invitation_withdrawn");
        Assert.Equal((withdrawn.By, StaffNames.Support, withdrawn.CausedBy!.CorrelationId),
            (theirs.By, theirs.CausedBy?.User, theirs.CausedBy?.CorrelationId));
    }

    [Fact]
    public async Task What_an_operators_command_imports_records_the_operator_role_and_supports_import_the_support_role()
    {
        await App.ImportThroughCommandLinePath(LegacyFiles.KadrisOldAccount, user: "cli-maris");
        await App.ImportLegacy(LegacyFiles.Csv("kadri.other@old.example,CPS-OLD-9,EOS-R5,SN-9,2019-03-01,EE,Photopoint"));

        var byOperator = await EventsBy("cli-maris");
        Assert.NotEmpty(byOperator);
        Assert.All(byOperator, e => Assert.Equal(ActorRoles.Operator, ActorRoles.Of(e)));
        var bySupport = await EventsBy("maris");
        Assert.NotEmpty(bySupport);
        Assert.All(bySupport, e => Assert.Equal(LedgerRoles.Support, ActorRoles.Of(e)));
    }

    // Decision (docs/security.md, "Who and why"): the roles the caller holds that the route admits, never another.
    [Fact]
    public async Task Someone_holding_support_and_finance_is_recorded_in_the_role_each_route_admitted_them_by()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await FaultWaits.InvitedAccount(App, App.CreateClient(), "studio@example.ee");
        var member = App.Member(account, "kadri");
        await App.Tracked(async () => await (await member.PostJson($"/api/accounts/{account}/membership",
            new { tier = "gold", paymentMethod = "bank_transfer" })).ShouldBe(HttpStatusCode.Created));
        await App.FastForward(TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1));
        var invoice = await member.SingleInvoice(account);
        var dora = ClientWithRoles("dual-dora", LedgerRoles.Support, LedgerRoles.Finance);

        await App.Tracked(async () => await (await dora.PostJson($"/api/accounts/{account}/points-adjustments",
            new { points = 20, reason = "Registration lost in the portal outage", ticketReference = "CPS-SUP-1" })).ShouldBe(HttpStatusCode.Created));
        await App.Tracked(async () => await (await dora.PostJson("/api/payments/bank-transfers",
            App.BankPayment(invoice.InvoiceNumber, invoice.Total, "SEPA-DUAL-1"))).ShouldBe(HttpStatusCode.Created));

        var doras = await EventsBy("dual-dora");
        Assert.Equal(LedgerRoles.Support, ActorRoles.Of(Assert.Single(doras, e => e.EventTypeName == "points_adjusted")));
        Assert.Equal(LedgerRoles.Finance, ActorRoles.Of(Assert.Single(doras, e => e.EventTypeName == "payment_received")));
        Assert.All(doras, e => Assert.NotNull(ActorRoles.Of(e)));

        var all = (await History(App.ClientAs(LedgerRoles.Support), account)).Items;
        var adjusted = Assert.Single(all, e => e.Type == "points_adjusted");
        Assert.Equal(("dual-dora", "support"), (adjusted.By, adjusted.Role));
        var paid = Assert.Single(all, e => e.Type == "payment_received");
        Assert.Equal(("dual-dora", "finance"), (paid.By, paid.Role));
        var mine = (await History(member, account)).Items;
        Assert.Equal(StaffNames.Support, Assert.Single(mine, e => e.Type == "points_adjusted").By);
        Assert.Equal(StaffNames.Finance, Assert.Single(mine, e => e.Type == "payment_received").By);
        var joined = Assert.Single(mine, e => e.Type == "cps_joined");
        Assert.Equal(("kadri", "member"), (joined.By, joined.Role));
    }

    // A migration's steps are handlers invoked inline for the caller: the caller's role reaches them in the message, as the user does.
    [Fact]
    public async Task Supports_migration_records_the_support_role_on_every_event_its_steps_write()
    {
        await App.ListModel(Products.Products.R5, "EOS R5", "camera_body", 235);
        await App.ListModel(Products.Products.Lens, "EF 40mm f/2.8 STM", "lens", 15);
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        var account = await App.OpenAccount(oldEmails: [LegacyFiles.Kadri]);
        await App.VerifyOldEmail(account, LegacyFiles.Kadri);

        await App.Tracked(() => App.ClientAs(LedgerRoles.Support, subject: "support-anna").Migrate(account, OnBehalf.BySupport(new { })));

        var written = await EventsBy("support-anna");
        Assert.Contains(written, e => e.EventTypeName == "legacy_product_migrated");
        Assert.All(written, e => Assert.Equal(LedgerRoles.Support, ActorRoles.Of(e)));
    }
}
