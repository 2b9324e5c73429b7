using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using FluentValidation;
using FluentValidation.Validators;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using Microsoft.OpenApi;
using Wolverine.Http;

namespace CpsLedger.Api.Platform;

/// <summary>
/// The OpenAPI document is the API's contract: it is derived from the endpoints (typed results, the request records, the
/// validators, the gate, the middleware), and the tests hold every response the suite receives against it. What the framework
/// cannot see is added here, once, for every operation: the errors the shared middleware answers with (400 from the gate, 401,
/// 403 from the roles, 409 and 422 from idempotency, 413 and 415 for bodies), one problem schema for all of them, the headers
/// every operation reads or writes, and a schema for every body that is not JSON.
/// </summary>
public static class OpenApi
{
    public const string ProblemSchema = "ProblemDetails";
    public const string ProblemMediaType = "application/problem+json";
    private const string RetryAfterHeader = "Retry-After";

    public static void AddLedgerOpenApi(this IServiceCollection services) =>
        services.AddOpenApi("v1", o =>
        {
            o.OpenApiVersion = OpenApiSpecVersion.OpenApi3_1;
            o.AddSchemaTransformer<SchemaFacts>();
            // Descriptions from the code's XML documentation and [Description] (SchemaDescriptions: why not the built-in generator).
            o.AddSchemaTransformer<SchemaDescriptions>();
            o.AddOperationTransformer<RequestExamples>();
            o.AddOperationTransformer<ParameterFacts>();
            o.AddOperationTransformer<Responses>();
            o.AddDocumentTransformer<LedgerDocument>();
        });

