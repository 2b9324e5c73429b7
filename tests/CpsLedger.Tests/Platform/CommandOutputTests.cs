using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Platform;

/// <summary>What a command prints on stdout is its own output, for a file or a pipe; the tooling's lines and the logs go to stderr.</summary>
[Collection(SecondLedgerCollection.Name)]
public sealed class CommandOutputTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task A_commands_report_is_alone_on_stdout_and_its_logs_and_the_toolings_lines_are_on_stderr()
    {
        var account = await App.OpenAccount();

        // Marten's and Wolverine's debug lines, so that the command surely logs.
        var verbose = new Dictionary<string, string>
        {
            ["Serilog__MinimumLevel__Default"] = "Debug",
            ["Serilog__MinimumLevel__Override__Marten"] = "Debug",
            ["Serilog__MinimumLevel__Override__Wolverine"] = "Debug",
            ["Serilog__MinimumLevel__Override__JasperFx"] = "Debug",
        };
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, verbose, "verify", "--account", account.ToString());
        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");

        // Production logs one JSON object per line (RenderedCompactJsonFormatter), on stderr.
        Assert.DoesNotContain("\"@t\":", output);
        Assert.Contains("\"@t\":", error);

        // Nor is JasperFx's "Searching '...' for commands" part of the report (it prints it no more: Program).
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("Checked 1 account(s)", lines[0]);
        Assert.DoesNotContain("for commands", output + error);
    }

    [Fact]
    public async Task JasperFxs_own_commands_print_their_output_without_the_assemblies_it_searched_for_commands()
    {
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "db-list");

        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        // It wrote "Searching 'JasperFx, Version=2.100.1.0, ...' for commands" for seven assemblies ahead of the list.
        Assert.Contains("marten://", output);
        Assert.DoesNotContain("Searching", output + error);
    }

    [Theory]
    [InlineData("db-list")]
    [InlineData("codegen preview")]
    public async Task JasperFxs_own_commands_begin_their_output_with_it_not_with_a_blank_line(string command)
    {
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, command.Split(' '));

        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        // JasperFx 2.100.1 wrote an empty line on stdout once it had found the commands, ahead of every command's output.
        Assert.NotEqual("", output.Split('\n')[0].Trim());
    }

    [Fact]
    public async Task Verbose_leaves_a_commands_standard_output_to_what_the_command_writes()
    {
        // JasperFx 2.100.1 wrote "Verbose flag is on." with Console.WriteLine wherever it applied --verbose to a host builder
        // (here the host `projections run` hands JasperFx's daemon): on stdout, ahead of what a command writes there.
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "projections", "run", "--verbose");

        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        Assert.DoesNotContain("Verbose flag is on.", output);
        Assert.Contains("Verbose flag is on.", error);
        Assert.Equal("No asynchronous projections match the criteria.", output.Trim());

        // A command whose output is data: its lines and nothing else.
        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "projections", "list", "--verbose");
        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        Assert.All(output.Split('\n', StringSplitOptions.RemoveEmptyEntries),
            line => Assert.Matches(@"^\S+ +(Inline|Async|Live) +\S+$", line));
    }
    [Fact]
    public async Task Verbose_writes_the_debug_log_of_every_category_on_standard_error()
    {
        // JasperFx applies --verbose to a host builder only, and the commands run on the app Program has built already: the flag
        // was accepted and did nothing (the same lines with and without it).
        var account = await App.OpenAccount();

        var (output, error) = await VerifyAsync(account);
        Assert.DoesNotContain("\"@l\":\"Debug\"", error);

        (output, error) = await VerifyAsync(account, "--verbose");
        // Debug lines of the ledger's own categories and of those the settings hold at Warning (Marten, Wolverine, JasperFx).
        Assert.Contains("\"@l\":\"Debug\"", error);
        Assert.Contains(error.Split('\n'), line => line.Contains("\"@l\":\"Debug\"") && line.Contains("\"SourceContext\":\"Marten"));
        // The report alone on stdout, as without the flag.
        ReportAlone(output);
    }

    [Fact]
    public async Task Log_level_sets_the_least_level_logged_in_every_category_on_standard_error()
    {
        // JasperFx applies --log-level to a host builder only, as --verbose: `verify --log-level Debug` logged no Debug line.
        var account = await App.OpenAccount();

        var (output, error) = await VerifyAsync(account, "--log-level", "Debug");
        Assert.Contains(error.Split('\n'), line => line.Contains("\"@l\":\"Debug\"") && line.Contains("\"SourceContext\":\"Marten"));
        ReportAlone(output);

        // Its short form, as JasperFx's input reads it; and a level above Information leaves out the Information lines.
        (output, error) = await VerifyAsync(account, "-l", "Error");
        Assert.DoesNotContain("\"@t\":", error);
        ReportAlone(output);
    }

    [Fact]
    public async Task Log_level_works_on_jasperfxs_own_commands_too_and_none_logs_nothing()
    {
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "db-list", "--log-level", "Debug");
        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        Assert.Contains("\"@l\":\"Debug\"", error);
        Assert.Contains("marten://", output);
        Assert.DoesNotContain("\"@t\":", output);

        var account = await App.OpenAccount();
        (output, error) = await VerifyAsync(account, "--verbose", "--log-level", "None");
        // --verbose is the more detailed: Debug.
        Assert.Contains("\"@l\":\"Debug\"", error);
        (output, error) = await VerifyAsync(account, "--log-level", "None");
        Assert.DoesNotContain("\"@t\":", error);
        ReportAlone(output);
    }

    [Fact]
    public async Task Verbose_and_log_level_together_log_from_the_more_detailed_of_the_two()
    {
        var account = await App.OpenAccount();

        var (output, error) = await VerifyAsync(account, "--verbose", "--log-level", "Error");
        Assert.Contains("\"@l\":\"Debug\"", error);

        // And the other way round: Warning is less detailed than --verbose's Debug.
        (output, error) = await VerifyAsync(account, "--log-level", "Warning", "--verbose");
        Assert.Contains("\"@l\":\"Debug\"", error);
        ReportAlone(output);
    }

    // `verify` of one account with the flags given, run apart from the test host, expected to succeed: its stdout and stderr.
    private async Task<(string Output, string Error)> VerifyAsync(Guid account, params string[] flags)
    {
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, ["verify", "--account", account.ToString(), .. flags]);
        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        return (output, error);
    }

    // The command's report alone on stdout, whatever it logged.
    private static void ReportAlone(string output) =>
        Assert.StartsWith("Checked 1 account(s)", output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Single());

    [Theory]
    // JasperFx parses the level with Enum.Parse: a number was taken (2 as Information, 99 as a level past None), and a name in
    // another case refused with "Error parsing input" and a stack trace.
    [InlineData("verify", "2")]
    [InlineData("verify", "99")]
    [InlineData("verify", "debug")]
    [InlineData("db-list", "3")]
    public async Task A_log_level_that_is_not_a_levels_name_is_refused_on_standard_error_with_the_names(string command, string level)
    {
        string[] args = command == "verify" ? ["verify", "--account", (await App.OpenAccount()).ToString()] : [command];
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, [.. args, "--log-level", level]);
        Assert.True(exit == 1, $"exit {exit}\n{error}\n{output}");
        Assert.Contains($"'{level}'", error);
        Assert.Contains("Trace, Debug, Information, Warning, Error, Critical or None", error);
        Assert.Equal("", output);
    }

    [Theory]
    [InlineData("verify")]
    [InlineData("dead-letters", "list")]
    [InlineData("chain-heads", "heads.csv")]
    public async Task A_command_run_first_on_a_new_development_database_brings_the_schema_up_as_the_service_would(params string[] command)
    {
        // A newcomer's `dotnet run -- verify` before any `dotnet run` failed on Marten creating the account table alone: its
        // trigram index needs pg_trgm, which only the whole schema (the service's start) creates first.
        var database = $"cpsledger_first_{Guid.NewGuid():N}"[..30];
        await using (var connection = new Npgsql.NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new Npgsql.NpgsqlCommand($"create database {database}", connection);
            await create.ExecuteNonQueryAsync();
        }

        var folder = Directory.CreateTempSubdirectory("cpsledger-first-command-");
        try
        {
            var fresh = new Npgsql.NpgsqlConnectionStringBuilder(App.ConnectionString) { Database = database }.ConnectionString;
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, "cpsledger",
                new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Development", ["ConnectionStrings__Marten"] = fresh },
                [.. command.Select(a => a == "heads.csv" ? Path.Combine(folder.FullName, a) : a)]);

            Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        }
        finally
        {
            folder.Delete(recursive: true);
            await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
            await connection.OpenAsync();
            await using var drop = new Npgsql.NpgsqlCommand($"drop database if exists {database} with (force)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
