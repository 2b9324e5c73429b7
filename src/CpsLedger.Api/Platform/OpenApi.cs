using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace CpsLedger.Api.Platform;

public static class OpenApi
{
    public static void AddLedgerOpenApi(this IServiceCollection services) =>
        services.AddOpenApi("v1", o =>
        {
            o.OpenApiVersion = OpenApiSpecVersion.OpenApi3_1;
            o.AddDocumentTransformer<LedgerDocument>();
            o.AddOperationTransformer<RequestExamples>();
        });

    /// <summary>Puts each endpoint's <see cref="RequestExampleAttribute"/> on its request body, and documents the 401 of protected operations.</summary>
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
                        body.Example = example.MediaType.Contains("json") ? System.Text.Json.Nodes.JsonNode.Parse(example.Body) : example.Body;
                }
            }

            // Every operation not explicitly public needs a bearer token (the fallback policy).
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            if (!metadata.OfType<Microsoft.AspNetCore.Authorization.IAllowAnonymous>().Any())
            {
                operation.Responses ??= new OpenApiResponses();
                operation.Responses.TryAdd("401", new OpenApiResponse { Description = "Missing, expired or invalid bearer token." });
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>Title, description and the bearer scheme that every non-public operation needs.</summary>
    private sealed class LedgerDocument : IOpenApiDocumentTransformer
    {
        public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
        {
            document.Info = new OpenApiInfo
            {
                Title = "CpsLedger API",
                Version = "v1",
                Description = "The event-sourced ledger of a points-based professional-services membership programme. " +
                              "Every command accepts an Idempotency-Key header and echoes X-Correlation-Id. " +
                              "Errors are RFC 9457 problem details.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "JWT",
                Description = "A JWT with `role` claims (member, support, auditor, finance, portal) and, for members, `account_id`.",
            };
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });
            return Task.CompletedTask;
        }
    }
}

/// <summary>An example request body for the OpenAPI document (and so for the interactive docs' "try it").</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequestExampleAttribute(string body, string mediaType = "application/json") : Attribute
{
    public string Body { get; } = body;
    public string MediaType { get; } = mediaType;
}
