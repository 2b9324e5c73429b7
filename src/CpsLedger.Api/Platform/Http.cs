using System.Text.Json.Serialization;
using FluentValidation;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Scalar.AspNetCore;
using Serilog;
using Wolverine.Http;
using CpsLedger.Api.WebConsole;

namespace CpsLedger.Api.Platform;

/// <summary>The HTTP surface: JSON, errors, validation, OpenAPI, health, idempotency and the middleware order.</summary>
public static class Http
{
    public static void AddLedgerHttp(this WebApplicationBuilder builder)
    {
        var maxBody = builder.Configuration.GetValue<long>("Ledger:MaxRequestBodyBytes", 1024 * 1024);
        builder.Services.Configure<KestrelServerOptions>(o => o.Limits.MaxRequestBodySize = maxBody);
        builder.Services.Configure<FormOptions>(o => o.MultipartBodyLengthLimit = maxBody);

        builder.Services.AddHttpContextAccessor();
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.SnakeCaseLower));
            o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
        });

        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            if (CorrelationMiddleware.Of(ctx.HttpContext) is { } correlationId)
                ctx.ProblemDetails.Extensions["correlationId"] = correlationId;
        });
        builder.Services.AddExceptionHandler<LedgerExceptionHandler>();

        ValidationConventions.UseJsonFieldNames();
        builder.Services.AddValidatorsFromAssemblyContaining<Program>(ServiceLifetime.Singleton);

        builder.Services.AddOptions<IdempotencyOptions>()
            .Bind(builder.Configuration.GetSection(IdempotencyOptions.Section))
            .Validate(o => o.Retention > TimeSpan.Zero && o.CleanupInterval > TimeSpan.Zero,
                "Idempotency:Retention and Idempotency:CleanupInterval must be positive durations.")
            .ValidateOnStart();
        builder.Services.AddHostedService<IdempotencyCleanup>();

        builder.Services.AddWolverineHttp();
        builder.Services.AddLedgerOpenApi();
        builder.Services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: ["ready"])
            .AddCheck<MessageStoreHealthCheck>("message-store", tags: ["ready"]);
    }

    public static void UseLedgerPipeline(this WebApplication app)
    {
        app.UseMiddleware<CorrelationMiddleware>();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseSerilogRequestLogging(o => o.EnrichDiagnosticContext = (diagnostics, http) =>
        {
            diagnostics.Set("User", http.User.Identity?.Name ?? "anonymous");
            diagnostics.Set(Logging.CorrelationIdProperty, CorrelationMiddleware.Of(http));
        });
        app.UseMiddleware<RequestSizeLimitMiddleware>();
        app.UseLedgerConsoleFiles();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseMiddleware<IdempotencyMiddleware>();
    }

    public static void MapLedgerEndpoints(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        app.MapScalarApiReference("/scalar", o => o.WithTitle("CpsLedger API")).AllowAnonymous();
        app.MapLedgerHealth();

        app.MapWolverineEndpoints(opts =>
        {
            opts.ApplyCorrelationIdHeaderToAllEndpoints = true;
            opts.AddPolicy<AccountScopePolicy>();
            opts.AddPolicy<FeatureTagsPolicy>();
            opts.AddPolicy<FluentValidationHttpPolicy>();
            opts.MapConcurrencyFailuresToConflict();
        });
    }
}
