using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Products;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using Marten;

namespace CpsLedger.Tests.Products;

public sealed class RegisterProductTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task The_guides_scenario_no_dealer_no_tick_then_dealer_added_tick_and_points()
    {
        await App.ListModel(points: 235);
        var account = await App.OpenAccount();
        var member = App.Member(account);

        var registered = await member.Register(account, Products.WithoutDealer());
        Assert.False(registered.GreenTick);
        Assert.Equal(0, registered.Points);
        Assert.Equal([MandatoryDetail.Dealer], registered.MissingDetails);

        var summary = await member.Summary(account);
        Assert.Equal(0, summary.PointsTotal);
        Assert.Equal(1, summary.ProductsAwaitingDetails);
        Assert.False(summary.AllPointsAllocated);

        var url = registered.Url;
        var amended = await member.PatchJson(url, new { dealer = "Photopoint" }).ReadAs<ProductRegistrationStatus>();
        Assert.True(amended.GreenTick);
        Assert.Equal(235, amended.Points);

        summary = await member.Summary(account);
        Assert.Equal(235, summary.PointsTotal);
        Assert.Equal(1, summary.ProductsWithGreenTick);
        Assert.True(summary.AllPointsAllocated);

        var product = await member.GetAsync(url).ReadAs<ProductView>();
        Assert.Empty(product.MissingDetails);
        Assert.Equal("Photopoint", product.Dealer);
    }

    [Fact]
    public async Task Registering_with_every_detail_allocates_at_once_and_the_product_list_shows_it()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var member = App.Member(account);

        var registered = await member.Register(account, new
        {
            modelCode = "eos-r5",
            serialNumber = "  0123   4567 ",
            purchaseDate = "2024-03-01",
            countryOfPurchase = "EE",
            dealer = " Photopoint ",
            bestGuesses = new[] { "purchase_date" },
        });
        Assert.True(registered.GreenTick);
        Assert.Equal("0123 4567", registered.SerialNumber);

        var list = await member.GetAsync(Products.ProductsUrl(account));
        Assert.Single(await list.ReadAs<List<ProductView>>());
        Snapshots.MatchJson(await list.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_response_to_a_registration_has_201_and_a_location()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var response = await App.Member(account).PostJson(Products.ProductsUrl(account), Products.Complete());
        var body = await response.ReadAs<ProductRegistrationCreated>(HttpStatusCode.Created);
        Assert.Equal(body.Url, response.Headers.Location?.OriginalString);
        Assert.StartsWith($"/api/accounts/{account}/products/", response.Headers.Location?.OriginalString);
    }

    [Theory]
    [InlineData("""{"modelCode":"","serialNumber":"A1"}""", "modelCode")]
    [InlineData("""{"modelCode":"EOS-R5","serialNumber":"   "}""", "serialNumber")]
    [InlineData("""{"modelCode":"EOS-R5","serialNumber":"A1<script>"}""", "serialNumber")]
    [InlineData("""{"modelCode":"EOS-R5","purchaseDate":"2999-01-01"}""", "purchaseDate")]
    [InlineData("""{"modelCode":"EOS-R5","purchaseDate":"1900-01-01"}""", "purchaseDate")]
    [InlineData("""{"modelCode":"EOS-R5","countryOfPurchase":"XX"}""", "countryOfPurchase")]
    [InlineData("""{"modelCode":"EOS-R5","countryOfPurchase":"ee"}""", "countryOfPurchase")]
    [InlineData("""{"modelCode":"EOS-R5","dealer":"  "}""", "dealer")]
    [InlineData("""{"modelCode":"EOS-R5","dealer":"Photopoint","bestGuesses":["serial_number"]}""", "bestGuesses")]
    [InlineData("""{"modelCode":"EOS-R5","dealer":"Photopoint","bestGuesses":["dealer","dealer"]}""", "bestGuesses")]
    [InlineData("""{"modelCode":"NO-SUCH-MODEL","dealer":"Photopoint"}""", "modelCode")]
    public async Task Invalid_registrations_are_400_with_the_field_and_write_nothing(string json, string field)
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var response = await App.Member(account).PostRaw(Products.ProductsUrl(account), json);
        var problem = await response.ReadProblem(HttpStatusCode.BadRequest);
        Assert.True(problem.Errors.ContainsKey(field), string.Join(", ", problem.Errors.Keys));
        await AssertNoRegistrations();
    }

    [Fact]
    public async Task A_serial_that_is_too_long_is_rejected()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var response = await App.Member(account).PostJson(Products.ProductsUrl(account), Products.Complete(serial: new string('A', 65)));
        await response.ShouldBeProblem(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_withdrawn_model_cannot_be_registered_and_the_message_says_so()
    {
        await App.ListModel();
        await App.WithdrawModel(Products.R5);
        var account = await App.OpenAccount();
        var problem = await App.Member(account).PostJson(Products.ProductsUrl(account), Products.Complete()).ReadProblem(HttpStatusCode.BadRequest);
        Assert.Contains("withdrawn", problem.Errors["modelCode"][0]);
        await AssertNoRegistrations();
    }

    [Fact]
    public async Task Unknown_account_is_404_for_support()
    {
        await App.ListModel();
        var response = await App.ClientAs(LedgerRoles.Support).PostJson(Products.ProductsUrl(Guid.NewGuid()), Products.Complete());
        await response.ShouldBeProblem(HttpStatusCode.NotFound);
        await AssertNoRegistrations();
    }

    [Fact]
    public async Task A_member_cannot_register_on_another_account_and_an_auditor_cannot_register_at_all()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var other = await App.OpenAccount("other@example.ee");

        await (await App.Member(other).PostJson(Products.ProductsUrl(account), Products.Complete())).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await App.ClientAs(LedgerRoles.Auditor).PostJson(Products.ProductsUrl(account), Products.Complete()))
            .ShouldBe(HttpStatusCode.Forbidden);
        await (await App.Anonymous().PostJson(Products.ProductsUrl(account), Products.Complete())).ShouldBe(HttpStatusCode.Unauthorized);
        await AssertNoRegistrations();

        // Support (saying why: SupportChangesToRegistrationsTests) and the portal may register on the member's behalf.
        await App.ClientAs(LedgerRoles.Support).Register(account, Products.BySupport(Products.Complete("S-1")));
        await App.ClientAs(LedgerRoles.Portal).Register(account, Products.Complete("S-2"));
    }

    [Fact]
    public async Task Reading_products_is_scoped_to_the_account()
    {
        await App.ListModel();
        var account = await App.OpenAccount();
        var other = await App.OpenAccount("other@example.ee");
        var registered = await App.Member(account).Register(account, Products.Complete());
        var url = registered.Url;

        await (await App.Member(other).GetAsync(url)).ShouldBeProblem(HttpStatusCode.Forbidden);
        await (await App.Member(other).GetAsync($"/api/accounts/{other}/products/{registered.RegistrationId}"))
            .ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.ClientAs(LedgerRoles.Auditor).GetAsync(url)).ShouldBe(HttpStatusCode.OK);
        await (await App.ClientAs(LedgerRoles.Support).GetAsync($"/api/accounts/{Guid.NewGuid()}/summary")).ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.ClientAs(LedgerRoles.Support).GetAsync($"/api/accounts/{Guid.NewGuid()}/points-explanation"))
            .ShouldBeProblem(HttpStatusCode.NotFound);
        await (await App.ClientAs(LedgerRoles.Support).GetAsync(Products.ProductsUrl(Guid.NewGuid()))).ShouldBeProblem(HttpStatusCode.NotFound);
    }

    private async Task AssertNoRegistrations()
    {
        await using var session = App.Store.QuerySession();
        Assert.Equal(0, await session.Query<CpsLedger.Api.Products.ProductView>().CountAsync());
        var events = await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName == "product_registered").CountAsync();
        Assert.Equal(0, events);
    }
}
