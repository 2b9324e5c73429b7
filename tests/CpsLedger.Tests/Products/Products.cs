using System.Net;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Products;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Products;

/// <summary>Test data for products: catalogue models written as catalogue events, and the registration calls.</summary>
public static class Products
{
    public const string R5 = "EOS-R5";
    public const string Lens = "EF-40-STM";

    public static async Task ListModel(this LedgerApp app, string code = R5, string name = "EOS R5", string category = "camera_body",
        int points = 235)
    {
        await using var session = app.Store.LightweightSession();
        var id = ProductModelCode.StreamIdFor(code);
        session.Events.StartStream<ProductModelView>(id, new ProductModelListed(id, code, name, category, points, DateTimeOffset.UtcNow));
        await session.SaveChangesAsync();
    }

    public static async Task ChangeModelPoints(this LedgerApp app, string code, int points)
    {
        await using var session = app.Store.LightweightSession();
        var id = ProductModelCode.StreamIdFor(code);
        var model = await session.LoadAsync<ProductModelView>(id);
        session.Events.Append(id, new ProductModelPointsChanged(id, code, model!.Points, points, DateTimeOffset.UtcNow));
        await session.SaveChangesAsync();
    }

    public static async Task WithdrawModel(this LedgerApp app, string code)
    {
        await using var session = app.Store.LightweightSession();
        var id = ProductModelCode.StreamIdFor(code);
        session.Events.Append(id, new ProductModelWithdrawn(id, code, DateTimeOffset.UtcNow));
        await session.SaveChangesAsync();
    }

    public static object Complete(string serial = "0123 4567", string model = R5) => new
    {
        modelCode = model,
        serialNumber = serial,
        purchaseDate = "2024-03-01",
        countryOfPurchase = "EE",
        dealer = "Photopoint",
    };

    public static object WithoutDealer(string serial = "0123 4567", string model = R5) => new
    {
        modelCode = model,
        serialNumber = serial,
        purchaseDate = "2024-03-01",
        countryOfPurchase = "EE",
    };

    public static string ProductsUrl(Guid accountId) => $"/api/accounts/{accountId}/products";

    /// <summary>A registration as support sends it for a member: with its reason and the ticket it answers.</summary>
    public static object BySupport(object registration, string reason = "Member called: registering by phone", string ticket = "CPS-SUP-1") =>
        Support.OnBehalf.BySupport(registration, reason, ticket);

    public static async Task<ProductRegistrationStatus> Register(this HttpClient client, Guid accountId, object registration) =>
        (await client.PostJson(ProductsUrl(accountId), registration).ReadAs<ProductRegistrationCreated>(HttpStatusCode.Created)).Registration;

    public static Task<AccountSummary> Summary(this HttpClient client, Guid accountId) =>
        client.GetAsync($"/api/accounts/{accountId}/summary").ReadAs<AccountSummary>();

    public static Task<PointsExplanation> Explanation(this HttpClient client, Guid accountId) =>
        client.GetAsync($"/api/accounts/{accountId}/points-explanation").ReadAs<PointsExplanation>();

    public static HttpClient Member(this LedgerApp app, Guid accountId, string subject = "kadri") =>
        app.ClientAs(LedgerRoles.Member, accountId, subject);
}
