using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Platform;

/// <summary>The commands the service's command line lists run to their end on a migrated database, without JasperFx's "ERROR:" and a stack.</summary>
[Collection(SecondLedgerCollection.Name)]
public sealed class CommandsRunToTheirEndTests(LedgerApp app) : LedgerTest(app)
{
    // Not fixed yet: the review batch's own type (an InvitationReviews, Wolverine's IMessageBatcher) makes describe run to its end,
    // but Wolverine 6.64.2 then never releases a dead-lettered batch from its pending count (MoveToErrorQueue renames the batch's
    // MessageType, by which BatchingPendingCounts finds a batch that is not an array). docs/operations.md, The commands.
    [Fact(Skip = "describe ends in Wolverine 6.64.2's malformed-markup error on ReviewInvitation[] (docs/operations.md, The commands)")]
    public async Task Describe_prints_every_part_and_the_failure_rules_of_every_message_type()
    {
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "describe");

        // Wolverine 6.64.2 titled the review batch's failure rules "Message: ...ReviewInvitation[]", read as Spectre markup: it ended
        // with "ERROR: ... Encountered malformed markup tag" and a stack after the global failure rules, exit code 1.
        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        Assert.DoesNotContain("ERROR", output + error);
        foreach (var part in new[] { "About CpsLedger.Api", "IConfiguration Preview", "Referenced Assemblies", "Marten", "Wolverine" })
            Assert.Contains($"── {part} ─", output);
        Assert.Contains("Global Failure Rules", output);
        // The review batch's own rules, the chain that broke the report.
        Assert.Contains("a concurrent review", output);
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
    }
}
