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
}
