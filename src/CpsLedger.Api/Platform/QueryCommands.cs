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
public sealed class LedgerEventQueryCommand : EventQueryCommand
{
    public override Task<bool> Execute(EventQueryInput input)
    {
        BuiltHost.HandTo(input);
        return base.Execute(input);
    }
}

/// <summary>JasperFx's <c>stream-query</c>, whose standard output is its report alone, as <see cref="LedgerEventQueryCommand"/>'s.</summary>
[Description("Query event stream metadata (version, aggregate type, compaction watermark, archive flag) with filters and paging",
    Name = "stream-query")]
public sealed class LedgerStreamQueryCommand : StreamQueryCommand
{
    public override Task<bool> Execute(StreamQueryInput input)
    {
        BuiltHost.HandTo(input);
        return base.Execute(input);
    }
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
