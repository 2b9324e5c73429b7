using System.Text.Json.Nodes;
using CpsLedger.Api.Platform;
using Marten;
using Marten.Exceptions;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Wolverine.Http;

namespace CpsLedger.Api.Catalogue;

/// <summary>What an import did, model by model. A model with both its points and its description changed counts in both.</summary>
/// <param name="Models">Rows in the file (one per model).</param>
/// <param name="Listed">New models listed (including models new to the catalogue that the file lists as withdrawn).</param>
/// <param name="Relisted">Withdrawn models listed again.</param>
/// <param name="PointsChanged">Models whose points value changed.</param>
/// <param name="DescriptionChanged">Models whose name or category changed.</param>
/// <param name="Withdrawn">Models withdrawn.</param>
/// <param name="Unchanged">Models the file left as they were.</param>
public sealed record CatalogueImportResult(
    int Models,
    int Listed,
    int Relisted,
    int PointsChanged,
    int DescriptionChanged,
    int Withdrawn,
    int Unchanged);

/// <summary>The events one model gets from an import; <paramref name="Current"/> is null for a model new to the catalogue.</summary>
public sealed record ModelChanges(Guid ModelId, string Code, ProductModelView? Current, IReadOnlyList<object> Events);

public sealed record CatalogueImportPlan(IReadOnlyList<ModelChanges> Changes, CatalogueImportResult Result);

/// <summary>Either the result of an import, or why the file was refused (and then nothing was imported).</summary>
public sealed record CatalogueImportOutcome(CatalogueImportResult? Result, IReadOnlyDictionary<string, string[]> Problems)
{
    public bool Rejected => Result is null;
}

public static class CatalogueImport
{
    public const string RejectedTitle = "Catalogue file rejected: nothing was imported";

    /// <summary>
    /// The decision: the events that bring each model in the file to the state the file gives for it. An import adds
    /// and updates; models absent from the file are left alone (withdrawing one takes a row with status withdrawn).
    /// Importing the same file again decides nothing.
    /// </summary>
    public static CatalogueImportPlan Decide(IReadOnlyList<CatalogueEntry> entries, IEnumerable<ProductModelView> current, DateTimeOffset now)
    {
        var known = current.ToDictionary(m => m.Id);
        var changes = new List<ModelChanges>();
        int listed = 0, relisted = 0, pointsChanged = 0, descriptionChanged = 0, withdrawn = 0, unchanged = 0;

        foreach (var entry in entries)
        {
            var id = ProductModelCode.StreamIdFor(entry.Code);
            var model = known.GetValueOrDefault(id);
            var events = new List<object>();
            var withdraw = entry.Status == CatalogueEntryStatus.Withdrawn;

            if (model is null)
            {
                // A model new to the catalogue. Listed as withdrawn, it is on record (with its points value, e.g. for
                // products migrated from the old programme) but cannot be registered.
                events.Add(new ProductModelListed(id, entry.Code, entry.Name, entry.Category, entry.Points, now));
                listed++;
            }
            else if (model.Withdrawn && !withdraw)
            {
                // Listing again carries the name, category and points in force from now on.
                events.Add(new ProductModelListed(id, entry.Code, entry.Name, entry.Category, entry.Points, now));
                relisted++;
            }
            else
            {
                // Also for a withdrawn model: the value it has on record is the one a registration made before the
                // withdrawal earns when its details are completed.
                if (model.Points != entry.Points)
                {
                    events.Add(new ProductModelPointsChanged(id, entry.Code, model.Points, entry.Points, now));
                    pointsChanged++;
                }

                if (model.Name != entry.Name || model.Category != entry.Category)
                {
                    events.Add(new ProductModelDescriptionChanged(id, entry.Code, entry.Name, entry.Category, now));
                    descriptionChanged++;
                }
            }

            if (withdraw && model is not { Withdrawn: true })
            {
                events.Add(new ProductModelWithdrawn(id, entry.Code, now));
                withdrawn++;
            }

            if (events.Count == 0)
                unchanged++;
            else
                changes.Add(new ModelChanges(id, entry.Code, model, events));
        }

        return new CatalogueImportPlan(changes,
            new CatalogueImportResult(entries.Count, listed, relisted, pointsChanged, descriptionChanged, withdrawn, unchanged));
    }
}

