using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Wolverine.Runtime;
using static CpsLedger.Tests.Harness.FaultWaits;

namespace CpsLedger.Tests.Platform;

/// <summary>
/// The states a database crash leaves behind, made directly, one at a time (FaultTests crashes the database for real and sees
/// them only now and then): each is a transient fault that the service recovers from by itself, never a 500 or a dead letter.
/// </summary>
public sealed class TransientFaultTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task A_commit_whose_connection_is_cut_mid_transaction_is_a_transient_fault()
    {
        await using var session = App.Store.LightweightSession();
        session.QueueSqlCommand("select pg_terminate_backend(pg_backend_pid())");

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => session.SaveChangesAsync());

        Assert.True(TransientFaults.IsTransient(failure), failure.ToString());
    }

    // After a crash PostgreSQL may hand out again the event numbers that sessions in flight had drawn, and Marten has meanwhile
    // written tombstone events with them (EventSequence): the sequence is behind the events stored.
    [Fact]
    public async Task When_the_event_sequence_is_behind_the_events_a_command_is_answered_503_once_and_then_applied()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.OpenAccount("sequence@example.ee");
        var member = App.Member(account);
        await (await member.PostJson(Products.Products.ProductsUrl(account), Products.Products.Complete("S-1", Billing.Thousand)))
            .ShouldBe(HttpStatusCode.Created);
        await App.Services.UntilDurableStorageIsQuiet();
        await PutSequenceBehind(3);

        var register = () => member.PostJson(Products.Products.ProductsUrl(account), Products.Products.Complete("S-2", Billing.Thousand), "after-crash");
        var first = await register();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, first.StatusCode);
        Assert.NotNull(first.Headers.RetryAfter);
        // Nothing of the refused command was written, and the sequence has caught up: the retry is applied.
        Assert.Equal(0, await SequenceBehindBy());
        await (await register()).ShouldBe(HttpStatusCode.Created);
        await (await register()).ShouldBe(HttpStatusCode.Created);
        Assert.Equal(2, await App.CountEvents("product_registered"));
    }

    [Fact]
    public async Task When_the_event_sequence_is_behind_the_events_a_due_invoice_is_issued_all_the_same_and_nothing_is_dead_lettered()
    {
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        await Until(async () => await App.Services.ScheduledMessageCount() == 3, "the invoice scheduled");
        await App.Services.UntilDurableStorageIsQuiet();
        await PutSequenceBehind(3);

        await App.MakeScheduledMessagesDue(App.Services, TimeSpan.FromHours(2) + TimeSpan.FromMinutes(1), [account]);

        await Until(async () => await App.CountEvents("invoice_issued") == 1, "the invoice issued");
        await App.Services.UntilDurableStorageIsQuiet();
        Assert.True((await App.Services.GetRequiredService<IWolverineRuntime>().Storage.Admin.FetchCountsAsync()).DeadLetter == 0,
            App.Logs.DeadLetters());
        Assert.Equal(0, await SequenceBehindBy());
    }

    private async Task PutSequenceBehind(int by)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select setval('{App.SchemaName}.mt_events_sequence', (select max(seq_id) from {App.SchemaName}.mt_events) - {by})", connection);
        await command.ExecuteNonQueryAsync();
        Assert.Equal(by, await SequenceBehindBy());
    }

    private async Task<long> SequenceBehindBy()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select greatest(0, (select max(seq_id) from {App.SchemaName}.mt_events) - (select last_value from {App.SchemaName}.mt_events_sequence))",
            connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
