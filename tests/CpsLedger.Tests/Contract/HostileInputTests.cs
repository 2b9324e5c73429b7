using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Products;
using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace CpsLedger.Tests.Contract;

/// <summary>
/// Hostile input derived from the OpenAPI document: for every operation, every path and query parameter and every member of
/// its JSON body, values the document says are wrong (null where not nullable, the wrong type, NUL, control and bidirectional
/// characters, 100,000 characters past a maxLength, numbers past int32 or below a minimum, 1e309, malformed and nil ids, enum
/// numbers, null list items) and values at the edge (years 1 and 9999), plus bodies that are not objects, repeated members,
/// unknown members and the wrong content type. Every answer must be below 500 and, when an error, a problem (the contract
/// check of the client also holds it to the document); a value the document rules out must be refused; and no refused request
/// may have written an event (checked by its correlation id in mt_events). CsCheck draws the values: a fixed seed on CI,
/// a random one locally (printed; set CPSLEDGER_HOSTILE_SEED to replay one).
/// </summary>
public sealed class HostileInputTests(LedgerApp app, ITestOutputHelper output) : LedgerTest(app)
{
    private sealed record Case(string Method, string Url, string? Body, string? ContentType, bool MustRefuse, string What);

    [Fact]
    public async Task no_hostile_request_gets_a_5xx_or_a_non_problem_error_and_none_that_is_refused_writes_an_event()
    {
        var pcg = Seed();
        output.WriteLine($"CsCheck seed: {pcg} (replay with CPSLEDGER_HOSTILE_SEED={pcg})");

        await App.ListModel();
        var account = await Accounts.Accounts.OpenAccount(App);
        var registration = (await App.ClientAs(LedgerRoles.Support).Register(account, Products.Products.BySupport(Products.Products.Complete())))
            .RegistrationId;
        var pathValues = new Dictionary<string, string>
        {
            ["accountId"] = account.ToString(),
            ["registrationId"] = registration.ToString(),
            ["invoiceNumber"] = "INV-2026-000001",
            ["email"] = "old@example.ee",
            ["code"] = Products.Products.R5,
        };

        var contract = await App.Contract();
        var cases = contract.Operations.SelectMany(o => CasesFor(o, contract, pathValues, pcg)).ToList();
        var token = App.Services.GetRequiredService<DevTokenIssuer>()
            .Issue("hostile", LedgerRoles.All.Where(r => r != LedgerRoles.Member));
        var client = App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);

        var refused = new List<string>();
        var failures = new List<string>();
        var number = 0;
        foreach (var c in cases)
        {
            var correlationId = $"hostile-{++number}";
            var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Url);
            request.Headers.Add("X-Correlation-Id", correlationId);
            if (c.Body is not null)
                request.Content = new StringContent(c.Body, Encoding.UTF8, c.ContentType ?? "application/json");
            HttpResponseMessage response;
            try
            {
                response = await client.SendAsync(request);
            }
            catch (ContractViolation violation)
            {
                failures.Add($"{c.What}: {violation.Message}");
                continue;
            }

