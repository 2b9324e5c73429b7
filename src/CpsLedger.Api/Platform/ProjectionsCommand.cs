using System.Diagnostics;
using JasperFx.CommandLine;
using JasperFx.Core;
using JasperFx.Events;
using JasperFx.Events.CommandLine;
using JasperFx.Events.Descriptors;
using JasperFx.Events.Projections;
using Microsoft.Extensions.DependencyInjection;

// JasperFx registers the commands of assemblies so marked after those of their dependencies: this assembly's projections
// command replaces JasperFx.Events' one of that name (LedgerProjectionsCommand).
[assembly: JasperFx.JasperFxAssembly]

namespace CpsLedger.Api.Platform;

/// <summary>
/// JasperFx's <c>projections</c> command with the same input (<c>rebuild</c>, <c>list</c>, <c>run</c>; <c>-p</c>, <c>-d</c>, <c>-t</c>,
/// <c>--shard-timeout</c>, <c>--max-concurrent</c>, <c>-a</c>; each short flag one option's: <see cref="LedgerProjectionInput"/>), whose rebuild reports on standard output what it rebuilt and
/// nothing else. JasperFx's own (JasperFx.Events 2.100.1) wrote, under a host built before the command line ran (this one,
/// <c>RunJasperFxCommands</c> on the built app): "Cannot override services when the IHost is already constructed" (it asks
/// the built host for other logging), "Press CTRL + C to quit", a progress bar frozen at "0%" once redirected, and
/// <c>[purple]Finished rebuild in N ms[/]</c> as literal text (markup written with <c>WriteLine</c>, not <c>MarkupLine</c>); a
/// failed rebuild ended with "Errors detected" and no reason, and a <c>-p</c> naming no projection exited 0 having done nothing.
/// It replaces JasperFx's by name: this assembly is marked <c>[JasperFxAssembly]</c>, and JasperFx registers the commands of
/// marked assemblies after their dependencies (JasperFx.Events among them), the last of one name winning.
/// </summary>
[Description("Rebuilds the projections by Marten's daemon (rebuild; -p one of them), lists them (list) or runs the asynchronous ones (run, the default)",
    Name = "projections")]
public sealed class LedgerProjectionsCommand : JasperFxAsyncCommand<LedgerProjectionInput>
{
    public LedgerProjectionsCommand()
    {
        // JasperFx's usages (the action may be left out: run), whose help listed every option under each: here under the action
        // alone, which the options follow (`projections run -p Name`).
        Usage("Runs the asynchronous projections (as run does)").Arguments().ValidFlags();
        Usage("Lists, rebuilds or runs the projections").Arguments(x => x.Action);
    }

