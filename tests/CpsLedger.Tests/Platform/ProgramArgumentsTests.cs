using System.Reflection;
using CpsLedger.Api.Platform;
using JasperFx.CommandLine;
using JasperFx.CommandLine.Help;

namespace CpsLedger.Tests.Platform;

/// <summary>What the service does with its arguments: serve, or run the JasperFx command they name.</summary>
public sealed class ProgramArgumentsTests
{
    [Theory]
    [InlineData("codegen", "write")]
    [InlineData("db-apply")]
    [InlineData("help")]
    [InlineData("run", "--check")]
    [InlineData("legacy-import", "--file", "old.csv")]
    public void arguments_that_start_with_a_command_name_run_that_command(params string[] args) =>
        Assert.True(Program.NamesACommand(args));

    [Theory]
    [InlineData]
    [InlineData("--urls", "http://127.0.0.1:5081")]
    [InlineData("--environment=Staging")]
    // What WebApplicationFactory passes a test host: its settings, never a command.
    [InlineData("--contentRoot=/repo/src/CpsLedger.Api", "--environment=Development", "--applicationName=CpsLedger.Api",
        "--ConnectionStrings:Marten=Host=127.0.0.1;Port=5432", "--Wolverine:Durability:Mode=Solo")]
    public void settings_alone_serve(params string[] args) =>
        Assert.False(Program.NamesACommand(args));

    [Theory]
    [InlineData("token", "--role", "portal")]
    [InlineData("TOKEN")]
    [InlineData("verify")]
    [InlineData("legacy-import", "old.csv")]
    [InlineData("projections-fast-rebuild")]
    // The ledger's check-env replaces JasperFx's (LedgerCheckEnvironmentCommand).
    [InlineData("check-env")]
    // The ledger's db-patch and db-dump replace Weasel's (Platform/SchemaScriptCommands.cs).
    [InlineData("db-patch", "upgrade.sql")]
    [InlineData("db-dump", "schema.sql")]
    // The ledger's projections command replaces JasperFx.Events' one (LedgerProjectionsCommand).
    [InlineData("projections", "rebuild", "-p", "Invoice")]
    // The ledger's own commands print their output with Console.Out: JasperFx's lines go to stderr for them.
    public void the_ledgers_own_commands_are_told_from_jasperfxs(params string[] args) =>
        Assert.True(Program.IsLedgerCommand(args));

    [Theory]
    [InlineData("help")]
    [InlineData("codegen", "write")]
    [InlineData("db-assert")]
    [InlineData("resources", "list")]
    [InlineData("--urls", "http://127.0.0.1:5081")]
    [InlineData]
    public void jasperfxs_commands_and_settings_are_not_the_ledgers(params string[] args) =>
        Assert.False(Program.IsLedgerCommand(args));

    [Theory]
    [InlineData(new[] { "token", "--help" }, new[] { "help", "token" })]
    [InlineData(new[] { "legacy-import", "--file", "old.csv", "-?" }, new[] { "help", "legacy-import" })]
    [InlineData(new[] { "db-apply", "--help" }, new[] { "help", "db-apply" })]
    [InlineData(new[] { "--help" }, new[] { "help" })]
    // Not help: token's -h is its lifetime in hours, and a service's settings are not a command.
    [InlineData(new[] { "token", "--role", "support", "-h", "2" }, new[] { "token", "--role", "support", "-h", "2" })]
    [InlineData(new[] { "--urls", "http://127.0.0.1:5081" }, new[] { "--urls", "http://127.0.0.1:5081" })]
    [InlineData(new string[0], new string[0])]
    // JasperFx answered `token --help` with "Invalid usage / Unknown argument or flag for value --help" and exit code 1.
    public void help_asked_after_a_command_is_the_help_of_that_command(string[] args, string[] run) =>
        Assert.Equal(run, Program.WithHelpAsked(args));

    [Fact]
    public void no_flag_of_the_ledgers_commands_shares_its_one_letter_form_with_another_flag_of_the_same_command()
    {
        // `token -a <id>` matched both --account and JasperFx's --applicationname (from NetCoreInput); the first declared won. And
        // NetCoreInput gives -v to --env-variable and --verbose itself: every command's help listed both, and -v meant the first.
        var clashes = Commands().Where(c => c.Type.Assembly == typeof(Program).Assembly).SelectMany(c => ShortFlagClashes(c.Type));
        Assert.Empty(clashes);
    }

    [Theory]
    [InlineData(new[] { "-v", "KEY=VALUE" }, false)]
    [InlineData(new[] { "--verbose" }, true)]
    [InlineData(new[] { "-v", "KEY=VALUE", "--verbose" }, true)]
    // -v keeps the meaning the parser gave it (--env-variable, a KEY=VALUE); --verbose is read by its long name.
    public void a_ledger_commands_v_is_env_variable_and_verbose_has_its_long_name(string[] args, bool verbose)
    {
        var input = (TokenInput)new UsageGraph(typeof(TokenCommand)).BuildInput(new Queue<string>(args), new ActivatorCommandCreator());
        Assert.Equal(verbose, input.VerboseFlag);
    }

