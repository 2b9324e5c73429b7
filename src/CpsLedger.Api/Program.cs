using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using CpsLedger.Api.Audit;
using CpsLedger.Api.Catalogue;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Operations;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Migration;
using CpsLedger.Api.Platform;
using CpsLedger.Api.Tiers;
using CpsLedger.Api.WebConsole;
using JasperFx;
using JasperFx.CommandLine;
using JasperFx.CommandLine.Commands;
using JasperFx.CommandLine.Help;
using JasperFx.CommandLine.Parsing;
using JasperFx.Core.TypeScanning;
using Spectre.Console;

// English with ISO dates and amounts written 248.00, whatever the machine's locale: the process's culture follows LANG (et_EE wrote
// "0,4 s" and "248,00", th_TH the year 2569) in command output, problem details and log text alike. The e-mails fix theirs too
// (MemberEmails.InvariantCulture), wherever they are composed.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;

args = Program.WithHelpAsked(args);

// Serving takes --verbose and --log-level as the commands do. They are no settings: the builder's command line read
// `--verbose --urls http://127.0.0.1:5081` as the setting "verbose" with the value "--urls", and served on the default address.
var serving = Program.ServingLogFlagsOf(args);
if (serving.Refusal is { } servingRefusal)
{
    Console.Error.WriteLine(servingRefusal);
    return 1;
}
args = serving.Settings;

// The command, when the arguments may name --verbose or --log-level: looked up once (for JasperFx's extension commands a scan of
// the application's folder), for the refusal below and the logging flags the host is built with.
var loggingFlagsCommand = Program.LoggingFlagsCommandOf(args);

// A --log-level that is not a level's name (JasperFx would read `2` as Information): refused before anything starts.
if (Program.LogLevelRefusal(loggingFlagsCommand) is { } refusal)
{
    Console.Error.WriteLine(refusal);
    return 1;
}

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = Program.ContentRootFor(args) });