    public override async Task<bool> Execute(LedgerProjectionInput input)
    {
        if (input.Action == ProjectionAction.list)
        {
            using var listed = input.BuildHost();
            return await ListAsync(listed.Services, input, Console.Out, Console.Error);
        }

        if (input.Action == ProjectionAction.run)
        {
            // JasperFx's own: its live display is the output (the command is the ledger's, so JasperFx's console writes to
            // stderr: Program), on stdout as it was.
            BuiltHost.HandTo(input);
            return await new ProjectionsCommand().Execute(input);
        }

        TimeSpan shardTimeout;
        try
        {
            shardTimeout = input.ShardTimeoutFlag.IsEmpty() ? TimeSpan.FromMinutes(5) : input.ShardTimeoutFlag!.ToTime();
        }
        catch (Exception)
        {
            await Console.Error.WriteLineAsync($"--shard-timeout '{input.ShardTimeoutFlag}' is not a time (e.g. 30s, 5m).");
            return false;
        }

        using var built = input.BuildHost();
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // Ctrl+C stops the rebuild and lets the command end; a projection cut short is rebuilt again by the next run.
            e.Cancel = true;
            cancel.Cancel();
        };
        if (!await RebuildOverBrokenChains.AllowsAsync(built.Services, input.DespiteChainBreaksFlag, Console.Error, cancel.Token))
            return false;
        return await RebuildAsync(built.Services, input, shardTimeout, Console.Out, Console.Error, cancel.Token);
    }

    /// <summary>
    /// Rebuilds the projections the input selects (every stored one without <c>-p</c>) by Marten's daemon: one line per
    /// projection rebuilt on <paramref name="output"/>, each failure with its reason on <paramref name="error"/>. False when a
    /// projection failed or <c>-p</c> names none.
    /// </summary>
    public static async Task<bool> RebuildAsync(
        IServiceProvider services, ProjectionInput input, TimeSpan shardTimeout, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var stores = services.GetServices<IEventStore>().ToList();
        var usages = await UsagesAsync(stores, ct);

        var selections = ProjectionSelection.Filter(usages, input);
        if (selections.Count == 0)
        {
            var known = usages.SelectMany(u => u.Subscriptions).Select(s => s.Name).Order(StringComparer.Ordinal);
            await error.WriteLineAsync(input.ProjectionFlag.IsEmpty()
                ? "No projection or database matches the selection (-s, -d, -t)."
                : $"No projection is named '{input.ProjectionFlag}'. The projections: {string.Join(", ", known)}.");
            return false;
        }

        var succeeded = true;
        foreach (var selection in selections)
        {
            var store = stores.Single(s => s.Subject == selection.Storage.SubjectUri);
            // What JasperFx's rebuild takes: the stored projections, not live aggregations or subscriptions.
            var names = selection.Subscriptions
                .Where(s => s.Lifecycle != ProjectionLifecycle.Live && s.SubscriptionType != SubscriptionType.Subscription)
                .Select(s => s.Name)
                .ToList();
            foreach (var database in selection.DatabaseIdentifiers)
            {
                if (input.AdvanceFlag)
                {
                    foreach (var advanced in (await store.AllDatabases()).Where(d => d.Identifier.EqualsIgnoreCase(database)))
                        await store.AdvanceHighWaterMarkToLatestAsync(advanced, null, null, ct);
                }

                succeeded &= await RebuildDatabaseAsync(store, database, names, input, shardTimeout, output, error, ct);
            }
        }

        return succeeded;
    }

    /// <summary>
    /// One line per projection the input selects: its name, lifecycle (Inline, Async, Live) and kind, in columns. JasperFx's
    /// own drew a table in a tree, 80 characters wide once redirected, which broke every name over several lines.
    /// </summary>
    public static async Task<bool> ListAsync(IServiceProvider services, ProjectionInput input, TextWriter output, TextWriter error)
    {
        var usages = await UsagesAsync(services.GetServices<IEventStore>(), CancellationToken.None);

        var listed = ProjectionSelection.Filter(usages, input).SelectMany(s => s.Subscriptions).OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
        if (listed.Count == 0)
        {
            await error.WriteLineAsync(input.ProjectionFlag.IsEmpty()
                ? "No projection matches the selection (-s, -d, -t)."
                : $"No projection is named '{input.ProjectionFlag}'.");
            return false;
        }

        var width = listed.Max(s => s.Name.Length);
        foreach (var subscription in listed)
            await output.WriteLineAsync($"{subscription.Name.PadRight(width)}  {subscription.Lifecycle,-6}  {subscription.SubscriptionType}");
        return true;
    }

    private static async Task<bool> RebuildDatabaseAsync(IEventStore store, string database, IReadOnlyList<string> names,
        ProjectionInput input, TimeSpan shardTimeout, TextWriter output, TextWriter error, CancellationToken ct)
    {
        using var daemon = await store.BuildProjectionDaemonAsync(database);
        await daemon.PrepareForRebuildsAsync();
        if (daemon.Tracker.HighWaterMark == 0)
        {
            await output.WriteLineAsync($"No events in {database}: nothing to rebuild.");
            return true;
        }

        var parallelism = input.ResolveMaxDegreeOfParallelism(store.MaxConcurrentRebuildsPerDatabase);
        daemon.MaxConcurrentRebuildsPerDatabase = parallelism;
        var failed = 0;
        var lines = new SemaphoreSlim(1);
        await Parallel.ForEachAsync(names, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = parallelism }, async (name, token) =>
        {
            var clock = Stopwatch.StartNew();
            string line;
            TextWriter to;
            try
            {
                await daemon.RebuildProjectionAsync(name, shardTimeout, token);
                (line, to) = ($"{name}: rebuilt by Marten's daemon in {clock.Elapsed.TotalSeconds:0.0} s", output);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Interlocked.Increment(ref failed);
                (line, to) = ($"{name}: the rebuild failed ({Reason(e)}); its documents are as the failure left them: run it again.", error);
            }

            await lines.WaitAsync(CancellationToken.None);
            try
            {
                await to.WriteLineAsync(line);
            }
            finally
            {
                lines.Release();
            }
        });
        await daemon.StopAllAsync();
        return failed == 0;
    }

    // What each event store says of its projections and databases, as JasperFx's selection filters them.
    private static async Task<List<EventStoreUsage>> UsagesAsync(IEnumerable<IEventStore> stores, CancellationToken ct)
    {
        var usages = new List<EventStoreUsage>();
        foreach (var store in stores)
        {
            if (await store.TryCreateUsage(ct) is { } usage)
                usages.Add(usage);
        }

        return usages;
    }

    private static string Reason(Exception e) =>
        string.Join(": ", e is AggregateException many ? many.Flatten().InnerExceptions.Select(i => $"{i.GetType().Name}: {i.Message}") : [$"{e.GetType().Name}: {e.Message}"]);
}

/// <summary>
/// JasperFx's projection input with each short flag one option's. JasperFx.Events' <see cref="ProjectionInput"/> gave <c>-a</c> to
/// <c>--advance</c> and to <see cref="NetCoreInput"/>'s <c>--applicationname</c>, and <see cref="NetCoreInput"/> gives <c>-v</c> to
/// <c>--env-variable</c> and <c>--verbose</c>; the parser read a short flag as the first of its two (<c>-a</c> advanced, <c>-v</c>
/// took a <c>KEY=VALUE</c>), while the help listed both. Each keeps that meaning; the other has its long name only. The ledger's
/// other commands take <see cref="LedgerInput"/>, which does the same for <c>-v</c>; this input cannot derive from it.
/// </summary>
public sealed class LedgerProjectionInput : ProjectionInput
{
    [Description("Override the IHostEnvironment.ApplicationName")]
    [FlagAlias("applicationname", true)]
    public new string? ApplicationNameFlag { get => base.ApplicationNameFlag; set => base.ApplicationNameFlag = value; }

    /// <summary>Applied before the host is built, by Program (<c>Logging.AddLedgerLogging</c>), as for <see cref="LedgerInput"/>.</summary>
    [Description(LedgerInput.VerboseDescription)]
    [FlagAlias("verbose", true)]
    public new bool VerboseFlag { get => base.VerboseFlag; set => base.VerboseFlag = value; }

    /// <summary>For <c>rebuild</c>: <see cref="RebuildOverBrokenChains"/>.</summary>
    [Description(RebuildOverBrokenChains.FlagDescription)]
    [FlagAlias("despite-chain-breaks", true)]
    public bool DespiteChainBreaksFlag { get; set; }

    /// <summary>Applied before the host is built, by Program, as for <see cref="LedgerInput"/>.</summary>
    [Description(LedgerInput.LogLevelDescription)]
    public new LogLevel? LogLevelFlag { get => base.LogLevelFlag; set => base.LogLevelFlag = value; }
}
