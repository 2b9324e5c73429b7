using System.Net;
using System.Net.Http.Headers;
using CpsLedger.Api.Membership;
using CpsLedger.Api.Platform;
using Microsoft.Extensions.DependencyInjection;
using Wolverine.Persistence.Durability.ScheduledMessageManagement;
using Wolverine.Runtime;
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
            var counts = await admin.FetchCountsAsync();
            if (counts.Incoming > 0 || counts.Outgoing > 0)
                quietSince = null;
            else
                quietSince ??= DateTime.UtcNow;
            return DateTime.UtcNow - quietSince > TimeSpan.FromMilliseconds(300);
        }, "the durable inbox and outbox emptied", timeout);
    }

    /// <summary>
    /// Moves the service's clock and makes every scheduled message due now, without waiting for them: another node may run
    /// them, so the test waits for their effects instead.
    /// </summary>
    public static async Task MakeScheduledMessagesDue(this LedgerApp app, IServiceProvider services, TimeSpan by)
    {
        app.Clock.Advance(by);
        var scheduled = services.GetRequiredService<IWolverineRuntime>().Storage.ScheduledMessages;
        var due = await scheduled.QueryAsync(new ScheduledMessageQuery { PageSize = 1000 }, CancellationToken.None);
        foreach (var message in due.Messages)
            await scheduled.RescheduleAsync(message.Id, DateTimeOffset.UtcNow.AddSeconds(-1), CancellationToken.None);
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