// The local address unless one is configured (Urls, ASPNETCORE_URLS, --urls): a default in appsettings.json would win over
// ASPNETCORE_URLS, the variable most people set first.
if (string.IsNullOrWhiteSpace(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
    builder.WebHost.UseUrls("http://127.0.0.1:5080");

var commandInput = Program.CommandInputOf(loggingFlagsCommand);
builder.AddLedgerLogging(command: Program.NamesACommand(args), verbose: commandInput?.VerboseFlag == true || serving.Verbose,
    level: commandInput?.LogLevelFlag ?? serving.Level);
// A refused setting (the options' ValidateOnStart checks, a SettingRefusedException while the host is built or started, an address
// in use) ends the start, or a command, with one Fatal line per refusal and exit code 1 (Platform/StartRefusal.cs); any other
// exception is a bug and keeps its stack.
try
{
    await builder.AddLedgerDatabaseAsync(args);
    builder.AddLedgerStore();
    builder.AddLedgerMail();
    builder.AddAudit();
    builder.Services.AddHostedService<TierTableDefaultsLoader>();
    builder.AddCatalogue();
    builder.AddInvoicing();
    builder.AddMembershipYear();
    builder.AddReconciliation();
    builder.AddMigration();
    builder.AddOldEmailVerification();
    builder.AddLedgerAuth();
    builder.AddLedgerConsole();
    builder.AddLedgerHttp();
    builder.AddLedgerTelemetry();
    builder.AddTestSeams();
    builder.AddStartRefusalsToEnvironmentChecks();

    var app = builder.Build();
    // Where a refusal for a missing schema looks up what is missing (Platform/StartRefusal.cs).
    StartRefusal.ListTablesFrom(app.Services);

    app.UseLedgerPipeline();
    app.MapLedgerEndpoints();
    app.MapLedgerConsole();

    // Serving starts the host directly. JasperFx's command line is for the commands (db-apply, codegen, projections,
    // legacy-import, ...); on every start it scans seven assemblies for commands and prints a plain-text line for each ahead of
    // the JSON log, which log shippers read one JSON object per line.
    if (!Program.NamesACommand(args))
    {
        await using (app)
        {
            if (await StartRefusal.StartAsync(app) is { } refused)
                return refused;
            await app.WaitForShutdownAsync();
        }

        return 0;
    }

    // JasperFx writes its own lines (the assemblies it searches for commands, a command's error) through Spectre's console, on
    // stdout. The ledger's commands write their output with Console.Out, for a file or `$(...)` (`token` prints the token alone):
    // for them that console writes to stderr. JasperFx's own commands (help, db-*, codegen, ...) write their output through it, so
    // for them it stays on stdout; on either, less the empty line JasperFx writes ahead of every command's output
    // (Platform/CommandLineOutput.cs).
    // JasperFx's notices of the flags it applies ("Verbose flag is on.") go to stderr for every command (CommandLineOutput.cs).
    Console.SetOut(new JasperFxNoticesToError(Console.Out, Console.Error));
    if (Program.IsLedgerCommand(args))
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(new WithoutLeadingBlankLine(Console.Error)),
            // Spectre sees a writer of ours, not the console's: it is told what it would have found of standard error itself, or
            // it writes colour codes into a file or a pipe.
            Ansi = Console.IsErrorRedirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = Console.IsErrorRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
    else
    {
        Console.SetOut(new WithoutLeadingBlankLine(Console.Out));
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings());
    }

    // Nor does JasperFx write "Searching '<assembly>' for commands" for the assemblies it scans (seven lines ahead of every
    // command's output): it leaves them out once a CommandFactory has applied the extensions of those assemblies (a static flag of
    // JasperFx 2.100 to 2.102; set by the command line only for a host it builds itself), and applying none sets that flag.
    new CommandFactory().ApplyExtensions(new ServiceCollection());

    // A refused setting met inside the command (one it reads, `run --check`'s environment checks) ends it as the start's refusals
    // do, not as JasperFx's "ERROR:" and the stack (Platform/StartRefusal.cs).
    var commandType = loggingFlagsCommand?.Type ?? Program.CommandTypeFor(Program.CommandOf(args)!.ToLowerInvariant());
    StartRefusal.EndTheCommandOnARefusal(app, commandType, StartRefusal.PrefixFor(args));

    // JasperFx's `run` starts the host inside the command, and JasperFx prints any exception there as "ERROR:" and its stack (a
    // surcharge missing, an address in use): its settings are checked here, and the host is started here unless `run` is not run's
    // usage, as JasperFx's own AutoStartHost starts it; its run then serves the host started (it starts one only when the host has
    // not started) and stops it. `run --check` runs the environment checks here first: a refusal among their failures (a surcharge
    // missing) ends it as run's do, with no start; once they pass, the host is started here and JasperFx's run is given no --check
    // (it would run them again). Failures of other checks stay JasperFx's to print (it runs the checks again, and fails on them).
    if (string.Equals(Program.CommandOf(args), "run", StringComparison.OrdinalIgnoreCase))
    {
        app.Services.GetService<Microsoft.Extensions.Options.IStartupValidator>()?.Validate();
        var run = Program.RunInputOf(args);
        if (run is { CheckFlag: true })
        {
            var checks = await JasperFx.Environment.EnvironmentChecker.ExecuteAllEnvironmentChecks(app.Services);
            var refusals = checks.Failures.Select(failure => StartRefusal.Reasons(failure.Exception)).ToList();
            if (refusals.Count > 0 && refusals.All(reasons => reasons is not null))
                return StartRefusal.Refuse([.. refusals.SelectMany(reasons => reasons!).Distinct()]);
            if (checks.Succeeded())
            {
                if (await StartRefusal.StartAsync(app) is { } refused)
                    return refused;
                args = [.. args.Where(arg => !string.Equals(arg, "--check", StringComparison.OrdinalIgnoreCase))];
            }
        }
        else if (run is not null && await StartRefusal.StartAsync(app) is { } refused)
            return refused;
    }

    // Weasel's db-* commands that work on the database catch a failed connection themselves and print it with its stack (db-assert:
    // "Failed to assert database 'Main'!"): the database is reached once first, so one that cannot be reached ends them in the one
    // line of a refusal. db-list reads the configuration only, and runs without a database as before.
    // db-assert on a database the schema was never applied to says so in one line, not as the whole schema's DDL.
    if (Program.CommandOf(args) is { } command && Program.WorksOnTheDatabase.Contains(command))
        await StartRefusal.ReachTheDatabaseAsync(app.Configuration, schemaApplied: string.Equals(command, "db-assert", StringComparison.OrdinalIgnoreCase));

    return await app.RunJasperFxCommands(args);
}
catch (Exception exception) when (StartRefusal.Reasons(exception) is { } reasons)
{
    return StartRefusal.Refuse(reasons, StartRefusal.PrefixFor(args));
}

// Public so that WebApplicationFactory<Program> in the tests can find it.
public partial class Program
{
    /// <summary>
    /// Whether the arguments name a JasperFx command (its name comes first: <c>codegen write</c>, <c>db-apply</c>, <c>run</c>) rather
    /// than settings only (<c>--urls http://127.0.0.1:5081</c>, <c>--environment=Staging</c>), which
    /// <c>WebApplication.CreateBuilder(args)</c> has read already. WebApplicationFactory passes every test host's settings as
    /// <c>--key=value</c> arguments: JasperFx read them as flags of its run command and refused them, or, told to start the
    /// host itself (<c>AutoStartHost</c>), started it a second time and failed on it once disposed ("Error parsing input").
    /// </summary>
    internal static bool NamesACommand(IReadOnlyList<string> args) => CommandOf(args) is not null;

    /// <summary>JasperFx's (Weasel's) commands that connect to the database, and print a failure to connect with its stack themselves.</summary>
    internal static readonly IReadOnlySet<string> WorksOnTheDatabase =
        new HashSet<string>(["db-apply", "db-assert", "db-patch", "db-dump"], StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The arguments to run when help is asked after a command (<c>token --help</c>, <c>db-apply -?</c>): JasperFx's own
    /// <c>help token</c>, as JasperFx answers those with "Invalid usage" and "Unknown argument or flag" ahead of the usage (its
    /// help ends with exit code 1 too, JasperFx's for a command's usage); <c>--help</c> alone is JasperFx's list of commands, not a
    /// start of the service. <c>-h</c> is no help flag: it is token's lifetime in hours.
    /// </summary>
    internal static string[] WithHelpAsked(IReadOnlyList<string> args)
    {
        if (!args.Any(a => a is "--help" or "-?"))
            return [.. args];
        return CommandOf(args) is { } command ? ["help", command] : ["help"];
    }

    /// <summary>
    /// The folder the settings (<c>appsettings*.json</c>) are read from: the application's own (the build or publish output,
    /// where they are copied) unless one is given (<c>--contentRoot</c>, <c>ASPNETCORE_CONTENTROOT</c>; WebApplicationFactory
    /// gives the project's). ASP.NET Core's default, the current directory, made the dll started from the repository root read
    /// no settings at all, so its <c>token</c> command had no key while the service had one.
    /// </summary>
    internal static string? ContentRootFor(IReadOnlyList<string> args)
    {
        var given = new ConfigurationBuilder()
            .AddEnvironmentVariables("DOTNET_")
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddCommandLine([.. args])
            .Build()[HostDefaults.ContentRootKey];
        return string.IsNullOrEmpty(given) ? AppContext.BaseDirectory : null;
    }

    /// <summary>Whether the arguments name one of the ledger's own commands (this assembly's), not one of JasperFx's.</summary>
    internal static bool IsLedgerCommand(IReadOnlyList<string> args) =>
        CommandOf(args) is { } name && CommandIn(typeof(Program).Assembly, name.ToLowerInvariant()) is not null;

    /// <summary>The command the arguments name, as JasperFx finds it, and the tokens after its name (<see cref="FlagTokens"/>).</summary>
    internal sealed record CommandTokens(Type Type, IReadOnlyList<string> Tokens);

    /// <summary>
    /// The command the arguments name and its tokens, for <see cref="LogLevelRefusal"/> and <see cref="CommandInputOf"/>; null when
    /// they name no command, no command JasperFx finds, or neither <c>--verbose</c> nor <c>--log-level</c> (nor <c>-l</c>): then
    /// the command is not looked up (for JasperFx's extension commands, db-apply and the like, that is a scan of the application's
    /// folder).
    /// </summary>
    internal static CommandTokens? LoggingFlagsCommandOf(IReadOnlyList<string> args)
    {
        if (CommandOf(args) is not { } name)
            return null;
        var tokens = FlagTokens(args);
        return MayNameLoggingFlags(tokens) && CommandTypeFor(name.ToLowerInvariant()) is { } type ? new(type, tokens) : null;
    }

    /// <summary>
    /// The command's input as JasperFx's own parsing reads the arguments, for its <c>--verbose</c> and <c>--log-level</c> (or their
    /// short forms, where the command's input gives them one): JasperFx applies those to a host builder only, and the commands run
    /// on the app built here already (<c>Logging.AddLedgerLogging</c> applies them). Null when the arguments name neither flag, name
    /// no command whose input is JasperFx's <see cref="NetCoreInput"/>, or are not that command's usage: JasperFx refuses those
    /// itself when it runs the command.
    /// </summary>
    internal static NetCoreInput? CommandInputOf(CommandTokens? command)
    {
        if (command is null)
            return null;
        try
        {
            // As JasperFx's CommandFactory builds a command's input (BuildRun): multi-letter short flags split, then the usages.
            var creator = new ActivatorCommandCreator();
            var input = creator.CreateCommand(command.Type).Usages.BuildInput(new Queue<string>(command.Tokens), creator);
            return input as NetCoreInput;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>The input of JasperFx's <c>run</c> as JasperFx reads these arguments, or null when they are not its usage.</summary>
    internal static RunInput? RunInputOf(IReadOnlyList<string> args) =>
        CommandInputOf(new CommandTokens(typeof(RunCommand), FlagTokens(args))) as RunInput;

    /// <summary>
    /// Why the command's <c>--log-level</c> (or its short form, where the command's input gives it one) is refused, or null. JasperFx
    /// reads the value with <c>Enum.Parse</c>, which takes a number (<c>2</c> is Information, <c>99</c> a level past None), names
    /// joined by commas and spaces around a name: a level nobody reading the command can tell. Only the names, as written, are taken.
    /// </summary>
    internal static string? LogLevelRefusal(CommandTokens? command)
    {
        if (command is null)
            return null;

        // The flags in the order JasperFx tries them: a short form two flags share is the first one's (codegen's -l is --language).
        var flags = new UsageGraph(command.Type).Flags
            .Select(flag => Regex.Match(flag.ToUsageDescription(), @"^\[(?:(-\w), )?(--[\w:-]+)"))
            .Where(usage => usage.Success).Select(usage => (Short: usage.Groups[1].Value, Long: usage.Groups[2].Value)).ToList();
        var index = flags.FindIndex(flag => flag.Long == LogLevelFlag);
        if (index < 0)
            return null;
        var shortForm = flags[index].Short;
        var isLevelFlag = (string token) => string.Equals(token, LogLevelFlag, StringComparison.OrdinalIgnoreCase)
            || (shortForm != "" && token == shortForm && flags.FindIndex(flag => flag.Short == shortForm) == index);

        // The last one given is the one JasperFx keeps; one without a value JasperFx refuses itself.
        var tokens = command.Tokens;
        var at = Enumerable.Range(0, tokens.Count).LastOrDefault(i => isLevelFlag(tokens[i]), -1);
        if (at < 0 || at + 1 == tokens.Count || Enum.GetNames<LogLevel>().Contains(tokens[at + 1], StringComparer.Ordinal))
            return null;
        return NotALevel(tokens[at + 1]);
    }

    private static string NotALevel(string value) =>
        $"{LogLevelFlag} takes a level's name, as written: Trace, Debug, Information, Warning, Error, Critical or None; '{value}' is none of them.";

    private const string LogLevelFlag = "--log-level";

    /// <summary>Serving's logging flags, taken out of its arguments (<see cref="ServingLogFlagsOf"/>).</summary>
    internal sealed record ServingLogFlags(string[] Settings, bool Verbose, LogLevel? Level, string? Refusal);

    /// <summary>
    /// When the arguments name no command (serving): <c>--verbose</c> and <c>--log-level &lt;level&gt;</c> (or
    /// <c>--log-level=&lt;level&gt;</c>), as the commands take them, and the other arguments, the settings, without them. The
    /// configuration's command line would read <c>--verbose</c> as a setting with the next argument for its value (<c>--urls</c>, whose
    /// address was then lost). A level is one of the names, as written, as for a command (<see cref="LogLevelRefusal"/>).
    /// </summary>
    internal static ServingLogFlags ServingLogFlagsOf(IReadOnlyList<string> args)
    {
        if (NamesACommand(args))
            return new([.. args], false, null, null);

        var settings = new List<string>();
        var verbose = false;
        LogLevel? level = null;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (string.Equals(arg, "--verbose", StringComparison.OrdinalIgnoreCase))
            {
                verbose = true;
                continue;
            }

            string? value;
            if (string.Equals(arg, LogLevelFlag, StringComparison.OrdinalIgnoreCase))
                value = i + 1 < args.Count ? args[++i] : "";
            else if (arg.StartsWith(LogLevelFlag + "=", StringComparison.OrdinalIgnoreCase))
                value = arg[(LogLevelFlag.Length + 1)..];
            else
            {
                settings.Add(arg);
                continue;
            }

            if (!Enum.GetNames<LogLevel>().Contains(value, StringComparer.Ordinal))
                return new([.. args], false, null, NotALevel(value));
            level = Enum.Parse<LogLevel>(value);
        }

        return new([.. settings], verbose, level, null);
    }

    // The tokens after the command's name as JasperFx's parsing reads them (ArgPreprocessor: -vl is -v -l, --flag=value two tokens).
    private static List<string> FlagTokens(IReadOnlyList<string> args) => [.. ArgPreprocessor.Process(args.Skip(1))];

    // Whether the tokens may name --verbose or --log-level (LoggingFlagsCommandOf looks the command up only then).
    private static bool MayNameLoggingFlags(List<string> tokens) => tokens.Any(token =>
        token == "-l" || string.Equals(token, LogLevelFlag, StringComparison.OrdinalIgnoreCase) || string.Equals(token, "--verbose", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The command of that name as JasperFx's command line finds it: the ledger's (which replaces JasperFx.Events' projections),
    /// JasperFx's own, or one of its extensions' (assemblies marked [JasperFxAssembly]).
    /// </summary>
    internal static Type? CommandTypeFor(string name) =>
        CommandIn(typeof(Program).Assembly, name) ?? CommandIn(typeof(CommandFactory).Assembly, name)
        ?? AssemblyFinder.FindAssemblies(_ => { }, a => !a.IsDynamic && a.GetCustomAttribute<JasperFxAssemblyAttribute>() is not null, false)
            .Select(assembly => CommandIn(assembly, name)).LastOrDefault(type => type is not null);

    private static Type? CommandIn(Assembly assembly, string name) => assembly.GetExportedTypes()
        .FirstOrDefault(type => CommandFactory.IsJasperFxCommandType(type) && CommandFactory.CommandNameFor(type) == name);

    /// <summary>The JasperFx command the arguments name (<see cref="NamesACommand"/>), or null when they are settings only.</summary>
    internal static string? CommandOf(IReadOnlyList<string> args) => args.Count > 0 && !args[0].StartsWith('-') ? args[0] : null;
}
