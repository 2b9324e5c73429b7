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

    /// <summary>How many events were written so far: a mark for <see cref="RequestsSince"/>.</summary>
    public int Mark() => _events.Count;

    /// <summary>The request log's lines ("HTTP POST ... responded 201") written after the mark (the host serves every test).</summary>
    public IReadOnlyList<LogEvent> RequestsSince(int mark) =>
        [.. _events.Skip(mark).Where(e => e.MessageTemplate.Text.StartsWith("HTTP {RequestMethod}", StringComparison.Ordinal))];
}
