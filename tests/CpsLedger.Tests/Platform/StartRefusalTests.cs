using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using CpsLedger.Tests.Harness;
using CpsLedger.LocalPostgres;
using Npgsql;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// A setting the service refuses at start ends the start with one log line naming it and exit code 1: no "Unhandled exception", no
/// stack trace, no abort (exit code 134, SIGABRT), which a supervisor reads as a crash. The service as a child process (Production).
/// </summary>
public sealed class StartRefusalTests(LedgerApp app) : LedgerTest(app)
{
    private const string ClaimTimeoutRefused = "Mail:ClaimTimeout must be at least";
    private const string ClockSkewRefused = "Auth:ClockSkew must be between 00:00:00 and 00:00:30.";

    // Serving (no command), on a port of its own should it start after all.
    private Task<(int ExitCode, string Output, string Error)> Serve(string schema, Dictionary<string, string> settings)
    {
        settings["Urls"] = "http://127.0.0.1:0";
        return ServiceProcess.RunCommandApartAsync(App, schema, settings);
    }

    // An address something listens on (the returned listener, until disposed), as the service would be given it.
    private static TcpListener TakeAnAddress(out string address)
    {
        var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        address = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";
        return taken;
    }

    private const string ServiceRefused = "The service does not start: ";
    private const string CommandRefused = "The command does not run: ";

    private static void AssertRefusedOnce(int exit, string output, string error, params string[] refusals) =>
        AssertEndedOnce(ServiceRefused, exit, output, error, refusals);

    // A command other than run: the line says the command does not run (it starts no service).
    private static void AssertCommandRefusedOnce(int exit, string output, string error, params string[] refusals) =>
        AssertEndedOnce(CommandRefused, exit, output, error, refusals);

    private static void AssertEndedOnce(string prefix, int exit, string output, string error, string[] refusals)
    {
        var all = output + "\n" + error;
        Assert.True(exit == 1, $"Exit code {exit}, not 1. Output:\n{all}");
        foreach (var refusal in refusals)
            Assert.Contains(prefix, Assert.Single(all.Split('\n'), line => line.Contains(refusal, StringComparison.Ordinal)));

        Assert.DoesNotContain(prefix == ServiceRefused ? CommandRefused : ServiceRefused, all);
        Assert.DoesNotContain("Unhandled exception", all);
        Assert.DoesNotContain("ERROR:", all);
        Assert.DoesNotContain("   at ", all);
    }

    [Fact]
    public async Task a_refused_setting_ends_the_start_with_its_message_once_and_exit_code_1_without_a_stack_trace()
    {
        var (exit, output, error) = await Serve(App.SchemaName, new() { ["Mail__ClaimTimeout"] = "00:00:00" });

        AssertRefusedOnce(exit, output, error, ClaimTimeoutRefused);
    }

    [Fact]
    public async Task the_production_log_line_holds_the_refusal_once()
    {
        // Until 2026-12-06 the JSON line held it twice: the rendered message (@m) and a Refusal property.
        var (exit, output, error) = await Serve(App.SchemaName, new() { ["Mail__ClaimTimeout"] = "00:00:00" });

        Assert.True(exit == 1, $"Exit code {exit}, not 1. Output:\n{output}\n{error}");
        var line = Assert.Single((output + "\n" + error).Split('\n'), l => l.Contains(ClaimTimeoutRefused, StringComparison.Ordinal));
        using var json = JsonDocument.Parse(line);
        Assert.Equal("Fatal", json.RootElement.GetProperty("@l").GetString());
        Assert.StartsWith("The service does not start: " + ClaimTimeoutRefused, json.RootElement.GetProperty("@m").GetString());
        Assert.Equal(2, line.Split(ClaimTimeoutRefused).Length);
    }

