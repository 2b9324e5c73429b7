using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using Npgsql;
using static CpsLedger.Tests.Harness.FaultWaits;

namespace CpsLedger.Tests.Harness;

/// <summary>The fault tests' waits do only what their test asks of them.</summary>
public sealed class FaultWaitsTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task Making_a_test_s_scheduled_messages_due_leaves_another_account_s_and_its_own_later_work_alone()
    {
        await Billing.ListThousandPointModel(App.Store);
        var mine = await App.JoinedAccount("EE", "bank_transfer", email: "mine@example.ee");
        // Another test's account, for all the helper knows: its invoice, renewal offer and term end are scheduled too.
        var theirs = await App.JoinedAccount("EE", "bank_transfer", email: "theirs@example.ee");
        await Until(async () => await App.Services.ScheduledMessageCount() == 6, "both invoices, offers and term ends scheduled");
        var before = await Scheduled();

        await App.MakeScheduledMessagesDue(App.Services, Billing.IssueDelay, [mine]);

        await Until(async () => await App.CountEvents("invoice_issued") == 1, "my invoice issued");
        await App.Services.UntilDurableStorageIsQuiet();
        // Only my invoice ran (and scheduled what follows an invoice): the other account's three messages and my offer and term end
        // wait as they were (made due, the offer and the term end would have run early and scheduled themselves again, under new ids).
        var mineInvoice = before.Single(m => m.Type.EndsWith(".IssueInvoice", StringComparison.Ordinal) && m.Body.Contains(mine.ToString()));
        var after = (await Scheduled()).Select(m => (m.Id, m.At)).ToHashSet();
        Assert.All(before.Where(m => m.Id != mineInvoice.Id), m => Assert.Contains((m.Id, m.At), after));
        Assert.Equal(3, before.Count(m => m.Body.Contains(theirs.ToString())));
        Assert.Equal(1, await App.CountEvents("invoice_issued"));
    }

    private async Task<List<(Guid Id, string Type, DateTimeOffset At, string Body)>> Scheduled()
    {
        var rows = new List<(Guid, string, DateTimeOffset, string)>();
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var read = new NpgsqlCommand(
            $"select id, message_type, execution_time, body from {App.SchemaName}.wolverine_incoming_envelopes where status = 'Scheduled'", connection);
        await using var reader = await read.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows.Add((reader.GetGuid(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2), System.Text.Encoding.UTF8.GetString(
                Wolverine.Runtime.Serialization.EnvelopeSerializer.Deserialize(reader.GetFieldValue<byte[]>(3)).Data ?? [])));
        return rows;
    }
}
