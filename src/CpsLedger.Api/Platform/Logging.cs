using System.Diagnostics;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace CpsLedger.Api.Platform;

public static class Logging
{
    public const string CorrelationIdProperty = "CorrelationId";

    /// <summary>
    /// The request log's level follows the status on the wire: a fault (5xx, or an exception that escaped every handler) is an
    /// error; a refusal the API gave on purpose (4xx: a conflict, a missing account, a bad field) and a request the client gave up
    /// on are information. Stack traces belong to faults only: the exception handler logs those, once.
    /// </summary>
    public static LogEventLevel RequestLevel(HttpContext context, double elapsedMilliseconds, Exception? exception) =>
        exception is not null && !context.RequestAborted.IsCancellationRequested ? LogEventLevel.Error
        // The database away for a moment (Retry-After given): the client retries and the service recovers by itself.
        : context.Response.StatusCode == StatusCodes.Status503ServiceUnavailable ? LogEventLevel.Warning
        : context.Response.StatusCode >= StatusCodes.Status500InternalServerError && !context.RequestAborted.IsCancellationRequested
            ? LogEventLevel.Error
            : LogEventLevel.Information;

    public static void AddLedgerLogging(this WebApplicationBuilder builder)
    {
        var development = builder.Environment.IsDevelopment();

        // Start-up (before the host exists) logs through the same sinks, so nothing is written with Console.
        Log.Logger = Configure(new LoggerConfiguration(), development).CreateBootstrapLogger();

        // The host's logger is its own (preserveStaticLogger): freezing the shared static logger instead would fail when two
        // hosts start in one process at once, as the tests' hosts do. The static logger serves start-up and shut-down only.
        builder.Services.AddSerilog((services, configuration) =>
            Configure(configuration.ReadFrom.Configuration(builder.Configuration).ReadFrom.Services(services), development),
            preserveStaticLogger: true);
    }

    private static LoggerConfiguration Configure(LoggerConfiguration configuration, bool development)
    {
        configuration = configuration
            .Enrich.FromLogContext()
            .Enrich.With<TraceCorrelationEnricher>();

        return development
            ? configuration.WriteTo.Console(outputTemplate:
                "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj} {{CorrelationId={CorrelationId}}} <{SourceContext}>{NewLine}{Exception}")
            : configuration.WriteTo.Console(new RenderedCompactJsonFormatter());
    }

    /// <summary>
    /// Lines logged outside a request (message handlers, the daemon) still carry the trace they belong to:
    /// the request's correlation id wins when present, otherwise the current activity's trace id.
    /// </summary>
    private sealed class TraceCorrelationEnricher : ILogEventEnricher
    {
        public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
        {
            if (logEvent.Properties.ContainsKey(CorrelationIdProperty))
                return;

            var traceId = Activity.Current?.TraceId.ToString();
            if (traceId is not null)
                logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty(CorrelationIdProperty, traceId));
        }
    }
}