    [Fact]
    public async Task a_refusal_reaches_standard_error_also_when_the_log_level_is_none()
    {
        // --log-level None logs nothing: until 2026-12-06 a refused start then ended with exit code 1 and not a word.
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["Mail__ClaimTimeout"] = "00:00:00", ["Urls"] = "http://127.0.0.1:0" }, "run", "--log-level", "None");
        AssertRefusedOnce(exit, output, error, ClaimTimeoutRefused);
        Assert.Contains("The service does not start: " + ClaimTimeoutRefused, error);

        // A refusal before the command runs (the connection string) the same.
        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["ConnectionStrings__Marten"] = App.ConnectionString + ";Max Auto Prepare=64" },
            "check-env", "--log-level", "None");
        AssertCommandRefusedOnce(exit, output, error, "ConnectionStrings:Marten sets Max Auto Prepare");
        Assert.Contains(CommandRefused + "ConnectionStrings:Marten sets Max Auto Prepare", error);

        // A refusal inside the command (token reads Auth's settings to sign): until 2026-12-06 JasperFx's "ERROR:" and the stack.
        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["Auth__ClockSkew"] = "00:01:00" }, "token", "--role", "support", "--log-level", "None");
        AssertCommandRefusedOnce(exit, output, error, ClockSkewRefused);
        Assert.Contains(CommandRefused + ClockSkewRefused, error);
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
            ["Mail__From"] = "CPS <no-reply@cpsledger.example>",
            ["Membership__RenewalOfferBefore"] = "00:00:00",
            ["Seller__TradingName"] = "Canon Professional Services Europe Holding",
        });

        AssertRefusedOnce(exit, output, error, ClaimTimeoutRefused, "Mail:SmtpPort 0 means MailKit's default port",
            "Mail:ReplyTo is required in Production while Mail:From is a no-reply address", "Membership:RenewalOfferBefore must be",
            "Seller:TradingName is 42 characters long, at most 40: the invoice's heading");
    }

    [Fact]
    public async Task a_refusal_while_the_host_starts_a_surcharge_missing_for_the_tables_currency_ends_the_same_way_also_under_run()
    {
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            // France has a surcharge in pounds only; the tier table in force is in euros.
            var (exit, output, error) = await Serve(schema, new() { ["Invoicing__BankTransferSurcharges__FR__GBP"] = "1.00" });

            AssertRefusedOnce(exit, output, error, "Invoicing:BankTransferSurcharges:FR:EUR");

            // JasperFx's run command started the host inside the command: until 2026-12-06 it printed "ERROR:" and the stack.
            (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, schema,
                new Dictionary<string, string> { ["Invoicing__BankTransferSurcharges__FR__GBP"] = "1.00", ["Urls"] = "http://127.0.0.1:0" }, "run");
            AssertRefusedOnce(exit, output, error, "Invoicing:BankTransferSurcharges:FR:EUR");
            Assert.DoesNotContain("ERROR:", output + error);
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    [Fact]
    public async Task an_address_already_in_use_ends_the_start_with_one_line_naming_it_and_exit_code_1()
    {
        // Until 2026-12-06 Kestrel's "address already in use" aborted the start as a bug would: exit code 134, the stack twice.
        using var taken = TakeAnAddress(out var address);

        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["ASPNETCORE_URLS"] = address });

        AssertRefusedOnce(exit, output, error, $"{address}: address already in use");

        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["ASPNETCORE_URLS"] = address }, "run");
        AssertRefusedOnce(exit, output, error, $"{address}: address already in use");

        // run --check: its checks pass, and JasperFx's run starts the host (until 2026-12-06 "ERROR:" and the stack).
        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["ASPNETCORE_URLS"] = address }, "run", "--check");
        AssertRefusedOnce(exit, output, error, $"{address}: address already in use");
    }

    [Fact]
    public async Task an_address_already_in_use_stops_the_local_postgresql_the_service_started()
    {
        // No connection string: the service starts a PostgreSQL of its own (Development's default), then the address is refused.
        // Until 2026-12-06 only checked by hand that the refusal stops that server as a normal shutdown does.
        var folder = Path.Combine(Path.GetTempPath(), $"cpsledger-tests-refusal-{Guid.NewGuid():N}");
        var dataDirectory = Path.Combine(folder, "postgres");
        using var taken = TakeAnAddress(out var address);
        try
        {
            var (exit, output, error) = await ServiceProcess.RunAsync(Directory.CreateDirectory(folder).FullName, new Dictionary<string, string>
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Development",
                ["ConnectionStrings__Marten"] = "",
                ["LocalPostgres__DataDirectory"] = dataDirectory,
                ["ASPNETCORE_URLS"] = address,
                ["Catalogue__LoadDemoOnFirstStart"] = "false",
                ["Mail__PickupDirectory"] = Path.Combine(folder, "mail"),
            });

            AssertRefusedOnce(exit, output, error, $"{address}: address already in use");
            Assert.Contains("Local PostgreSQL: started PostgreSQL", output + error);
            // The cause before what it causes: until 2026-12-07 "Application is shutting down..." came first, the refusal last.
            var lines = output.Split('\n');
            var refused = Array.FindIndex(lines, line => line.Contains("address already in use", StringComparison.Ordinal));
            var stopping = Array.FindIndex(lines, line => line.Contains("Application is shutting down", StringComparison.Ordinal));
            Assert.True(stopping >= 0 && refused >= 0 && refused < stopping,
                $"The refusal (line {refused}) is not said before the stop (line {stopping}). Output:\n{output}");
            Assert.False(File.Exists(Path.Combine(dataDirectory, "postmaster.pid")),
                $"The local PostgreSQL still runs after the refusal (postmaster.pid is there). Output:\n{output}\n{error}");
            var port = int.Parse((await File.ReadAllTextAsync(Path.Combine(dataDirectory, "cpsledger-port"))).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            using var probe = new TcpClient();
            await Assert.ThrowsAsync<SocketException>(() => probe.ConnectAsync(IPAddress.Loopback, port));
        }
        finally
        {
            // A server the service left running is stopped here (taken over, its starter gone), then its folder goes.
            if (File.Exists(Path.Combine(dataDirectory, "postmaster.pid")))
            {
                await using var leftover = await CpsLedger.LocalPostgres.PostgresCluster.StartAsync(
                    new CpsLedger.LocalPostgres.PostgresClusterOptions { DataDirectory = dataDirectory });
                await leftover.StopAsync();
            }

            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task a_start_refused_for_its_address_sends_no_renewal_offer_check()
    {
        // Until 2026-12-06 the start-up check was sent before Kestrel bound its address, and the refused start waited for it to be
        // handled (in Development, its handler compiled first: seconds) before it stopped.
        using var taken = TakeAnAddress(out var address);

        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["ASPNETCORE_URLS"] = address }, "run", "--log-level", "Debug");

        AssertRefusedOnce(exit, output, error, $"{address}: address already in use");
        Assert.Contains("Hosting stopping", output + error);
        Assert.DoesNotContain(nameof(CpsLedger.Api.Membership.CheckRenewalOfferSchedules), output + error);
    }

    [Fact]
    public async Task check_env_fails_on_a_setting_the_service_refuses_at_start_and_passes_without_it()
    {
        // JasperFx's check-env builds the host without starting it: until 2026-12-06 the settings' start-up checks never ran there,
        // and it said "All environment checks are good!" for a Mail:ClaimTimeout the service then refused. The file it is given
        // holds every check.
        var file = Path.Combine(Path.GetTempPath(), $"check-env-{Guid.NewGuid():N}.txt");
        try
        {
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
                new Dictionary<string, string> { ["Mail__ClaimTimeout"] = "00:00:00" }, "check-env", "--file", file);
            Assert.True(exit == 1, $"Exit code {exit}, not 1. Output:\n{output}\n{error}");
            Assert.Contains("Some environment checks failed!", output + error);
            var report = await File.ReadAllTextAsync(file);
            Assert.Contains("Failure: The settings pass the service's start-up checks", report);
            Assert.Contains(ClaimTimeoutRefused, report);
            Assert.Equal(1, report.Split('\n').Count(line => line.StartsWith("Failure: ", StringComparison.Ordinal)));

            // The surcharge check the service makes once its host starts: France in pounds only, the tier table in force in euros.
            (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
                new Dictionary<string, string> { ["Invoicing__BankTransferSurcharges__FR__GBP"] = "1.00" }, "check-env", "--file", file);
            Assert.True(exit == 1, $"Exit code {exit}, not 1. Output:\n{output}\n{error}");
            report = await File.ReadAllTextAsync(file);
            Assert.Contains("Failure: A bank-transfer surcharge is set for every currency in use", report);
            Assert.Contains("Invoicing:BankTransferSurcharges:FR:EUR", report);
            Assert.Equal(1, report.Split('\n').Count(line => line.StartsWith("Failure: ", StringComparison.Ordinal)));

            (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, new Dictionary<string, string>(),
                "check-env", "--file", file);
            Assert.True(exit == 0, $"Exit code {exit}, not 0. Output:\n{output}\n{error}\n{await File.ReadAllTextAsync(file)}");
            Assert.Contains("* The settings pass the service's start-up checks", await File.ReadAllTextAsync(file));
            Assert.Contains("* A bank-transfer surcharge is set for every currency in use", await File.ReadAllTextAsync(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task check_env_names_each_failed_check_and_why_without_a_file()
    {
        // JasperFx's check-env (2.102) said "Some environment checks failed!" alone unless given --file.
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["Mail__ClaimTimeout"] = "00:00:00" }, "check-env");

        Assert.True(exit == 1, $"Exit code {exit}, not 1. Output:\n{output}\n{error}");
        var failure = Assert.Single(output.Split('\n'), line => line.StartsWith("Failure: ", StringComparison.Ordinal));
        Assert.StartsWith("Failure: The settings pass the service's start-up checks: ", failure);
        Assert.Contains(ClaimTimeoutRefused, failure);
        Assert.Contains("Some environment checks failed!", output);
        Assert.Contains("check-env --file <file> writes each check", output);
        Assert.DoesNotContain("   at ", output + error);
    }

    [Fact]
    public async Task check_env_on_a_database_without_the_ledgers_schema_names_each_failure_in_one_line_and_points_at_db_apply()
    {
        // Until 2026-12-07 check-env on an empty Production database wrote Marten's failed query of the tier table four times (Error,
        // with its stack) on standard error, and Wolverine's check advised `resources setup`: the schema comes from
        // eventstore-migrations/ or db-apply.
        var absent = $"cpsledger_absent_{Guid.NewGuid():N}"[..26];

        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent, "check-env");

        Assert.True(exit == 1, $"Exit code {exit}, not 1. Output:\n{output}\n{error}");
        var failures = output.Split('\n').Where(line => line.StartsWith("Failure: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, failures.Count);
        Assert.All(failures, line => Assert.Contains("run the db-apply command", line));
        Assert.All(failures, line => Assert.Contains($"schema \"{absent}\" does not exist", line));
        Assert.Contains("Some environment checks failed!", output);
        Assert.DoesNotContain("resources setup", output + error);
        Assert.DoesNotContain("Marten encountered an exception", output + error);
        Assert.DoesNotContain("@x", error);
        Assert.DoesNotMatch(@"(?m)^\s+at \S", output + error);
    }

    [Fact]
    public async Task check_env_in_development_on_an_empty_database_sets_the_schema_up_as_the_service_would_and_passes()
    {
        // Development brings the schema up itself, at the start and before the ledger's commands. Until 2026-12-07 check-env on
        // an empty Development database failed three checks telling the developer to apply eventstore-migrations/ or run db-apply,
        // which a start would have made needless.
        var absent = $"cpsledger_devcheck_{Guid.NewGuid():N}"[..28];
        try
        {
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent,
                new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Development" }, "check-env");

            Assert.True(exit == 0, $"Exit code {exit}, not 0. Output:\n{output}\n{error}");
            Assert.Contains("All environment checks are good!", output);
            Assert.DoesNotContain("Failure: ", output);
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, absent);
        }
    }

    [Fact]
    public async Task a_refused_connection_string_ends_a_command_and_the_service_the_same_way()
    {
        var settings = new Dictionary<string, string> { ["ConnectionStrings__Marten"] = App.ConnectionString + ";Max Auto Prepare=64" };

        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, settings, "check-env");
        AssertCommandRefusedOnce(exit, output, error, "ConnectionStrings:Marten sets Max Auto Prepare");

        // JasperFx's own commands the same: until 2026-12-06 the line said the service does not start.
        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, settings, "db-assert");
        AssertCommandRefusedOnce(exit, output, error, "ConnectionStrings:Marten sets Max Auto Prepare");

        (exit, output, error) = await Serve(App.SchemaName, settings);
        AssertRefusedOnce(exit, output, error, "ConnectionStrings:Marten sets Max Auto Prepare");
    }

    [Fact]
    public async Task a_refused_setting_a_command_reads_ends_it_with_one_line_and_exit_code_1_without_a_stack_trace()
    {
        // JasperFx prints any exception a command throws as "ERROR:" and its stack (exit code 1): until 2026-12-06 a setting refused
        // once the command read it too. token reads Auth's settings to sign; JasperFx's db-apply and db-assert read none that the
        // service refuses (their refusals come before they run: a_refused_connection_string_ends_a_command_and_the_service_the_same_way).
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["Auth__ClockSkew"] = "00:01:00" }, "token", "--role", "support");

        AssertCommandRefusedOnce(exit, output, error, ClockSkewRefused);
        Assert.Equal("", output.Trim());

        // The command's own mistakes stay its own (JasperFx's usage), and so does a token it may issue.
        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "token", "--rol", "support");
        Assert.True(exit == 1, $"Exit code {exit}, not 1. Output:\n{output}\n{error}");
        Assert.Contains("Invalid usage", output + error);
        Assert.DoesNotContain(CommandRefused, output + error);
        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "token", "--role", "support");
        Assert.True(exit == 0, $"Exit code {exit}, not 0. Output:\n{output}\n{error}");
        Assert.StartsWith("eyJ", output.Trim());
    }

    [Fact]
    public async Task a_start_or_a_command_that_cannot_reach_its_database_ends_with_one_line_naming_where()
    {
        // A port nothing listens on: until 2026-12-06 JasperFx's "ERROR:" and Npgsql's stack (verify: 86 lines; db-apply: its own
        // summary, then the AggregateException and each database's stack), and serving aborted (exit code 134) with the stack twice.
        var port = ServiceProcess.FreePort();
        var settings = new Dictionary<string, string>
        {
            ["ConnectionStrings__Marten"] = $"Host=127.0.0.1;Port={port};Database=cpsledger;Username=cpsledger;Timeout=2",
        };
        var unreachable = $"The database cannot be reached: Failed to connect to 127.0.0.1:{port}";

        foreach (var command in new[] { "verify", "db-apply", "db-assert" })
        {
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, settings, command);
            AssertCommandRefusedOnce(exit, output, error, unreachable);
            Assert.Contains("ConnectionStrings:Marten", output + error);
        }

        // db-list reads the configuration only: it lists the databases without reaching them, as before.
        var (listExit, listOutput, listError) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, settings, "db-list");
        Assert.True(listExit == 0, $"db-list: exit code {listExit}. Output:\n{listOutput}\n{listError}");
        Assert.Contains("marten://store/", listOutput);

        var (serveExit, serveOutput, serveError) = await Serve(App.SchemaName, settings);
        AssertRefusedOnce(serveExit, serveOutput, serveError, unreachable);

        // PostgreSQL answers, and has no such database (3D000).
        var absent = $"cpsledger_absent_{Guid.NewGuid():N}";
        var (noDbExit, noDbOutput, noDbError) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            new Dictionary<string, string> { ["ConnectionStrings__Marten"] = new NpgsqlConnectionStringBuilder(App.ConnectionString) { Database = absent }.ConnectionString },
            "verify");
        // The line is Production's JSON, its quotes escaped: the name and the reason are looked for apart.
        AssertCommandRefusedOnce(noDbExit, noDbOutput, noDbError, "does not exist (3D000). Check ConnectionStrings:Marten.");
        Assert.Contains($"The database refused the connection: database \\\"{absent}\\\" does not exist", noDbError);
    }

    [Fact]
    public async Task any_other_exception_inside_a_command_keeps_jasperfxs_error_and_its_stack()
    {
        // verify's first query names a column its table does not have (the accounts' id, renamed here), as a mistyped query would
        // (42703): the schema is there, and that is no refusal. Until 2026-12-06 this used a schema never applied, a refusal now.
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            await using (var connection = new NpgsqlConnection(App.ConnectionString))
            {
                await connection.OpenAsync();
                await using var rename = new NpgsqlCommand($"alter table {schema}.mt_doc_accountview rename column id to id_elsewhere", connection);
                await rename.ExecuteNonQueryAsync();
            }

            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, schema, "verify");

            var all = output + "\n" + error;
            Assert.True(exit == 1, $"Exit code {exit}, not 1. Output:\n{all}");
            Assert.Contains("ERROR:", all);
            Assert.Contains("   at ", all);
            Assert.Contains("42703", all);
            Assert.DoesNotContain(CommandRefused, all);
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    private const string SchemaMissing = "The database has no ledger schema, or not all of it: schema ";

    private const string ApplyTheSchema = "Apply the scripts in eventstore-migrations/, or run the db-apply command (docs/operations.md#schema-migrations).";

    [Fact]
    public async Task a_database_without_the_ledgers_schema_ends_the_start_and_a_command_with_one_line_saying_to_apply_it()
    {
        // The Production profile creates no schema: until 2026-12-06 serving aborted (exit code 134) with Wolverine's "message storage
        // ... is missing" advice (resources setup, AutoBuildMessageStorageOnStartup) and the stack twice, and verify printed "ERROR:"
        // and Npgsql's 42P01 with its stack. A schema never applied, in a database that has others.
        var absent = $"cpsledger_absent_{Guid.NewGuid():N}"[..26];

        var (exit, output, error) = await Serve(absent, new());
        AssertRefusedOnce(exit, output, error, SchemaMissing);
        // The line is Production's JSON, its quotes escaped: the schema and the advice are looked for apart.
        Assert.Contains($"schema \\\"{absent}\\\" does not exist", output + error);
        Assert.Contains(ApplyTheSchema, output + error);
        Assert.DoesNotContain("AutoBuildMessageStorageOnStartup", output + error);
        Assert.DoesNotContain("Hosting failed to start", output + error);

        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent,
            new Dictionary<string, string> { ["Urls"] = "http://127.0.0.1:0" }, "run");
        AssertRefusedOnce(exit, output, error, SchemaMissing);

        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent, "verify");
        AssertCommandRefusedOnce(exit, output, error, SchemaMissing);
        Assert.Contains($"schema \\\"{absent}\\\" does not exist", output + error);
        Assert.Contains(ApplyTheSchema, output + error);
    }

    [Fact]
    public async Task db_assert_on_a_database_without_the_ledgers_schema_says_so_in_one_line()
    {
        // Until 2026-12-06 Weasel's "Database 'Main' does not match the configuration!", the whole schema's DDL (some 1,500 lines),
        // a note that the role may lack privileges, and the stack. A schema with no table at all is no difference to list.
        var absent = $"cpsledger_absent_{Guid.NewGuid():N}"[..26];

        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent, "db-assert");

        AssertCommandRefusedOnce(exit, output, error, "The database has no ledger schema: schema ");
        Assert.Contains(ApplyTheSchema, output + error);
        Assert.DoesNotContain("CREATE TABLE", output + error);
    }

    [Fact]
    public async Task a_schema_only_partly_there_ends_the_start_with_the_missing_table_named()
    {
        // Wolverine's inbox dropped from an applied schema: the start reads it first.
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            await using (var connection = new NpgsqlConnection(App.ConnectionString))
            {
                await connection.OpenAsync();
                await using var drop = new NpgsqlCommand($"drop table {schema}.wolverine_incoming_envelopes", connection);
                await drop.ExecuteNonQueryAsync();
            }

            var (exit, output, error) = await Serve(schema, new());

            AssertRefusedOnce(exit, output, error, SchemaMissing);
            Assert.Contains("\\\"wolverine_incoming_envelopes\\\"", output + error);
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    [Fact]
    public async Task a_database_without_the_ledgers_schema_is_refused_in_one_line_also_when_postgresql_speaks_another_language()
    {
        // Until 2026-12-07 the refusal read PostgreSQL's English message (relation "schema.table" does not exist): a server whose
        // messages are in another language (lc_messages) ended the start with the stack again. A cluster of its own whose server speaks
        // German (LANGUAGE over lc_messages C.UTF-8: Debian's PostgreSQL ships its translations, the machine needs no German locale).
        await using var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions
        {
            DataDirectory = Path.Combine(Path.GetTempPath(), $"cpsledger-tests-de-{Guid.NewGuid():N}"),
            Throwaway = true,
            ServerEnvironment = new Dictionary<string, string> { ["LANGUAGE"] = "de" },
        });
        var schema = $"cpsledger_absent_{Guid.NewGuid():N}"[..26];
        await using (var connection = new NpgsqlConnection(cluster.ConnectionString))
        {
            await connection.OpenAsync();
            await using var missing = new NpgsqlCommand($"select 1 from {schema}.mt_events", connection);
            var german = await Assert.ThrowsAsync<PostgresException>(() => missing.ExecuteScalarAsync());
            Assert.True(german.MessageText.Contains("existiert nicht", StringComparison.Ordinal), $"Not German: {german.MessageText}");
        }

        var settings = new Dictionary<string, string> { ["ConnectionStrings__Marten"] = cluster.ConnectionString };
        var (exit, output, error) = await Serve(schema, new(settings));
        AssertRefusedOnce(exit, output, error, SchemaMissing);
        // The line is Production's JSON, its quotes escaped: the schema and the advice are looked for apart.
        Assert.Contains($"schema \\\"{schema}\\\" does not exist", output + error);
        Assert.Contains(ApplyTheSchema, output + error);

        (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, schema, settings, "verify");
        AssertCommandRefusedOnce(exit, output, error, SchemaMissing);

        // The schema there, and none of the ledger's tables in it.
        await using (var connection = new NpgsqlConnection(cluster.ConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"create schema {schema}", connection);
            await create.ExecuteNonQueryAsync();
        }

        (exit, output, error) = await Serve(schema, new(settings));
        AssertRefusedOnce(exit, output, error, SchemaMissing);
        Assert.Contains("holds none of the ledger's ", output + error);
    }

    [Fact]
    public async Task run_check_with_a_surcharge_missing_ends_as_run_does()
    {
        // run --check runs the environment checks before the start, and the surcharge check failed there: until 2026-12-06 JasperFx
        // printed "ERROR:", the failed checks and the stack.
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, schema,
                new Dictionary<string, string> { ["Invoicing__BankTransferSurcharges__FR__GBP"] = "1.00", ["Urls"] = "http://127.0.0.1:0" },
                "run", "--check");

            AssertRefusedOnce(exit, output, error, "Invoicing:BankTransferSurcharges:FR:EUR");
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }
}
