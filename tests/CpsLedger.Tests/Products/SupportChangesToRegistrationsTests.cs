using System.Net;
using System.Text.Json;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Api.Support;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Support;
using Marten;

namespace CpsLedger.Tests.Products;

/// <summary>
/// "Every support action carries a reason and is itself an event" (docs/programme.md): support registering a product for a
/// member, or fixing or deregistering a member's registration, gives a reason and a ticket, recorded on every event it writes
/// and listed among the overrides; a member registering or changing its own product gives neither.
/// </summary>
public sealed class SupportChangesToRegistrationsTests(LedgerApp app) : LedgerTest(app)
{
    private const string Reason = "Member called: the dealer is on the receipt";
    private const string Ticket = "CPS-SUP-55";

    private HttpClient SupportAgent => App.ClientAs(LedgerRoles.Support, subject: "support-anna");
    private HttpClient Auditor => App.ClientAs(LedgerRoles.Auditor, subject: "auditor-ines");

    [Fact]
    public async Task Support_amending_a_registration_without_a_reason_and_ticket_is_a_400_naming_them_and_writes_nothing()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var registered = await App.Member(account).Register(account, Products.WithoutDealer("S-1"));
        var before = await EventCount();

        var neither = await SupportAgent.PatchJson(registered.Url, new { dealer = "Photopoint" }).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason", "ticketReference"], neither.Errors.Keys.Order());
        var blank = await SupportAgent.PatchJson(registered.Url, new { dealer = "Photopoint", supportReason = "  ", ticketReference = Ticket })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason"], blank.Errors.Keys);
        var noTicket = await SupportAgent.PatchJson(registered.Url, new { dealer = "Photopoint", supportReason = Reason })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["ticketReference"], noTicket.Errors.Keys);
        var deregistration = await SupportAgent.PostJson($"{registered.Url}/deregistration", new { reason = "registered_in_error" })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason", "ticketReference"], deregistration.Errors.Keys.Order());

        Assert.Equal(before, await EventCount());
        Assert.Equal(0, (await Overrides(account)).Total);
        Assert.Equal(0, (await App.Member(account).Summary(account)).PointsTotal);
    }

    [Fact]
    public async Task Support_amending_with_a_reason_records_it_on_the_amendment_and_its_points_lists_both_and_the_history_shows_it()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var registered = await App.Member(account).Register(account, Products.WithoutDealer("S-2"));

        var amended = await SupportAgent.PatchJson(registered.Url, new { dealer = "Photopoint", supportReason = Reason, ticketReference = Ticket })
            .ReadAs<ProductRegistrationStatus>();
        Assert.True(amended.GreenTick);

        // In the event metadata of both events the request wrote, as for every support action.
        Assert.Equal([("product_details_amended", Reason, Ticket), ("points_allocated", Reason, Ticket)],
            await HeadersOf(registered.RegistrationId, "product_details_amended", "points_allocated"));

        var history = (await History(account, "types=product_details_amended,points_allocated")).Items;
        Assert.Equal([(Reason, Ticket, "support-anna"), (Reason, Ticket, "support-anna")], history.Select(h => (h.Reason, h.TicketReference, h.By)));

        var overrides = (await Overrides(account)).Items;
        Assert.Equal(["points_allocated", "product_details_amended"], overrides.Select(o => o.Action).Order());
        Assert.All(overrides, o => Assert.Equal((account, Reason, Ticket, "support-anna"), (o.AccountId, o.Reason, o.TicketReference, o.By)));
        Assert.Equal("Details of EOS-R5 amended: dealer Photopoint", overrides.Single(o => o.Action == "product_details_amended").Description);
        Assert.StartsWith("+235 points for EOS-R5 serial S-2", overrides.Single(o => o.Action == "points_allocated").Description);

        var line = Assert.Single((await SupportAgent.Explanation(account)).Lines);
        Assert.Equal((235, Reason, Ticket, "support-anna"), (line.Points, line.Reason, line.TicketReference, line.By));

        var verification = await Verification(account);
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));

        // Rebuilt from the events, the overrides and the explanation are the same: the reason is read from the stored headers.
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
        {
            foreach (var projection in ((StoreOptions)App.Store.Options).Projections.All)
                await daemon.RebuildProjectionAsync(projection.Name, TimeSpan.FromMinutes(1), CancellationToken.None);
        }

        Assert.Equal(overrides.Select(o => (o.Id, o.Reason, o.TicketReference)).Order(),
            (await Overrides(account)).Items.Select(o => (o.Id, o.Reason, o.TicketReference)).Order());
        var rebuiltLine = Assert.Single((await SupportAgent.Explanation(account)).Lines);
        Assert.Equal((Reason, Ticket), (rebuiltLine.Reason, rebuiltLine.TicketReference));

        // Verification replays these overrides too: one gone is named, for the account and for the whole ledger.
        await OnBehalf.VerificationNamesTheOverrideRowOnceDeleted(App, Auditor, account, overrides.Single(o => o.Action == "points_allocated").Id);
    }

    [Fact]
    public async Task Support_deregistering_gives_its_own_reason_beside_the_members_kind_of_reason_and_it_is_on_the_record()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var registered = await App.Member(account).Register(account, Products.Complete("S-3"));

        var deregistered = await SupportAgent.PostJson($"{registered.Url}/deregistration",
                new { reason = "registered_in_error", supportReason = "Member bought it twice by mistake", ticketReference = "CPS-SUP-56" })
            .ReadAs<ProductRegistrationStatus>();
        Assert.True(deregistered.Deregistered);

        Assert.Equal([("points_removed", "Member bought it twice by mistake", "CPS-SUP-56"),
                ("product_deregistered", "Member bought it twice by mistake", "CPS-SUP-56")],
            await HeadersOf(registered.RegistrationId, "points_removed", "product_deregistered"));
        var history = (await History(account, "types=points_removed,product_deregistered")).Items;
        Assert.All(history, h => Assert.Equal(("Member bought it twice by mistake", "CPS-SUP-56"), (h.Reason, h.TicketReference)));

        var overrides = (await Overrides(account)).Items;
        Assert.Equal(["points_removed", "product_deregistered"], overrides.Select(o => o.Action).Order());
        Assert.Equal("EOS-R5 serial S-3 deregistered (registered in error)", overrides.Single(o => o.Action == "product_deregistered").Description);
        Assert.All(overrides, o => Assert.Equal(("Member bought it twice by mistake", "CPS-SUP-56"), (o.Reason, o.TicketReference)));

        var removal = (await SupportAgent.Explanation(account)).Lines.Single(l => l.Points < 0);
        Assert.Equal(("deregistered: registered in error; support: Member bought it twice by mistake", "CPS-SUP-56"),
            (removal.Reason, removal.TicketReference));
        // The member reads the removal's own reason and the ticket, not support's (docs/security.md, "Who and why").
        var members = (await App.Member(account).Explanation(account)).Lines.Single(l => l.Points < 0);
        Assert.Equal(("deregistered: registered in error", "CPS-SUP-56"), (members.Reason, members.TicketReference));
        var verification = await Verification(account);
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));
    }

    [Fact]
    public async Task Support_registering_a_product_for_a_member_without_a_reason_and_ticket_is_a_400_naming_them_and_writes_nothing()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var before = await EventCount();

        var neither = await SupportAgent.PostJson(Products.ProductsUrl(account), Products.Complete("R-1")).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason", "ticketReference"], neither.Errors.Keys.Order());
        var tooShort = await SupportAgent.PostJson(Products.ProductsUrl(account), Products.BySupport(Products.Complete("R-1"), reason: " ok "))
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason"], tooShort.Errors.Keys);
        var blankTicket = await SupportAgent.PostJson(Products.ProductsUrl(account), Products.BySupport(Products.Complete("R-1"), ticket: " "))
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["ticketReference"], blankTicket.Errors.Keys);

        Assert.Equal(before, await EventCount());
        Assert.Empty(await App.Member(account).GetAsync(Products.ProductsUrl(account)).ReadAs<List<ProductView>>());
        Assert.Equal(0, (await Overrides(account)).Total);
    }

    [Fact]
    public async Task Support_registering_with_a_reason_records_it_on_the_registration_and_its_points_and_lists_both()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();

        var registered = await SupportAgent.Register(account, Products.BySupport(Products.Complete("R-2"), Reason, Ticket));
        Assert.True(registered.GreenTick);

        Assert.Equal([("product_registered", Reason, Ticket), ("points_allocated", Reason, Ticket)],
            await HeadersOf(registered.RegistrationId, "product_registered", "points_allocated"));
        var history = (await History(account, "types=product_registered,points_allocated")).Items;
        Assert.Equal([(Reason, Ticket, "support-anna"), (Reason, Ticket, "support-anna")], history.Select(h => (h.Reason, h.TicketReference, h.By)));

        var overrides = (await Overrides(account)).Items;
        Assert.Equal(["points_allocated", "product_registered"], overrides.Select(o => o.Action).Order());
        Assert.All(overrides, o => Assert.Equal((account, Reason, Ticket, "support-anna"), (o.AccountId, o.Reason, o.TicketReference, o.By)));
        Assert.Equal("EOS R5 (EOS-R5) registered, serial R-2", overrides.Single(o => o.Action == "product_registered").Description);

        var line = Assert.Single((await SupportAgent.Explanation(account)).Lines);
        Assert.Equal((235, Reason, Ticket, "support-anna"), (line.Points, line.Reason, line.TicketReference, line.By));
        var verification = await Verification(account);
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));

        // Verification replays the registration's override row as it does an amendment's: one gone is named.
        await OnBehalf.VerificationNamesTheOverrideRowOnceDeleted(App, Auditor, account, overrides.Single(o => o.Action == "product_registered").Id);
    }

    [Fact]
    public async Task A_member_or_the_portal_registers_its_own_product_without_a_reason_and_may_not_give_one()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var portal = App.ClientAs(LedgerRoles.Portal);
        var before = await EventCount();

        var refused = await member.PostJson(Products.ProductsUrl(account), Products.BySupport(Products.Complete("M-3")))
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason", "ticketReference"], refused.Errors.Keys.Order());
        var refusedTicket = await portal.PostJson(Products.ProductsUrl(account), new { modelCode = Products.R5, ticketReference = Ticket })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["ticketReference"], refusedTicket.Errors.Keys);
        Assert.Equal(before, await EventCount());

        Assert.True((await member.Register(account, Products.Complete("M-3"))).GreenTick);
        await portal.Register(account, Products.WithoutDealer("M-4"));

        Assert.Equal(0, (await Overrides(account)).Total);
        var history = (await History(account, "types=product_registered,points_allocated")).Items;
        Assert.Equal(3, history.Count);
        Assert.All(history, h => Assert.Equal((null, null), (h.Reason, h.TicketReference)));
    }

    [Fact]
    public async Task A_member_or_the_portal_changes_its_own_product_without_a_reason_and_may_not_give_one()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);
        var portal = App.ClientAs(LedgerRoles.Portal);
        var first = await member.Register(account, Products.WithoutDealer("M-1"));
        var second = await member.Register(account, Products.Complete("M-2"));
        var before = await EventCount();

        var refused = await member.PatchJson(first.Url, new { dealer = "Photopoint", supportReason = "I found the receipt" })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["supportReason"], refused.Errors.Keys);
        var refusedTicket = await portal.PostJson($"{second.Url}/deregistration", new { reason = "sold", ticketReference = Ticket })
            .ReadProblem(HttpStatusCode.BadRequest);
        Assert.Equal(["ticketReference"], refusedTicket.Errors.Keys);
        Assert.Equal(before, await EventCount());

        Assert.True((await member.PatchJson(first.Url, new { dealer = "Photopoint" }).ReadAs<ProductRegistrationStatus>()).GreenTick);
        Assert.True((await portal.PostJson($"{second.Url}/deregistration", new { reason = "sold", note = "to a colleague" })
            .ReadAs<ProductRegistrationStatus>()).Deregistered);

        Assert.Equal(0, (await Overrides(account)).Total);
        var history = (await History(account, "types=product_details_amended,points_allocated,points_removed,product_deregistered")).Items;
        Assert.NotEmpty(history);
        Assert.All(history, h => Assert.Equal((null, null), (h.Reason, h.TicketReference)));
    }

    private Task<SupportOverridePage> Overrides(Guid account) =>
        Auditor.GetAsync($"/api/support/overrides?accountId={account}").ReadAs<SupportOverridePage>();

    private Task<HistoryPage> History(Guid account, string query) =>
        Auditor.GetAsync($"/api/accounts/{account}/history?{query}").ReadAs<HistoryPage>();

    private Task<VerificationReport> Verification(Guid account) =>
        Auditor.GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>();

    /// <summary>The reason and ticket headers as stored in <c>mt_events</c>, by event type, in stream order.</summary>
    private async Task<List<(string Type, string? Reason, string? Ticket)>> HeadersOf(Guid stream, params string[] types)
    {
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            $"select type, headers::text from {App.SchemaName}.mt_events where stream_id = $1 and type = any($2) order by version", connection)
        {
            Parameters = { new() { Value = stream }, new() { Value = types } },
        };
        var found = new List<(string, string?, string?)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            using var headers = JsonDocument.Parse(reader.IsDBNull(1) ? "{}" : reader.GetString(1));
            found.Add((reader.GetString(0), Header(headers, SupportReason.ReasonHeader), Header(headers, SupportReason.TicketHeader)));
        }

        return found;

        static string? Header(JsonDocument headers, string name) =>
            headers.RootElement.TryGetProperty(name, out var value) ? value.GetString() : null;
    }

    private async Task<int> EventCount()
    {
        await using var session = App.Store.QuerySession();
        return await session.Events.QueryAllRawEvents().CountAsync();
    }
}
