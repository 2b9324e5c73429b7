using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CpsLedger.Tests.Contract;
using CpsLedger.Tests.Harness;
using Microsoft.Extensions.DependencyInjection;
using Operation = CpsLedger.Tests.Harness.Contract.Operation;

namespace CpsLedger.Tests.Platform;

public sealed class HostTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task health_endpoints_are_public_and_ready_checks_database_and_message_store()
    {
        var client = App.Anonymous();
        await (await client.GetAsync("/health/live")).ShouldBe(HttpStatusCode.OK);

        var ready = await client.GetAsync("/health/ready").ReadAs<HealthReport>();
        Assert.Equal(("Healthy", "Healthy"), (ready.Checks["database"].Status, ready.Checks["message-store"].Status));
    }

    [Fact]
    public async Task the_message_store_check_fails_when_the_message_store_does_not_answer()
    {
        // The inbox table out of reach for a moment (the database itself answers): the check must go to the store, not only
        // to the pool. Wolverine's connectivity check said "answers" with PostgreSQL stopped.
        var inbox = $"{App.SchemaName}.wolverine_incoming_envelopes";
        await Sql($"alter table {inbox} rename to wolverine_incoming_envelopes_away");
        HttpResponseMessage response;
        try
        {
            response = await App.Anonymous().GetAsync("/health/ready");
        }
        finally
        {
            await Sql($"alter table {App.SchemaName}.wolverine_incoming_envelopes_away rename to wolverine_incoming_envelopes");
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var ready = (await response.Content.ReadFromJsonAsync<HealthReport>())!;
        Assert.Equal(("Unhealthy", "Healthy"), (ready.Checks["message-store"].Status, ready.Checks["database"].Status));
    }

    [Fact]
    public async Task the_dead_letter_and_reconciliation_checks_are_degraded_not_unhealthy_when_they_cannot_read()
    {
        // The runbook's table: neither takes a node out, only the database and message-store checks do. With PostgreSQL
        // stopped both said Unhealthy ("Failed to connect") beside them (a walk of docs/operations.md, 2026-12-05). Here the
        // tables they read are out of reach (the dead letters are counted with the inbox), the database itself answers.
        var client = App.Anonymous();
        await client.GetAsync("/health/ready"); // Marten checks a document's table once; afterwards it only queries it
        var inbox = $"{App.SchemaName}.wolverine_incoming_envelopes";
        var reports = $"{App.SchemaName}.mt_doc_reconciliationreport";
        await Sql($"alter table {inbox} rename to wolverine_incoming_envelopes_away; alter table {reports} rename to mt_doc_reconciliationreport_away");
        HttpResponseMessage response;
        try
        {
            response = await client.GetAsync("/health/ready");
        }
        finally
        {
            await Sql($"alter table {App.SchemaName}.wolverine_incoming_envelopes_away rename to wolverine_incoming_envelopes; " +
                      $"alter table {App.SchemaName}.mt_doc_reconciliationreport_away rename to mt_doc_reconciliationreport");
        }

        var ready = (await response.Content.ReadFromJsonAsync<HealthReport>())!;
        Assert.Equal(("Unhealthy", "Healthy", "Degraded", "Degraded"),
            (ready.Checks["message-store"].Status, ready.Checks["database"].Status, ready.Checks["dead-letters"].Status, ready.Checks["reconciliation"].Status));
    }

    private async Task Sql(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task the_openapi_document_is_public_openapi_3_1_and_the_committed_contract()
    {
        var response = await App.Anonymous().GetAsync("/openapi/v1.json");
        var document = await response.ReadAs<OpenApiVersion>();
        Assert.StartsWith("3.1", document.Openapi);
        // docs/openapi.v1.json is what portal teams read, what the generated client is made from and what CI lints.
        Snapshots.MatchFile(await response.Content.ReadAsStringAsync(), OpenApiContract.DocumentPath);
    }

    [Fact]
    public async Task every_schema_and_every_member_of_one_says_what_it_is()
    {
        // The portal is built from the document: a member without a description leaves its developer guessing units, currency,
        // who reads it and when it is null. The ones not yet described are listed in a file that may only shrink: a new member
        // without a description fails, and so does a listed one that has since been described (take it off the list).
        var contract = await App.Contract();
        var undescribed = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var schema in contract.Document.GetProperty("components").GetProperty("schemas").EnumerateObject())
        {
            if (!Described(schema.Value))
                undescribed.Add(schema.Name);
            if (schema.Value.TryGetProperty("properties", out var properties))
            {
                foreach (var property in properties.EnumerateObject().Where(p => !Described(p.Value)))
                    undescribed.Add($"{schema.Name}.{property.Name}");
            }
        }

        var listed = new SortedSet<string>(File.ReadAllLines(Path.Combine(Snapshots.RepositoryRoot(), UndescribedPath))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')), StringComparer.Ordinal);
        Assert.Multiple(
            () => Assert.True(undescribed.IsSubsetOf(listed),
                "Without a description (write one: a <param> or <summary> in the code, or [Description]): " +
                string.Join(", ", undescribed.Except(listed))),
            () => Assert.True(listed.IsSubsetOf(undescribed),
                $"Described now (or gone): take them off {UndescribedPath}: " + string.Join(", ", listed.Except(undescribed))));

        static bool Described(JsonElement schema) =>
            schema.TryGetProperty("description", out var description) && !string.IsNullOrWhiteSpace(description.GetString());
    }

    private const string UndescribedPath = "tests/CpsLedger.Tests/Contract/undescribed-schema-members.txt";

    [Fact]
    public async Task every_member_says_what_it_is_once()
    {
        // A nullable member is a oneOf of null and the member's type: its description stood on the oneOf and again beside the
        // reference inside it, one text in two places for a reader to show twice. It belongs once, on the member's own schema (the
        // test above), which is where Scalar and NSwag's client read it.
        var contract = await App.Contract();
        var twice = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var schema in contract.Document.GetProperty("components").GetProperty("schemas").EnumerateObject())
            Members(schema.Name, schema.Value);
        Assert.True(twice.Count == 0, "Described more than once (on the member and inside its oneOf/anyOf/allOf): " + string.Join(", ", twice));

        void Members(string path, JsonElement schema)
        {
            if (!schema.TryGetProperty("properties", out var properties))
                return;
            foreach (var member in properties.EnumerateObject())
            {
                if (Descriptions(member.Value) > 1)
                    twice.Add($"{path}.{member.Name}");
                Members($"{path}.{member.Name}", member.Value);
            }
        }

        // The schemas that describe the member's value itself: its own and the branches of its composition (not its items).
        static int Descriptions(JsonElement schema) =>
            (schema.TryGetProperty("description", out _) ? 1 : 0)
            + new[] { "oneOf", "anyOf", "allOf" }
                .Sum(k => schema.TryGetProperty(k, out var branches) ? branches.EnumerateArray().Sum(Descriptions) : 0);
    }

    [Fact]
    public async Task a_description_saying_who_reads_what_names_exactly_the_roles_the_routes_returning_it_admit()
    {
        // One description served the history's by and the points lines' by: it told the history's readers what finance and the
        // portal read, and the history admits neither. A description that says who reads what names the roles the routes returning
        // its schema admit, no other and none left out.
        var contract = await App.Contract();
        var schemas = contract.Document.GetProperty("components").GetProperty("schemas");
        var endpoints = App.Services.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints;
        SortedSet<string> Admitted(string schema) => new(contract.Operations
            .Where(o => o.Responses.EnumerateObject().Where(r => r.Name.StartsWith('2')).Any(r => Reaches(r.Value, schema, schemas, [])))
            .SelectMany(o => endpoints.Single(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IEndpointNameMetadata>()?.EndpointName == o.Id)
                .Metadata.GetOrderedMetadata<Microsoft.AspNetCore.Authorization.IAuthorizeData>())
            .SelectMany(a => (a.Roles ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)),
            StringComparer.Ordinal);

        (string Schema, string Member)[] saysWhoReads =
        [
            ("HistoryEntry", "by"), ("PointsLine", "by"), ("CausedBy", "user"), ("HistoryEntry", "reason"), ("PointsLine", "reason"),
            ("MembershipTerm", "endedBecause"),
        ];
        Assert.Multiple([.. saysWhoReads.Select(m => (Action)(() =>
        {
            var admitted = Admitted(m.Schema);
            Assert.True(admitted.Count > 0, $"No route returns {m.Schema}.");
            var description = schemas.GetProperty(m.Schema).GetProperty("properties").GetProperty(m.Member).GetProperty("description").GetString()!;
            Assert.True(admitted.SetEquals(Readers(description)),
                $"{m.Schema}.{m.Member} names as readers {string.Join(", ", Readers(description))}; its routes admit " +
                $"{string.Join(", ", admitted)}: \"{description}\"");
        }))]);

        // The roles a description names as readers: not inside quotes (what is read, e.g. "CPS finance") nor as an owner ("the
        // portal's name").
        static SortedSet<string> Readers(string description)
        {
            var readers = System.Text.RegularExpressions.Regex.Replace(description, "\"[^\"]*\"|\\w+'s\\b", "");
            return new SortedSet<string>(System.Text.RegularExpressions.Regex.Matches(readers, "\\b(member|support|auditor|finance|portal)s?\\b",
                System.Text.RegularExpressions.RegexOptions.IgnoreCase).Select(x => x.Groups[1].Value.ToLowerInvariant()), StringComparer.Ordinal);
        }
    }

    private static bool Reaches(JsonElement node, string schema, JsonElement schemas, HashSet<string> seen)
    {
        switch (node.ValueKind)
        {
            case JsonValueKind.Object:
                if (node.TryGetProperty("$ref", out var reference) && reference.GetString()!.Split('/')[^1] is var name)
                    return name == schema || (seen.Add(name) && schemas.TryGetProperty(name, out var target) && Reaches(target, schema, schemas, seen));
                return node.EnumerateObject().Any(p => Reaches(p.Value, schema, schemas, seen));
            case JsonValueKind.Array:
                return node.EnumerateArray().Any(i => Reaches(i, schema, schemas, seen));
            default:
                return false;
        }
    }

    [Fact]
    public async Task every_operation_that_can_answer_415_documents_the_body_it_takes()
    {
        // A 415 means the operation reads a body of some media types: the document must say which, or a client generated from
        // it cannot send one (the legacy import's generated method had no parameter for its CSV file).
        var contract = await App.Contract();
        var without = contract.Operations
            .Where(o => o.Responses.TryGetProperty("415", out _) && !o.Element.TryGetProperty("requestBody", out _))
            .Select(o => $"{o.Method} {o.Path}");
        Assert.Empty(without);
    }

    [Fact]
    public async Task a_created_body_names_the_new_id_and_value_only_as_a_deprecated_member()
    {
        // Wolverine's CreationResponse<T> calls the new id "value"; a portal reads it by its name. Where "value" was sent before,
        // it stays for existing callers, marked deprecated.
        var contract = await App.Contract();
        var schemas = contract.Document.GetProperty("components").GetProperty("schemas");
        JsonElement Created(Operation operation)
        {
            var schema = operation.Responses.GetProperty("201").GetProperty("content").GetProperty("application/json").GetProperty("schema");
            return schema.TryGetProperty("$ref", out var reference) ? schemas.GetProperty(reference.GetString()!.Split('/')[^1]) : schema;
        }

        var created = contract.Operations.Where(o => o.Responses.TryGetProperty("201", out _)).ToList();
        Assert.NotEmpty(created);
        var undeprecated = created
            .Where(o => Created(o).GetProperty("properties").TryGetProperty("value", out var value)
                        && !(value.TryGetProperty("deprecated", out var deprecated) && deprecated.GetBoolean()))
            .Select(o => o.Id);
        Assert.Empty(undeprecated);

        var account = Created(created.Single(o => o.Id == "OpenBusinessAccount"));
        Assert.Equal("uuid", account.GetProperty("properties").GetProperty("accountId").GetProperty("format").GetString());
        var required = account.GetProperty("required").EnumerateArray().Select(r => r.GetString()).ToList();
        Assert.Contains("accountId", required);
        Assert.Contains("url", required);
    }

    [Fact]
    public async Task the_interactive_docs_page_is_served()
    {
        var response = await App.Anonymous().GetAsync("/scalar");
        var html = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("CpsLedger API", html);
    }

    [Fact]
    public async Task an_unknown_route_is_a_404_problem_for_an_authenticated_caller()
    {
        var response = await App.ClientAs(Api.Platform.LedgerRoles.Support).GetAsync("/api/nothing-here");
        await response.ShouldBeProblem(HttpStatusCode.NotFound);
    }

    // The health and OpenAPI documents are written by ASP.NET Core, not the ledger: just the members these tests read.
    private sealed record HealthReport(string Status, Dictionary<string, HealthCheck> Checks);

    private sealed record HealthCheck(string Status);

    private sealed record OpenApiVersion(string Openapi);
}