    [Theory]
    [InlineData(new[] { "verify", "--log-level", "Debug" }, "Debug")]
    [InlineData(new[] { "verify", "-l", "Error" }, "Error")]
    [InlineData(new[] { "token", "--role", "support", "--log-level", "Trace" }, "Trace")]
    [InlineData(new[] { "projections", "list", "-l", "None" }, "None")]
    [InlineData(new[] { "db-apply", "--log-level", "Warning" }, "Warning")]
    [InlineData(new[] { "codegen", "preview", "--log-level", "Critical" }, "Critical")]
    // codegen's -l is its --language (the first of the two its input declares), not a level.
    [InlineData(new[] { "codegen", "preview", "-l", "CSharp" }, null)]
    [InlineData(new[] { "verify" }, null)]
    // Not a level JasperFx parses (LogLevel's names, as written): no level here; JasperFx refuses it when it runs the command.
    [InlineData(new[] { "verify", "--log-level", "debug" }, null)]
    [InlineData(new[] { "help", "verify" }, null)]
    [InlineData(new[] { "--urls", "http://127.0.0.1:5081" }, null)]
    public void the_log_level_is_read_as_jasperfxs_parsing_of_the_commands_input_reads_it(string[] args, string? level) =>
        Assert.Equal(level, Program.CommandInputOf(Program.LoggingFlagsCommandOf(args))?.LogLevelFlag?.ToString());

    [Theory]
    [InlineData(new[] { "verify", "--log-level", "2" }, "2")]
    [InlineData(new[] { "verify", "--log-level", "99" }, "99")]
    [InlineData(new[] { "verify", "--log-level=-1" }, "-1")]
    [InlineData(new[] { "projections", "list", "-l", "4" }, "4")]
    [InlineData(new[] { "db-list", "--LOG-LEVEL", "3" }, "3")]
    // Enum.Parse, JasperFx's reading of the value, takes these too: Debug|Error is Critical.
    [InlineData(new[] { "verify", "--log-level", "Debug,Error" }, "Debug,Error")]
    [InlineData(new[] { "verify", "--log-level", " Debug" }, " Debug")]
    [InlineData(new[] { "verify", "--log-level", "debug" }, "debug")]
    // The last one given is the one JasperFx keeps.
    [InlineData(new[] { "verify", "--log-level", "Debug", "--log-level", "1" }, "1")]
    public void a_log_level_that_is_not_a_levels_name_as_written_is_refused_with_the_value_and_the_names(string[] args, string given)
    {
        // JasperFx read `--log-level 2` as Information and `--log-level 99` as a level past None: a number in a log nobody can read.
        var refusal = Program.LogLevelRefusal(Program.LoggingFlagsCommandOf(args));
        Assert.NotNull(refusal);
        Assert.Contains($"'{given}'", refusal);
        Assert.Contains("Trace, Debug, Information, Warning, Error, Critical or None", refusal);
    }

    [Theory]
    [InlineData("verify", "--log-level", "Debug")]
    [InlineData("verify", "-l", "None")]
    [InlineData("db-apply", "--log-level", "Warning")]
    // codegen's -l is its --language, and a value of another flag is not a level.
    [InlineData("codegen", "preview", "-l", "CSharp")]
    [InlineData("token", "--role", "support", "-h", "2")]
    [InlineData("verify")]
    [InlineData("--urls", "http://127.0.0.1:5081")]
    public void a_levels_name_or_no_level_is_not_refused(params string[] args) =>
        Assert.Null(Program.LogLevelRefusal(Program.LoggingFlagsCommandOf(args)));

    [Fact]
    public void the_ledgers_commands_say_what_log_level_does_for_them()
    {
        // JasperFx's own help said "Override the log level"; the ledger's commands apply it themselves (Logging.AddLedgerLogging).
        var descriptions = Commands().Where(c => c.Type.Assembly == typeof(Program).Assembly)
            .Select(c => (c.Name, new UsageGraph(c.Type).Flags.Single(f => f.ToUsageDescription().Contains("--log-level")).Description))
            .ToList();
        Assert.NotEmpty(descriptions);
        Assert.All(descriptions, d => Assert.Equal((d.Name, LedgerInput.LogLevelDescription), d));
    }

    [Theory]
    [InlineData(false, null, null)]
    [InlineData(true, null, "Debug")]
    [InlineData(false, "Error", "Error")]
    [InlineData(false, "Trace", "Verbose")]
    [InlineData(false, "Critical", "Fatal")]
    // --verbose and --log-level together: the more detailed of the two.
    [InlineData(true, "Error", "Debug")]
    [InlineData(true, "Trace", "Verbose")]
    public void verbose_and_log_level_give_every_category_the_more_detailed_of_their_levels(bool verbose, string? level, string? least) =>
        Assert.Equal(least, Logging.LeastLevel(verbose, level is null ? null : Enum.Parse<Microsoft.Extensions.Logging.LogLevel>(level))?.ToString());

