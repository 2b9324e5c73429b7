using System.Net.Sockets;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Npgsql;
using Serilog.Events;
using Serilog.Parsing;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// A database outage of 90 s made one node log 208 errors with stack traces, nearly all from Wolverine's background agents
/// polling every second (a drill, 2026-12-04): per agent and message, the throttle keeps the first and then one a minute.
/// </summary>
public sealed class DatabaseOutageLogThrottleTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 4, 19, 39, 0, TimeSpan.Zero);
    private static readonly Exception Unreachable = new NpgsqlException("Failed to connect to 127.0.0.1:37015", new SocketException(111));

    private static LogEvent Event(string source, string template, Exception? exception = null, LogEventLevel level = LogEventLevel.Error) =>
        new(Start, level, exception ?? Unreachable, new MessageTemplateParser().Parse(template),
            [new LogEventProperty("SourceContext", new ScalarValue(source))]);

    private const string Agent = "Wolverine.Runtime.Agents.IAgentCommand";
    private const string Failed = "Invocation of {Command} failed!";

    [Fact]
    public void an_agent_failing_every_second_logs_its_first_failure_then_one_a_minute_with_the_count_held_back()
    {
        var clock = new AdjustableClock();
        var throttle = new DatabaseOutageLogThrottle(clock, TimeSpan.FromMinutes(1));
        var kept = new List<LogEvent>();

        for (var second = 0; second < 150; second++)
        {
            var e = Event(Agent, Failed);
            if (throttle.IsEnabled(e))
                kept.Add(e);
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(3, kept.Count); // at 0 s, 60 s and 120 s
        Assert.False(kept[0].Properties.ContainsKey(DatabaseOutageLogThrottle.HeldBackProperty));
        Assert.Equal([59, 59], kept.Skip(1).Select(e => (int)((ScalarValue)e.Properties[DatabaseOutageLogThrottle.HeldBackProperty]).Value!));
    }

    [Fact]
    public void each_agent_and_message_is_counted_on_its_own()
    {
        var throttle = new DatabaseOutageLogThrottle(new AdjustableClock(), TimeSpan.FromMinutes(1));

        Assert.True(throttle.IsEnabled(Event(Agent, Failed)));
        Assert.True(throttle.IsEnabled(Event(Agent, "Another {Thing} failed")));
        Assert.True(throttle.IsEnabled(Event("Wolverine.RDBMS.DurabilityAgent", Failed)));
        Assert.False(throttle.IsEnabled(Event(Agent, Failed)));
    }

    [Theory]
    [InlineData("CpsLedger.Api.Platform.LedgerExceptionHandler", true, LogEventLevel.Error)] // the ledger's own lines stay whole
    [InlineData(Agent, false, LogEventLevel.Error)] // not the database: every one is logged
    [InlineData(Agent, true, LogEventLevel.Information)]
    public void everything_else_is_logged_every_time(string source, bool databaseFault, LogEventLevel level)
    {
        var throttle = new DatabaseOutageLogThrottle(new AdjustableClock(), TimeSpan.FromMinutes(1));
        var exception = databaseFault ? Unreachable : new InvalidOperationException("A bug");

        Assert.All(Enumerable.Range(0, 5), _ => Assert.True(throttle.IsEnabled(Event(source, Failed, exception, level))));
    }

    [Fact]
    public void a_database_fault_wrapped_in_wolverines_exceptions_is_recognised()
    {
        var throttle = new DatabaseOutageLogThrottle(new AdjustableClock(), TimeSpan.FromMinutes(1));
        var wrapped = new AggregateException(new InvalidOperationException("Durability agent", Unreachable));

        Assert.True(throttle.IsEnabled(Event(Agent, Failed, wrapped)));
        Assert.False(throttle.IsEnabled(Event(Agent, Failed, wrapped)));
    }
}