/// <summary>
/// Applies a catalogue file: the one path the API, the <c>catalogue-import</c> command and the demo loader share.
/// </summary>
public sealed class CatalogueImporter(TimeProvider clock, ILogger<CatalogueImporter> logger)
{
    /// <summary>
    /// Reads the current state of the file's models, decides, and appends the events to <paramref name="session"/>
    /// without saving: the caller commits them, all in one transaction. Each model's events expect the stream version
    /// that was read, so a concurrent change to one of them makes the whole commit fail (a conflict) instead of deciding
    /// on stale values; two imports listing one new code collide on its stream id.
    /// </summary>
    public async Task<CatalogueImportOutcome> StageAsync(IDocumentSession session, CatalogueFileReading file, CancellationToken ct)
    {
        if (!file.Accepted)
        {
            logger.LogInformation("Catalogue file rejected: {Problems} locations with problems", file.Problems.Count);
            return new CatalogueImportOutcome(null, file.Problems);
        }

        var ids = file.Entries.Select(e => ProductModelCode.StreamIdFor(e.Code)).ToArray();
        var current = await session.LoadManyAsync<ProductModelView>(ct, ids);
        var plan = CatalogueImport.Decide(file.Entries, current, clock.GetUtcNow());

        // The version read is the catalogue version: it counts the model's events. In the models' order, not the file's: Marten
        // writes the streams in the order given, each locking the model's stream (its row, its next version) and its hash chain
        // until the commit, so two imports changing the same models in opposite orders deadlocked. In one order, one waits for
        // the other and then fails its version check, as any concurrent change does (ARCHITECTURE.md, "Lock order across accounts").
        foreach (var change in plan.Changes.OrderBy(c => c.ModelId))
        {
            if (change.Current is null)
                session.Events.StartStream<ProductModelView>(change.ModelId, [.. change.Events]);
            else
                session.Events.Append(change.ModelId, change.Current.CatalogueVersion + change.Events.Count, [.. change.Events]);
        }

        logger.LogInformation("Catalogue import: {@Result}", plan.Result);
        return new CatalogueImportOutcome(plan.Result, new Dictionary<string, string[]>());
    }

    /// <summary>Reads, decides and commits in a session of its own (the command line and the demo loader).</summary>
    public async Task<CatalogueImportOutcome> ImportAsync(IDocumentStore store, CatalogueFileReading file, string user, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        // An operator's command, recorded with the operator's role; the demo loader is the ledger itself (system:...), with none.
        if (user.StartsWith(SystemActor.Prefix, StringComparison.Ordinal))
            session.LastModifiedBy = user;
        else
            ActorRoles.StampOperator(session, user);
        session.CorrelationId = Guid.NewGuid().ToString();
        var outcome = await StageAsync(session, file, ct);
        if (!outcome.Rejected)
            await session.SaveChangesAsync(ct);
        return outcome;
    }
}

public static class ImportCatalogueEndpoint
{
    public const string CsvExample = "code,name,category,points,status\nEOS-R5,EOS R5,camera_body,340,listed\nEF-40-STM,\"EF 40mm f/2.8 STM\",lens,15,\n";

    public const string JsonExample =
        """[{"code":"EOS-R5","name":"EOS R5","category":"camera_body","points":340,"status":"listed"},{"code":"EF-40-STM","name":"EF 40mm f/2.8 STM","category":"lens","points":15}]""";

    public const string OperationId = "ImportCatalogue";

