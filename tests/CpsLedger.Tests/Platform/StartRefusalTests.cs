using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// A setting the service refuses at start ends the start with one log line naming it and exit code 1: no "Unhandled exception", no
/// stack trace, no abort (exit code 134, SIGABRT), which a supervisor reads as a crash. The service as a child process (Production).
/// </summary>
public sealed class StartRefusalTests(LedgerApp app) : LedgerTest(app)
{
    private const string ClaimTimeoutRefused = "Mail:ClaimTimeout must be at least";

    // Serving (no command), on a port of its own should it start after all.
    private Task<(int ExitCode, string Output, string Error)> Serve(string schema, Dictionary<string, string> settings)
    {
        settings["Urls"] = "http://127.0.0.1:0";
        return ServiceProcess.RunCommandApartAsync(App, schema, settings);
    }

    private static void AssertRefusedOnce(int exit, string output, string error, params string[] refusals)
    {
        var all = output + "\n" + error;
        Assert.True(exit == 1, $"Exit code {exit}, not 1. Output:\n{all}");
        foreach (var refusal in refusals)
            Assert.Single(all.Split('\n'), line => line.Contains(refusal, StringComparison.Ordinal));
        Assert.Contains("The service does not start", all);
        Assert.DoesNotContain("Unhandled exception", all);
        Assert.DoesNotContain("   at ", all);
    }

    [Fact]
    public async Task a_refused_setting_ends_the_start_with_its_message_once_and_exit_code_1_without_a_stack_trace()
    {
        var (exit, output, error) = await Serve(App.SchemaName, new() { ["Mail__ClaimTimeout"] = "00:00:00" });

        AssertRefusedOnce(exit, output, error, ClaimTimeoutRefused);
    }

    [Fact]
    public async Task the_run_command_ends_the_same_way()
    {
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["Mail__ClaimTimeout"] = "00:00:00", ["Urls"] = "http://127.0.0.1:0" }, "run");

        AssertRefusedOnce(exit, output, error, ClaimTimeoutRefused);
    }

    [Fact]
    public async Task every_refused_setting_is_named_also_of_other_sections()
    {
        var (exit, output, error) = await Serve(App.SchemaName, new()
        {
            ["Mail__ClaimTimeout"] = "00:00:00",
            ["Mail__SmtpPort"] = "0",
            ["Membership__RenewalOfferBefore"] = "00:00:00",
        });

        AssertRefusedOnce(exit, output, error, ClaimTimeoutRefused, "Mail:SmtpPort must be between", "Membership:RenewalOfferBefore must be");
    }

    [Fact]
    public async Task a_refusal_while_the_host_starts_a_surcharge_missing_for_the_tables_currency_ends_the_same_way()
    {
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            // France has a surcharge in pounds only; the tier table in force is in euros.
            var (exit, output, error) = await Serve(schema, new() { ["Invoicing__BankTransferSurcharges__FR__GBP"] = "1.00" });

            AssertRefusedOnce(exit, output, error, "Invoicing:BankTransferSurcharges:FR:EUR");
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    [Fact]
    public async Task a_refused_connection_string_ends_a_command_and_the_service_the_same_way()
    {
        var settings = new Dictionary<string, string> { ["ConnectionStrings__Marten"] = App.ConnectionString + ";Max Auto Prepare=64" };

        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, settings, "check-env");
        AssertRefusedOnce(exit, output, error, "sets Max Auto Prepare");

        (exit, output, error) = await Serve(App.SchemaName, settings);
        AssertRefusedOnce(exit, output, error, "sets Max Auto Prepare");
    }
}
