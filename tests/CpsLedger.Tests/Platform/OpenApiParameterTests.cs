using System.Net;
using System.Text.Json;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Marten;
using Microsoft.Extensions.DependencyInjection;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// A portal developer reads a parameter in Scalar or in the generated client's doc comment, not in docs/*.md: every parameter says
/// what it does, and one that takes a closed set of names lists them, from the same source the endpoint checks a value against.
/// </summary>
public sealed class OpenApiParameterTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task every_parameter_of_every_operation_says_what_it_does()
    {
        var contract = await App.Contract();
        var undescribed = Parameters(contract)
            .Where(p => !(p.Parameter.TryGetProperty("description", out var d) && !string.IsNullOrWhiteSpace(d.GetString())))
            .Select(p => $"{p.Operation} {p.Parameter.GetProperty("in").GetString()} {p.Parameter.GetProperty("name").GetString()}")
            .ToList();
        Assert.True(undescribed.Count == 0, "Without a description: " + string.Join(", ", undescribed));
    }

    [Fact]
    public async Task a_write_offers_an_idempotency_key_and_a_preview_which_ignores_one_does_not()
    {
        var contract = await App.Contract();
        var offering = Parameters(contract)
            .Where(p => p.Parameter.GetProperty("name").GetString() == "Idempotency-Key")
            .Select(p => $"{p.Operation.Method} {p.Operation.Path}")
            .ToHashSet();
        var writes = contract.Operations.Where(o => o.Method is "POST" or "PUT" or "DELETE").ToList();
        var previews = writes.Where(o => o.Path.EndsWith("/preview", StringComparison.Ordinal)).ToList();

        Assert.Equal(4, previews.Count);
        Assert.All(previews, o => Assert.DoesNotContain($"{o.Method} {o.Path}", offering));
        Assert.All(previews, o => Assert.False(o.Element.GetProperty("responses").TryGetProperty("422", out _), $"{o} lists a 422"));
        Assert.All(writes.Except(previews), o => Assert.Contains($"{o.Method} {o.Path}", offering));
    }

    [Fact]
    public async Task a_query_parameter_that_takes_one_of_a_closed_set_lists_the_names_its_endpoint_checks()
    {
        var contract = await App.Contract();
        Assert.Equal(LedgerJson.NamesOf(typeof(InvoiceListStatus)), Listed(contract, "/api/invoices", "status"));
        Assert.Equal(LedgerJson.NamesOf(typeof(PaymentMethod)), Listed(contract, "/api/invoices", "method"));
        Assert.Equal(CatalogueCategories.All.Select(c => c.Code), Listed(contract, "/api/catalogue/models", "category"));
    }

    [Fact]
    public async Task a_closed_set_of_names_is_a_named_schema_so_a_generated_client_names_its_type_after_it()
    {
        // An inline enum is named by the client generator after the parameter ("Category"); a component after what it is.
        var contract = await App.Contract();
        var inline = Parameters(contract)
            .Where(p => p.Parameter.GetProperty("schema").TryGetProperty("enum", out _))
            .Select(p => $"{p.Operation} {p.Parameter.GetProperty("name").GetString()}")
            .ToList();
        Assert.True(inline.Count == 0, "An enum written inline: " + string.Join(", ", inline));
        var category = Parameters(contract).Single(p => p.Operation.Path == "/api/catalogue/models"
                                                        && p.Parameter.GetProperty("name").GetString() == "category").Parameter;
        Assert.Equal("#/components/schemas/CatalogueCategoryCode", category.GetProperty("schema").GetProperty("$ref").GetString());
    }

    [Fact]
    public async Task a_body_member_holding_a_category_code_refers_to_the_same_schema_as_the_catalogue_s_filter()
    {
        // Every code a model or a product carries was checked against the set on the way in (the catalogue file's reader): the
        // answers hold the same values the filter takes, and a generated client reads one type for both.
        var contract = await App.Contract();
        var members = contract.Document.GetProperty("components").GetProperty("schemas").EnumerateObject()
            .Where(s => s.Value.TryGetProperty("properties", out var properties) && properties.TryGetProperty("category", out _))
            .ToDictionary(s => s.Name, s => s.Value.GetProperty("properties").GetProperty("category"));

        Assert.Equal(["CatalogueCategorySummary", "CatalogueModel", "PointsLine", "ProductModelView", "ProductView", "VatTreatment"],
            members.Keys.Order(StringComparer.Ordinal));
        // A nullable member (a points line's, null on an adjustment) refers to it inside its oneOf, beside null.
        foreach (var (schema, member) in members.Where(m => m.Key != "VatTreatment"))
        {
            var referred = member.TryGetProperty("oneOf", out var oneOf)
                ? oneOf.EnumerateArray().Where(s => s.TryGetProperty("$ref", out _)).Select(s => s.GetProperty("$ref").GetString()).SingleOrDefault()
                : member.TryGetProperty("$ref", out var reference) ? reference.GetString() : null;
            Assert.True(referred == "#/components/schemas/CatalogueCategoryCode", $"{schema}.category: {member}");
        }

        Assert.True(members["PointsLine"].TryGetProperty("oneOf", out var nullable)
                    && nullable.EnumerateArray().Any(s => s.TryGetProperty("type", out var type) && type.GetString() == "null"),
            $"PointsLine.category is null on an adjustment: {members["PointsLine"]}");
    }

    [Fact]
    public async Task the_currency_filter_takes_an_iso_4217_code_in_upper_case_as_its_document_says_and_refuses_anything_else()
    {
        var contract = await App.Contract();
        var currency = Parameters(contract).Single(p => p.Operation.Path == "/api/invoices"
                                                        && p.Parameter.GetProperty("name").GetString() == "currency").Parameter;
        var schema = currency.GetProperty("schema");
        Assert.Equal("^[A-Z]{3}$", schema.GetProperty("pattern").GetString());
        Assert.Equal("EUR", schema.GetProperty("example").GetString());

        var finance = App.ClientAs(LedgerRoles.Finance);
        Assert.Equal(HttpStatusCode.OK, (await finance.GetAsync("/api/invoices?currency=EUR")).StatusCode);
        foreach (var wrong in new[] { "eur", "EURO", "XQQ", "E U" })
        {
            var refused = await finance.GetAsync($"/api/invoices?currency={Uri.EscapeDataString(wrong)}");
            Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, $"currency={wrong}: {(int)refused.StatusCode}");
            var errors = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("errors");
            Assert.Contains("ISO 4217", errors.GetProperty("currency")[0].GetString());
        }
    }

    [Fact]
    public async Task every_name_a_query_parameter_lists_is_taken_and_any_other_is_a_400_naming_the_parameter()
    {
        var contract = await App.Contract();
        var client = Staff();
        var listed = Parameters(contract)
            .Where(p => p.Parameter.GetProperty("in").GetString() == "query" && Enum(contract, p.Parameter) is not null)
            .ToList();
        Assert.NotEmpty(listed);
        foreach (var (operation, parameter) in listed)
        {
            Assert.Equal("GET", operation.Method);
            var name = parameter.GetProperty("name").GetString()!;
            foreach (var value in Enum(contract, parameter)!)
            {
                var taken = await client.GetAsync($"{operation.Path}?{name}={Uri.EscapeDataString(value)}");
                Assert.True(taken.StatusCode == HttpStatusCode.OK, $"{operation} {name}={value}: {(int)taken.StatusCode}");
            }

            var refused = await client.GetAsync($"{operation.Path}?{name}=not_one_of_them");
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            var errors = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("errors");
            Assert.True(errors.TryGetProperty(name, out _), $"{operation} {name}: the 400 names {errors.GetRawText()}");
        }
    }

    [Fact]
    public async Task a_query_parameter_an_endpoint_refuses_the_request_without_is_marked_required_and_no_other()
    {
        // Every GET that needs no path value, called with no query at all: a 400 naming a query parameter is one that is required.
        var contract = await App.Contract();
        var client = Staff();
        var queries = Parameters(contract)
            .Where(p => p.Operation.Method == "GET" && !p.Operation.Path.Contains('{') && p.Parameter.GetProperty("in").GetString() == "query")
            .GroupBy(p => p.Operation.Path);
        var checkedOnes = 0;
        foreach (var operation in queries)
        {
            var bare = await client.GetAsync(operation.Key);
            var named = bare.StatusCode == HttpStatusCode.BadRequest
                && JsonDocument.Parse(await bare.Content.ReadAsStringAsync()).RootElement.TryGetProperty("errors", out var errors)
                ? errors.EnumerateObject().Select(e => e.Name).ToHashSet() : [];
            foreach (var (_, parameter) in operation)
            {
                var name = parameter.GetProperty("name").GetString()!;
                var required = parameter.TryGetProperty("required", out var r) && r.GetBoolean();
                Assert.True(required == named.Contains(name),
                    $"GET {operation.Key} {name}: marked required {required}, left out {(named.Contains(name) ? "a 400 naming it" : $"{(int)bare.StatusCode}")}");
                checkedOnes++;
            }
        }

        Assert.True(checkedOnes > 10, $"Only {checkedOnes} query parameters checked");
        Assert.Contains(Parameters(contract), p => p.Operation.Path == "/api/accounts" && p.Parameter.GetProperty("name").GetString() == "q"
                                                    && p.Parameter.GetProperty("required").GetBoolean());
    }

    [Fact]
    public async Task the_history_types_parameter_says_it_takes_a_comma_separated_list_and_names_every_type_the_endpoint_takes()
    {
        var contract = await App.Contract();
        var types = Parameters(contract).Single(p => p.Operation.Path == "/api/accounts/{accountId}/history"
                                                     && p.Parameter.GetProperty("name").GetString() == "types").Parameter;
        var description = types.TryGetProperty("description", out var said) ? said.GetString() ?? "" : "";
        Assert.Contains("comma", description, StringComparison.OrdinalIgnoreCase);
        var stored = HistoryTypes.Of(App.Services.GetRequiredService<IDocumentStore>()).Values.Distinct().ToList();
        var unnamed = stored.Where(t => !description.Contains(t, StringComparison.Ordinal)).ToList();
        Assert.True(unnamed.Count == 0, "Not named in the description of types: " + string.Join(", ", unnamed));

        // The names as the description lists them, all at once, are what the endpoint filters by.
        var account = await Accounts.Accounts.OpenAccount(App);
        var all = await App.ClientAs(LedgerRoles.Auditor).GetAsync($"/api/accounts/{account}/history?types={string.Join(",", stored)}");
        Assert.Equal(HttpStatusCode.OK, all.StatusCode);
    }

    private HttpClient Staff() => App.ClientWithRoles([.. LedgerRoles.All.Where(r => r != LedgerRoles.Member)], "parameters");

    private static IEnumerable<(Harness.Contract.Operation Operation, JsonElement Parameter)> Parameters(Harness.Contract contract) =>
        contract.Operations.SelectMany(o => (o.Element.TryGetProperty("parameters", out var p) ? p.EnumerateArray() : default)
            .Select(x => (o, Resolve(contract, x))));

    // A parameter shared by every operation (X-Correlation-Id, Idempotency-Key) is a reference to the document's components.
    private static JsonElement Resolve(Harness.Contract contract, JsonElement parameter) =>
        parameter.TryGetProperty("$ref", out var reference)
            ? contract.Document.GetProperty("components").GetProperty("parameters").GetProperty(reference.GetString()!.Split('/')[^1])
            : parameter;

    private static IReadOnlyList<string>? Enum(Harness.Contract contract, JsonElement parameter)
    {
        var schema = parameter.GetProperty("schema");
        if (schema.TryGetProperty("$ref", out var reference))
            schema = contract.Document.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1]);
        return schema.TryGetProperty("enum", out var values) ? [.. values.EnumerateArray().Select(v => v.GetString()!)] : null;
    }

    private static IReadOnlyList<string>? Listed(Harness.Contract contract, string path, string name) =>
        Enum(contract, Parameters(contract).Single(p => p.Operation.Path == path && p.Parameter.GetProperty("name").GetString() == name).Parameter);
}
