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
        });

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
