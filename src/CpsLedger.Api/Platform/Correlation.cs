using System.Diagnostics;
using Serilog.Context;

namespace CpsLedger.Api.Platform;

/// <summary>
/// One correlation id per request: the caller's <c>X-Correlation-Id</c> when it is sensible, otherwise the trace id.
/// It is echoed in the response, pushed onto every log line, and handed to Wolverine (which stamps it on every
/// event the request appends, and on every message it cascades).
/// </summary>
public sealed class CorrelationMiddleware(RequestDelegate next)
{
    public const string HeaderName = "X-Correlation-Id";
    private const int MaxLength = 128;

    public async Task InvokeAsync(HttpContext context)
    {
        var correlationId = Accept(context.Request.Headers[HeaderName].ToString())
                            ?? Activity.Current?.TraceId.ToString()
                            ?? context.TraceIdentifier;

        // Wolverine.Http reads this header when it opens the message context (ApplyCorrelationIdHeaderToAllEndpoints).
        context.Request.Headers[HeaderName] = correlationId;
        context.Items[HeaderName] = correlationId;
        context.Response.OnStarting(() =>
        {
            context.Response.Headers[HeaderName] = correlationId;
            return Task.CompletedTask;
        });
        Activity.Current?.SetTag("correlation.id", correlationId);

        using (LogContext.PushProperty(Logging.CorrelationIdProperty, correlationId))
        {
            await next(context);
        }
    }

    public static string? Of(HttpContext context) => context.Items[HeaderName] as string;

    // Anything a caller sends ends up in logs and the event store: keep it short and printable.
    private static string? Accept(string value) =>
        value.Length is > 0 and <= MaxLength && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':')
            ? value
            : null;
}
