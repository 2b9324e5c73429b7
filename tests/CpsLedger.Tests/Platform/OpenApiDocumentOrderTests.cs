using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Microsoft.OpenApi;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// The committed contract is compared to the letter, so its order must not follow the order Wolverine happens to discover endpoints
/// in (it changed with unrelated edits: GET and PUT of /api/tiers swapped twice in one day).
/// </summary>
public sealed class OpenApiDocumentOrderTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public void A_document_is_ordered_by_journey_tag_path_method_and_schema_name_whatever_order_it_was_built_in()
    {
        var document = new OpenApiDocument { Paths = [], Components = new OpenApiComponents { Schemas = new Dictionary<string, IOpenApiSchema>() } };
        PathItem(document, "/api/tiers", "Tiers", HttpMethod.Put, HttpMethod.Get);
        PathItem(document, "/api/accounts/{accountId}", "Accounts", HttpMethod.Get);
        PathItem(document, "/api/unlisted", "Unlisted", HttpMethod.Delete, HttpMethod.Post, HttpMethod.Get);
        PathItem(document, "/api/accounts", "Accounts", HttpMethod.Post, HttpMethod.Get);
        document.Tags = new HashSet<OpenApiTag> { new() { Name = "Unlisted" }, new() { Name = "Tiers" }, new() { Name = "Accounts" } };
        document.Components.Schemas!["Zeta"] = new OpenApiSchema();
        document.Components.Schemas["Alpha"] = new OpenApiSchema();

        OpenApi.DocumentOrder.Apply(document);

        Assert.Equal(["/api/accounts", "/api/accounts/{accountId}", "/api/tiers", "/api/unlisted"], document.Paths.Keys);
        Assert.Equal([HttpMethod.Get, HttpMethod.Post], document.Paths["/api/accounts"].Operations!.Keys);
        Assert.Equal([HttpMethod.Get, HttpMethod.Put], document.Paths["/api/tiers"].Operations!.Keys);
        Assert.Equal([HttpMethod.Get, HttpMethod.Post, HttpMethod.Delete], document.Paths["/api/unlisted"].Operations!.Keys);
        Assert.Equal(["Accounts", "Tiers", "Unlisted"], document.Tags!.Select(t => t.Name));
        Assert.Equal(["Alpha", "Zeta"], document.Components.Schemas.Keys);
    }

    [Fact]
    public async Task Every_tag_the_service_serves_has_its_place_in_the_journey()
    {
        // A new tag would otherwise go last by name, wherever a reader would look for it: give it a place in DocumentOrder.Journey.
        var contract = await App.Contract();
        var tags = contract.Document.GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToList();
        Assert.Empty(tags.Except(OpenApi.DocumentOrder.Journey));
        Assert.Equal(OpenApi.DocumentOrder.Journey.Where(tags.Contains), tags);
    }

    private static void PathItem(OpenApiDocument document, string path, string tag, params HttpMethod[] methods)
    {
        var item = new OpenApiPathItem { Operations = [] };
        foreach (var method in methods)
            item.Operations[method] = new OpenApiOperation { Tags = new HashSet<OpenApiTagReference> { new(tag, document) } };
        document.Paths.Add(path, item);
    }
}
