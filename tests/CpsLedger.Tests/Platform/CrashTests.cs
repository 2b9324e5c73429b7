using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Harness;
using Microsoft.AspNetCore.Hosting;
using Npgsql;
using static CpsLedger.Tests.Harness.FaultWaits;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// The real service as a child process, killed with SIGKILL: what was committed keeps its promises. Each test has a schema of
/// its own, created by an in-process host before the child starts (the child runs the Production profile, which never changes
/// the schema).
/// </summary>
public sealed class CrashTests(LedgerApp app, Xunit.Abstractions.ITestOutputHelper output) : LedgerTest(app)
{
    [Fact]
    public async Task A_command_killed_between_its_commit_and_its_response_answers_its_retry_with_the_first_response()
    {
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        var key = Guid.NewGuid().ToString();
        var opening = Accounts.Accounts.Opening("crash@example.ee");
        try
        {
            await using (var doomed = await ServiceProcess.StartAsync(App, schema,
                             new Dictionary<string, string> { ["Testing__HoldResponseAfterCommit"] = "true" }))
            {
                using var client = doomed.Client(App, LedgerRoles.Portal);
                var request = client.PostJson("/api/accounts", opening, key);
                await doomed.WaitForOutputAsync("its response is held", TimeSpan.FromSeconds(60));
                await doomed.KillAsync();
                await Assert.ThrowsAnyAsync<Exception>(() => request);
            }

            await using var restarted = await ServiceProcess.StartAsync(App, schema);
            using var retry = restarted.Client(App, LedgerRoles.Portal);
            var response = await retry.PostJson("/api/accounts", opening, key);
            var accountId = (await response.ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;
            Assert.True(response.Headers.Contains(IdempotencyMiddleware.ReplayedHeader), "the retry is answered from the stored response");
            Assert.Equal($"/api/accounts/{accountId}", response.Headers.Location?.OriginalString);

            await using var connection = new NpgsqlConnection(App.ConnectionString);
            await connection.OpenAsync();
            await using var accounts = new NpgsqlCommand($"select id from {schema}.mt_doc_accountview", connection);
            await using var reader = await accounts.ExecuteReaderAsync();
            var ids = new List<Guid>();
            while (await reader.ReadAsync())
                ids.Add(reader.GetGuid(0));
            Assert.Equal([accountId], ids);
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    [Fact]
    public async Task Scheduled_work_of_a_node_killed_with_sigkill_is_done_by_the_surviving_node_within_fifteen_seconds()
    {
        var schema = await ServiceProcess.CreateSchemaAsync(App);
        try
        {
            // Node A (a child process) starts first: it leads the cluster and runs the durability agent that fires scheduled
            // messages. Node B (in this process, production durability settings) joins.
            await using var a = await ServiceProcess.StartAsync(App, schema,
                new Dictionary<string, string> { ["Invoicing__IssueDelay"] = "00:00:03" });
            await Until(async () => await Scalar($"select count(*) from {schema}.wolverine_node_assignments where id like 'wolverinedb://%'") > 0,
                "node A runs the durability agent");
            await using var b = App.WithWebHostBuilder(builder =>
            {
                builder.UseSetting("Ledger:SchemaName", schema);
                builder.UseSetting("Wolverine:Balanced", "true");
                builder.UseSetting("Wolverine:ScheduledJobPollingTime", "00:00:02");
                builder.UseSetting("Wolverine:InboxStaleTime", "00:00:30");
                builder.UseSetting("Invoicing:IssueDelay", "00:00:03");
            });
            _ = b.Server;
            await Until(async () => await Scalar($"select count(*) from {schema}.wolverine_nodes") == 2, "both nodes registered");

            // A member joins through A; its invoice is scheduled 3 s later. A is killed as soon as the invoice is scheduled.
            await FaultWaits.InvitedAccount(App, new HttpClient { BaseAddress = a.BaseUrl }, "a@example.ee", joinPaying: "bank_transfer");
            // The invoice, with the term's renewal offer and end.
            await Until(async () => await b.Services.ScheduledMessageCount() == 3, "the invoice scheduled");
            var due = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(3);
            await a.KillAsync();
            var killed = DateTimeOffset.UtcNow;

            await Until(async () => await Scalar($"select count(*) from {schema}.mt_events where type = 'invoice_issued'") == 1,
                "the surviving node issued the invoice", TimeSpan.FromSeconds(60));
            var issued = DateTimeOffset.UtcNow;
            var afterKill = issued - killed;
            var late = issued - due;
            output.WriteLine($"Invoice issued {afterKill.TotalSeconds:0.0} s after node A was killed, {late.TotalSeconds:0.0} s after it was due.");
            Assert.True(late < TimeSpan.FromSeconds(15), $"issued {late.TotalSeconds:0.0} s after it was due ({afterKill.TotalSeconds:0.0} s after the kill)");
        }
        finally
        {
            await ServiceProcess.DropSchemaAsync(App, schema);
        }
    }

    private async Task<long> Scalar(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }
}
