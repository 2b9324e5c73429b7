using CpsLedger.Tests.Harness;
using Npgsql;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// <c>projections</c> (the runbook's <c>projections rebuild -p Invoice</c>) run as an operator runs it, a child process of the built
/// service: what it prints on stdout is what it did, for a person or a script.
/// </summary>
public sealed class ProjectionsCommandTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task A_rebuild_rebuilds_the_projection_and_says_so_on_stdout_alone()
    {
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            // The child schema holds one listed model: its document gone, the rebuild must write it again.
            Assert.Equal(1, await DeleteModelViews(schema));

            var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, schema, "projections", "rebuild", "-p", "ProductModelView");

            Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
            Assert.Equal(1, await DeleteModelViews(schema));
            // JasperFx's own printed "Cannot override services when the IHost is already constructed", "Press CTRL + C to
            // quit", a progress bar left at 0% and "[purple]Finished rebuild in N ms[/]" (markup as text) here.
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var line = Assert.Single(lines);
            Assert.Matches(@"^ProductModelView: rebuilt by Marten's daemon in \d+\.\d s$", line);
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    [Fact]
    public async Task A_rebuild_over_a_broken_hash_chain_is_refused_unless_the_operator_says_otherwise()
    {
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            // The listed model's event changed outside the ledger, its document lost: a rebuild would write the changed points
            // back as if the catalogue had said so.
            Assert.Equal(1, await Execute($"update {schema}.mt_events set data = jsonb_set(data, '{{Points}}', '5000') where data ? 'Points'"));
            Assert.Equal(1, await DeleteModelViews(schema));

            foreach (var command in new[] { new[] { "projections", "rebuild", "-p", "ProductModelView" }, ["projections-fast-rebuild"] })
            {
                var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, schema, command);

                Assert.True(exit == 1, $"{string.Join(' ', command)}: exit {exit}\n{error}\n{output}");
                Assert.Equal("", output.Trim());
                Assert.Contains("Rebuild refused: 1 hash chain break found.", error);
                Assert.Matches(@"chain [0-9a-f-]{36} broken at link 1: edited product_model_listed \(event [0-9a-f-]{36}, sequence \d+\)", error);
                Assert.Contains("--despite-chain-breaks", error);
                Assert.Equal(0L, await Count($"select count(*) from {schema}.mt_doc_productmodelview"));
            }

            var (rebuilt, said, warned) = await ServiceProcess.RunCommandApartAsync(App, schema,
                "projections", "rebuild", "-p", "ProductModelView", "--despite-chain-breaks");

            Assert.True(rebuilt == 0, $"exit {rebuilt}\n{warned}\n{said}");
            Assert.Matches(@"^ProductModelView: rebuilt by Marten's daemon in \d+\.\d s$", said.Trim());
            Assert.Contains("1 hash chain break found; rebuilding anyway (--despite-chain-breaks)", warned);
            Assert.Equal(1L, await Count($"select count(*) from {schema}.mt_doc_productmodelview"));
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    [Fact]
    public async Task A_rebuild_of_a_projection_that_does_not_exist_fails_and_names_the_projections()
    {
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "projections", "rebuild", "-p", "Invoices");

        // JasperFx's own said "No projections or databases match the selected filters" and exited 0, having done nothing.
        Assert.Equal(1, exit);
        Assert.Equal("", output.Trim());
        Assert.Contains("No projection is named 'Invoices'", error);
        Assert.Contains("Invoice, ", error);
    }

    [Fact]
    public async Task The_list_names_each_projection_with_its_lifecycle_one_per_line()
    {
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "projections", "list");

        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["Invoice", "Inline", ..]);
        Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["BusinessAccount", "Live", ..]);
        Assert.DoesNotContain("Cannot override", output + error);
        Assert.DoesNotContain("for commands", output);
    }

    [Fact]
    public async Task Its_help_lists_each_option_once_and_gives_each_short_flag_to_one_option()
    {
        var (_, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName, "projections", "--help");

        // The usages (a tree), then a table that describes every option.
        var table = output.IndexOf("Description", StringComparison.Ordinal);
        Assert.True(table > 0, $"{output}\n{error}");
        var usages = output[..table];
        var options = System.Text.RegularExpressions.Regex.Matches(usages, @"\[(?:(-\w), )?(--[\w:-]+)").Select(m => (Short: m.Groups[1].Value, Long: m.Groups[2].Value)).ToList();
        // JasperFx's usages listed every option twice (a usage without the action and one with it).
        Assert.Contains(options, o => o == ("-p", "--projection"));
        Assert.All(options.GroupBy(o => o.Long), g => Assert.True(g.Count() == 1, $"{g.Key} listed {g.Count()} times"));
        // JasperFx's input gave -a to --advance and --applicationname, -v to --env-variable and --verbose: a short flag meant the
        // first of them (each keeps that meaning), and the other has its long name only.
        Assert.All(options.Where(o => o.Short != "").GroupBy(o => o.Short), g => Assert.True(g.Count() == 1, $"{g.Key}: {string.Join(", ", g)}"));
        Assert.Contains(("-a", "--advance"), options);
        Assert.Contains(("", "--applicationname"), options);
        Assert.Contains(("-v", "--env-variable"), options);
        Assert.Contains(("", "--verbose"), options);
    }

    [Fact]
    public async Task The_options_mean_what_the_help_says()
    {
        // -a is --advance (no value follows it); --applicationname is read by its long name.
        var (exit, output, error) = await ServiceProcess.RunCommandApartAsync(App, App.SchemaName,
            "projections", "list", "-p", "Invoice", "-a", "--applicationname", "CpsLedger.Api");

        Assert.True(exit == 0, $"exit {exit}\n{error}\n{output}");
        Assert.StartsWith("Invoice ", output);
    }

    private Task<int> DeleteModelViews(string schema) => Execute($"delete from {schema}.mt_doc_productmodelview");

    private async Task<int> Execute(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync();
    }

    private async Task<long> Count(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
