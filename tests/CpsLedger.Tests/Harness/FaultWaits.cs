using System.Net;
using System.Net.Http.Headers;
using System.Text;
using CpsLedger.Api.Invoicing;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Wolverine.Runtime;
using Wolverine.Runtime.Serialization;
using Wolverine.Tracking;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// Waits for the fault tests only. Wolverine's tracked sessions follow the messages of one process while it runs; a test
/// that crashes PostgreSQL, kills a node or runs work on a child process needs what survives in the durable storage
/// instead (messages recovered from the inbox after a crash, work another node picked up), so these wait on conditions of
/// the database, each with a deadline, never on a fixed sleep.
/// </summary>
public static class FaultWaits
{
    /// <summary>Waits until a condition holds, checking every 100 ms, doing <paramref name="meanwhile"/> between checks.</summary>
    public static async Task Until(Func<Task<bool>> condition, Func<string> what, TimeSpan? timeout = null, Func<Task>? meanwhile = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Not reached in time: {what()}.");
            if (meanwhile is not null)
                await meanwhile();
            await Task.Delay(100);
        }
    }

    public static Task Until(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, Func<Task>? meanwhile = null) =>
        Until(condition, () => what, timeout, meanwhile);

    /// <summary>
    /// Until the durable inbox and outbox of the host's database hold nothing to do now (scheduled messages, due later, do
    /// not count), and have held nothing for a moment, so that a message recovered after a fault has run too.
    /// </summary>
    public static async Task UntilDurableStorageIsQuiet(this IServiceProvider services, TimeSpan? timeout = null)
    {
        var admin = services.GetRequiredService<IWolverineRuntime>().Storage.Admin;
        DateTime? quietSince = null;
        await Until(async () =>
        {
            Wolverine.Logging.PersistedCounts counts;
            try
            {
                counts = await admin.FetchCountsAsync();
            }
            catch (NpgsqlException)
            {
                // Called just after a crash, the pool may still hold a connection the restart cut: its read fails once and Npgsql
                // drops it. Not quiet yet; the next check takes another connection (seen once in CI, 2026-12-07).
                quietSince = null;
                return false;
            }

            if (counts.Incoming > 0 || counts.Outgoing > 0)
                quietSince = null;
            else
                quietSince ??= DateTime.UtcNow;
            return DateTime.UtcNow - quietSince > TimeSpan.FromMilliseconds(300);
        }, "the durable inbox and outbox emptied", timeout);
    }

    /// <summary>
    /// Moves the service's clock and makes due now, of the scheduled messages about <paramref name="accounts"/> (their stored body
    /// names one of them or one of their invoices), those the moved clock has reached and every re-scheduled retry, without waiting
    /// for them: another node may run them, so the test waits for their effects instead. Nothing else is touched: the messages of
    /// accounts the test did not name, and the named accounts' later work (a renewal offer or a term end a year ahead, which would
    /// only run early and schedule itself again). Until 2026-12-06 every scheduled message of the host was made due.
    /// </summary>
    public static async Task MakeScheduledMessagesDue(this LedgerApp app, IServiceProvider services, TimeSpan by, IReadOnlyCollection<Guid> accounts)
    {
        app.Clock.Advance(by);
        var store = services.GetRequiredService<Marten.IDocumentStore>();
        await using var session = store.QuerySession();
        var accountIds = accounts.ToArray();
        var invoices = await session.Query<Invoice>().Where(i => i.AccountId.IsOneOf(accountIds)).Select(i => i.Id).ToListAsync();
        var named = accountIds.Concat(invoices).Select(id => id.ToString()).ToArray();
        var scheduled = services.GetRequiredService<IWolverineRuntime>().Storage.ScheduledMessages;
        foreach (var id in await ScheduledAbout(app, store.Options.DatabaseSchemaName, named, app.Clock.GetUtcNow()))
            await scheduled.RescheduleAsync(id, DateTimeOffset.UtcNow.AddSeconds(-1), CancellationToken.None);
    }

    // The scheduled messages whose body names one of the ids (as JSON writes a Guid) and that are due by the service's clock (Wolverine
    // keeps a wall-clock time, never later than the due time on the service's clock, which runs ahead of it) or wait for a retry.
    private static async Task<List<Guid>> ScheduledAbout(LedgerApp app, string schema, string[] ids, DateTimeOffset reached)
    {
        var about = new List<Guid>();
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync();
        await using var read = new NpgsqlCommand(
            $"select id, body from {schema}.wolverine_incoming_envelopes where status = 'Scheduled' and (execution_time <= $1 or attempts > 0)",
            connection)
        {
            Parameters = { new NpgsqlParameter { Value = reached } },
        };
        await using var reader = await read.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var message = Encoding.UTF8.GetString(EnvelopeSerializer.Deserialize(reader.GetFieldValue<byte[]>(1)).Data ?? []);
            if (ids.Any(id => message.Contains(id, StringComparison.OrdinalIgnoreCase)))
                about.Add(reader.GetGuid(0));
        }

        return about;
    }

    /// <summary>
    /// Opens an account with 1000 points on <paramref name="client"/>'s service, waits (by reading the API) until the
    /// invitation policy has invited it, and joins Gold when asked: for a service this test cannot track (another process,
    /// another node).
    /// </summary>
    public static async Task<Guid> InvitedAccount(LedgerApp app, HttpClient client, string email, string? joinPaying = null)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.TokenFor(LedgerRoles.Portal));
        var account = (await client.PostJson("/api/accounts", Accounts.Accounts.Opening(email))
            .ReadAs<CpsLedger.Api.Accounts.BusinessAccountCreated>(HttpStatusCode.Created)).AccountId;
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.TokenFor(LedgerRoles.Member, account));
        await (await client.PostJson(Products.Products.ProductsUrl(account),
            Products.Products.Complete($"S-{account:N}", Invoicing.Billing.Thousand))).ShouldBe(HttpStatusCode.Created);
        await Until(async () =>
            (await client.GetAsync($"/api/accounts/{account}/membership").ReadAs<AccountMembership>()).Invitation is not null, "the account invited");
        if (joinPaying is not null)
            await (await client.PostJson($"/api/accounts/{account}/membership", new { tier = "gold", paymentMethod = joinPaying }))
                .ShouldBe(HttpStatusCode.Created);
        return account;
    }
}
