using System.Net;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Harness;
using JasperFx.Events;
using Marten;

namespace CpsLedger.Tests.Platform;

/// <summary>What the ledger does on its own is recorded as the system's doing, with the person whose request set it off.</summary>
public sealed class SystemActorTests(LedgerApp app) : LedgerTest(app)
{
    private async Task<IEvent> Single(string type)
    {
        await using var session = App.Store.QuerySession();
        return Assert.Single(await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == type).ToListAsync());
    }

    private HttpClient Portal(string correlationId)
    {
        var client = App.ClientAs(LedgerRoles.Portal, subject: "portal-web");
        client.DefaultRequestHeaders.Add(CorrelationMiddleware.HeaderName, correlationId);
        return client;
    }

    [Fact]
    public async Task An_invitation_and_an_invoice_set_off_by_a_portal_request_are_the_systems_with_the_portal_user_as_their_cause()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.OpenAccount();

        // Each tracked until what it set off (the invitation review; the welcome e-mail) has been handled.
        await App.Tracked(async () => await (await Portal("register-1").PostJson($"/api/accounts/{account}/products",
            Products.Products.Complete("S-1", Billing.Thousand))).ShouldBe(HttpStatusCode.Created));
        await App.Tracked(async () => await (await Portal("join-1").PostJson($"/api/accounts/{account}/membership",
            new { tier = "gold", paymentMethod = "bank_transfer" })).ShouldBe(HttpStatusCode.Created));
        await App.FastForward(TimeSpan.FromHours(3));

        // What the person did carries the person, and no cause.
        var registered = await Single("product_registered");
        Assert.Equal(("portal-web", (CausedBy?)null), (registered.UserName, SystemActor.CausedByOf(registered)));

        var invited = await Single("invitation_issued");
        Assert.Equal("system:invitation-policy", invited.UserName);
        // With the role the portal acted in, relayed from its request to the review.
        Assert.Equal(new CausedBy("portal-web", "register-1", LedgerRoles.Portal), SystemActor.CausedByOf(invited));
        Assert.Equal("register-1", invited.CorrelationId);

        // A scheduled message hours later still knows whose request it follows.
        var invoiced = await Single("invoice_issued");
        Assert.Equal("system:invoicing", invoiced.UserName);
        Assert.Equal(new CausedBy("portal-web", "join-1", LedgerRoles.Portal), SystemActor.CausedByOf(invoiced));

        // The history shows both.
        var history = (await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history")
            .ReadAs<CpsLedger.Api.Audit.HistoryPage>()).Items;
        var entry = history.Single(e => e.Type == "invitation_issued");
        Assert.Equal(("system:invitation-policy", new CausedBy("portal-web", "register-1", LedgerRoles.Portal)), (entry.By, entry.CausedBy));
        var invoiceEntry = history.Single(e => e.Type == "invoice_issued");
        Assert.Equal(("system:invoicing", "portal-web"), (invoiceEntry.By, invoiceEntry.CausedBy?.User));
        Assert.Null(history.Single(e => e.Type == "cps_joined").CausedBy);
        Assert.Equal(LedgerRoles.Portal, history.Single(e => e.Type == "cps_joined").Role);
    }

    [Fact]
    public void Handlers_that_write_are_named_and_those_that_only_read_or_send_are_left_alone()
    {
        Assert.Equal("system:invitation-policy", SystemActor.For(typeof(ReviewInvitationHandler)));
        Assert.Equal("system:invoicing", SystemActor.For(typeof(IssueInvoiceHandler)));
        Assert.Equal("system:send-invitation-email", SystemActor.For(typeof(SendInvitationEmailHandler)));

        Assert.True(SystemActorPolicy.WritesThroughMarten(typeof(ReviewInvitationHandler), typeof(ReviewInvitationHandler).GetMethod("Handle")!));
        Assert.True(SystemActorPolicy.WritesThroughMarten(typeof(ChargeCardHandler), typeof(ChargeCardHandler).GetMethod("Handle")!));
        Assert.False(SystemActorPolicy.WritesThroughMarten(typeof(SendInvitationEmailHandler), typeof(SendInvitationEmailHandler).GetMethod("Handle")!));
        Assert.False(SystemActorPolicy.WritesThroughMarten(typeof(SendInvoiceEmailHandler), typeof(SendInvoiceEmailHandler).GetMethod("Handle")!));
    }

    [Fact]
    public void A_points_line_the_system_wrote_names_its_cause_and_one_a_person_wrote_or_an_older_one_does_not()
    {
        var view = new ProductView { Id = Guid.NewGuid(), ModelCode = "M" };
        var bySystem = new Event<PointsAllocated>(new PointsAllocated(Guid.NewGuid(), view.Id, "M", "S", 10, 3, DateTimeOffset.UtcNow))
        {
            UserName = "system:points-policy",
            Headers = new Dictionary<string, object> { [SystemActor.CausedByUserHeader] = "kadri", [SystemActor.CausedByCorrelationHeader] = "c-1" },
        };
        ProductViewProjection.Apply(view, bySystem);
        var byPerson = new Event<PointsRemoved>(new PointsRemoved(Guid.NewGuid(), view.Id, "M", "S", 10, 3, "sold", DateTimeOffset.UtcNow))
        {
            UserName = "kadri",
        };
        ProductViewProjection.Apply(view, byPerson);

        Assert.Equal(("system:points-policy", new CausedBy("kadri", "c-1", null)), (view.PointsLines[0].By, view.PointsLines[0].CausedBy));
        Assert.Equal(("kadri", (CausedBy?)null), (view.PointsLines[1].By, view.PointsLines[1].CausedBy));
    }
}
