using JasperFx.CommandLine;
using JasperFx.Events.CommandLine;
using Spectre.Console;

namespace CpsLedger.Api.Platform;

/// <summary>
/// JasperFx's <c>event-query</c> with the same input and report, whose standard output is the report alone. JasperFx.Events' own
/// (2.102) clears the host's logging through the host builder first (so that no log line spoils the JSON), and the builder the
/// command line wraps around the host the ledger builds before any command runs answered that with "Cannot override services when
/// the IHost is already constructed" on standard output, ahead of the JSON. Here it is handed the built host as a builder that
/// builds it (<see cref="BuiltHost"/>): the ledger's log goes to standard error for every command anyway. It replaces JasperFx's by
/// name, as <see cref="LedgerProjectionsCommand"/> does.
/// </summary>
[Description("Query events across all streams with filters, ordered by sequence ascending, paged", Name = "event-query")]
public sealed class LedgerEventQueryCommand : JasperFxAsyncCommand<LedgerEventQueryInput>
{
    public LedgerEventQueryCommand() => Usage("Query events across all streams of the application's event store");

    public override Task<bool> Execute(LedgerEventQueryInput input)
    {
        BuiltHost.HandTo(input);
        return new EventQueryCommand().Execute(input);
    }
}

/// <summary>JasperFx's <c>stream-query</c>, whose standard output is its report alone, as <see cref="LedgerEventQueryCommand"/>'s.
/// A class of its own, as JasperFx finds a command by its class and <c>[Description]</c> name; what the two share is
/// <see cref="BuiltHost.HandTo"/>.</summary>
[Description("Query event stream metadata (version, aggregate type, compaction watermark, archive flag) with filters and paging",
    Name = "stream-query")]
public sealed class LedgerStreamQueryCommand : JasperFxAsyncCommand<LedgerStreamQueryInput>
{
    public LedgerStreamQueryCommand() => Usage("Query the event streams of the application's event store");

    public override Task<bool> Execute(LedgerStreamQueryInput input)
    {
        BuiltHost.HandTo(input);
        return new StreamQueryCommand().Execute(input);
    }
}

/// <summary>
/// JasperFx's event-query input with each short flag one option's, as <see cref="LedgerProjectionInput"/>: <c>-v</c> is
/// <c>--env-variable</c>, <c>--verbose</c> has its long name only; <c>--log-level</c> says what it does for the ledger.
/// </summary>
/// <remarks>
/// The same two properties as <see cref="LedgerStreamQueryInput"/>, <see cref="LedgerProjectionInput"/> and <see cref="LedgerInput"/>,
/// written in each on purpose: each input derives from the JasperFx input its command takes (one base each, no common one of
/// the ledger's), and JasperFx reads a flag's alias and help from the property on the input's own type, so the properties
/// cannot be inherited from one place; their words are held once (<see cref="LedgerInput.VerboseDescription"/>,
/// <see cref="LedgerInput.LogLevelDescription"/>).
/// </remarks>
public sealed class LedgerEventQueryInput : EventQueryInput
{
    /// <summary>Applied before the host is built, by Program (<c>Logging.AddLedgerLogging</c>), as for <see cref="LedgerInput"/>.</summary>
    [Description(LedgerInput.VerboseDescription)]
    [FlagAlias("verbose", true)]
    public new bool VerboseFlag { get => base.VerboseFlag; set => base.VerboseFlag = value; }

    /// <summary>Applied before the host is built, by Program, as for <see cref="LedgerInput"/>.</summary>
    [Description(LedgerInput.LogLevelDescription)]
    public new LogLevel? LogLevelFlag { get => base.LogLevelFlag; set => base.LogLevelFlag = value; }
}

/// <summary>JasperFx's stream-query input with each short flag one option's, as <see cref="LedgerEventQueryInput"/>.</summary>
public sealed class LedgerStreamQueryInput : StreamQueryInput
{
    /// <summary>Applied before the host is built, by Program (<c>Logging.AddLedgerLogging</c>), as for <see cref="LedgerInput"/>.</summary>
    [Description(LedgerInput.VerboseDescription)]
    [FlagAlias("verbose", true)]
    public new bool VerboseFlag { get => base.VerboseFlag; set => base.VerboseFlag = value; }

    /// <summary>Applied before the host is built, by Program, as for <see cref="LedgerInput"/>.</summary>
    [Description(LedgerInput.LogLevelDescription)]
    public new LogLevel? LogLevelFlag { get => base.LogLevelFlag; set => base.LogLevelFlag = value; }
}

/// <summary>
/// The host the command line was given, handed to one of JasperFx's commands as a builder that builds it: JasperFx's own wrapper
/// answers a command's request for other logging or services with "Cannot override services when the IHost is already constructed"
/// on the console (<c>projections run</c>, <c>event-query</c>, <c>stream-query</c>). The ledger's logging stays as configured (to
/// stderr for every command).
/// </summary>
internal sealed class BuiltHost(IHost host) : IHostBuilder
{
    /// <summary>
    /// Hands the command's input the host it was given, as a <see cref="BuiltHost"/>; JasperFx's console (stderr for the ledger's
    /// commands: Program) writes to standard output again, where JasperFx's command writes its output.
    /// </summary>
    public static void HandTo(NetCoreInput input)
    {
        var host = input.BuildHost();
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        input.HostBuilder = new BuiltHost(host);
    }

    public IDictionary<object, object> Properties { get; } = new Dictionary<object, object>();

    public IHost Build() => host;

    public IHostBuilder ConfigureHostConfiguration(Action<IConfigurationBuilder> configureDelegate) => this;

    public IHostBuilder ConfigureAppConfiguration(Action<HostBuilderContext, IConfigurationBuilder> configureDelegate) => this;

    public IHostBuilder ConfigureServices(Action<HostBuilderContext, IServiceCollection> configureDelegate) => this;

    public IHostBuilder UseServiceProviderFactory<TContainerBuilder>(IServiceProviderFactory<TContainerBuilder> factory)
        where TContainerBuilder : notnull => this;

    public IHostBuilder UseServiceProviderFactory<TContainerBuilder>(Func<HostBuilderContext, IServiceProviderFactory<TContainerBuilder>> factory)
        where TContainerBuilder : notnull => this;

    public IHostBuilder ConfigureContainer<TContainerBuilder>(Action<HostBuilderContext, TContainerBuilder> configureDelegate) => this;
}