    /// <summary>Puts each endpoint's <see cref="RequestExampleAttribute"/> on its request body.</summary>
    private sealed class RequestExamples : IOpenApiOperationTransformer
    {
        public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
        {
            var example = context.Description.ActionDescriptor.EndpointMetadata.OfType<RequestExampleAttribute>().FirstOrDefault();
            if (example is not null && operation.RequestBody?.Content is { } content)
            {
                foreach (var (mediaType, body) in content)
                {
                    if (mediaType.Contains("json", StringComparison.OrdinalIgnoreCase) || mediaType.StartsWith(example.MediaType, StringComparison.OrdinalIgnoreCase))
                        body.Example = example.MediaType.Contains("json") ? JsonNode.Parse(example.Body) : example.Body;
                }
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// What each route and query parameter does, and the names it takes where the set is closed. A query parameter is the endpoint's
    /// own: its <see cref="System.ComponentModel.DescriptionAttribute"/> (or a <see cref="ParameterDescriptionAttribute"/>, for words
    /// read from the running service) stands on the endpoint method's parameter, and its names come
    /// from its <see cref="OneOfAttribute"/>, the attribute the request gate checks the value with. A route value means the same on
    /// every route that has it, so it is described once, in <see cref="RouteValues"/>, unless the endpoint's parameter says more.
    /// </summary>
    private sealed class ParameterFacts : IOpenApiOperationTransformer
    {
        public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
        {
            foreach (var description in context.Description.ParameterDescriptions)
            {
                var location = description.Source == BindingSource.Path ? ParameterLocation.Path
                    : description.Source == BindingSource.Query ? ParameterLocation.Query
                    : (ParameterLocation?)null;
                if (location is null || operation.Parameters?.OfType<OpenApiParameter>()
                        .FirstOrDefault(p => p.In == location && p.Name == description.Name) is not { } parameter)
                    continue;
                var info = (description.ParameterDescriptor as Microsoft.AspNetCore.Mvc.Infrastructure.IParameterInfoParameterDescriptor)?.ParameterInfo;
                var said = info?.GetCustomAttribute<System.ComponentModel.DescriptionAttribute>()?.Description
                           ?? info?.GetCustomAttribute<ParameterDescriptionAttribute>()?.Describe(context.ApplicationServices);
                if (said is null && location == ParameterLocation.Path)
                    said = RouteValues.GetValueOrDefault(description.Name);
                if (said is not null)
                    parameter.Description = said;
                if (info?.GetCustomAttribute<RequiredQueryAttribute>() is not null)
                    parameter.Required = true;
                if (info?.GetCustomAttribute<CurrencyCodeAttribute>() is not null && parameter.Schema is OpenApiSchema currency)
                {
                    currency.Pattern = CurrencyCodeAttribute.Pattern;
                    currency.Example = JsonValue.Create(CurrencyCodeAttribute.Example);
                }
                // A closed set: the names the gate takes, nothing else. An enum's is its component (LedgerDocument makes the reference),
                // so a generated client reads the type it knows from the bodies (PaymentMethod), not one named after the parameter.
                if (info?.GetCustomAttribute<OneOfAttribute>() is { } oneOf && parameter.Schema is OpenApiSchema schema)
                {
                    schema.Enum = [.. oneOf.Names.Select(n => (JsonNode)JsonValue.Create(n))];
                    if (oneOf.Source.IsEnum)
                        Mark(schema, oneOf.Source);
                    else
                        MarkList(schema, oneOf);
                }
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>The route values, each meaning the same on every route that has it.</summary>
    private static readonly Dictionary<string, string> RouteValues = new(StringComparer.Ordinal)
    {
        ["accountId"] = "The business account's id (as accountId in the response that opened it); a member's token reaches its own account only.",
        ["registrationId"] = "The product registration's id (a product's id in My Products).",
        ["invoiceNumber"] = "The invoice number as printed, e.g. INV-2026-000001.",
        ["creditNoteNumber"] = "The credit note number as printed, e.g. CN-2026-000001.",
        ["code"] = "The product model's code, e.g. EOS-R5 (any letter case).",
        ["email"] = "The old CPS e-mail, URL-encoded (any letter case; spaces at either end are ignored).",
    };

    /// <summary>
    /// What a schema says that the serializer knows but the exporter does not: enums are strings with their wire names; an
    /// object lists its required members (the strict reader's: neither nullable nor defaulted); a request's text, numbers and
    /// lists carry the limits their validator enforces.
    /// </summary>
    private sealed class SchemaFacts : IOpenApiSchemaTransformer
    {
        public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
        {
            var type = context.JsonTypeInfo.Type;
            var enumType = Nullable.GetUnderlyingType(type) ?? type;
            if (enumType.IsEnum)
            {
                // One component per enum, whatever refers to it: a null is the referring member's business, not the enum's.
                schema.Type = JsonSchemaType.String;
                schema.Enum = [.. LedgerJson.NamesOf(enumType).Select(n => (JsonNode)JsonValue.Create(n))];
                schema.Format = null;
                Mark(schema, enumType);
                return Task.CompletedTask;
            }

            // The wire's own converters (LedgerJson) are opaque to the exporter: text, ids and lists of them get their types here.
            var nullable = context.JsonPropertyInfo?.IsGetNullable ?? Nullable.GetUnderlyingType(type) is not null;
            if (schema.Type is null && Primitive(type) is { } primitive)
            {
                schema.Type = primitive.Type | (nullable ? JsonSchemaType.Null : 0);
                schema.Format ??= primitive.Format;
            }

            if (context.JsonTypeInfo is { Kind: JsonTypeInfoKind.Enumerable, ElementType: { } element })
            {
                if (schema.Items is null && Primitive(element) is { } item)
                    schema.Items = new OpenApiSchema { Type = item.Type, Format = item.Format };
                else if (element.IsEnum && schema.Items is null)
                    schema.Items = EnumSchema(element);
            }

            // A member kept on the wire for existing callers says so, and what to read instead.
            if (context.JsonPropertyInfo?.AttributeProvider?.GetCustomAttributes(typeof(ObsoleteAttribute), inherit: true)
                    .OfType<ObsoleteAttribute>().FirstOrDefault() is { } obsolete)
            {
                schema.Deprecated = true;
                schema.Description ??= obsolete.Message;
            }

            // A member holding one name of a closed set refers to the set's component, as the query parameter taking it does.
            if (context.JsonPropertyInfo?.AttributeProvider?.GetCustomAttributes(typeof(OneOfAttribute), inherit: true)
                    .OfType<OneOfAttribute>().FirstOrDefault() is { } oneOf)
            {
                schema.Enum = [.. oneOf.Names.Select(n => (JsonNode)JsonValue.Create(n))];
                if (oneOf.Source.IsEnum)
                    Mark(schema, oneOf.Source);
                else
                    MarkList(schema, oneOf);
            }

            if (context.JsonPropertyInfo is { DeclaringType: var declaring } property
                && context.ApplicationServices.GetService(typeof(IValidator<>).MakeGenericType(declaring)) is IValidator validator)
                ValidatorLimits.Apply(schema, property, validator);

            if (context.JsonTypeInfo.Kind == JsonTypeInfoKind.Object && schema.Properties is not null)
                schema.Required = new SortedSet<string>(context.JsonTypeInfo.Properties.Where(p => p.IsRequired).Select(p => p.Name), StringComparer.Ordinal);
            return Task.CompletedTask;
        }
    }

    private static (JsonSchemaType Type, string? Format)? Primitive(Type type) =>
        (Nullable.GetUnderlyingType(type) ?? type) switch
        {
            var t when t == typeof(string) => (JsonSchemaType.String, null),
            var t when t == typeof(Guid) => (JsonSchemaType.String, "uuid"),
            // Read by LedgerJson's own converter, which the schema exporter cannot see through: described as it was before.
            var t when t == typeof(decimal) => (JsonSchemaType.Number, "double"),
            _ => null,
        };

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Type> ListedEnums = new();

    private static OpenApiSchema EnumSchema(Type enumType) => Mark(new OpenApiSchema
    {
        Type = JsonSchemaType.String,
        Enum = [.. LedgerJson.NamesOf(enumType).Select(n => (JsonNode)JsonValue.Create(n))],
        Description = SchemaDescriptions.OfType(enumType),
    }, enumType);

    private const string EnumMark = "cpsledger-enum";

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, OneOfAttribute> ListedSets = new();

    // A list of names (not an enum) becomes its own component, as an enum does, when its attribute names one.
    private static void MarkList(OpenApiSchema schema, OneOfAttribute oneOf)
    {
        if (oneOf.Schema is not { } name)
            throw new InvalidOperationException($"[OneOf({oneOf.Source.Name})] on a query parameter needs a Schema name for the document.");
        ListedSets.TryAdd(name, oneOf);
        schema.Metadata ??= new Dictionary<string, object>();
        schema.Metadata[EnumMark] = name;
    }

    private static OpenApiSchema ListSchema(OneOfAttribute oneOf) => new()
    {
        Type = JsonSchemaType.String,
        Enum = [.. oneOf.Names.Select(n => (JsonNode)JsonValue.Create(n))],
        Description = oneOf.SchemaDescription,
    };

    // An enum written inline (the exporter does so for list items) becomes a reference to the enum's component in LedgerDocument.
    private static OpenApiSchema Mark(OpenApiSchema schema, Type enumType)
    {
        ListedEnums.TryAdd(enumType.Name, enumType);
        schema.Metadata ??= new Dictionary<string, object>();
        schema.Metadata[EnumMark] = enumType.Name;
        return schema;
    }

    /// <summary>
    /// Every operation's responses as the wire has them: the success the endpoint declares (typed results), then the errors
    /// that the shared parts of the pipeline can answer with, each as a problem. Wolverine's default 404 for a resource that
    /// might be null is dropped where the endpoint's return type says it never is.
    /// </summary>
    private sealed class Responses : IOpenApiOperationTransformer
    {
        public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
        {
            var description = context.Description;
            var metadata = description.ActionDescriptor.EndpointMetadata;
            var chain = metadata.OfType<HttpChain>().FirstOrDefault();
            var method = description.HttpMethod ?? "GET";
            var anonymous = metadata.OfType<IAllowAnonymous>().Any();
            var command = method is "POST" or "PUT" or "PATCH" or "DELETE";
            // A preview is a POST that writes nothing: the idempotency middleware passes it by, so its key is neither offered nor refused.
            var idempotent = command && !metadata.OfType<WritesNothingAttribute>().Any();
            var body = description.ParameterDescriptions.Any(p => p.Source == BindingSource.Body || p.Source == BindingSource.FormFile || p.Source == BindingSource.Form)
                       || metadata.OfType<IAcceptsMetadata>().Any();
            var roles = metadata.OfType<IAuthorizeData>().Any(a => !string.IsNullOrEmpty(a.Roles) || !string.IsNullOrEmpty(a.Policy));
            operation.Responses ??= new OpenApiResponses();
            var responses = operation.Responses;

            if (responses.ContainsKey("404") && chain is not null && !MayReturnNull(chain) && !Declared(metadata, 404))
                responses.Remove("404");

            // The gate refuses a query parameter the operation does not have, on every operation.
            Error(responses, 400, "The request is not what this operation accepts: `errors` names each field or parameter.");
            if (!anonymous)
                Error(responses, 401, "Missing, expired or invalid bearer token.");
            if (roles)
                Error(responses, 403, "The token's roles do not allow this operation, or a member asked for another account.");
            if (responses.ContainsKey("404"))
                Error(responses, 404, "Not found.");
            if (idempotent)
            {
                Error(responses, 409, "A conflict: the data changed meanwhile, something it would create exists, or a request with this Idempotency-Key is still running.");
                Error(responses, 422, "This Idempotency-Key was used before with a different request.");
            }
            else if (command)
                Error(responses, 409, "A conflict: the write this previews would be refused as things stand.");

            if (command)
                Error(responses, 413, "The request body is larger than the service accepts.");
            if (body)
                Error(responses, 415, "The request body is not of a media type this operation reads, or is sent compressed (a Content-Encoding other than identity).");
            // Any operation may find the database unreachable for a moment (Platform/Errors.cs): a problem with Retry-After. A command
            // may also need a setting this node lacks (a bank-transfer surcharge for an invoice's currency): waiting does not cure that.
            Error(responses, 503, command
                ? "The ledger's database cannot be reached at the moment: retry after Retry-After seconds" +
                  (idempotent ? " (with the same Idempotency-Key). " : ". ") +
                  "Or a setting the command needs is missing (title `Setting missing`, sent without Retry-After): `detail` names it, " +
                  "nothing was written, and the same request succeeds once an operator has added it."
                : "The ledger's database cannot be reached at the moment: retry after Retry-After seconds.");

            // A GET's 200 carries an ETag; the same If-None-Match answers 304 without a body (Platform/CacheValidation.cs).
            var get = method == "GET";
            if (get)
                responses["304"] = new OpenApiResponse
                {
                    Description = "Not modified: `If-None-Match` named this answer's current ETag. No body; the same ETag and Cache-Control " +
                                  "as the 200 it stands for.",
                };

            var locations = metadata.OfType<ResponseLocationAttribute>().ToList();
            // A list that takes a page answers its pages with links to the others (Paging.Links).
            var paged = get && description.ParameterDescriptions.Any(p => p.Name == "page" && p.Source == BindingSource.Query);
            foreach (var (status, response) in responses.ToList())
            {
                if (response is not OpenApiResponse concrete)
                    continue;
                concrete.Headers ??= new Dictionary<string, IOpenApiHeader>();
                concrete.Headers[CorrelationMiddleware.HeaderName] = new OpenApiHeaderReference(CorrelationMiddleware.HeaderName, context.Document);
                var location = status == "201"
                    ? "Where the created resource is read."
                    : locations.FirstOrDefault(l => l.Status.ToString(System.Globalization.CultureInfo.InvariantCulture) == status)?.Description;
                if (location is not null)
                    concrete.Headers["Location"] = new OpenApiHeader
                    {
                        Description = location,
                        Required = true,
                        Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "uri-reference" },
                    };
                // The 503 of an unreachable database (Platform/Errors.cs) and a rate limit's 429 (the old e-mail code request) say when.
                if (status is "429" or "503")
                    concrete.Headers[RetryAfterHeader] = new OpenApiHeaderReference(RetryAfterHeader, context.Document);
                if (get && status is "200" or "304")
                    concrete.Headers[HeaderNames.ETag] = new OpenApiHeaderReference(HeaderNames.ETag, context.Document);
                // A 304 keeps the links its 200 had (the same request, the same page): a cache updates its copy's headers from it.
                if (paged && status is "200" or "304")
                    concrete.Headers[HeaderNames.Link] = new OpenApiHeaderReference(HeaderNames.Link, context.Document);
                if (command && status.StartsWith('2'))
                    concrete.Headers[IdempotencyMiddleware.ReplayedHeader] = new OpenApiHeaderReference(IdempotencyMiddleware.ReplayedHeader, context.Document);
                if (status is ['4' or '5', ..])
                    concrete.Content = new Dictionary<string, OpenApiMediaType>
                    {
                        [ProblemMediaType] = new() { Schema = new OpenApiSchemaReference(ProblemSchema, context.Document) },
                    };
                else if (concrete.Content is not null)
                {
                    foreach (var (mediaType, content) in concrete.Content)
                    {
                        if (mediaType == "application/pdf")
                            content.Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
                        else if (mediaType.StartsWith("text/", StringComparison.Ordinal))
                            content.Schema = new OpenApiSchema { Type = JsonSchemaType.String };
                    }
                }
            }

            // An account's list answered whole without paging parameters, as before it was paged, and as its page with them.
            if (metadata.OfType<WholeWithoutPagingAttribute>().FirstOrDefault() is { } whole
                && responses.TryGetValue("200", out var ok) && ok is OpenApiResponse { Content: { } okContent }
                && okContent.TryGetValue("application/json", out var json) && json.Schema is { } page)
            {
                json.Schema = new OpenApiSchema
                {
                    Description = "Without page and pageSize: every item, as an array (the answer before the list was paged). With either: " +
                                  "one page, and the account's figures over all pages.",
                    OneOf =
                    [
                        new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchemaReference(whole.Item.Name, context.Document) },
                        page,
                    ],
                };
            }

            // Statuses in numeric order, whatever order the framework and the policies added them in: a stable, readable document.
            var ordered = responses.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
            responses.Clear();
            foreach (var (status, response) in ordered)
                responses[status] = response;

            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameterReference(CorrelationMiddleware.HeaderName, context.Document));
            if (idempotent)
                operation.Parameters.Add(new OpenApiParameterReference(IdempotencyMiddleware.HeaderName, context.Document));
            if (get)
                operation.Parameters.Add(new OpenApiParameterReference(HeaderNames.IfNoneMatch, context.Document));
            // Wolverine describes an operation by its generated class name; the summary says what it does.
            if (string.IsNullOrEmpty(operation.Description) || !operation.Description.Contains(' '))
                operation.Description = operation.Summary;
            return Task.CompletedTask;
        }

        private static void Error(OpenApiResponses responses, int status, string description)
        {
            var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // A framework's bare reason phrase ("Bad Request") says less than ours; an endpoint's own wording stays.
            if (!responses.TryGetValue(key, out var existing) || existing is not OpenApiResponse { Description.Length: > 0 } concrete
                || concrete.Description == ReasonPhrases.GetReasonPhrase(status))
                responses[key] = new OpenApiResponse { Description = description };
        }

        // Declared by the endpoint ([ProducesResponseType], or a policy's ProducesProblem), not Wolverine's bare default.
        private static bool Declared(IList<object> metadata, int status) =>
            metadata.OfType<Microsoft.AspNetCore.Mvc.ProducesResponseTypeAttribute>().Any(m => m.StatusCode == status)
            || metadata.OfType<IProducesResponseTypeMetadata>().Any(m => m.StatusCode == status && m.ContentTypes.Any());

        // Wolverine answers 404 when the endpoint returns null; a return type without '?' never does.
        private static bool MayReturnNull(HttpChain chain)
        {
            var returned = chain.Method.Method.ReturnParameter;
            var nullability = new NullabilityInfoContext().Create(returned);
            var type = returned.ParameterType;
            if (type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Task<>) || type.GetGenericTypeDefinition() == typeof(ValueTask<>)))
                nullability = nullability.GenericTypeArguments[0];
            return nullability.ReadState != NullabilityState.NotNull;
        }
    }