    [Fact]
    public void serving_takes_verbose_and_log_level_out_of_its_settings()
    {
        // The settings' command line read `--verbose --urls <address>` as the setting "verbose" with the value "--urls".
        var flags = Program.ServingLogFlagsOf(["--verbose", "--urls", "http://127.0.0.1:5081", "--log-level=Warning"]);

        Assert.Equal(["--urls", "http://127.0.0.1:5081"], flags.Settings);
        Assert.True(flags.Verbose);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, flags.Level);
        Assert.Null(flags.Refusal);
    }

    [Theory]
    [InlineData("2")]
    [InlineData("debug")]
    [InlineData("")]
    public void serving_refuses_a_log_level_that_is_not_a_levels_name(string level)
    {
        var flags = Program.ServingLogFlagsOf(["--log-level", level]);

        Assert.Contains($"'{level}' is none of them", flags.Refusal);
    }

    [Fact]
    public void a_commands_arguments_are_the_commands_to_read() =>
        Assert.Equal(["token", "--verbose", "--role", "support"], Program.ServingLogFlagsOf(["token", "--verbose", "--role", "support"]).Settings);

    [Fact]
    public void log_level_none_logs_nothing() =>
        Assert.True(Logging.LeastLevel(false, Microsoft.Extensions.Logging.LogLevel.None) > Serilog.Events.LogEventLevel.Fatal);

    [Fact]
    public void jasperfxs_own_commands_give_one_letter_to_two_flags_only_where_operations_md_says_to_use_the_long_name()
    {
        // JasperFx's own commands take JasperFx's inputs, which the ledger cannot change: docs/operations.md ("Command-line
        // flags") tells operators to use the long name. A clash JasperFx adds or removes shows here, for that page to follow.
        string[] documented =
        [
            "codegen: -l is --language and --log-level", "codegen: -v is --env-variable and --verbose",
            "db-apply: -v is --env-variable and --verbose", "db-assert: -v is --env-variable and --verbose",
            "db-list: -v is --env-variable and --verbose",
            "resources: -v is --env-variable and --verbose",
            "run: -c is --check and --contentroot", "run: -v is --env-variable and --verbose",
            "storage: -v is --env-variable and --verbose",
        ];
        var named = documented.Select(d => d[..d.IndexOf(':')]).ToHashSet();

        var clashes = Commands().Where(c => named.Contains(c.Name)).SelectMany(c => ShortFlagClashes(c.Type)).Order(StringComparer.Ordinal);
        Assert.Equal(documented.Order(StringComparer.Ordinal), clashes);
    }

    /// <summary>
    /// The commands as the command line finds them: JasperFx's, its extensions' (assemblies marked [JasperFxAssembly]) and the
    /// ledger's, which replaces one of the same name (projections).
    /// </summary>
    private static IEnumerable<(string Name, Type Type)> Commands()
    {
        var assemblies = new List<Assembly> { typeof(CommandFactory).Assembly };
        var seen = new HashSet<string>();
        var next = new Queue<AssemblyName>(typeof(Program).Assembly.GetReferencedAssemblies());
        while (next.TryDequeue(out var name))
        {
            if (name.Name is null || name.Name.StartsWith("System", StringComparison.Ordinal) || name.Name.StartsWith("Microsoft", StringComparison.Ordinal) || !seen.Add(name.Name))
                continue;
            var assembly = Assembly.Load(name);
            if (assembly.GetCustomAttribute<JasperFx.JasperFxAssemblyAttribute>() is not null)
                assemblies.Add(assembly);
            foreach (var referenced in assembly.GetReferencedAssemblies())
                next.Enqueue(referenced);
        }

        assemblies.Add(typeof(Program).Assembly);
        return assemblies.Distinct()
            .SelectMany(a => a.GetExportedTypes().Where(CommandFactory.IsJasperFxCommandType))
            .GroupBy(CommandFactory.CommandNameFor)
            .Select(g => (g.Key, g.Last()));
    }

    /// <summary>Each one-letter form the command's help gives to more than one flag: "verify: -v is --env-variable and --verbose".</summary>
    private static IEnumerable<string> ShortFlagClashes(Type command) =>
        from flag in new UsageGraph(command).Flags
        let usage = System.Text.RegularExpressions.Regex.Match(flag.ToUsageDescription(), @"^\[(-\w), (--[\w:-]+)")
        where usage.Success
        group usage.Groups[2].Value by usage.Groups[1].Value into letter
        where letter.Count() > 1
        select $"{CommandFactory.CommandNameFor(command)}: {letter.Key} is {string.Join(" and ", letter)}";
}
