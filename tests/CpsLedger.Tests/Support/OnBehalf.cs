using System.Text.Json;
using CpsLedger.Api.Audit;
using CpsLedger.Tests.Harness;

namespace CpsLedger.Tests.Support;

/// <summary>Support acting on someone else's behalf through a call a member or the portal makes too: the body it sends.</summary>
public static class OnBehalf
{
    public const string Reason = "Member called: the portal will not take it";
    public const string Ticket = "CPS-SUP-77";

    /// <summary>The request as support sends it: with its reason and the ticket it answers.</summary>
    public static object BySupport(object body, string reason = Reason, string ticket = Ticket)
    {
        var json = JsonSerializer.SerializeToNode(body)!.AsObject();
        json["supportReason"] = reason;
        json["ticketReference"] = ticket;
        return json;
    }

    /// <summary>
    /// Verification replays every override row as the events make it: this one deleted, it is named missing, for its account and
    /// for the whole ledger.
    /// </summary>
    public static async Task VerificationNamesTheOverrideRowOnceDeleted(LedgerApp app, HttpClient auditor, Guid account, Guid overrideId)
    {
        await using (var connection = new Npgsql.NpgsqlConnection(app.ConnectionString))
        {
            await connection.OpenAsync();
            await using var delete = new Npgsql.NpgsqlCommand($"delete from {app.SchemaName}.mt_doc_supportoverride where id = '{overrideId}'", connection);
            Assert.Equal(1, await delete.ExecuteNonQueryAsync());
        }

        var missing = new ProjectionDifference("SupportOverride", overrideId.ToString(), "(document)", null, "present");
        Assert.Equal([missing], (await auditor.GetAsync($"/api/audit/verification?accountId={account}").ReadAs<VerificationReport>()).Differences);
        Assert.Equal([missing], (await auditor.GetAsync("/api/audit/verification").ReadAs<VerificationReport>()).Differences);
    }
}
