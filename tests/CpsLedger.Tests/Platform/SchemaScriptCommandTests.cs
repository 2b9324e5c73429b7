using CpsLedger.Tests.Harness;
using Npgsql;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// db-patch and db-dump find the ledger's databases as db-apply and db-assert do: both (Marten's, then Wolverine's) unless
/// <c>-d</c> names one. Weasel's own stopped with exit code 1 and the list of databases until one was named.
/// </summary>
public sealed class SchemaScriptCommandTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task db_patch_without_a_database_named_writes_one_script_that_builds_the_whole_schema()
    {
        var absent = $"cpsledger_patch_{Guid.NewGuid():N}"[..26];
        var folder = Directory.CreateTempSubdirectory("cpsledger-db-patch-test-").FullName;
        try
        {
            var file = Path.Combine(folder, "upgrade.sql");
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent, "db-patch", file);

            Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
            Assert.Contains($"Wrote {file}", output);
            var script = await File.ReadAllTextAsync(file);
            var rollback = await File.ReadAllTextAsync(Path.Combine(folder, "upgrade.drop.sql"));
            // Marten's part first (the event store the ledger's documents sit beside), then Wolverine's; the rollback the other way.
            Assert.True(script.IndexOf("-- marten://", StringComparison.Ordinal) is >= 0 and var marten
                && marten < script.IndexOf("-- wolverine://", StringComparison.Ordinal), script[..Math.Min(script.Length, 400)]);
            Assert.True(rollback.IndexOf("-- wolverine://", StringComparison.Ordinal) is >= 0 and var wolverine
                && wolverine < rollback.IndexOf("-- marten://", StringComparison.Ordinal), rollback[..Math.Min(rollback.Length, 400)]);

            // The one script builds what the model needs: db-assert finds no difference.
            await using (var connection = new NpgsqlConnection(App.ConnectionString))
            {
                await connection.OpenAsync();
                await using var apply = new NpgsqlCommand(script, connection) { CommandTimeout = 120 };
                await apply.ExecuteNonQueryAsync();
            }

            (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent, "db-assert");
            Assert.True(exit == 0, $"db-assert: exit {exit}\n{error}\n{output}");

            // Nothing left to patch: no file written.
            var again = Path.Combine(folder, "again.sql");
            (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent, "db-patch", again);
            Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
            Assert.Contains("No differences were detected", output);
            Assert.False(File.Exists(again));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
            await ServiceProcess.DropSchemaAsync(App, absent);
        }
    }

    [Fact]
    public async Task db_patch_with_a_database_named_writes_that_ones_difference_alone()
    {
        // .ci/new-migration writes the Marten and the Wolverine scripts apart, naming each.
        var absent = $"cpsledger_patch_{Guid.NewGuid():N}"[..26];
        var folder = Directory.CreateTempSubdirectory("cpsledger-db-patch-test-").FullName;
        try
        {
            var file = Path.Combine(folder, "wolverine.sql");
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent, "db-patch", file, "-d", "wolverine://messages/main");

            Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
            var script = await File.ReadAllTextAsync(file);
            Assert.Contains("wolverine_incoming_envelopes", script);
            Assert.DoesNotContain("mt_events", script);
            Assert.DoesNotContain("-- wolverine://", script);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task db_patch_named_by_a_database_uri_another_extends_takes_the_one_it_names_exactly()
    {
        // Marten's database Uri is Wolverine's with the schema after it (postgresql://host/db/schema against postgresql://host/db):
        // Weasel's matching took the first whose Uri contained the text, Marten's, for Wolverine's exact Uri.
        var absent = $"cpsledger_patch_{Guid.NewGuid():N}"[..26];
        var folder = Directory.CreateTempSubdirectory("cpsledger-db-patch-test-").FullName;
        try
        {
            var database = new NpgsqlConnectionStringBuilder(App.ConnectionString);
            var file = Path.Combine(folder, "wolverine.sql");
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent, "db-patch", file, "-d",
                $"postgresql://{database.Host}/{database.Database}");

            Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
            var script = await File.ReadAllTextAsync(file);
            Assert.Contains("wolverine_incoming_envelopes", script);
            Assert.DoesNotContain("mt_events", script);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task db_patch_named_by_a_part_of_several_databases_uris_is_refused_with_their_names()
    {
        var absent = $"cpsledger_patch_{Guid.NewGuid():N}"[..26];
        var folder = Directory.CreateTempSubdirectory("cpsledger-db-patch-test-").FullName;
        try
        {
            var file = Path.Combine(folder, "which.sql");
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, absent, "db-patch", file, "-d", "postgresql://");

            Assert.True(exit != 0, $"exit {exit}\n{error}\n{output}");
            Assert.Contains("'postgresql://' names 2 databases", error);
            Assert.Contains("marten://store/", error);
            Assert.Contains("wolverine://messages/main", error);
            Assert.False(File.Exists(file));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task db_dump_without_a_database_named_writes_both_databases_ddl()
    {
        var folder = Directory.CreateTempSubdirectory("cpsledger-db-dump-test-").FullName;
        try
        {
            var file = Path.Combine(folder, "schema.sql");
            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "db-dump", file);

            Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
            var script = await File.ReadAllTextAsync(file);
            Assert.Contains("mt_events", script);
            Assert.Contains("wolverine_incoming_envelopes", script);
            Assert.True(script.IndexOf("-- marten://", StringComparison.Ordinal) < script.IndexOf("-- wolverine://", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
