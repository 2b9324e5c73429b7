using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CpsLedger.Api.Platform;

public static class Telemetry
{
    /// <summary>Traces ASP.NET Core, Wolverine, Marten and Npgsql; exported over OTLP when an endpoint is configured.</summary>
    public static void AddLedgerTelemetry(this WebApplicationBuilder builder)
    {
        var endpoint = builder.Configuration["OpenTelemetry:OtlpEndpoint"];
        if (string.IsNullOrWhiteSpace(endpoint))
            endpoint = builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("cpsledger-api"))
            .WithTracing(tracing =>
            {
                tracing.AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments("/health"))
                    .AddSource("Wolverine", "Marten", "Npgsql");
                if (!string.IsNullOrWhiteSpace(endpoint))
                    tracing.AddOtlpExporter(o => o.Endpoint = new Uri(endpoint));
            });
    }
}
