using System.Net;
using CpsLedger.Api.Platform;
using CpsLedger.Tests.Accounts;
using CpsLedger.Tests.Migration;
using CpsLedger.Tests.Products;
using CpsLedger.Tests.Harness;
using Npgsql;

namespace CpsLedger.Tests.Platform;

/// <summary>The fold-and-copy rebuild gives back exactly the documents the inline projections wrote.</summary>
public sealed class FastRebuildTests(LedgerApp app) : LedgerTest(app)
{
    [Fact]
    public async Task A_fast_rebuild_of_every_single_stream_projection_gives_back_the_stored_documents_and_their_progression()
    {
        // A ledger with every kind of stream: accounts, products (one completed, one deregistered), a manual adjustment, a
        // membership with an invoice paid by card, the tier table, catalogue models and imported old accounts.
        await CpsLedger.Tests.Invoicing.Billing.ListThousandPointModel(App.Store);
        var joined = await CpsLedger.Tests.Invoicing.Billing.JoinedAccount(App, "EE", "card", "tok_sandbox_approve");
        await CpsLedger.Tests.Invoicing.Billing.FastForward(App, TimeSpan.FromHours(3));
        await App.ListModel(points: 235);
        var account = await App.OpenAccount("fast-rebuild@studio.example");
        var member = App.Member(account);
        var product = await member.Register(account, Products.Products.WithoutDealer("FR-1"));
        // Tracked until the invitation reviews these points events set off have been handled: the documents are then final.
        await App.Tracked(async () =>
        {
            await (await member.PatchJson(product.Url, new { dealer = "Photopoint" })).ShouldBe(HttpStatusCode.OK);
            var gone = await member.Register(account, Products.Products.Complete("FR-2"));
            await (await member.PostJson($"{gone.Url}/deregistration", new { reason = "sold" })).ShouldBe(HttpStatusCode.OK);
            await (await App.ClientAs(LedgerRoles.Support).PostJson($"/api/accounts/{account}/points-adjustments",
                new { points = 40, reason = "Lost in the outage", ticketReference = "CPS-1" })).ShouldBe(HttpStatusCode.Created);
        });
        await App.ImportLegacy(LegacyFiles.KadrisOldAccount);

        var rebuild = new FastRebuild(App.Store);
        var projections = rebuild.Projections;
        Assert.Contains("ProductView", projections);
        var before = await Documents(projections);
        Assert.Contains(before, d => d.StartsWith("invoice ", StringComparison.Ordinal));

        var results = await rebuild.RebuildAsync(null, CancellationToken.None);

        Assert.Equal(projections, results.Select(r => r.Projection));
        var after = await Documents(projections);
        Assert.Equal(before.Count, after.Count);
        // Document by document, so that a difference is shown whole.
        foreach (var (stored, rebuilt) in before.Zip(after))
            Assert.Equal(stored, rebuilt);
        // Each projection's shard is at the last event it read, as Marten's rebuild leaves it.
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        foreach (var name in projections)
        {
            await using var command = new NpgsqlCommand($"select last_seq_id from {App.SchemaName}.mt_event_progression where name = $1", connection);
            command.Parameters.AddWithValue($"{name}:All");
            Assert.True(await command.ExecuteScalarAsync() is long seq && seq > 0, name);
        }

        // And the service goes on deciding on them (the snapshots' versions are what optimistic concurrency expects).
        var verification = await App.ClientAs(LedgerRoles.Auditor).GetAsync("/api/audit/verification").ReadAs<CpsLedger.Api.Audit.VerificationReport>();
        Assert.True(verification.Agrees, string.Join("; ", verification.Differences));
        await member.Register(account, Products.Products.Complete("FR-3"));
        await (await member.PatchJson(product.Url, new { dealer = "Foto Pood" })).ShouldBe(HttpStatusCode.OK);
    }

    private async Task<List<string>> Documents(IEnumerable<string> projections)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        var rows = new List<string>();
        foreach (var table in projections.Select(p => p.ToLowerInvariant()))
        {
            await using var command = new NpgsqlCommand(
                $"select '{table} ' || id::text || ' ' || data::text || ' ' || mt_version || ' ' || coalesce(mt_dotnet_type, '') " +
                $"from {App.SchemaName}.mt_doc_{table} order by id", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                rows.Add(reader.GetString(0));
        }

        return rows;
    }
}
