using System.Reflection;
using JasperFx.CommandLine;
using JasperFx.CommandLine.Parsing;

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
        // `token -a <id>` matched both --account and JasperFx's --applicationname (from NetCoreInput); the first declared won.
        var clashes =
            from command in typeof(Program).Assembly.GetExportedTypes().Where(CommandFactory.IsJasperFxCommandType)
            let input = InputOf(command)
            let flags = input.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.Name.EndsWith("Flag", StringComparison.Ordinal) || p.GetCustomAttribute<FlagAliasAttribute>() is not null)
                .Select(p => (Property: p, Aliases: InputParser.ToFlagAliases(p)))
                .Where(f => !f.Aliases.LongFormOnly)
                .ToList()
            from ours in flags.Where(f => f.Property.DeclaringType!.Assembly == typeof(Program).Assembly)
            from other in flags.Where(f => f.Property != ours.Property && f.Aliases.ShortForm == ours.Aliases.ShortForm)
            select $"{CommandFactory.CommandNameFor(command)}: {ours.Aliases} and {other.Aliases}";
        Assert.Empty(clashes);
    }

    private static Type InputOf(Type command)
    {
        for (var type = command; type is not null; type = type.BaseType)
        {
            if (type.IsGenericType && type.GetGenericArguments() is [var input])
                return input;
        }

        throw new InvalidOperationException($"{command} has no input type.");
    }
}
