using Microsoft.Extensions.DependencyInjection;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Platform;

/// <summary>The commands the service's command line lists run to their end on a migrated database, without JasperFx's "ERROR:" and a stack.</summary>
[Collection(SecondLedgerCollection.Name)]
public sealed class CommandsRunToTheirEndTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task Describe_prints_every_part_to_its_end_and_no_secret()
    {
        var settings = new Dictionary<string, string>
        {
            ["Mail__SmtpPassword"] = "smtp-password-not-to-be-shown",
            ["ConnectionStrings__Reporting"] = "Host=127.0.0.1;Username=reader;Password=hunter2-not-to-be-shown",
        };
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, settings, "describe");

        // JasperFx's own printed every setting's value, and Wolverine 6.64.2 titled the review batch's failure rules
        // "Message: ...ReviewInvitation[]", read as Spectre markup: "ERROR: ... Encountered malformed markup tag" and a stack after
        // the global failure rules, exit code 1, and no part after Wolverine's.
        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        Assert.DoesNotContain("ERROR", output + error);
        Assert.DoesNotMatch(@"(?m)^\s+at \S", output + error);
        var parts = new[] { "About CpsLedger.Api", "IConfiguration Preview", "Referenced Assemblies", "Marten", "Wolverine" };
        foreach (var part in parts)
            Assert.Contains($"── {part} ─", output);
        Assert.Contains("Global Failure Rules", output);
        // Wolverine's part (the last) is cut where it fails, and says so in one line.
        var cut = output.IndexOf(CpsLedger.Api.Platform.LedgerDescribeCommand.CutLine[..40], StringComparison.Ordinal);
        Assert.True(cut > output.IndexOf("── Wolverine ─", StringComparison.Ordinal), output);

        foreach (var secret in new[] { "smtp-password-not-to-be-shown", "hunter2-not-to-be-shown", "test-only-old-email-code-key",
                     App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CpsLedger.Api.Platform.AuthOptions>>().Value.SigningKey! })
            Assert.DoesNotContain(secret, output + error);
        Assert.Contains(CpsLedger.Api.Platform.SecretsMaskedConfiguration.Masked, output);
        Assert.Contains("***", output); // the connection strings' passwords (the preview wraps their values)
    }

    // The read-only commands `help` lists, as docs/operations.md gives them (those that write a file into the working directory,
    // `capabilities` and `event-model`, and those that change data are left out).
    [Theory]
    [InlineData("codegen preview")]
    [InlineData("resources list")]
    [InlineData("resources check")]
    [InlineData("db-list")]
    [InlineData("db-assert")]
    [InlineData("check-env")]
    [InlineData("verify")]
    [InlineData("projections list")]
    [InlineData("storage counts")]
    [InlineData("describe-event-model")]
    [InlineData("event-query")]
    [InlineData("stream-query")]
    [InlineData("dead-letters list")]
    // It starts the host with Wolverine as a mediator only, and the renewal offer check sent at the start ended it in Wolverine's
    // "This operation is not allowed with Wolverine is bootstrapped in MediatorOnly mode" and a stack.
    [InlineData("wolverine-diagnostics describe-routing --all")]
    public async Task A_read_only_command_runs_to_its_end_without_an_error(string command)
    {
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, command.Split(' '));

        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        Assert.DoesNotContain("ERROR", output + error);
        Assert.DoesNotMatch(@"(?m)^\s+at \S", output + error);
        // Until 2026-12-07 JasperFx's empty line ahead of every command's output went to standard error for the ledger's own.
        Assert.DoesNotContain(error.Length == 0 ? [] : error.TrimEnd('\n').Split('\n'), line => line.Trim().Length == 0);
    }

    [Theory]
    [InlineData("event-query")]
    [InlineData("stream-query")]
    public async Task A_query_command_writes_its_json_alone_on_standard_output(string command)
    {
        // Until 2026-12-07 JasperFx's line "Cannot override services when the IHost is already constructed" came first: the
        // command asked the host the ledger had built for other services, and the output was no JSON document.
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, command);

        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        Assert.DoesNotContain("Cannot override", output + error);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal(System.Text.Json.JsonValueKind.Object, json.RootElement.ValueKind);
    }
}
