using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;
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

    /// <param name="builder">The service's builder.</param>
    /// <param name="command">
    /// Whether a command runs (<c>token</c>, <c>verify</c>, <c>db-apply</c>, ...) rather than the service: its output on stdout is
    /// for a file or <c>$(...)</c>, so every log line goes to stderr.
    /// </param>
    /// <param name="verbose">
    /// Whether the command was given <c>--verbose</c>: every category logs from Debug, the settings' overrides (Marten, Wolverine,
    /// JasperFx and ASP.NET Core at Warning) included. JasperFx's input takes the flag, but applies it to a host builder only, and
    /// the commands run on the app Program has built already: it did nothing.
    /// </param>
    /// <param name="level">
    /// The command's <c>--log-level</c> (<c>Program.CommandInputOf</c>), likewise applied by JasperFx to a host builder only: every
    /// category logs from it, overrides included; <c>None</c> logs nothing (a refused start still says why on standard error:
    /// <c>StartRefusal.Refuse</c>). With <c>--verbose</c> the more detailed of the two wins.
    /// </param>
    public static void AddLedgerLogging(this WebApplicationBuilder builder, bool command = false, bool verbose = false, LogLevel? level = null)
    {
        var least = LeastLevel(verbose, level);
        var overridden = builder.Configuration.GetSection("Serilog:MinimumLevel:Override").GetChildren().Select(c => c.Key).ToList();

        var development = builder.Environment.IsDevelopment();
        LogEventLevel? standardErrorFrom = command ? LevelAlias.Minimum : null;

        // Start-up (before the host exists) logs through the same sinks, so nothing is written with Console.
        Log.Logger = Configure(new LoggerConfiguration(), development, standardErrorFrom, least, overridden).CreateBootstrapLogger();

        // The host's logger is its own (preserveStaticLogger): freezing the shared static logger instead would fail when two
        // hosts start in one process at once, as the tests' hosts do. The static logger serves start-up and shut-down only.
        builder.Services.AddSerilog((services, configuration) =>
            Configure(configuration.ReadFrom.Configuration(builder.Configuration).ReadFrom.Services(services), development, standardErrorFrom,
                least, overridden),
            preserveStaticLogger: true);
    }

    /// <summary>
    /// The least level every category logs from, over the settings' levels: <c>--verbose</c>'s Debug, <c>--log-level</c>'s, the
    /// more detailed of the two when both are given; null (the settings') when neither is.
    /// </summary>
    public static LogEventLevel? LeastLevel(bool verbose, LogLevel? level) => (verbose, level) switch
    {
        (true, { } given) => (LogEventLevel)Math.Min((int)LogEventLevel.Debug, (int)SerilogLevel(given)),
        (true, null) => LogEventLevel.Debug,
        (false, { } given) => SerilogLevel(given),
        _ => null,
    };

    /// <summary>Serilog's level for the one JasperFx parsed (its Enum.Parse takes a number too: past Critical is None).</summary>
    private static LogEventLevel SerilogLevel(LogLevel level) => level switch
    {
        LogLevel.Trace => LogEventLevel.Verbose,
        LogLevel.Debug => LogEventLevel.Debug,
        LogLevel.Information => LogEventLevel.Information,
        LogLevel.Warning => LogEventLevel.Warning,
        LogLevel.Error => LogEventLevel.Error,
        LogLevel.Critical => LogEventLevel.Fatal,
        _ => LevelAlias.Off,
    };

    private static LoggerConfiguration Configure(LoggerConfiguration configuration, bool development, LogEventLevel? standardErrorFrom,
        LogEventLevel? least, IReadOnlyList<string> overridden)
    {
        // Over the settings' levels: the default and each category they hold at another (the later override of one category wins).
        if (least is { } level)
        {
            configuration.MinimumLevel.Is(level);
            foreach (var category in overridden)
                configuration.MinimumLevel.Override(category, level);
        }

        configuration = configuration
            .Enrich.FromLogContext()
            .Enrich.With<TraceCorrelationEnricher>()
            .Filter.With(new DatabaseOutageLogThrottle(TimeProvider.System, DatabaseOutageLogThrottle.Interval))
            .Filter.ByExcluding(StartRefusal.IsHostsLineForARefusal);

        return development
            ? configuration.WriteTo.Console(outputTemplate:
                "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj} {{CorrelationId={CorrelationId}}} <{SourceContext}>{NewLine}{Exception}",
                standardErrorFromLevel: standardErrorFrom)
            : configuration.WriteTo.Console(new RenderedCompactJsonFormatter(), standardErrorFromLevel: standardErrorFrom);
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

/// <summary>
/// While the database is away, Wolverine's background agents (durability, scheduled messages, recurring timers, metrics) log
/// each failed poll as an error with its stack trace: 208 in a 90 s outage on one idle node (a drill, 2026-12-04), burying
/// the lines that matter. Per agent and message, the first failure is logged, then at most one an <see cref="Interval"/>,
/// carrying how many were held back since. Only Wolverine's own lines about an unreachable database are thinned; the ledger's
/// lines, requests (503, Retry-After) and every other fault are logged each time, and /health/ready says the database is down.
/// </summary>
public sealed class DatabaseOutageLogThrottle(TimeProvider clock, TimeSpan interval) : ILogEventFilter
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);
    public const string HeldBackProperty = "HeldBack";

    private sealed class Window
    {
        public DateTimeOffset? LastLogged;
        public int HeldBack;
    }

    private readonly ConcurrentDictionary<(string Source, string Template), Window> _windows = new();

    public bool IsEnabled(LogEvent logEvent)
    {
        if (logEvent.Level < LogEventLevel.Warning || logEvent.Exception is not { } exception
            || !logEvent.Properties.TryGetValue("SourceContext", out var property) || property is not ScalarValue { Value: string source }
            || !source.StartsWith("Wolverine.", StringComparison.Ordinal) || !IsDatabaseFault(exception))
            return true;

        var window = _windows.GetOrAdd((source, logEvent.MessageTemplate.Text), _ => new Window());
        var now = clock.GetUtcNow();
        lock (window)
        {
            if (window.LastLogged is { } last && now - last < interval)
            {
                window.HeldBack++;
                return false;
            }

            if (window.HeldBack > 0)
                logEvent.AddOrUpdateProperty(new LogEventProperty(HeldBackProperty, new ScalarValue(window.HeldBack)));
            window.LastLogged = now;
            window.HeldBack = 0;
            return true;
        }
    }

    /// <summary>A transient fault (Reliability.cs) of PostgreSQL or of the connection to it, however Wolverine wrapped it.</summary>
    private static bool IsDatabaseFault(Exception exception) =>
        TransientFaults.IsTransient(exception) && Chain(exception).Any(e => e is NpgsqlException);

    private static IEnumerable<Exception> Chain(Exception exception) => exception switch
    {
        AggregateException a => a.Flatten().InnerExceptions.SelectMany(Chain).Prepend(a),
        { InnerException: { } inner } => Chain(inner).Prepend(exception),
        _ => [exception],
    };
}