    // No [Consumes]: routing would refuse another Content-Type with a bare 415 before this endpoint could say what to send.
    [WolverinePost("/api/catalogue/imports", OperationId = OperationId)]
    [Authorize(Roles = LedgerRoles.Support)]
    [EndpointSummary("Import a catalogue file (CSV or JSON): list, change and withdraw product models, all or nothing")]
    [ProducesResponseType<CatalogueImportResult>(StatusCodes.Status200OK)]
    [ProducesResponseType<HttpValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType(StatusCodes.Status409Conflict)]
    [ProducesResponseType(StatusCodes.Status415UnsupportedMediaType)]
    public static async Task<IResult> Post(HttpRequest request, IDocumentSession session, CatalogueImporter importer, CancellationToken ct)
    {
        if (CatalogueFile.FormatOfContentType(request.ContentType) is not { } format)
        {
            return Results.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported catalogue file type",
                detail: "Send the catalogue file as the request body with Content-Type text/csv or application/json.");
        }

        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body, ct);
        var outcome = await importer.StageAsync(session, CatalogueFile.Read(body.ToArray(), format), ct);

        // Committed by Wolverine's transaction around this endpoint; a rejected file staged nothing.
        return outcome.Result is { } result
            ? Results.Ok(result)
            : Results.ValidationProblem(outcome.Problems, title: CatalogueImport.RejectedTitle,
                detail: $"{Describe(outcome.Problems)} Correct the file and import it again.");
    }

    // Another import listed one of this file's new codes first (a version conflict on an existing model is a
    // ConcurrencyException, which the platform already answers with 409). Nothing of this import was stored.
    public static ProblemDetails OnException(ExistingStreamIdCollisionException _) => Problems.Conflict(
        "Concurrent catalogue change",
        "Another import changed the catalogue while this file was being imported; nothing of it was imported. Import the file again.");

    private static string Describe(IReadOnlyDictionary<string, string[]> problems)
    {
        if (problems.ContainsKey(CatalogueFile.WholeFile))
            return "The file cannot be read as a catalogue.";
        var unit = problems.Keys.First().Split(' ')[0];
        return $"Problems on {problems.Count} {unit}{(problems.Count == 1 ? "" : "s")} of the file (all listed under errors).";
    }
}

/// <summary>
/// Documents the import's request body, which the endpoint reads raw (so the OpenAPI document would otherwise show none):
/// a CSV file or a JSON array, with an example of each for the interactive docs.
/// </summary>
internal sealed class ImportCatalogueRequestBody : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.OperationId != ImportCatalogueEndpoint.OperationId)
            return Task.CompletedTask;

        var text = new OpenApiSchema { Type = JsonSchemaType.String };
        var model = new OpenApiSchema
        {
            Type = JsonSchemaType.Object,
            Required = new HashSet<string> { "code", "name", "category", "points" },
            Properties = new Dictionary<string, IOpenApiSchema>
            {
                ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = CatalogueFile.MaxCodeLength },
                ["name"] = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = CatalogueFile.MaxNameLength },
                ["category"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.String,
                    Enum = [.. CatalogueCategories.All.Select(c => (JsonNode)JsonValue.Create(c.Code))],
                },
                ["points"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "0", Maximum = $"{CatalogueFile.MaxPoints}" },
                ["status"] = new OpenApiSchema { Type = JsonSchemaType.String | JsonSchemaType.Null, Enum = [JsonValue.Create("listed"), JsonValue.Create("withdrawn")] },
            },
        };
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = $"The catalogue file, at most {CatalogueFile.MaxModels} models: CSV (UTF-8, header row code,name,category,points[,status]; " +
                          "lines starting with # are comments) or a JSON array of models.",
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["text/csv"] = new() { Schema = text, Example = JsonValue.Create(ImportCatalogueEndpoint.CsvExample) },
                ["application/json"] = new()
                {
                    Schema = new OpenApiSchema { Type = JsonSchemaType.Array, Items = model },
                    Example = JsonNode.Parse(ImportCatalogueEndpoint.JsonExample),
                },
            },
        };
        return Task.CompletedTask;
    }
}
