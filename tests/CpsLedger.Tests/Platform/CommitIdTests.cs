using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Catalogue;
using CpsLedger.Tests.Harness;
using CpsLedger.Tests.Invoicing;
using CpsLedger.Tests.Migration;
using Npgsql;

namespace CpsLedger.Tests.Platform;

/// <summary>Every event names the commit (the transaction) that wrote it, whichever path appended it.</summary>
public sealed class CommitIdTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task Every_stored_event_carries_the_commit_that_wrote_it_and_a_commit_is_one_transaction()
    {
        // A session of the store's own (the tests' catalogue helper), HTTP endpoints, the invitation reviews' batch handler (a
        // cause per event), a scheduled handler as the system actor (the invoice), a transfer paying the invoice in full.
        await Billing.ListThousandPointModel(App.Store);
        var account = await App.JoinedAccount("EE", "bank_transfer");
        await App.FastForward(Billing.IssueDelay);
        var invoice = await App.ClientAs(LedgerRoles.Member, account).SingleInvoice(account);
        await App.Tracked(async () => await (await App.ClientAs(LedgerRoles.Finance).PostJson("/api/payments/bank-transfers",
            App.BankPayment(invoice.InvoiceNumber, invoice.Total, "COMMIT-1"))).ShouldBe(HttpStatusCode.Created));
        // The catalogue import (new models started, a listed one changed) and the legacy imports: new old accounts copied in
        // bulk, an old account imported before appended to, over HTTP and on the command line's path.
        await App.Import();
        await App.Import(CatalogueFiles.Small.Replace("340", "345"));
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);
        await App.ImportLegacy(LegacyFiles.Csv($"{LegacyFiles.Kadri},{LegacyFiles.KadriNumber},EF-40-STM,LENS-2,2018-06-15,EE,Photopoint"));
        await App.ImportThroughCommandLinePath(LegacyFiles.Csv("mari@old.example,CPS-OLD-1,EOS-R5,SER-9,2019-03-01,EE,Photopoint"));

        var events = await StoredEvents();
        Assert.All(events, e => Assert.True(e.Commit is not null, $"{e.Type} {e.Sequence} has no commit id"));
        string CommitOf(string type, int nth = 0) => events.Where(e => e.Type == type).ElementAt(nth).Commit!;

        // One request's events share a commit; another request's do not.
        Assert.Equal(CommitOf("product_registered"), CommitOf("points_allocated"));
        Assert.NotEqual(CommitOf("product_registered"), CommitOf("invitation_issued"));
        Assert.Equal(CommitOf("payment_received"), CommitOf("invoice_paid"));
        Assert.NotEqual(CommitOf("invoice_issued"), CommitOf("invoice_paid"));
        // Each import is one commit here: the first legacy import's old account copied in bulk, the second's product appended
        // to it, the command line's import; the first catalogue import's models, the second's change.
        var legacy = events.Where(e => e.Type.StartsWith("legacy_", StringComparison.Ordinal)).Select(e => e.Commit).ToList();
        Assert.Equal([legacy[0], legacy[0], legacy[0], legacy[0], legacy[4], legacy[5], legacy[5]], legacy);
        Assert.Equal(3, legacy.Distinct().Count());
        var catalogue = events.Where(e => e.Type.StartsWith("product_model_", StringComparison.Ordinal)).Select(e => e.Commit).Distinct();
        Assert.Equal(3, catalogue.Count()); // the test's own listing, then the two imports
    }

    private sealed record Stored(long Sequence, string Type, string? Commit);

    private async Task<List<Stored>> StoredEvents()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select seq_id, type, headers ->> 'commit' from {App.SchemaName}.mt_events where type <> 'tombstone' order by seq_id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var events = new List<Stored>();
        while (await reader.ReadAsync())
            events.Add(new Stored(reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2)));
        return events;
    }
}
