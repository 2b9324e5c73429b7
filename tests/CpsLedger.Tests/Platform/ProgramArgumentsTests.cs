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
    // The ledger's own commands print their output with Console.Out: JasperFx's lines go to stderr for them.
    public void the_ledgers_own_commands_are_told_from_jasperfxs(params string[] args) =>
        Assert.True(Program.IsLedgerCommand(args));

    [Theory]
    [InlineData("help")]
    [InlineData("codegen", "write")]
    [InlineData("db-assert")]
    [InlineData("projections", "list")]
    [InlineData("--urls", "http://127.0.0.1:5081")]
    [InlineData]
    public void jasperfxs_commands_and_settings_are_not_the_ledgers(params string[] args) =>
        Assert.False(Program.IsLedgerCommand(args));
}