            var status = (int)response.StatusCode;
            var media = response.Content.Headers.ContentType?.MediaType;
            if (status >= 500)
                failures.Add($"{c.What}: {status}");
            else if (status >= 400 && media != OpenApi.ProblemMediaType)
                failures.Add($"{c.What}: {status} as {media}");
            else if (c.MustRefuse && status < 400)
                failures.Add($"{c.What}: accepted ({status}) a value the document rules out");
            if (status >= 400)
                refused.Add(correlationId);
            if (status == 400 && LibraryWording(await response.Content.ReadAsStringAsync()) is { } wording)
                failures.Add($"{c.What}: a message in the validation library's words: {wording}");
        }

        output.WriteLine($"{cases.Count} hostile requests to {contract.Operations.Count} operations; {refused.Count} refused.");
        Assert.True(failures.Count == 0, $"Seed {pcg}:\n" + string.Join("\n", failures.Take(40)));
        Assert.Equal(0, await EventsWritten(refused));
    }

    // FluentValidation's default messages begin with the property's name in quotes ("'company Name' must not be empty.").
    private static string? LibraryWording(string problem) =>
        JsonDocument.Parse(problem).RootElement.TryGetProperty("errors", out var errors)
            ? errors.EnumerateObject().SelectMany(e => e.Value.EnumerateArray()).Select(m => m.GetString()!)
                .FirstOrDefault(m => m.StartsWith('\''))
            : null;

    private static PCG Seed()
    {
        if (Environment.GetEnvironmentVariable("CPSLEDGER_HOSTILE_SEED") is { Length: > 0 } replay)
            return PCG.Parse(replay);
        return string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? new PCG(15, 20_251_202)
            : new PCG((uint)Random.Shared.Next(), (ulong)Random.Shared.NextInt64());
    }

    private async Task<long> EventsWritten(IReadOnlyList<string> correlationIds)
    {
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand(
            $"select count(*) from {App.SchemaName}.mt_events where correlation_id = any($1)", connection)
        {
            Parameters = { new Npgsql.NpgsqlParameter { Value = correlationIds.ToArray() } },
        };
        return (long)(await count.ExecuteScalarAsync())!;
    }

    private static T Draw<T>(Gen<T> gen, PCG pcg) => gen.Generate(pcg, null, out _);

    // Text with a character no field accepts, somewhere in it.
    private static readonly Gen<char> Refused = Gen.OneOf('\u0000', '\u0001', '\u0007', '\u001B', '\u007F', '\u0085', '\u202E', '\u2066', '\uFFFF');

    private static string Unprintable(PCG pcg) => "Valgus".Insert(Draw(Gen.Int[0, 6], pcg), Draw(Refused, pcg).ToString());

    // A NUL in the path never reaches the service: the server refuses the request line itself (the test server throws).
    private static string UnprintableInPath(PCG pcg)
    {
        var text = Unprintable(pcg);
        return text.Contains('\u0000') ? text.Replace('\u0000', '\u0001') : text;
    }

    private static IEnumerable<Case> CasesFor(Harness.Contract.Operation operation, Harness.Contract contract, IReadOnlyDictionary<string, string> pathValues,
        PCG pcg)
    {
        var parameters = (operation.Element.TryGetProperty("parameters", out var p) ? p.EnumerateArray() : default)
            .Where(x => x.TryGetProperty("in", out _)).ToList();
        string Url(string? replaceParameter = null, string? with = null, string query = "")
        {
            var path = operation.Path;
            foreach (var (name, value) in pathValues)
                path = path.Replace($"{{{name}}}", Uri.EscapeDataString(name == replaceParameter ? with! : value));
            return path + query;
        }

        var command = operation.Method is "POST" or "PUT" or "PATCH" or "DELETE";
        var jsonBody = operation.Element.TryGetProperty("requestBody", out var requestBody)
                       && requestBody.GetProperty("content").TryGetProperty("application/json", out var media)
            ? media
            : (JsonElement?)null;
        var baseline = jsonBody is { } m && m.TryGetProperty("example", out var example) ? example.GetRawText() : "{}";
        string? Body() => jsonBody is null ? null : baseline;

        // Path parameters: malformed and nil ids, unprintable text.
        foreach (var parameter in parameters.Where(x => x.GetProperty("in").GetString() == "path"))
        {
            var name = parameter.GetProperty("name").GetString()!;
            var uuid = parameter.GetProperty("schema").TryGetProperty("format", out var f) && f.GetString() == "uuid";
            foreach (var value in uuid ? new[] { "not-a-uuid", Guid.Empty.ToString(), UnprintableInPath(pcg) } : [UnprintableInPath(pcg)])
                yield return new Case(operation.Method, Url(name, value), Body(), null, true, $"{operation} path {name}={Escape(value)}");
        }

        // Query parameters: the wrong type, unprintable text, numbers out of range, edge dates, a name it does not have, twice.
        foreach (var parameter in parameters.Where(x => x.GetProperty("in").GetString() == "query"))
        {
            var name = parameter.GetProperty("name").GetString()!;
            var schema = parameter.GetProperty("schema");
            foreach (var (value, refuse) in QueryValues(schema, pcg))
                yield return new Case(operation.Method, Url(query: $"?{name}={Uri.EscapeDataString(value)}"), Body(), null, refuse,
                    $"{operation} query {name}={Escape(value)}");
            yield return new Case(operation.Method, Url(query: $"?{name}=1&{name}=2"), Body(), null, true, $"{operation} query {name} twice");
        }

        yield return new Case(operation.Method, Url(query: "?notAParameter=1"), Body(), null, true, $"{operation} unknown query parameter");

        if (!command)
            yield break;

        if (jsonBody is null)
        {
            yield return new Case(operation.Method, Url(), "\u0000garbage", "application/x-garbage", operation.Element.TryGetProperty("requestBody", out _),
                $"{operation} body of an unknown media type");
            yield break;
        }

        // The body as a whole.
        foreach (var body in new[] { "null", "[]", "\"text\"", "42", "", "{", "{\"a\":" + new string('[', 100) })
            yield return new Case(operation.Method, Url(), body, null, true, $"{operation} body {Escape(body)}");
        yield return new Case(operation.Method, Url(), baseline, "text/plain", true, $"{operation} body as text/plain");
        yield return new Case(operation.Method, Url(), With(baseline, "notAField", JsonValue.Create(1)), null, true, $"{operation} unknown member");

        var bodySchema = Resolve(contract, jsonBody.Value.GetProperty("schema"));
        if (!bodySchema.TryGetProperty("properties", out var properties))
            yield break;
        var first = properties.EnumerateObject().First().Name;
        yield return new Case(operation.Method, Url(), baseline.TrimEnd('}') + (baseline.Trim() == "{}" ? "" : ",") + $"\"{first}\":1,\"{first}\":2}}",
            null, true, $"{operation} {first} twice");
        // A member in another letter case is not that member (the schemas' additionalProperties: false).
        var recased = JsonNode.Parse(baseline) as JsonObject ?? [];
        recased.TryGetPropertyValue(first, out var kept);
        recased.Remove(first);
        recased[char.ToUpperInvariant(first[0]) + first[1..]] = kept ?? JsonValue.Create(1);
        yield return new Case(operation.Method, Url(), recased.ToJsonString(), null, true, $"{operation} {first} in another letter case");

        // Every member: what the document rules out, drawn by CsCheck.
        foreach (var property in properties.EnumerateObject())
        {
            foreach (var (value, what) in MemberValues(contract, property.Value, pcg))
                yield return new Case(operation.Method, Url(), With(baseline, property.Name, value), null, true,
                    $"{operation} {property.Name} = {what}");
        }
    }

    private static IEnumerable<(string Value, bool Refuse)> QueryValues(JsonElement schema, PCG pcg)
    {
        var types = Types(schema);
        var format = schema.TryGetProperty("format", out var f) ? f.GetString() : null;
        yield return (Unprintable(pcg), true);
        yield return (new string('x', 100_000), schema.TryGetProperty("maxLength", out _) || !types.Contains("string"));
        if (types.Contains("integer"))
        {
            yield return ("abc", true);
            yield return ("1e309", true);
            yield return (Draw(Gen.OneOf("99999999999999999999", "-99999999999999999999"), pcg), true);
            if (schema.TryGetProperty("minimum", out var min))
                yield return ((min.GetDecimal() - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), true);
            if (schema.TryGetProperty("maximum", out var max))
                yield return ((max.GetDecimal() + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), true);
        }

        if (types.Contains("boolean"))
            yield return ("maybe", true);
        if (format == "uuid")
        {
            yield return ("not-a-uuid", true);
            yield return (Guid.Empty.ToString(), true);
        }

        if (format == "date-time")
        {
            yield return ("yesterday", true);
            yield return (Draw(Gen.OneOf("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"), pcg), false);
        }
    }

    private static IEnumerable<(JsonNode? Value, string What)> MemberValues(Harness.Contract contract, JsonElement schema, PCG pcg)
    {
        var resolved = Resolve(contract, schema);
        var types = Types(resolved);
        var format = resolved.TryGetProperty("format", out var f) ? f.GetString() : null;
        var isEnum = resolved.TryGetProperty("enum", out _);
        if (!types.Contains("null"))
            yield return (null, "null");
        if (types.Contains("string"))
        {
            yield return (JsonValue.Create(12345), "a number");
            var text = Unprintable(pcg);
            yield return (JsonValue.Create(text), Escape(text));
            if (resolved.TryGetProperty("maxLength", out var max))
                yield return (JsonValue.Create(new string('x', Math.Max(max.GetInt32() + 1, 100_000))), "100,000 characters");
            if (format == "uuid")
            {
                yield return (JsonValue.Create("not-a-uuid"), "a malformed id");
                yield return (JsonValue.Create(Guid.Empty.ToString()), "the nil id");
            }

            if (format == "date")
                yield return (JsonValue.Create(Draw(Gen.OneOf("01.03.2024", "2024-13-01", "yesterday"), pcg)), "a malformed date");
            if (isEnum)
            {
                yield return (JsonValue.Create(0), "an enum number");
                yield return (JsonValue.Create("no_such_value"), "an unknown name");
            }
        }

        if (types.Contains("integer") || types.Contains("number"))
        {
            yield return (JsonValue.Create("42"), "a number as text");
            yield return (JsonNode.Parse("1e309"), "1e309");
            if (types.Contains("integer"))
            {
                yield return (JsonNode.Parse(Draw(Gen.OneOf("1e20", "-1e20", "2147483648"), pcg)), "past int32");
                yield return (JsonValue.Create(1.5), "a fraction");
            }

            if (resolved.TryGetProperty("minimum", out var min))
                yield return (JsonValue.Create(min.GetDecimal() - 1), "below the minimum");
            if (resolved.TryGetProperty("maximum", out var maxValue))
                yield return (JsonValue.Create(maxValue.GetDecimal() + 1), "above the maximum");
        }

        if (types.Contains("boolean"))
            yield return (JsonValue.Create("yes"), "a boolean as text");
        if (types.Contains("array"))
        {
            yield return (new JsonObject { ["a"] = 1 }, "an object for a list");
            yield return (new JsonArray((JsonNode?)null), "a null item");
        }

        if (types.Contains("object") || resolved.TryGetProperty("properties", out _))
            yield return (JsonValue.Create("text"), "text for an object");
    }

    private static JsonElement Resolve(Harness.Contract contract, JsonElement schema)
    {
        while (schema.TryGetProperty("$ref", out var reference))
        {
            var name = reference.GetString()!.Split('/').Last();
            schema = contract.Document.GetProperty("components").GetProperty("schemas").GetProperty(name);
        }

        return schema;
    }

    private static HashSet<string> Types(JsonElement schema) => !schema.TryGetProperty("type", out var type)
        ? []
        : type.ValueKind == JsonValueKind.Array
            ? [.. type.EnumerateArray().Select(t => t.GetString()!)]
            : [type.GetString()!];

    private static string With(string baseline, string member, JsonNode? value)
    {
        var body = JsonNode.Parse(baseline) as JsonObject ?? [];
        body[member] = value;
        return body.ToJsonString();
    }

    private static string Escape(string value) =>
        value.Length > 40 ? $"({value.Length} characters)" : JsonSerializer.Serialize(value);
}
