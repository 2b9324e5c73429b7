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
        // Wolverine.Http reads and writes with these options too (WolverineHttpOptions takes ASP.NET Core's JsonOptions).
        builder.Services.ConfigureHttpJsonOptions(o => LedgerJson.Configure(o.SerializerOptions));

        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ProblemShape.Complete);
        builder.Services.AddExceptionHandler<LedgerExceptionHandler>();

        ValidationConventions.UseJsonFieldNames();
        ValidationConventions.UseLedgerMessages();
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
            .AddCheck<MessageStoreHealthCheck>("message-store", tags: ["ready"])
            // An operator's matter, never a reason to take the node out: a failure to read them is Degraded too (the database
            // and message-store checks say Unhealthy when PostgreSQL is away).
            .AddCheck<Operations.DeadLetterHealthCheck>("dead-letters", failureStatus: Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, tags: ["ready"])
            .AddCheck<Operations.ReconciliationHealthCheck>("reconciliation", failureStatus: Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, tags: ["ready"])
            // A mail outage is every node's: it shows, but never takes a node out of rotation (nor does a failure to read it).
            .AddCheck<MailHealthCheck>("mail", failureStatus: Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, tags: ["ready"]);
    }

    public static void UseLedgerPipeline(this WebApplication app)
    {
        app.UseMiddleware<CorrelationMiddleware>();
        // Outside the exception handler, so the line it writes carries the status the client received (a mapped conflict is a
        // 409 at Information, not an error with a stack trace); the handler itself logs the faults it could not map.
        app.UseSerilogRequestLogging(o =>
        {
            o.GetLevel = Logging.RequestLevel;
            // The host's logger (sinks and levels from configuration), not the start-up logger (Platform/Logging.cs).
            o.Logger = app.Services.GetService<Serilog.ILogger>();
            o.EnrichDiagnosticContext = (diagnostics, http) =>
            {
                diagnostics.Set("User", http.User.Identity?.Name ?? "anonymous");
                diagnostics.Set(Logging.CorrelationIdProperty, CorrelationMiddleware.Of(http));
            };
        });
        // Outside the exception handler and everything that may answer an error, so that it sees every answer's final status
        // (Cache-Control on all of them, an ETag on a GET's 200).
        app.UseMiddleware<CacheValidationMiddleware>();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<RequestSizeLimitMiddleware>();
        app.UseLedgerConsoleFiles();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseMiddleware<RequestGate>();
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
            // A value that cannot be read is a 400 naming it, never a silently dropped filter (RequestGate answers first; these
            // are the backstop inside the generated code).
            opts.RejectUnparseableQueryValues = true;
            opts.RejectUnparseableHeaderValues = true;
            opts.AddPolicy<AccountScopePolicy>();
            opts.AddPolicy<FeatureTagsPolicy>();
            opts.AddPolicy<FluentValidationHttpPolicy>();
            opts.AddPolicy<IdempotentResponsePolicy>();
            // The role the caller acted in, on every event a command writes and every message it sends (ActorRoles.cs).
            opts.AddPolicy<ActorRolePolicy>();
            // Worded as the exception handler words it: Wolverine's default detail is Marten's message, with the stream id.
            opts.MapConcurrencyFailuresToConflict(toProblemDetails: _ => Problems.ConcurrentChange);
        });
    }
}
