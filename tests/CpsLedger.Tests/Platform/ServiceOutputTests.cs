using System.Net;
using System.Text.Json;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Platform;

/// <summary>The real service as production runs it (a child process, no arguments): what it writes to its output.</summary>
public sealed class ServiceOutputTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task Served_in_production_the_service_writes_one_json_log_event_per_line_from_its_first_line()
    {
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            string output;
            await using (var service = await ServiceProcess.StartAsync(App, schema,
                             new Dictionary<string, string> { ["Serilog__MinimumLevel__Default"] = "Information" }))
            {
                using var client = service.Client(App, LedgerRoles.Portal);
                await (await client.PostJson("/api/accounts", Accounts.Accounts.Opening("output@example.ee"))).ShouldBe(HttpStatusCode.Created);
                await service.WaitForOutputAsync("responded 201", TimeSpan.FromSeconds(30));
                output = service.Output;
            }

            // Log shippers read one JSON object per line: a plain-text line (JasperFx's command discovery printed seven before the
            // first log event) would be a parse error or a stray record.
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains(lines, l => l.Contains("Now listening on", StringComparison.Ordinal));
            foreach (var line in lines)
            {
                Assert.True(line.StartsWith('{'), $"Not a JSON log event: {line}");
                using var json = JsonDocument.Parse(line);
                Assert.True(json.RootElement.TryGetProperty("@t", out _), line);
            }
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    [Fact]
    public async Task Served_with_verbose_the_service_logs_from_debug_and_keeps_the_settings_after_it()
    {
        // Until 2026-12-07 serving ignored --verbose (the commands honour it), and the settings' command line read
        // `--verbose --urls <address>` as the setting "verbose" with the value "--urls": the service served on 127.0.0.1:5080.
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            string output;
            await using (var service = await ServiceProcess.StartAsync(App, schema,
                             new Dictionary<string, string> { ["Serilog__MinimumLevel__Default"] = "Warning" },
                             url => ["--verbose", "--urls", url]))
            {
                using var client = service.Client(App, LedgerRoles.Portal);
                await (await client.GetAsync("/health/ready")).ShouldBe(HttpStatusCode.OK);
                await service.WaitForOutputAsync("\"@l\":\"Debug\"", TimeSpan.FromSeconds(30));
                output = service.Output;
            }

            Assert.Contains(output.Split('\n'), line => line.Contains("Now listening on", StringComparison.Ordinal));
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }
}
