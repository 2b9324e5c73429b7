using System.Collections.Concurrent;
using Serilog.Core;
using Serilog.Events;

namespace CpsLedger.Tests.Harness;

/// <summary>Every Serilog event the service writes, kept for tests that assert on what the logs say.</summary>
public sealed class CapturedLogs : ILogEventSink
{
    private readonly ConcurrentQueue<LogEvent> _events = new();

    public void Emit(LogEvent logEvent) => _events.Enqueue(logEvent);

    /// <summary>The events written while serving the request with this correlation id.</summary>
    public IReadOnlyList<LogEvent> For(string correlationId) =>
    [
        .. _events.Where(e => e.Properties.TryGetValue(Api.Platform.Logging.CorrelationIdProperty, out var value)
                              && value is ScalarValue { Value: string id } && id == correlationId),
    ];

    /// <summary>The warnings and errors logged for a request, with their exceptions, as text for a failing test's message.</summary>
    public string Explain(string? correlationId) => correlationId is null
        ? "(no correlation id in the response)"
        : string.Join("\n", For(correlationId).Where(e => e.Level >= LogEventLevel.Warning)
            .Select(e => $"[{e.Level}] {e.RenderMessage()}{(e.Exception is null ? "" : "\n" + e.Exception)}")) is { Length: > 0 } text
            ? text
            : "(nothing at warning level or above)";

    /// <summary>The dead letters reported so far (<c>DeadLetterAlarm</c>), with their exceptions, for a failing test's message.</summary>
    public string DeadLetters() =>
        string.Join("\n", _events.Where(e => e.MessageTemplate.Text.StartsWith("Dead letter:", StringComparison.Ordinal))
            .Select(e => $"{e.RenderMessage()}\n{e.Exception}"));

    /// <summary>The message type of each dead letter reported so far (<c>DeadLetterAlarm</c>), one entry per report.</summary>
    public IReadOnlyList<string> DeadLetteredTypes() =>
    [
        .. _events.Where(e => e.MessageTemplate.Text.StartsWith("Dead letter:", StringComparison.Ordinal))
            .Select(e => e.Properties.TryGetValue("MessageType", out var type) && type is ScalarValue { Value: string name } ? name : "unknown"),
    ];

    /// <summary>The events written after the mark whose exception is, or wraps, PostgreSQL's "deadlock detected" (40P01).</summary>
    public IReadOnlyList<LogEvent> DeadlocksSince(int mark) => [.. _events.Skip(mark).Where(e => e.Exception is { } x && IsDeadlock(x))];

    private static bool IsDeadlock(Exception e) => e switch
    {
        Npgsql.PostgresException { SqlState: "40P01" } => true,
        AggregateException a => a.InnerExceptions.Any(IsDeadlock),
        _ => e.InnerException is { } inner && IsDeadlock(inner),
    };

    /// <summary>A property of a logged event, as the scalar of the type it was logged with (a skip line's ids and reason).</summary>
    public static T Scalar<T>(LogEvent logEvent, string property) =>
        Assert.IsType<T>(Assert.IsType<ScalarValue>(logEvent.Properties[property]).Value);

    /// <summary>The events written after the mark.</summary>
    public IReadOnlyList<LogEvent> Since(int mark) => [.. _events.Skip(mark)];

    /// <summary>How many events were written so far: a mark for <see cref="RequestsSince"/> and <see cref="DeadlocksSince"/>.</summary>
    public int Mark() => _events.Count;

    /// <summary>The request log's lines ("HTTP POST ... responded 201") written after the mark (the host serves every test).</summary>
    public IReadOnlyList<LogEvent> RequestsSince(int mark) =>
        [.. _events.Skip(mark).Where(e => e.MessageTemplate.Text.StartsWith("HTTP {RequestMethod}", StringComparison.Ordinal))];
}