    /// <summary>Title, description, the bearer scheme, the shared problem schema, headers and parameters; then tidy.</summary>
    private sealed class LedgerDocument : IOpenApiDocumentTransformer
    {
        public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
        {
            document.Info = new OpenApiInfo
            {
                Title = "CpsLedger API",
                Version = "v1",
                Description = "The event-sourced ledger of a points-based professional-services membership programme. " +
                              "Every command accepts an Idempotency-Key header; every response carries X-Correlation-Id. " +
                              "Errors are RFC 9457 problem details (application/problem+json). No answer may be kept by a shared cache: " +
                              "a GET's JSON is Cache-Control: private, no-cache and its 200 carries an ETag (If-None-Match gets a 304); " +
                              "documents (PDF, UBL, CSV), errors and commands are no-store.",
                Contact = new OpenApiContact { Name = "CpsLedger maintainers" },
                License = new OpenApiLicense { Name = "Proprietary", Identifier = "LicenseRef-Proprietary" },
            };
            document.Servers = [new OpenApiServer { Url = "/", Description = "This service" }];
            document.Components ??= new OpenApiComponents();
            var components = document.Components;
            components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "JWT",
                Description = "A JWT with `role` claims (member, support, auditor, finance, portal) and, for members, `account_id`.",
            };
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });

            components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
            components.Schemas[ProblemSchema] = Problem();
            foreach (var (name, enumType) in ListedEnums)
                components.Schemas.TryAdd(name, EnumSchema(enumType));
            foreach (var (name, oneOf) in ListedSets)
                components.Schemas.TryAdd(name, ListSchema(oneOf));
            components.Headers ??= new Dictionary<string, IOpenApiHeader>();
            components.Headers[CorrelationMiddleware.HeaderName] = new OpenApiHeader
            {
                Description = "The request's correlation id (the caller's X-Correlation-Id, or the trace id); also stored on every event it wrote.",
                Required = true,
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            };
            components.Headers[IdempotencyMiddleware.ReplayedHeader] = new OpenApiHeader
            {
                Description = "\"true\" when this is the recorded first response to a repeated Idempotency-Key.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, Enum = [JsonValue.Create("true")] },
            };
            components.Headers[HeaderNames.ETag] = new OpenApiHeader
            {
                Description = "A strong entity tag of this answer, hashed from its bytes: it changes whenever the body would. Send it back in " +
                              "If-None-Match to get a 304 while the answer is unchanged. (A GET answer over 4 MiB is sent without one.)",
                Required = false,
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, Example = JsonValue.Create("\"3q2-7wEBAgMEBQYHCAkKCw\"") },
            };
            components.Headers[HeaderNames.Link] = new OpenApiHeader
            {
                Description = "On a page of a list (never on an account's list answered whole, as an array), and on its 304: RFC 8288 links to its first, " +
                              "previous, next and last pages, rel \"first\", \"prev\", \"next\" and \"last\". Each target is a relative " +
                              "reference, the request's own path and query with only page changed (every filter kept, percent-encoded). " +
                              "next is sent while a later page has items, prev from page 2 on (past the last page: the last page). A page of the " +
                              "invoice list read with sums=omit, whose pages are not counted, has no last, and its prev is the page before.",
                Required = false,
                Schema = new OpenApiSchema
                {
                    Type = JsonSchemaType.String,
                    Example = JsonValue.Create("</api/invoices?status=open&page=1>; rel=\"first\", </api/invoices?status=open&page=3>; rel=\"next\", " +
                                               "</api/invoices?status=open&page=1>; rel=\"prev\", </api/invoices?status=open&page=7>; rel=\"last\""),
                },
            };
            components.Headers[RetryAfterHeader] = new OpenApiHeader
            {
                Description = "Seconds to wait before retrying: always sent with a 429, and with a 503 while the database cannot be " +
                              "reached (not with a 503 for a missing setting, which waiting does not cure).",
                Required = false,
                Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" },
            };
            components.Parameters ??= new Dictionary<string, IOpenApiParameter>();
            components.Parameters[CorrelationMiddleware.HeaderName] = new OpenApiParameter
            {
                Name = CorrelationMiddleware.HeaderName,
                In = ParameterLocation.Header,
                Description = "Ties this request to the caller's own logs: up to 128 letters, digits and - _ . : (otherwise the trace id is used).",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = 128 },
            };
            components.Parameters[HeaderNames.IfNoneMatch] = new OpenApiParameter
            {
                Name = HeaderNames.IfNoneMatch,
                In = ParameterLocation.Header,
                Description = "The ETag of the answer the caller holds (or several, comma-separated, or *): while it is still the current one, " +
                              "the answer is a 304 without a body. Compared weakly (RFC 9110, 13.1.2).",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            };
            components.Parameters[IdempotencyMiddleware.HeaderName] = new OpenApiParameter
            {
                Name = IdempotencyMiddleware.HeaderName,
                In = ParameterLocation.Header,
                Description = "Makes a retry safe: the same key with the same request returns the first response without a second effect (kept 24 h); " +
                              "with a different request, 422. Given once, 1 to 200 printable ASCII characters (space to ~), no comma (a proxy may join a header " +
                              "sent twice with a comma) and no vertical bar (|).",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 200, Pattern = "^[\\u0020-\\u002B\\u002D-\\u007B\\u007D\\u007E]+$" },
            };

            foreach (var name in components.Schemas.Keys.ToList())
                components.Schemas[name] = EnumReferences(components.Schemas[name], document, name);
            foreach (var operation in document.Paths.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? []))
            {
                foreach (var parameter in (operation.Parameters ?? []).OfType<OpenApiParameter>())
                    parameter.Schema = EnumReferences(parameter.Schema, document, null);
            }

            SchemaDescriptions.Complete(document);
            SchemaRoles.Apply(document);
            DocumentOrder.Apply(document);
            return Task.CompletedTask;
        }

        // Replaces every inline enum below a schema with a reference to the enum's component (one component per enum).
        private static IOpenApiSchema EnumReferences(IOpenApiSchema? schema, OpenApiDocument document, string? component)
        {
            if (schema is not OpenApiSchema concrete)
                return schema!;
            if (concrete.Metadata?.TryGetValue(EnumMark, out var mark) == true && mark is string name && name != component)
            {
                // A nullable member (a points line's category, null on an adjustment) keeps its null beside the reference, as the
                // exporter writes a nullable enum's: oneOf null or the component, the member's words on the oneOf.
                if (concrete.Type is { } type && type.HasFlag(JsonSchemaType.Null))
                    return new OpenApiSchema
                    {
                        OneOf = [new OpenApiSchema { Type = JsonSchemaType.Null }, new OpenApiSchemaReference(name, document)],
                        Description = concrete.Description,
                    };
                return new OpenApiSchemaReference(name, document);
            }
            if (concrete.Items is not null)
                concrete.Items = EnumReferences(concrete.Items, document, null);
            if (concrete.AdditionalProperties is not null)
                concrete.AdditionalProperties = EnumReferences(concrete.AdditionalProperties, document, null);
            foreach (var key in concrete.Properties?.Keys.ToList() ?? [])
                concrete.Properties![key] = EnumReferences(concrete.Properties[key], document, null);
            return concrete;
        }

        private static OpenApiSchema Problem()
        {
            static OpenApiSchema Text(string description) => new() { Type = JsonSchemaType.String, Description = description };
            return new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "RFC 9457 problem details, the body of every error.",
                Required = new SortedSet<string>(["type", "title", "status", "instance", "traceId", "correlationId"], StringComparer.Ordinal),
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["type"] = Text("A URI reference identifying the problem type (about:blank when it is just the status)."),
                    ["title"] = Text("A short summary of the problem type."),
                    ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Description = "The HTTP status code." },
                    ["detail"] = Text("What went wrong in this occurrence, in words for a person."),
                    ["instance"] = Text("The path of the request."),
                    ["errors"] = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Description = "Field errors (400): keyed by the parameter's name or the body's JSON path in the request's casing " +
                                      "(\"purchaseDate\", \"tiers[0].code\"; \"$\" is the body as a whole).",
                        AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
                    },
                    ["traceId"] = Text("The W3C trace of the request."),
                    ["correlationId"] = Text("The request's correlation id, as in the X-Correlation-Id header."),
                },
            };
        }
    }

    /// <summary>
    /// Puts the document in an order of its own: tags in the order of a member's journey, paths by tag then path, each path's
    /// operations by method, schemas by name. Left as served, the order followed the order Wolverine discovered the endpoints in, which
    /// changed with edits elsewhere in the code (GET and PUT of /api/tiers swapped twice on 2026-12-05 with no change to either), and the
    /// committed contract is compared to the letter.
    /// </summary>
    internal static class DocumentOrder
    {
        /// <summary>The tags in the order a reader meets them: an account, its products and points, then membership and billing, then staff's.</summary>
        public static readonly string[] Journey =
            ["Accounts", "Catalogue", "Products", "Points", "Tiers", "Membership", "Invoices", "Migration", "Support", "Audit", "Operations"];

        private static readonly HttpMethod[] Methods = [HttpMethod.Get, HttpMethod.Put, HttpMethod.Post, HttpMethod.Patch, HttpMethod.Delete];

        public static void Apply(OpenApiDocument document)
        {
            if (document.Tags is { } tags)
                document.Tags = new HashSet<OpenApiTag>(tags.OrderBy(t => Rank(t.Name)).ThenBy(t => t.Name, StringComparer.Ordinal));

            var paths = document.Paths.OrderBy(p => Rank(FirstTag(p.Value))).ThenBy(p => p.Key, StringComparer.Ordinal).ToList();
            document.Paths.Clear();
            foreach (var (path, item) in paths)
            {
                if (item is OpenApiPathItem { Operations: { } operations } concrete)
                {
                    concrete.Operations = operations.OrderBy(o => Array.IndexOf(Methods, o.Key) is var i and >= 0 ? i : Methods.Length)
                        .ThenBy(o => o.Key.Method, StringComparer.Ordinal).ToDictionary();
                }
                document.Paths.Add(path, item);
            }

            if (document.Components?.Schemas is { } schemas)
                document.Components.Schemas = schemas.OrderBy(s => s.Key, StringComparer.Ordinal).ToDictionary();
        }

        private static string? FirstTag(IOpenApiPathItem item) =>
            item.Operations?.Values.SelectMany(o => o.Tags ?? new HashSet<OpenApiTagReference>()).Select(t => t.Name).FirstOrDefault();

        // A tag not in the journey goes last, by name.
        private static int Rank(string? tag) => Array.IndexOf(Journey, tag) is var i and >= 0 ? i : Journey.Length;
    }

    /// <summary>
    /// Tidies the schemas by what they describe: a schema a request body reaches lists exactly what the strict reader requires
    /// and refuses members it does not know (additionalProperties: false); a schema only responses reach lists every member as
    /// required, as every member is written. Schemas nothing refers to any more are removed.
    /// </summary>
    private static class SchemaRoles
    {
        public static void Apply(OpenApiDocument document)
        {
            var schemas = document.Components!.Schemas!;
            var requests = new HashSet<string>(StringComparer.Ordinal);
            var used = new HashSet<string>(StringComparer.Ordinal);
            foreach (var operation in document.Paths.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? []))
            {
                foreach (var media in operation.RequestBody?.Content?.Values.AsEnumerable() ?? [])
                    Reach(media.Schema, schemas, requests);
                foreach (var parameter in operation.Parameters ?? [])
                    Reach(parameter.Schema, schemas, used);
                foreach (var response in operation.Responses?.Values.AsEnumerable() ?? [])
                {
                    foreach (var media in response.Content?.Values.AsEnumerable() ?? [])
                        Reach(media.Schema, schemas, used);
                }
            }

            used.UnionWith(requests);
            foreach (var name in schemas.Keys.Where(n => !used.Contains(n)).ToList())
                schemas.Remove(name);

            foreach (var (name, schema) in schemas)
            {
                if (schema is not OpenApiSchema { Properties: { Count: > 0 } properties } concrete || name == ProblemSchema)
                    continue;
                if (requests.Contains(name))
                    concrete.AdditionalPropertiesAllowed = false;
                else
                    concrete.Required = new SortedSet<string>(properties.Keys, StringComparer.Ordinal);
            }
        }

        private static void Reach(IOpenApiSchema? schema, IDictionary<string, IOpenApiSchema> schemas, HashSet<string> reached)
        {
            switch (schema)
            {
                case null:
                    return;
                case OpenApiSchemaReference reference:
                    var id = reference.Reference.Id;
                    if (id is not null && reached.Add(id) && schemas.TryGetValue(id, out var target))
                        Reach(target, schemas, reached);
                    return;
            }

            foreach (var child in (schema.Properties?.Values ?? []).Append(schema.Items).Append(schema.AdditionalProperties)
                         .Concat(schema.AllOf ?? []).Concat(schema.AnyOf ?? []).Concat(schema.OneOf ?? []))
                Reach(child, schemas, reached);
        }
    }

    /// <summary>The limits a request's validator enforces, in its schema: lengths, bounds, patterns, and the same for list items.</summary>
    private static class ValidatorLimits
    {
        public static void Apply(OpenApiSchema propertySchema, JsonPropertyInfo property, IValidator validator)
        {
            // Rules are named as the JSON fields are (ValidationConventions.UseJsonFieldNames).
            var descriptor = validator.CreateDescriptor();
            var rules = descriptor.GetRulesForMember(property.Name);
            if (!rules.Any() && property.AttributeProvider is MemberInfo member)
                rules = descriptor.GetRulesForMember(member.Name);
            foreach (var rule in rules)
            {
                var items = rule.GetType().GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICollectionRule<,>));
                var into = items ? propertySchema.Items as OpenApiSchema : propertySchema;
                // A conditional rule ("when the tier is standard") is not a limit the schema can state.
                if (into is null || rule.Components.Any(c => c.HasCondition || c.HasAsyncCondition))
                    continue;
                foreach (var component in rule.Components)
                    Limit(into, component.Validator);
            }
        }

        private static void Limit(OpenApiSchema schema, IPropertyValidator validator)
        {
            switch (validator)
            {
                case ILengthValidator length:
                    if (length.Max > 0)
                        schema.MaxLength = schema.MaxLength is { } max ? Math.Min(max, length.Max) : length.Max;
                    if (length.Min > 0)
                        schema.MinLength = Math.Max(schema.MinLength ?? 0, length.Min);
                    break;
                case INotEmptyValidator when schema.Type?.HasFlag(JsonSchemaType.String) == true:
                    schema.MinLength = Math.Max(schema.MinLength ?? 0, 1);
                    break;
                case INotEmptyValidator when schema.Type?.HasFlag(JsonSchemaType.Array) == true:
                    schema.MinItems = Math.Max(schema.MinItems ?? 0, 1);
                    break;
                case IBetweenValidator { From: IConvertible from, To: IConvertible to } between:
                    schema.Minimum = Number(from);
                    schema.Maximum = Number(to);
                    if (between.Name == "ExclusiveBetweenValidator")
                    {
                        schema.ExclusiveMinimum = schema.Minimum;
                        schema.ExclusiveMaximum = schema.Maximum;
                        schema.Minimum = schema.Maximum = null;
                    }

                    break;
                case IComparisonValidator { ValueToCompare: IConvertible value } comparison:
                    switch (comparison.Comparison)
                    {
                        case Comparison.GreaterThan:
                            schema.ExclusiveMinimum = Number(value);
                            break;
                        case Comparison.GreaterThanOrEqual:
                            schema.Minimum = Number(value);
                            break;
                        case Comparison.LessThan:
                            schema.ExclusiveMaximum = Number(value);
                            break;
                        case Comparison.LessThanOrEqual:
                            schema.Maximum = Number(value);
                            break;
                    }

                    break;
                case IRegularExpressionValidator regex:
                    schema.Pattern = regex.Expression;
                    break;
            }
        }

        private static string Number(IConvertible value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>An example request body for the OpenAPI document (and so for the interactive docs' "try it").</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequestExampleAttribute(string body, string mediaType = "application/json") : Attribute
{
    public string Body { get; } = body;
    public string MediaType { get; } = mediaType;
}

/// <summary>
/// A query parameter the endpoint refuses the request without (its own check, in its own words): the OpenAPI document marks it
/// required. Not a validation attribute: the request gate checks the values given, and the endpoint's message says more than
/// "required" (what to type, its length).
/// </summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class RequiredQueryAttribute : Attribute;

/// <summary>
/// A parameter's description for the OpenAPI document that depends on the running service (names read from the store's
/// configuration), where a <see cref="System.ComponentModel.DescriptionAttribute"/> would need a constant.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter)]
public abstract class ParameterDescriptionAttribute : Attribute
{
    public abstract string Describe(IServiceProvider services);
}

/// <summary>
/// A success other than 201 that also answers with a <c>Location</c> (a 202 saying where the outcome is read), for the OpenAPI
/// document: the typed result's type does not say whether the endpoint gives a location. Every 201 has one without this.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class ResponseLocationAttribute(int status, string description) : Attribute
{
    public int Status { get; } = status;
    public string Description { get; } = description;
}
